"""Can this map be trusted? Metrics of explanations, batched on every backend.

Every metric is a function ``metric(model, x, targets=None, maps=None,
method=None, **options) -> MetricResult`` that evaluates either given ``maps``
(made by kerascope or elsewhere) or a ``method`` (a registered name, a ``Method``
instance or class, or any callable ``(model, x, targets) -> maps``)::

    from kerascope import metrics
    result = metrics.deletion(model, x, labels, method="smoothgrad")
    result.value, result.curves            # AUC, (N, steps + 1) scores
    rows = metrics.evaluate(model, x, labels, methods=["vanilla_gradients", "grad_cam"],
                            metrics=["deletion", "insertion", "mu_fidelity"])

Families (one module each): faithfulness (deletion, insertion, mu_fidelity,
road_morf, road_lerf, average_drop, average_increase), localization
(pointing_game, relevance_mass, relevance_rank; need ground-truth ``masks``),
robustness (max_sensitivity, average_sensitivity; need a ``method``) and
complexity (sparseness, complexity); Quantus's perturbation metrics in
perturbation.py (selectivity, region_perturbation, irof, faithfulness_estimate,
monotonicity_correlation, sensitivity_n, infidelity), axiomatic (completeness),
localization's top_k_intersection and focus; randomization (smooth_mprt,
efficient_mprt, in mprt.py; the sanity checks are in randomization.py).
"""

from __future__ import annotations

import numpy as np

from kerascope.metrics.base import (
    MetricResult,
    explain_maps,
    method_label,
    progress_bar,
    named_methods,
    prepare,
)
from kerascope.metrics.faithfulness import (
    average_drop,
    average_increase,
    causal_curve,
    curves_png,
    deletion,
    insertion,
    mu_fidelity,
    noisy_linear_impute,
    plot_curves,
    road,
)
from kerascope.metrics.localization import (
    focus,
    pointing_game,
    relevance_mass,
    relevance_rank,
    relevance_rank_accuracy,
    top_k_intersection,
)
from kerascope.metrics.perturbation import (
    faithfulness_estimate,
    infidelity,
    irof,
    monotonicity_correlation,
    region_perturbation,
    selectivity,
    sensitivity_n,
)
from kerascope.metrics.axiomatic import completeness
from kerascope.metrics.mprt import efficient_mprt, smooth_mprt
from kerascope.metrics.robustness import average_sensitivity, max_sensitivity
from kerascope.metrics.complexity import complexity, entropy, gini, sparseness
from kerascope.metrics.registry import ALIASES, REGISTRY, MetricInfo, catalog, get
from kerascope.rendering.figures import png_to_array
from kerascope.rendering.trust import png as figure_png


