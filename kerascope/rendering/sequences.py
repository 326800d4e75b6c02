"""Pictures of attributions that are not images: tokens, tables and time series.

The conventions of kerascope's image rendering hold here too: a signed map is drawn
with a diverging colormap centred at zero (``RdBu_r``: negative blue, zero white,
positive red), an unsigned one with a sequential colormap (``Reds``); the colour
scale clips Captum-style outliers (the largest values holding ``outlier_perc``
percent of the map's mass are drawn at full colour); every picture names the
method, the target and the model's probability, and carries a colour bar (or, for
bars, a signed axis) in the map's units.

* :func:`tokens_html`: a text as its tokens, each on a background coloured by its
  attribution (HTML, with the value in each token's tooltip and a colour bar), ready
  for a notebook (``IPython.display.HTML``) or a report page; :func:`tokens_page`
  puts several on one page.
* :func:`table_figure`: one sample's feature attributions as a signed horizontal
  bar chart, largest ``|value|`` first, labelled ``name = value``.
* :func:`series_figure`: a time series (one line per channel) with its per-step
  attribution shaded under it, and the attribution itself in a strip below.

Figures are matplotlib ``Figure`` objects on an Agg canvas (no pyplot state);
:func:`figure_png` and :func:`save_figure` turn them into PNG bytes or files.
"""

from __future__ import annotations

import html

import numpy as np

from kerascope.rendering.figures import figure_png, new_figure, save_figure  # noqa: F401
from kerascope.rendering.maps import (
    DEFAULT_OUTLIER_PERC,
    DIVERGING,
    SEQUENTIAL,
    colormap,
    clip_scale,
    colorize,
    overlay as _overlay,
    format_value as _format,
    title,
)

__all__ = [
    "DIVERGING", "SEQUENTIAL", "tokens_html", "tokens_page", "table_figure",
    "series_figure", "figure_png", "save_figure", "caption", "attention_html",
    "vit_overlay",
]



# -- numbers and colours ---------------------------------------------------------------


def _values(values, name, ndim):
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim}-D values, got shape {arr.shape}.")
    return np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)


def _signed(values, signed):
    if signed is None:
        return bool(values.size) and bool(values.min() < 0)
    return bool(signed)


def _normalized(values, signed, scale):
    if scale <= 0:
        return np.zeros_like(values)
    return np.clip(values / scale, -1.0 if signed else 0.0, 1.0)


def caption(method=None, target=None, labels=None, probability=None):
    """``"integrated_gradients · class 1 'positive' · p=0.97"`` (``rendering.title``)."""
    return title(method, target, labels, probability)


# -- tokens ---------------------------------------------------------------------------


def _token_texts(tokens, vocabulary):
    if vocabulary is None:
        return [str(t) for t in tokens]
    if hasattr(vocabulary, "id_to_token"):  # a keras-hub tokenizer
        return [str(vocabulary.id_to_token(int(t))) for t in tokens]
    out = []
    for t in tokens:
        try:
            out.append(str(vocabulary[int(t)]))
        except (IndexError, KeyError, TypeError, ValueError):
            out.append(str(t))
    return out


def tokens_html(tokens, attributions, *, vocabulary=None, method=None, target=None,
                labels=None, probability=None, signed=None, outlier_perc=DEFAULT_OUTLIER_PERC,
                scale=None, skip=(), cmap=None):
    """An HTML fragment: the tokens on backgrounds coloured by their attributions.

    Args:
        tokens: the tokens of one text (strings, or ids with ``vocabulary``).
        attributions: one value per token, ``(T,)`` (e.g. Integrated Gradients at
            the Embedding layer).
        vocabulary: id -> string (a list or dict), for token ids.
        method, target, labels, probability: the caption.
        signed: draw as signed (default: when a value is negative).
        outlier_perc, scale: the colour scale (``scale`` given: that value is full colour).
        skip: token strings not drawn (e.g. ``("<pad>",)``).
    """
    values = _values(attributions, "attributions", 1)
    texts = _token_texts(list(tokens), vocabulary)
    if len(texts) != len(values):
        raise ValueError(
            f"attributions: {len(values)} values for {len(texts)} tokens; expected one per token."
        )
    signed = _signed(values, signed)
    if scale is None:
        scale = clip_scale(values, signed=signed, outlier_perc=outlier_perc)
    scale = float(scale)
    colours = colorize(_normalized(values, signed, scale), signed, cmap)
    spans = []
    for text, value, colour in zip(texts, values, colours):
        if text in skip:
            continue
        r, g, b = (int(round(255 * c)) for c in colour[:3])
        light = 0.299 * r + 0.587 * g + 0.114 * b > 140
        spans.append(
            f'<span class="ks-token" title="{html.escape(_format(value))}" style="background:'
            f'rgb({r},{g},{b});color:{"#000" if light else "#fff"};padding:1px 3px;'
            f'margin:1px;border-radius:3px;display:inline-block">{html.escape(text)}</span>'
        )
    heading = caption(method, target, labels, probability)
    return (
        '<div class="ks-tokens" style="font-family:monospace;line-height:1.9">'
        + (f'<div class="ks-caption" style="font-weight:bold">{html.escape(heading)}</div>'
           if heading else "")
        + "<div>" + " ".join(spans) + "</div>"
        + _colorbar_html(signed, scale, cmap)
        + "</div>"
    )


