""":func:`explain_text`: several methods run on a text model with ``kerascope.explain``,
returned as the :class:`~kerascope.report.explanation.Explained` that ``write_report``
draws (token ids as words, token maps as the text), so a text report is one call::

    write_report("report.html", explain_text(model, ids, ["generic_attention",
                 "attention_rollout"], vocabulary=words))
"""

from __future__ import annotations

import time

import numpy as np

from kerascope.report.explanation import Explained, MethodRun

__all__ = ["explain_text"]


def _plan(methods):
    if isinstance(methods, dict):
        return [(name, dict(options or {})) for name, options in methods.items()]
    return [(m, {}) if isinstance(m, str) else (m[0], dict(m[1])) for m in methods]


def _probabilities(outputs):
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.min() >= 0 and np.allclose(outputs.sum(-1), 1.0, atol=1e-3):
        return outputs, ""
    shifted = np.exp(outputs - outputs.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True), "softmax of the model's outputs"


def explain_text(model, ids, methods, *, tokens=None, vocabulary=None, targets=None,
                 labels=None, names=None, model_name=None, **common):
    """Explain a text model's ``ids`` ``(N, T)`` with each of ``methods`` (names, a
    list of ``(name, options)`` pairs or a ``{name: options}`` dict) and return the
    ``Explained`` of a text report. ``tokens`` (the words of each input) or
    ``vocabulary`` (a list, dict or keras-hub tokenizer) give the text; ``targets``:
    ``(N,)`` classes (default: the predicted ones); ``common``: options of
    ``kerascope.explain`` (e.g. ``batch_size``)."""
    import keras

    from kerascope import _version
    from kerascope.api import explain
    from kerascope.methods import registry

    ids = np.asarray(ids)
    outputs = np.asarray(keras.ops.convert_to_numpy(model(ids, training=False)))
    probabilities, note = _probabilities(outputs)
    targets = (probabilities.argmax(-1) if targets is None
               else np.broadcast_to(np.asarray(targets), (len(ids),)))
    catalog = {info.name: info for info in registry.catalog()}
    runs = []
    for name, options in _plan(methods):
        start = time.perf_counter()
        _, maps = explain(name, model, ids, targets, verbose=0, **common, **options)
        maps = np.asarray(maps, dtype=np.float32)
        info = catalog.get(name)
        signed = bool(info and info.signed) or bool(maps.min() < 0)
        runs.append(MethodRun(name=name, maps=[m[None] for m in maps], parameters=options,
                              seconds=time.perf_counter() - start, signed=signed,
                              family=info.family if info else "",
                              summary=info.summary if info else "",
                              paper=info.paper if info else ""))
    return Explained(
        names=list(names) if names is not None else [f"text {i}" for i in range(len(ids))],
        pixels=None, inputs=[row[None] for row in ids], probabilities=probabilities,
        targets=np.asarray(targets).reshape(-1, 1), runs=runs, labels=labels,
        model_name=model_name or model.name, backend=keras.backend.backend(),
        input_shape=str(tuple(ids.shape[1:])), parameter_count=model.count_params(),
        preprocess="token ids", version=_version.__version__,
        keras_version=keras.__version__, date=time.strftime("%Y-%m-%d %H:%M"),
        probability_note=note, tokens=tokens, vocabulary=vocabulary)