def evaluate(model, x, targets=None, methods=("vanilla_gradients",),
             metrics=("deletion", "insertion"), masks=None, maps=None, batch_size=32,
             metric_options=None, method_options=None, output_index=0, use_logits=False,
             verbose=0):
    """Evaluate several methods with several metrics; return one table row per pair.

    Args:
        model, x, targets: as for each metric (targets resolved once, so every
            method and metric explain the same classes).
        methods: a method, a list of methods, or a dict ``{label: method}``.
        metrics: metric names (see :func:`catalog`).
        masks: ground-truth masks for the localization metrics.
        maps: extra ready-made maps, ``{label: (N, ...) array}``, evaluated like
            methods (robustness metrics, which must re-explain, skip them).
        metric_options: ``{metric name: {option: value}}``.
        method_options: ``{method label: {option: value}}`` for named methods.
        use_logits: score before a final softmax in the faithfulness metrics.
        verbose: 1 shows a Keras progress bar over the (method, metric) pairs, 0
            hides it ("auto": only for iterables on a terminal, i.e. never here).

    Returns:
        A list of dicts with keys ``method``, ``metric``, ``value``, ``std``, ``n``,
        ``higher_is_better``, ``seconds`` (the metric), ``explain_seconds`` (the
        method's maps, shared by its rows) and ``result`` (the :class:`MetricResult`,
        with curves). Rows of a metric that does not apply (robustness on bare maps)
        are left out.
    """
    import time

    infos = [get(name) for name in ([metrics] if isinstance(metrics, str) else metrics)]
    if not infos:
        raise ValueError("metrics: expected at least one metric name.")
    metric_options = dict(metric_options or {})
    for key in metric_options:
        get(key)
    method_options = dict(method_options or {})
    named = named_methods(methods) if methods is not None else {}
    given = dict(maps or {})
    if not named and not given:
        raise ValueError("methods: expected at least one method (or maps to evaluate).")
    overlap = set(named) & set(given)
    if overlap:
        raise ValueError(f"maps: labels {sorted(overlap)} are used by methods too.")
    problem = prepare(model, x, targets, batch_size, use_logits, output_index)
    needs_masks = [info.name for info in infos if info.needs_masks]
    if needs_masks:
        if masks is None:
            raise ValueError(
                f"masks: the metric(s) {', '.join(needs_masks)} need ground-truth masks."
            )
        problem.layout.feature_masks(masks, problem.n)
    for label, array in given.items():
        problem.layout.feature_maps(array, problem.n, name=f"maps[{label!r}]")
    units = problem.units

    rows = []
    bar = progress_bar(len(named) * len(infos)
                       + len(given) * sum(not info.needs_method for info in infos),
                       verbose, unit="metric")
    candidates = [(label, method, None) for label, method in named.items()]
    candidates += [(label, None, np.asarray(array)) for label, array in given.items()]
    for label, method, ready in candidates:
        options = method_options.get(label, {})
        if ready is None:
            start = time.perf_counter()
            ready = explain_maps(model, problem.x, units, method, batch_size=batch_size,
                                 output_index=output_index, expected=problem.layout,
                                 method_options=options)
            explain_seconds = time.perf_counter() - start
        else:
            explain_seconds = 0.0
        for info in infos:
            if info.needs_method and method is None:
                continue
            kwargs = dict(metric_options.get(info.name, {}))
            for alias, target in ALIASES.items():
                if target == info.name and alias in metric_options:
                    kwargs.update(metric_options[alias])
            if info.needs_masks:
                kwargs["masks"] = masks
            if info.family == "faithfulness":
                kwargs.setdefault("use_logits", use_logits)
            if info.needs_method:
                kwargs["method_options"] = options
            start = time.perf_counter()
            result = info.fn(model, problem.x, units, maps=ready,
                             method=method if info.needs_method else None,
                             batch_size=batch_size, output_index=output_index, **kwargs)
            seconds = time.perf_counter() - start
            row = result.row(method=label)
            row["seconds"] = seconds
            row["explain_seconds"] = explain_seconds
            row["result"] = result
            rows.append(row)
            if bar is not None:
                bar.add(1)
    return rows


def curve_figures(rows, title_suffix="") -> dict:
    """``{metric: PNG bytes}``: one figure per curve metric in :func:`evaluate` rows,
    the methods' mean curves overlaid (for reports)."""
    figures = {}
    for metric in dict.fromkeys(row["metric"] for row in rows):
        chosen = [row for row in rows
                  if row["metric"] == metric and row["result"].curves is not None]
        if chosen:
            title = f"{metric}{title_suffix}"
            figures[metric] = curves_png([row["result"] for row in chosen], title=title,
                                         labels=[str(row["method"]) for row in chosen])
    return figures


def format_table(rows, digits=4) -> str:
    """A plain-text table of :func:`evaluate` rows (method x metric)."""
    header = ("method", "metric", "value", "std", "n", "better")
    lines = [header]
    for row in rows:
        lines.append((str(row["method"]), str(row["metric"]), f"{row['value']:.{digits}f}",
                      f"{row['std']:.{digits}f}", str(row["n"]),
                      "higher" if row["higher_is_better"] else "lower"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in lines)


__all__ = [
    "MetricResult", "MetricInfo", "REGISTRY", "ALIASES", "get", "catalog", "evaluate",
    "format_table", "curve_figures", "named_methods", "method_label", "prepare", "explain_maps",
    "figure_png", "png_to_array",
    "deletion", "insertion", "mu_fidelity", "road", "average_drop", "average_increase",
    "causal_curve", "noisy_linear_impute", "plot_curves", "curves_png",
    "pointing_game", "relevance_mass", "relevance_rank",
    "max_sensitivity", "average_sensitivity",
    "sparseness", "complexity", "gini", "entropy",
    "completeness", "selectivity", "region_perturbation", "irof", "faithfulness_estimate",
    "monotonicity_correlation", "sensitivity_n", "infidelity", "relevance_rank_accuracy",
    "top_k_intersection", "focus", "smooth_mprt", "efficient_mprt",
]