def attention_html(tokens, token_map, *, vocabulary=None, tokenizer=None,
                   signed=True, skip=(), **caption):
    """A token map (``attention_rollout``, ``generic_attention``, IG at an
    Embedding) drawn as the text itself, each token on a diverging background.

    ``tokens``: the ``T`` ids (or strings) of one text; ``token_map``: ``(T,)``, or
    ``(T - 1,)`` for a map without the class token (``drop_token=True``: the first
    token is then not drawn). Words come from ``vocabulary`` (a list or dict) or a
    keras-hub ``tokenizer`` (its ``id_to_token``). ``caption``: ``method``,
    ``target``, ``labels``, ``probability``, ``outlier_perc``, ``scale``, ``cmap``.
    """
    tokens = list(tokens)
    values = np.asarray(token_map, dtype=np.float64).reshape(-1)
    if len(values) == len(tokens) - 1:
        tokens = tokens[1:]
    return tokens_html(tokens, values, vocabulary=tokenizer or vocabulary, signed=signed,
                       skip=skip, **caption)


def vit_overlay(image, token_map, *, alpha=0.6, **options):
    """A ViT map over its image, uint8 RGB ``(H, W, 3)``: ``token_map`` is the
    ``(H, W)`` image map of ``attention_rollout``/``generic_attention`` or a token
    map ``(1 + g*g,)`` (class token first; its ``g x g`` patch grid is drawn,
    upsampled to the image). ``options``: those of ``rendering.overlay``."""
    values = np.asarray(token_map, dtype=np.float64)
    if values.ndim == 1:
        grid = int(round(np.sqrt(values.size - 1)))
        if grid * grid != values.size - 1:
            raise ValueError(
                f"token_map: {values.size} positions are not a class token and a square "
                f"grid of patches."
            )
        values = values[1:].reshape(grid, grid)
        height, width = np.shape(image)[:2]
        if height % grid == 0 and width % grid == 0:  # each patch's value over its pixels
            values = np.kron(values, np.ones((height // grid, width // grid)))
    return _overlay(values, image, alpha=alpha, **options)


def _colorbar_html(signed, scale, cmap=None):
    stops = np.linspace(-1.0 if signed else 0.0, 1.0, 9)
    colours = colorize(stops, signed, cmap)
    gradient = ", ".join(
        f"rgb({int(255 * c[0])},{int(255 * c[1])},{int(255 * c[2])})" for c in colours
    )
    low = _format(-scale) if signed else "0"
    return (
        '<div class="ks-colorbar" style="display:flex;align-items:center;gap:6px;'
        'font-size:11px;margin-top:4px">'
        f"<span>{low}</span>"
        f'<span style="width:160px;height:10px;background:linear-gradient(to right, '
        f'{gradient});border:1px solid #888"></span>'
        f"<span>{_format(scale)}</span></div>"
    )


def tokens_page(rows, title="kerascope token attributions"):
    """A standalone HTML page of several :func:`tokens_html` fragments."""
    body = "\n".join(f'<div style="margin:10px 0">{row}</div>' for row in rows)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title></head><body style='font-family:sans-serif'><h2>{html.escape(title)}</h2>"
        f"{body}</body></html>"
    )


# -- figures --------------------------------------------------------------------------


def table_figure(attributions, feature_names=None, feature_values=None, *, method=None,
                 target=None, labels=None, probability=None, max_features=20,
                 signed=None, width=6.0):
    """One sample's feature attributions as a signed horizontal bar chart.

    Bars are sorted by ``|value|``, largest on top (at most ``max_features``, the
    rest summed into one "other features" bar), coloured red for positive and blue
    for negative values (unsigned maps: red). Labels are ``name = value`` when
    ``feature_values`` (the sample's inputs) are given.
    """
    values = _values(attributions, "attributions", 1)
    count = len(values)
    names = [f"feature {i}" for i in range(count)] if feature_names is None else [
        str(n) for n in feature_names]
    if len(names) != count:
        raise ValueError(
            f"feature_names: {len(names)} names for {count} attributions; expected one each."
        )
    if feature_values is not None:
        inputs = np.asarray(feature_values).reshape(-1)
        if len(inputs) != count:
            raise ValueError(
                f"feature_values: {len(inputs)} values for {count} attributions."
            )
        names = [f"{n} = {_format(float(v))}" for n, v in zip(names, inputs)]
    signed = _signed(values, signed)
    order = np.argsort(-np.abs(values), kind="stable")
    shown = order[:max_features]
    bars = list(values[shown])
    bar_names = [names[i] for i in shown]
    if count > max_features:
        bars.append(float(values[order[max_features:]].sum()))
        bar_names.append(f"{count - max_features} other features")
    bars, bar_names = bars[::-1], bar_names[::-1]
    scale = max(np.abs(bars).max(), 1e-12)
    # one strong colour per sign: red for the target, blue against
    colours = colorize(np.where(np.asarray(bars) >= 0, 0.75, -0.75 if signed else 0.0), signed)
    figure = new_figure(width, 0.9 + 0.32 * len(bars))
    axes = figure.add_subplot()
    axes.barh(np.arange(len(bars)), bars, color=colours, edgecolor="#444", linewidth=0.5)
    axes.set_yticks(np.arange(len(bars)), bar_names, fontsize=8)
    axes.axvline(0.0, color="#333", linewidth=0.8)
    if signed:
        axes.set_xlim(-1.45 * scale, 1.45 * scale)  # room for the value labels
    else:
        axes.set_xlim(min(0.0, 1.45 * min(bars)), 1.45 * scale)
    for y, value in enumerate(bars):
        axes.text(value, y, f" {_format(value)} ", va="center",
                  ha="left" if value >= 0 else "right", fontsize=7)
    axes.set_xlabel("attribution (red: for the target, blue: against)" if signed
                    else "attribution")
    heading = caption(method, target, labels, probability)
    if heading:
        axes.set_title(heading, fontsize=10)
    return figure


def series_figure(series, attributions, *, method=None, target=None, labels=None,
                  probability=None, channel_names=None, signed=None,
                  outlier_perc=DEFAULT_OUTLIER_PERC, width=8.0, height=3.6, cmap=None):
    """A time series with its per-step attribution shaded under it.

    Args:
        series: ``(T,)`` or ``(T, C)`` (one line per channel).
        attributions: ``(T,)`` per-step values (e.g. occlusion along time, or a
            gradient map reduced over channels).
    """
    lines = np.asarray(series, dtype=np.float64)
    if lines.ndim == 1:
        lines = lines[:, None]
    if lines.ndim != 2:
        raise ValueError(f"series: expected (T,) or (T, C), got shape {np.shape(series)}.")
    values = _values(attributions, "attributions", 1)
    if len(values) != len(lines):
        raise ValueError(
            f"attributions: {len(values)} values for a series of {len(lines)} steps; "
            f"expected one per step."
        )
    signed = _signed(values, signed)
    scale = clip_scale(values, signed=signed, outlier_perc=outlier_perc)
    colours = colorize(_normalized(values, signed, scale), signed, cmap)
    figure = new_figure(width, height)
    grid = figure.add_gridspec(2, 2, height_ratios=(4, 1), width_ratios=(40, 1))
    top = figure.add_subplot(grid[0, 0])
    strip = figure.add_subplot(grid[1, 0], sharex=top)
    bar_axes = figure.add_subplot(grid[:, 1])
    steps = np.arange(len(values))
    low, high = lines.min(), lines.max()
    pad = 0.05 * (high - low if high > low else 1.0)
    for t, colour in zip(steps, colours):
        top.axvspan(t - 0.5, t + 0.5, color=colour, alpha=0.6, linewidth=0)
    names = channel_names or [f"channel {c}" for c in range(lines.shape[1])]
    for c in range(lines.shape[1]):
        top.plot(steps, lines[:, c], linewidth=1.2, label=str(names[c]))
    top.set_ylim(low - pad, high + pad)
    top.set_xlim(-0.5, len(values) - 0.5)
    if lines.shape[1] > 1:
        top.legend(fontsize=7, loc="upper right")
    top.set_ylabel("value")
    heading = caption(method, target, labels, probability)
    if heading:
        top.set_title(heading, fontsize=10)
    strip.bar(steps, values, width=1.0, color=colours, edgecolor="none")
    strip.axhline(0.0, color="#333", linewidth=0.6)
    strip.set_ylabel("attr.", fontsize=8)
    strip.set_xlabel("time step")
    import matplotlib

    norm = matplotlib.colors.Normalize(-scale if signed else 0.0, scale if scale > 0 else 1.0)
    colours = colormap(cmap or (DIVERGING if signed else SEQUENTIAL))
    mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=colours)
    figure.colorbar(mappable, cax=bar_axes, label="attribution")
    return figure
