"""Figures of the trust checks: the sanity checks' similarity plot and map strip
(Adebayo et al. 2018, arXiv:1810.03292, Fig. 2-4) and the deletion / insertion / ROAD
curves (Petsiuk et al. 2018; Rong et al. 2022). Drawn from the results' fields only."""

from __future__ import annotations

import numpy as np

from kerascope.rendering.figures import figure_png, new_figure

__all__ = ["sanity_figure", "sanity_strip", "curves_figure", "png"]

_LABELS = {
    "spearman_abs": "Spearman (absolute)",
    "spearman": "Spearman (signed)",
    "ssim": "SSIM",
    "hog": "HOG similarity",
}
_STYLES = {  # marker, line style: overlapping measures stay visible
    "spearman_abs": ("o", "-"),
    "spearman": ("s", "--"),
    "ssim": ("^", "-"),
    "hog": ("D", ":"),
}
_TITLES = {
    "cascading": "Cascading randomization (output layer first)",
    "independent": "Independent layer randomization",
    "data": "Data randomization (labels permuted)",
    "random_logit": "Random logit",
}


def png(figure, dpi=100) -> bytes:
    """PNG bytes of a trust figure (``dpi``, cropped to its content)."""
    return figure_png(figure, dpi=dpi, bbox_inches="tight")


def _title(result):
    return f"{_TITLES.get(result.kind, result.kind)}: {result.method} on {result.model_name}"


def sanity_figure(result):
    """Mean similarity (± std band) per step of a ``SanityResult``, one line per measure."""
    steps = np.arange(len(result.steps))
    figure = new_figure(max(5.0, 0.6 * len(steps) + 2.5), 3.8, layout=None)
    axis = figure.subplots()
    low = 0.0
    for measure in result.measures:
        values = result.scores[measure]
        mean = np.nanmean(values, axis=1)
        std = np.nanstd(values, axis=1)
        marker, style = _STYLES[measure]
        line, = axis.plot(steps, mean, marker=marker, linestyle=style, label=_LABELS[measure])
        axis.fill_between(steps, mean - std, mean + std, alpha=0.15,
                          color=line.get_color(), linewidth=0)
        low = min(low, float(np.nanmin(mean - std)))
    axis.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
    axis.set_xticks(steps)
    axis.set_xticklabels(result.steps, rotation=40, ha="right", fontsize=8)
    axis.set_ylim(min(-0.05, low - 0.05), 1.05)
    axis.set_ylabel("similarity to the reference maps")
    axis.set_xlabel({"cascading": "randomized down to layer",
                     "independent": "randomized layer"}.get(result.kind, ""))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower left")
    axis.set_title(f"{_title(result)}\nmean ± std over {result.maps.shape[1]} inputs",
                   fontsize=9)
    figure.tight_layout()
    return figure


def sanity_strip(result, num_inputs=3):
    """One row per input: the input, then its map at each step of a ``SanityResult``.

    Maps are shown as ``|map| / max |map|`` (as the paper's figures).
    """
    count = min(int(num_inputs), result.maps.shape[1])
    columns = len(result.steps) + 1
    figure = new_figure(1.45 * columns + 0.8, 1.55 * count + 0.8, layout=None)
    axes = figure.subplots(count, columns, squeeze=False)
    images = _input_images(result.x)
    image = None
    for row in range(count):
        axes[row, 0].imshow(images[row], cmap="gray" if images[row].ndim == 2 else None)
        axes[row, 0].set_ylabel(f"input {row}\nclass {int(result.units[row])}", fontsize=8)
        for col, label in enumerate(result.steps, start=1):
            values = _display_map(result.maps[col - 1, row])
            image = axes[row, col].imshow(values, cmap="magma", vmin=0.0, vmax=1.0)
            if row == 0:
                axes[row, col].set_title(str(label), fontsize=7, rotation=30)
        if row == 0:
            axes[row, 0].set_title("input", fontsize=7)
    for axis in axes.ravel():
        axis.set_xticks([])
        axis.set_yticks([])
    caption = {"cascading": "column: maps with every layer from the output down to it randomized",
               "independent": "column: maps with only that layer randomized"}.get(result.kind)
    figure.suptitle(_title(result) + (f"\n{caption}" if caption else ""), fontsize=9)
    if image is not None:
        bar = figure.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02)
        bar.set_label("|map| / max |map|", fontsize=8)
    return figure


def _display_map(values):
    values = np.abs(np.asarray(values, dtype=np.float64))
    if values.ndim == 1:
        values = values[None]
    top = values.max()
    return values / top if top > 0 else values


def _input_images(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 4:
        if x.shape[-1] in (1, 3):
            x = x[..., 0] if x.shape[-1] == 1 else x
        elif x.shape[1] in (1, 3):
            x = np.moveaxis(x, 1, -1)
            x = x[..., 0] if x.shape[-1] == 1 else x
        else:
            x = x.mean(axis=-1)
    elif x.ndim == 2:
        x = x[:, None, :]
    low = x.reshape(len(x), -1).min(axis=1).reshape((-1,) + (1,) * (x.ndim - 1))
    high = x.reshape(len(x), -1).max(axis=1).reshape((-1,) + (1,) * (x.ndim - 1))
    return (x - low) / np.where(high > low, high - low, 1.0)


def curves_figure(results, title=None, labels=None):
    """Curve metrics (deletion, insertion, ROAD) of one or more ``MetricResult``.

    Each line is the mean over the inputs, the band the 25th-75th percentiles; the
    legend gives the AUC / mean. ``labels`` default to the metric names.
    """
    if not isinstance(results, (list, tuple)):
        results = [results]
    results = [r for r in results if r.curves is not None]
    if not results:
        raise ValueError("results: none of the results has a curve (deletion, insertion, road).")
    labels = list(labels) if labels is not None else [r.name for r in results]
    figure = new_figure(5.2, 3.6, layout=None)
    axis = figure.subplots()
    for result, label in zip(results, labels):
        mean = result.curves.mean(axis=0)
        low, high = np.percentile(result.curves, [25, 75], axis=0)
        arrow = "higher is better" if result.higher_is_better else "lower is better"
        line, = axis.plot(result.curve_x, mean,
                          label=f"{label}: {result.value:.3f} ({arrow})")
        axis.fill_between(result.curve_x, low, high, alpha=0.2,
                          color=line.get_color(), linewidth=0)
    road_like = all(r.name.startswith("road") for r in results)
    axis.set_xlabel("fraction of features removed" if road_like
                    else "fraction of features deleted / inserted (by map order)")
    logits = any(r.details.get("use_logits") for r in results)
    axis.set_ylabel("target class " + ("logit" if logits else "score (model output)"))
    axis.set_xlim(0, max(float(r.curve_x[-1]) for r in results) or 1.0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    n = results[0].curves.shape[0]
    note = f"mean over {n} inputs, band: 25th-75th percentile"
    axis.set_title(f"{title}\n{note}" if title else f"{', '.join(labels)}\n{note}", fontsize=9)
    figure.tight_layout()
    return figure
