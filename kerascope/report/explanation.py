"""The HTML report of an explanation run: one self-contained, printable file.

:func:`render_report` turns an :class:`Explained` (what the command computed) into a
page: a header (model, backend, input shape, parameter count, preprocessing, kerascope
version, date), a table of methods (parameters, time, share of map mass in the object
mask when masks are known), a row per input (the input, its top-3 predictions, one
overlay per method with its colour bar and target; a sub-row per target for top-K) and
a "pipeline" section with what the model was fed (shape, dtype, min/max/mean). Images
are PNG data URIs: nothing is fetched from the network.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import os
import pathlib

import numpy as np

from kerascope import rendering
from kerascope.report import text as text_inputs

__all__ = ["MethodRun", "Explained", "render_report", "write_report", "mask_share", "top_k"]


@dataclasses.dataclass
class MethodRun:
    """One method's results.

    Attributes:
        name, family, summary, paper: from the method catalog.
        signed: maps drawn with the diverging colormap.
        parameters: the options it ran with.
        seconds: wall time of the method over all inputs.
        maps: one float array ``(K, H, W)`` per input (K targets).
    """

    name: str
    maps: list
    parameters: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    signed: bool = False
    family: str = ""
    summary: str = ""
    paper: str = ""


@dataclasses.dataclass
class Explained:
    """Everything the report shows.

    Attributes:
        names: one name per input (file names).
        pixels: uint8 ``(H, W, C)`` per input, as displayed (before preprocessing).
        inputs: what the model was fed, one float array per input.
        probabilities: ``(N, classes)`` probabilities (softmax of the outputs when the
            model does not end in one; see ``probability_note``).
        targets: ``(N, K)`` class indices explained.
        runs: the :class:`MethodRun` of each method.
        labels: class names indexed by class, or None.
        masks: bool ``(H, W)`` per input (the object), or None.
        model_name, backend, input_shape, parameter_count, preprocess, version,
        keras_version, date: the header.
        notes: extra lines for the header (e.g. how method defaults were set).
        tokens: for a text model, the words of each input (``pixels`` may then be
            None); token maps ``(K, T)`` are drawn as the text (``report.text``).
        vocabulary: instead of ``tokens``: id -> word (list, dict or keras-hub
            tokenizer), the ids read from ``inputs``.
    """

    names: list
    pixels: list
    inputs: list
    probabilities: np.ndarray
    targets: np.ndarray
    runs: list
    labels: list | None = None
    masks: list | None = None
    model_name: str = ""
    backend: str = ""
    input_shape: str = ""
    parameter_count: int | None = None
    preprocess: str = ""
    version: str = ""
    keras_version: str = ""
    date: str = ""
    probability_note: str = ""
    notes: list = dataclasses.field(default_factory=list)
    tokens: list | None = None
    vocabulary: object = None


def mask_share(values, mask, signed=True):
    """Share of the map's mass ``sum |m|`` that lies inside ``mask`` (0..1), NaN for an
    all-zero map. The map is resized to the mask when their sizes differ. An unsigned
    map is measured as it is drawn, above its ``rendering.offset`` (a constant offset,
    such as RISE's mean score, is no evidence of where the object is)."""
    arr = np.nan_to_num(np.asarray(values, dtype=np.float64))
    arr = np.abs(arr - rendering.offset(arr, signed))
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    mask = np.asarray(mask, dtype=bool)
    if arr.shape != mask.shape:
        arr = np.abs(rendering.resize_map(arr, mask.shape))
    total = arr.sum()
    return float(arr[mask].sum() / total) if total > 0 else float("nan")


def top_k(probabilities, k=3):
    """``[(class, probability), ...]`` of the k largest, per row."""
    probabilities = np.asarray(probabilities)
    order = np.argsort(-probabilities, axis=-1, kind="stable")[..., :k]
    return [[(int(c), float(row[c])) for c in idx] for row, idx in zip(probabilities, order)]


PAGE_CSS = """
:root{--fg:#1d1d1f;--muted:#666;--line:#d8d8d8;--head:#f3f4f6}
*{box-sizing:border-box} body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);margin:24px;font-size:14px;background:#fff}
h1{font-size:22px;margin:0 0 8px} h2{font-size:17px;margin:28px 0 8px}
table{border-collapse:collapse} th,td{border:1px solid var(--line);padding:6px;vertical-align:top}
th{background:var(--head);text-align:left;font-weight:600}
.meta td:first-child{color:var(--muted);padding-right:16px} .meta td{border:none;padding:2px 6px}
.scroll{overflow-x:auto}
.cell{display:flex;gap:4px;align-items:stretch}
.cell img.map,.input img{width:128px;height:auto;image-rendering:pixelated;display:block}
.bar{display:flex;gap:2px} .bar img{width:9px;height:128px;display:block}
.ticks{display:flex;flex-direction:column;justify-content:space-between;font-size:10px;
color:var(--muted);height:128px;white-space:nowrap}
.cap{font-size:11px;color:var(--muted);margin-top:3px;max-width:180px}
.preds{font-size:12px;white-space:nowrap} .preds b{font-weight:600}
.small{font-size:12px;color:var(--muted)} code{font-size:12px}
.share{font-weight:600;color:var(--fg)}
.pipeline img{width:64px;image-rendering:pixelated}
.by-input{border-top:1px solid var(--line);padding:10px 0 4px}
.input-head{display:flex;gap:14px;align-items:flex-start;margin-bottom:6px}
.input-head h3{margin:0 0 4px;font-size:15px}
.family{display:flex;gap:10px;align-items:flex-start;margin:4px 0}
.family-name{width:110px;flex:none;font-size:12px;font-weight:600;color:var(--muted);
padding-top:4px}
.grid{display:flex;flex-wrap:wrap;gap:10px} .grid-cell{width:170px}
@media print{body{margin:8mm;font-size:10px} .scroll{overflow:visible}
 .by-input{break-inside:avoid}
 .cell img.map,.input img{width:80px} .bar img,.ticks{height:80px}
 tr{break-inside:avoid} *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 @page{size:landscape}}
"""


def _uri(image):
    return "data:image/png;base64," + base64.b64encode(rendering.png_bytes(image)).decode()


def escape(value):
    return html.escape(str(value))


def _label(labels, index):
    if labels is None:
        return None
    try:
        return str(labels[int(index)])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _class_text(labels, index):
    name = _label(labels, index)
    return f"{int(index)} ({name})" if name is not None and name != str(int(index)) else f"{int(index)}"


def _probability(p):
    p = float(p)
    return f"{p:.3f}" if p >= 0.001 or p == 0 else f"{p:.1e}"


def _params(parameters):
    if not parameters:
        return "defaults"
    return ", ".join(f"{k}={v!r}" for k, v in parameters.items())


def _fmt(value):
    return rendering.format_value(float(value))


def _caption(data, run, i, j, target, probability, shares):
    caption = f"target {escape(_class_text(data.labels, target))}"
    if probability is not None:
        caption += f", p={_probability(probability)}"
    if shares:
        share = shares[run.name][i][j]
        if np.isfinite(share):
            caption += f" · <span class='share'>{share:.0%} in mask</span>"
    return caption


def _input(data, i):
    """Input ``i``: its text for a text model, else its image."""
    if text_inputs.is_text(data):
        return text_inputs.text_input(data, i)
    return (f"<img class='input-image' alt='input' "
            f"src='{_uri(rendering.to_rgb(data.pixels[i]))}'>")


def _map_cell(data, run, i, j, target, probability, shares, strips):
    """One labelled map: the overlay, its colour bar and a caption (method, target)."""
    values = np.asarray(run.maps[i][j], dtype=np.float64)
    if values.ndim == 1 and text_inputs.is_text(data):
        return text_inputs.token_cell(data, run, i, j, _caption(data, run, i, j, target,
                                                               probability, shares))
    floor = rendering.offset(values, run.signed)
    _, scale = rendering.normalize(values, run.signed, floor=floor)
    picture = rendering.overlay(values, data.pixels[i], signed=run.signed,
                                scale=scale if scale > 0 else None, floor=floor)
    top = _fmt(floor + scale) if scale > 0 else _fmt(floor)
    bottom = f"-{_fmt(scale)}" if run.signed and scale > 0 else _fmt(floor)
    ticks = (f"<span>{top}</span><span>0</span><span>{bottom}</span>" if run.signed
             else f"<span>{top}</span><span>{bottom}</span>")
    caption = _caption(data, run, i, j, target, probability, shares)
    return (f'<div class="cell"><img class="map" alt="{escape(run.name)}" '
            f'src="{_uri(picture)}"><div class="bar"><img alt="colour bar" '
            f'src="{strips[run.signed]}"><div class="ticks">{ticks}</div></div></div>'
            f'<div class="cap">{escape(run.name)} · {caption}</div>')


def _predictions(data, ranked, i, chosen):
    return "<br>".join(
        (f"<b>{escape(_class_text(data.labels, c))}: {_probability(p)}</b>" if c == chosen
         else f"{escape(_class_text(data.labels, c))}: {_probability(p)}")
        for c, p in ranked[i])


def _by_input(data, targets, ranked, cells):
    """The compact view: one input at a time, every method's map on a grid, the
    methods grouped by family (a grid per target)."""
    families = list(dict.fromkeys(run.family or "other" for run in data.runs))
    links = " · ".join(f"<a href='#input-{i}'>{escape(name)}</a>"
                       for i, name in enumerate(data.names))
    out = [f"<p class='small'>Inputs: {links}</p>"]
    for i in range(len(data.names)):
        out.append(f"<section class='by-input' id='input-{i}'><div class='input-head'>"
                   f"<div class='input'>{_input(data, i)}</div><div>"
                   f"<h3>{escape(data.names[i])}</h3><div class='preds'>"
                   f"{_predictions(data, ranked, i, targets[i][0])}</div></div></div>")
        kind = "grid-cell text" if text_inputs.is_text(data) else "grid-cell"
        for j in range(len(targets[i])):
            for family in families:
                grid = "".join(f"<div class='{kind}'>{cells[(r, i, j)]}</div>"
                               for r, run in enumerate(data.runs)
                               if (run.family or "other") == family)
                out.append(f"<div class='family'><div class='family-name'>{escape(family)}"
                           f"</div><div class='grid'>{grid}</div></div>")
        out.append("</section>")
    return "\n".join(out)

def render_report(data: Explained) -> str:
    """The report page as an HTML string."""
    strips = {signed: _uri(rendering.colorbar_strip(signed)) for signed in (True, False)}
    n = len(data.names)
    k = int(np.asarray(data.targets).shape[1]) if np.ndim(data.targets) == 2 else 1
    targets = np.asarray(data.targets).reshape(n, k)
    probabilities = np.asarray(data.probabilities)
    shares = {}
    if data.masks is not None:
        for run in data.runs:
            shares[run.name] = [[mask_share(run.maps[i][j], data.masks[i], run.signed)
                                  for j in range(k)]
                                for i in range(n)]

    text = text_inputs.is_text(data)
    out = ["<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">",
           f"<title>kerascope report: {escape(data.model_name)}</title>",
           f"<style>{PAGE_CSS}{text_inputs.TEXT_CSS if text else ''}</style>\n</head>\n<body>",
           f"<h1>kerascope report: {escape(data.model_name)}</h1>"]
    header = [
        ("model", data.model_name),
        ("backend", f"{data.backend} (Keras {data.keras_version})" if data.keras_version
         else data.backend),
        ("input shape", data.input_shape),
        ("parameters", f"{data.parameter_count:,}" if data.parameter_count is not None else "?"),
        ("preprocessing", data.preprocess),
        ("inputs", f"{n} {'text' if text else 'image'}(s), {k} target(s) each"),
        ("kerascope", data.version),
        ("date", data.date),
    ]
    if data.probability_note:
        header.append(("probabilities", data.probability_note))
    header += [("note", note) for note in data.notes]
    out.append('<table class="meta">' + "".join(
        f"<tr><td>{escape(a)}</td><td>{escape(b)}</td></tr>" for a, b in header) + "</table>")

    # explanations
    out.append("<h2>Explanations</h2>")
    out.append(
        "<p class='small'>Token maps are drawn as the text: each token on a background "
        "coloured by its value (the value in its tooltip), with the map's colour bar below; "
        "the colours saturate at the value holding 98% of the map's mass. Signed maps: red "
        "is evidence for the target, blue against. Parameters and times: see Methods below."
        "</p>" if text else
        "<p class='small'>Each map is drawn over a grayscale copy of its input, more opaque "
        "where it is stronger; its colour bar is in the map's own units, clipped at the value "
        "holding 98% of the map's mass (the brightest 2% saturate). Signed maps: red is "
        "evidence for the target, blue against. Parameters and times: see Methods below."
        "</p>")
    ranked = top_k(probabilities, 3)
    cells = {}  # each map drawn once, shown in both views
    for i in range(n):
        for j in range(k):
            target = int(targets[i][j])
            probability = probabilities[i][target] if target < probabilities.shape[-1] else None
            for r, run in enumerate(data.runs):
                cells[(r, i, j)] = _map_cell(data, run, i, j, target, probability, shares,
                                             strips)
    out.append("<h3>By input</h3>")
    out.append(_by_input(data, targets, ranked, cells))
    out.append("<h3>All inputs and methods (wide table)</h3>")
    out.append('<div class="scroll"><table class="explanations"><tr><th>input</th>'
               "<th>top-3 predictions</th>"
               + "".join(f"<th>{escape(run.name)}</th>" for run in data.runs) + "</tr>")
    for i in range(n):
        for j in range(k):
            out.append("<tr>")
            if j == 0:
                preds = _predictions(data, ranked, i, targets[i][0])
                out.append(
                    f'<td rowspan="{k}" class="input">{_input(data, i)}'
                    f'<div class="cap">{escape(data.names[i])}</div></td>'
                    f'<td rowspan="{k}" class="preds">{preds}</td>')
            out.extend("<td>" + cells[(r, i, j)].replace('<img class="map"', '<img class="map wide"', 1)
                       + "</td>" for r in range(len(data.runs)))
            out.append("</tr>")
    out.append("</table></div>")

    # methods
    out.append("<h2>Methods</h2>")
    columns = ["method", "family", "map", "parameters", "time (s)"]
    if shares:
        columns.append("mass in mask (mean)")
    rows = []
    for run in data.runs:
        cells = [f"<b>{escape(run.name)}</b><div class='small'>{escape(run.summary)}</div>"
                 f"<div class='small'>{escape(run.paper)}</div>",
                 escape(run.family), "signed (blue &lt; 0 &lt; red)" if run.signed
                 else "unsigned (white 0 → red)",
                 f"<code>{escape(_params(run.parameters))}</code>", f"{run.seconds:.2f}"]
        if shares:
            values = np.asarray(shares[run.name], dtype=np.float64)
            mean = np.nanmean(values) if np.isfinite(values).any() else float("nan")
            cells.append(f"<span class='share'>{mean:.0%}</span>" if np.isfinite(mean) else "–")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append('<table class="methods"><tr>' + "".join(f"<th>{escape(c)}</th>" for c in columns)
               + "</tr>" + "".join(rows) + "</table>")
    # pipeline
    out.append("<h2>Pipeline: what the model was fed</h2>")
    out.append(f"<p class='small'>Preprocessing: {escape(data.preprocess)}. "
               + ("The ids the model was fed (the first 64)." if text else
                  "The thumbnail shows the model input itself, stretched from its minimum "
                  "to its maximum.") + "</p>")
    out.append('<table class="pipeline"><tr><th>input</th><th>fed</th><th>shape</th><th>dtype</th>'
               "<th>min</th><th>max</th><th>mean</th></tr>")
    for i in range(n):
        fed = np.asarray(data.inputs[i])
        fed_image = fed[0] if fed.ndim == 4 else fed
        values = fed.astype(np.float64)
        low, high = float(values.min()), float(values.max())
        if text:  # the ids themselves
            shown = f"<code>{escape(' '.join(str(v) for v in fed.reshape(-1)[:64]))}</code>"
        else:
            thumb = rendering.to_rgb(fed_image, (low, high if high > low else low + 1.0))
            shown = f"<img alt='fed' src='{_uri(thumb)}'>"
        out.append(
            f"<tr><td>{escape(data.names[i])}</td><td>{shown}</td>"
            f"<td>{escape(tuple(fed.shape))}</td><td>{escape(fed.dtype)}</td><td>{low:.4g}</td>"
            f"<td>{high:.4g}</td><td>{values.mean():.4g}</td></tr>")
    out.append("</table>")
    out.append("</body>\n</html>\n")
    return "\n".join(out)


def write_report(path, data: Explained):
    """Write :func:`render_report` of ``data`` to ``path``; returns the path."""
    path = pathlib.Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path
