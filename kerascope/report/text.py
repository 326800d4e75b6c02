"""Text models in the report: token ids shown as their words, token maps drawn as the
text itself on a diverging background (``rendering.sequences.attention_html``).

``report.text_run.explain_text`` builds the ``Explained`` of a text model.
"""

from __future__ import annotations

import html

import numpy as np

from kerascope.rendering import sequences

__all__ = ["is_text", "words", "token_cell", "text_input"]

TEXT_CSS = """
.text-input{font-family:monospace;max-width:420px;line-height:1.6;white-space:normal;
word-break:break-word}
.grid-cell.text{width:auto;max-width:460px} td .ks-tokens{max-width:420px}
.ks-tokens .ks-token{font-size:13px}
"""


def is_text(data):
    """Whether the report's inputs are texts (``tokens`` or ``vocabulary`` given)."""
    return getattr(data, "tokens", None) is not None or getattr(data, "vocabulary", None) is not None


def _lookup(vocabulary, token_id):
    try:
        if hasattr(vocabulary, "id_to_token"):  # a keras-hub tokenizer
            return str(vocabulary.id_to_token(int(token_id)))
        return str(vocabulary[int(token_id)])
    except (IndexError, KeyError, TypeError, ValueError):
        return str(token_id)


def words(data, i):
    """The words of input ``i``: ``data.tokens[i]``, else its ids looked up in
    ``data.vocabulary`` (ids without an entry are shown as numbers)."""
    if data.tokens is not None:
        return [str(t) for t in data.tokens[i]]
    ids = np.asarray(data.inputs[i]).reshape(-1)
    if data.vocabulary is None:
        return [str(int(t)) for t in ids]
    return [_lookup(data.vocabulary, t) for t in ids]


def text_input(data, i):
    """Input ``i`` as its text (escaped)."""
    return ("<div class='text-input'>" + " ".join(html.escape(w) for w in words(data, i))
            + "</div>")


def token_cell(data, run, i, j, caption):
    """Method ``run``'s token map ``(T,)`` (or ``(T - 1,)`` without the class token) of
    input ``i``, target ``j``, drawn as the text; ``caption`` is already HTML."""
    values = np.asarray(run.maps[i][j], dtype=np.float64).reshape(-1)
    return (sequences.attention_html(words(data, i), values, signed=run.signed)
            + f"<div class='cap'>{html.escape(run.name)} · {caption}</div>")
