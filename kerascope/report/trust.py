"""The report of ``kerascope evaluate`` and ``kerascope sanity``: one self-contained
HTML page (PNG figures embedded as data URIs) with

* *Metrics*: one table per family of metrics (faithfulness, localization...), one row
  per metric with its direction ("higher is better" / "lower is better"), one column
  per method (the mean over the inputs, ± std, the best method's cell in bold); the
  deletion/insertion (and ROAD) curves of every method overlaid;
* *Sanity checks*: per method and check, the similarity table per randomized layer,
  the figure of Adebayo et al. 2018 (arXiv:1810.03292) and the strip of maps per step.
"""

from __future__ import annotations

import base64
import math

from kerascope.report.explanation import PAGE_CSS, escape

_EXTRA_CSS = """
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{font-weight:700} td.dir{white-space:nowrap} td.about{min-width:260px}
section.metric-family{margin:10px 0 18px} section.metric-family h3{text-transform:capitalize;margin:14px 0 6px} img.fig{max-width:100%;height:auto;display:block;margin:6px 0}
.figs{display:flex;flex-wrap:wrap;gap:16px} .figs img{max-width:560px}
"""


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _number(value, digits=4):
    value = float(value)
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


def _header(info):
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in info.items())
    return f"<table class=\"meta\">{rows}</table>"


def metrics_section(rows, metric_infos, curves):
    """HTML of the metrics section.

    ``rows``: :func:`kerascope.metrics.evaluate` rows (``method``, ``metric``, ``value``,
    ``std``, ``n``, ``higher_is_better``); ``metric_infos``: ``{name: MetricInfo}`` in
    column order; ``curves``: ``{metric: PNG bytes}``.
    """
    methods = list(dict.fromkeys(str(row["method"]) for row in rows))
    metrics = [m for m in metric_infos if any(row["metric"] == m for row in rows)]
    cell = {(str(row["method"]), row["metric"]): row for row in rows}
    best = {}
    for metric in metrics:
        values = [(cell[(m, metric)]["value"], m) for m in methods
                  if (m, metric) in cell and math.isfinite(cell[(m, metric)]["value"])]
        if len(values) > 1:
            higher = metric_infos[metric].higher_is_better
            best[metric] = (max if higher else min)(values)[1]
    out = ["<h2>Metrics</h2>",
           "<p class=\"small\">Mean over the inputs ± standard deviation, one table per "
           "family of metrics; the best method per metric in bold.</p>"]
    families = {}
    for metric in metrics:
        families.setdefault(metric_infos[metric].family, []).append(metric)
    for family, names in families.items():
        out.append(f"<section class=\"metric-family\" data-family=\"{escape(family)}\">"
                   f"<h3>{escape(family)}</h3>")
        out.append("<div class=\"scroll\"><table><tr><th>metric</th><th>direction</th>"
                   + "".join(f"<th>{escape(m)}</th>" for m in methods)
                   + "<th>about</th></tr>")
        for metric in names:
            info = metric_infos[metric]
            direction = "↑ higher is better" if info.higher_is_better else "↓ lower is better"
            out.append(f"<tr><th>{escape(metric)}</th>"
                       f"<td class=\"dir\">{escape(direction)}</td>")
            for method in methods:
                row = cell.get((method, metric))
                if row is None:
                    out.append("<td class=\"num\">—</td>")
                    continue
                css = "num best" if best.get(metric) == method else "num"
                out.append(f"<td class=\"{css}\">{_number(row['value'])} "
                           f"<span class=\"small\">± {_number(row['std'], 3)}</span></td>")
            out.append(f"<td class=\"about\">{escape(info.summary)} "
                       f"<span class=\"small\">{escape(info.paper)}</span></td></tr>")
        out.append("</table></div></section>")
    if curves:
        out.append("<h2>Curves</h2><p class=\"small\">Mean target score of each method as "
                   "features are removed (deletion, ROAD) or added (insertion) in the order "
                   "of the map.</p><div class=\"figs\">")
        for metric, png in curves.items():
            out.append(f"<figure><img class=\"fig\" alt=\"{escape(metric)} curves\" "
                       f"src=\"{_png_uri(png)}\"></figure>")
        out.append("</div>")
    return "\n".join(out)


def sanity_section(results):
    """HTML of the sanity section; ``results``: ``[(method, check, SanityResult,
    figure PNG, strip PNG)]``."""
    out = ["<h2>Sanity checks</h2>",
           "<p class=\"small\">Adebayo et al. 2018, arXiv:1810.03292: the similarity of each "
           "method's maps to the trained model's after randomizing the model's layers "
           "(1 = unchanged; for random logit, the map of a random other class). A map "
           "that stays similar when the model is randomized does not explain the model.</p>"]
    for method, check, result, figure, strip in results:
        measures = result.measures
        out.append(f"<h3>{escape(method)}: {escape(check)}</h3>")
        out.append("<div class=\"scroll\"><table><tr><th>step</th><th>randomized</th>"
                   + "".join(f"<th>{escape(m)}</th>" for m in measures) + "</tr>")
        for row in result.rows():
            out.append(f"<tr><td class=\"num\">{row['step']}</td><td>{escape(row['label'])}</td>"
                       + "".join(f"<td class=\"num\">{_number(row[m], 3)} <span class=\"small\">"
                                 f"± {_number(row[m + '_std'], 3)}</span></td>"
                                 for m in measures) + "</tr>")
        out.append("</table></div>")
        out.append(f"<img class=\"fig\" alt=\"{escape(check)} figure\" src=\"{_png_uri(figure)}\">")
        if strip is not None:
            out.append(f"<img class=\"fig\" alt=\"{escape(check)} map strip\" "
                       f"src=\"{_png_uri(strip)}\">")
    return "\n".join(out)


def render_trust_report(title, info, sections) -> str:
    """The page: a title, the run's facts (``{label: value}``) and HTML ``sections``."""
    return "\n".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">",
        f"<title>{escape(title)}</title>",
        f"<style>{PAGE_CSS}{_EXTRA_CSS}</style>\n</head>\n<body>",
        f"<h1>{escape(title)}</h1>", _header(info), *sections, "</body>\n</html>\n"])
