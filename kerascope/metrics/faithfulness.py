"""Faithfulness: does the model's score follow what the map calls important?

* **Deletion** and **Insertion** (Petsiuk, Das & Saenko 2018, RISE,
  arXiv:1806.07421). Features are sorted by decreasing map value; deletion moves
  the first ``n_k`` of them from the input to a baseline, insertion from the
  baseline to the input, for ``n_k = floor(k * max_fraction * F / steps)``,
  ``k = 0..steps``. The curve is the target score ``s_k`` after each step; its
  area ``AUC = mean_k (s_k + s_{k+1}) / 2`` (trapezoids on an x-axis scaled to
  [0, 1], as xplique) is low for a good deletion and high for a good insertion.
* **MuFidelity** (Bhatt, Weller & Moura 2020, arXiv:2005.00631, Def. 3):
  for random subsets ``S`` of features set to a baseline,
  ``corr_S( sum_{i in S} g_i , f(x) - f(x_[x_S = baseline]) )`` per input, then
  averaged. The paper uses the Pearson correlation; xplique's implementation
  Spearman's (``correlation="spearman"``). Subsets are cells of a
  ``grid_size`` x ``grid_size`` grid (super-pixels), each removed with probability
  ``subset_fraction``, upsampled to the features by nearest neighbour.
* **ROAD** (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy for
  Attribution Methods", arXiv:2202.00449): remove a fraction ``p`` of the most
  (MoRF) or least (LeRF) relevant features and impute them with *noisy linear
  imputation*: each removed feature becomes the weighted mean of its neighbours
  (weights 1/6 for the 4 direct and 1/12 for the 4 diagonal neighbours of a pixel,
  a sparse linear system over all removed features), plus Gaussian noise
  (std ``noise``). Removing by imputation instead of a constant avoids the
  class-information leak of the mask's shape. MoRF: lower is better; LeRF: higher.
* **Average drop** and **increase in confidence** (Chattopadhay et al. 2018,
  Grad-CAM++, arXiv:1710.11063, Sec. 5.1): the input is multiplied by the map
  (absolute value, min-max scaled to [0, 1] per input). Average drop
  ``mean_i max(0, Y_i - O_i) / Y_i`` (lower is better), increase in confidence
  ``mean_i 1[O_i > Y_i]`` (higher is better), with ``Y`` the target score of the
  input and ``O`` that of the masked input. Reported as fractions, not percents.
"""

from __future__ import annotations

import functools

import numpy as np

from kerascope.metrics.registry import register
from kerascope.metrics.base import (
    MetricResult,
    aggregate,
    check_fraction,
    prepare,
    resolve_baseline,
    resolve_maps,
    rng_from,
)
from kerascope.engine.numeric import resize
from kerascope.engine.validation import check_choice, check_positive_int
from kerascope.metrics.similarity import row_correlation
from kerascope.rendering import trust as trust_figures

__all__ = [
    "deletion", "insertion", "mu_fidelity", "road", "average_drop", "average_increase",
    "causal_curve", "noisy_linear_impute", "plot_curves",
]


def _ranks(fmaps):
    """Rank of each feature when sorted by decreasing map value (ties: first index first)."""
    order = np.argsort(-fmaps, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(len(fmaps))[:, None]
    ranks[rows, order] = np.arange(fmaps.shape[1])[None, :]
    return ranks


def _steps(steps, max_n):
    if isinstance(steps, str) and steps == "all":
        return max(1, max_n)
    return check_positive_int(steps, "steps")


def causal_curve(problem, fmaps, start, end, steps=10, max_fraction=1.0):
    """Scores along the path that moves features from ``start`` to ``end`` in map order.

    ``start``/``end``: ``(N, F, C)``; returns ``(counts, curves)`` with ``counts``
    ``(K,)`` the number of features moved at each step and ``curves`` ``(N, K)``.
    """
    n, num_features = fmaps.shape
    max_fraction = check_fraction(max_fraction, "max_fraction")
    max_n = int(np.floor(num_features * max_fraction))
    steps = _steps(steps, max_n)
    counts = np.floor(np.linspace(0, max_n, steps + 1)).astype(np.int64)
    ranks = _ranks(fmaps)
    per = len(counts)
    layout = problem.layout

    def make(lo, hi):
        r = np.arange(lo, hi)
        i, k = r // per, r % per
        moved = ranks[i] < counts[k][:, None]
        rows = np.where(moved[:, :, None], end[i], start[i])
        return layout.from_fc(rows), problem.units[i]

    scores = problem.score_lazily(n * per, make)
    return counts, scores.reshape(n, per)


def _causal_metric(name, higher, model, x, targets, maps, method, baseline, steps,
                   max_fraction, batch_size, use_logits, output_index, method_options,
                   insertion):
    problem = prepare(model, x, targets, batch_size, use_logits, output_index)
    fmaps = resolve_maps(problem, maps, method, method_options)
    base = resolve_baseline(baseline, problem.x, problem.layout)
    inputs = problem.layout.to_fc(problem.x)
    start, end = (base, inputs) if insertion else (inputs, base)
    counts, curves = causal_curve(problem, fmaps, start, end, steps, max_fraction)
    per_sample = ((curves[:, :-1] + curves[:, 1:]) * 0.5).mean(axis=1)
    return MetricResult(
        name=name, value=aggregate(per_sample), per_sample=per_sample,
        higher_is_better=higher, curve_x=counts / fmaps.shape[1], curves=curves,
        details={"counts": counts, "baseline": baseline if np.isscalar(baseline) else
                 getattr(baseline, "__name__", str(type(baseline).__name__)),
                 "max_fraction": max_fraction, "use_logits": use_logits},
    )


@register("deletion", "faithfulness", False, "Petsiuk et al. 2018, arXiv:1806.07421",
          "Score AUC as the most important features are deleted.", has_curve=True)
def deletion(model, x, targets=None, maps=None, method=None, *, baseline=0.0, steps=10,
             max_fraction=1.0, batch_size=32, use_logits=False, output_index=0,
             method_options=None):
    """Deletion curve and AUC (Petsiuk et al. 2018, arXiv:1806.07421); lower is better.

    Args:
        model: a Keras model; x: inputs ``(N, ...)``.
        targets: class per input (int, ``(N,)``, one-hot ``(N, C)`` or "predicted").
        maps: maps to evaluate, ``(N, *features)`` or ``(N, *input_shape)``; or
        method: a method name, ``Method`` or callable ``(model, x, targets) -> maps``.
        baseline: what deleted features become: a number, an array, ``"mean"``,
            ``"blur"`` or a callable ``x -> array``.
        steps: points of the curve after the start (``"all"``: one per feature).
        max_fraction: fraction of the features deleted at the last step.
        batch_size: perturbed rows per model call.
        use_logits: score before a final softmax (default: probabilities).

    Returns a :class:`MetricResult` with the AUC and the curves.
    """
    return _causal_metric("deletion", False, model, x, targets, maps, method, baseline,
                          steps, max_fraction, batch_size, use_logits, output_index,
                          method_options, insertion=False)


@register("insertion", "faithfulness", True, "Petsiuk et al. 2018, arXiv:1806.07421",
          "Score AUC as the most important features are inserted.", has_curve=True)
def insertion(model, x, targets=None, maps=None, method=None, *, baseline="blur", steps=10,
              max_fraction=1.0, batch_size=32, use_logits=False, output_index=0,
              method_options=None):
    """Insertion curve and AUC (Petsiuk et al. 2018, arXiv:1806.07421); higher is better.

    Starts from ``baseline`` (default: a blurred copy of the input, the paper's
    canvas; xplique uses 0) and inserts the input's features in map order. Other
    arguments as :func:`deletion`.
    """
    return _causal_metric("insertion", True, model, x, targets, maps, method, baseline,
                          steps, max_fraction, batch_size, use_logits, output_index,
                          method_options, insertion=True)


def _subsets(layout, n, subsets, grid_size, subset_fraction, num_subsets, rng):
    """Bool ``(S, F)`` shared subsets or ``(N, S, F)`` per input; True = set to baseline."""
    feature_shape = layout.feature_shape
    if subsets is not None:
        subsets = np.asarray(subsets)
        if subsets.dtype == object:
            raise ValueError("subsets: expected a boolean array.")
        subsets = subsets != 0
        if subsets.shape[1:] == feature_shape and subsets.ndim == len(feature_shape) + 1:
            return subsets.reshape(len(subsets), -1)
        if subsets.shape[:1] == (n,) and subsets.shape[2:] == feature_shape:
            return subsets.reshape(n, subsets.shape[1], -1)
        raise ValueError(
            f"subsets: expected shape (S, {', '.join(map(str, feature_shape))}) or "
            f"({n}, S, {', '.join(map(str, feature_shape))}), got {subsets.shape}."
        )
    num_subsets = check_positive_int(num_subsets, "num_subsets")
    subset_fraction = check_fraction(subset_fraction, "subset_fraction")
    if grid_size == "auto":
        grid_size = 9 if len(feature_shape) >= 2 else None
    if grid_size is None:
        grid = feature_shape
    else:
        grid_size = check_positive_int(grid_size, "grid_size")
        grid = (grid_size,) * len(feature_shape)
    cells = rng.uniform(size=(num_subsets,) + grid) < subset_fraction
    if grid != feature_shape:
        cells = resize(cells, feature_shape, "nearest")
    return cells.reshape(num_subsets, -1)


@register("mu_fidelity", "faithfulness", True, "Bhatt et al. 2020, arXiv:2005.00631",
          "Correlation of removed attribution and score drop over random subsets.",
          aliases=("muf", "mufidelity"))
def mu_fidelity(model, x, targets=None, maps=None, method=None, *, baseline=0.0,
                grid_size="auto", subset_fraction=0.2, num_subsets=200, subsets=None,
                correlation="pearson", seed=0, batch_size=32, use_logits=False,
                output_index=0, method_options=None):
    """MuFidelity (Bhatt et al. 2020, arXiv:2005.00631); higher is better.

    Args:
        baseline: value of the removed features (see :func:`deletion`).
        grid_size: cells per feature axis; ``"auto"``: 9 for images (xplique's
            default), every feature on its own for 1-D features; None: per feature.
        subset_fraction: probability that a cell is removed.
        num_subsets: random subsets per input (the same subsets for all inputs).
        subsets: explicit bool subsets, True = removed: ``(S, *features)`` shared
            or ``(N, S, *features)`` per input (overrides the three above).
        correlation: ``"pearson"`` (the paper) or ``"spearman"`` (xplique).
        seed: seed of the subsets.

    Per-input correlations that are undefined (the model's score does not move)
    count as 0, as in xplique.
    """
    check_choice(correlation, "correlation", ("pearson", "spearman"))
    problem = prepare(model, x, targets, batch_size, use_logits, output_index)
    fmaps = resolve_maps(problem, maps, method, method_options)
    base = resolve_baseline(baseline, problem.x, problem.layout)
    inputs = problem.layout.to_fc(problem.x)
    n = problem.n
    removed = _subsets(problem.layout, n, subsets, grid_size, subset_fraction, num_subsets,
                       rng_from(seed))
    shared = removed.ndim == 2
    count = removed.shape[0] if shared else removed.shape[1]

    def make(lo, hi):
        r = np.arange(lo, hi)
        i, s = r // count, r % count
        gone = removed[s] if shared else removed[i, s]
        rows = np.where(gone[:, :, None], base[i], inputs[i])
        return problem.layout.from_fc(rows), problem.units[i]

    scores = problem.score_lazily(n * count, make).reshape(n, count)
    drops = problem.base_scores[:, None] - scores
    if shared:
        # einsum, not a BLAS matmul: no thread pool to wake (it stalls on busy cores)
        attributions = np.einsum("nf,sf->ns", fmaps, removed.astype(np.float64))
    else:
        attributions = np.einsum("nf,nsf->ns", fmaps, removed.astype(np.float64))
    per_sample = np.nan_to_num(row_correlation(attributions, drops, correlation), nan=0.0)
    return MetricResult(
        name="mu_fidelity", value=aggregate(per_sample), per_sample=per_sample,
        higher_is_better=True,
        details={"correlation": correlation, "num_subsets": count,
                 "score_drops": drops, "attribution_sums": attributions},
    )


def _neighbours(ndim):
    """(offset, weight) pairs of the imputation stencil; weights sum to 1."""
    if ndim == 2:
        axial, diagonal = 1.0 / 6.0, 1.0 / 12.0
        pairs = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    pairs.append(((dy, dx), axial if dy == 0 or dx == 0 else diagonal))
        return pairs
    pairs = []
    for axis in range(ndim):
        for step in (-1, 1):
            offset = [0] * ndim
            offset[axis] = step
            pairs.append((tuple(offset), 1.0 / (2 * ndim)))
    return pairs


def noisy_linear_impute(features, removed, feature_shape, noise=0.01, rng=None):
    """ROAD's noisy linear imputation of one input.

    Args:
        features: ``(F, C)`` values of one input (features x channels).
        removed: ``(F,)`` bool, the features to impute.
        feature_shape: the grid of the features (``(H, W)`` for an image).
        noise: std of the Gaussian noise added to the imputed values.

    Every removed feature ``u`` satisfies ``sum_v w_uv (x_u - x_v) = 0`` over its
    neighbours ``v`` inside the grid (known or removed); the sparse system is
    solved for all removed features at once, then noise is added.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import splu

    features = np.asarray(features, dtype=np.float64)
    out = features.copy()
    index = np.flatnonzero(removed)
    m = len(index)
    if m == 0:
        return out
    if m == len(removed):  # nothing known to interpolate from
        out[:] = features.mean(axis=0, keepdims=True)
    else:
        shape = np.asarray(feature_shape)
        coords = np.stack(np.unravel_index(index, tuple(feature_shape)), axis=1)
        position = np.full(len(removed), -1, dtype=np.int64)
        position[index] = np.arange(m)
        diagonal = np.zeros(m)
        rhs = np.zeros((m, features.shape[1]))
        rows, cols, vals = [], [], []
        for offset, weight in _neighbours(len(feature_shape)):
            moved = coords + np.asarray(offset)
            inside = np.all((moved >= 0) & (moved < shape), axis=1)
            source = np.flatnonzero(inside)
            flat = np.ravel_multi_index(tuple(moved[inside].T), tuple(feature_shape))
            diagonal[source] += weight
            unknown = removed[flat]
            rows.append(source[unknown])
            cols.append(position[flat[unknown]])
            vals.append(np.full(int(unknown.sum()), -weight))
            np.add.at(rhs, source[~unknown], weight * features[flat[~unknown]])
        rows.append(np.arange(m))
        cols.append(np.arange(m))
        vals.append(diagonal)
        matrix = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(m, m)).tocsc()
        out[index] = splu(matrix).solve(rhs)
    if noise:
        rng = rng_from(rng)
        out[index] += noise * rng.standard_normal((m, features.shape[1]))
    return out


def road(model, x, targets=None, maps=None, method=None, *, order="morf",
         fractions=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), imputation="linear",
         noise=0.01, seed=0, batch_size=32, use_logits=False, output_index=0,
         method_options=None):
    """ROAD, RemOve And Debias (Rong et al. 2022, arXiv:2202.00449).

    Args:
        order: ``"morf"`` (most relevant first; lower is better) or ``"lerf"``
            (least relevant first; higher is better).
        fractions: fractions of the features removed, one point of the curve each.
        imputation: ``"linear"`` (noisy linear imputation) or a baseline as in
            :func:`deletion` (a number, ``"mean"``, ``"blur"``...).
        noise: std of the imputation noise; seed: its seed (per row, so the
            result does not depend on ``batch_size``).

    The value is the mean target score over the fractions (the curve's mean).
    """
    check_choice(order, "order", ("morf", "lerf"))
    fractions = np.asarray(fractions, dtype=np.float64).reshape(-1)
    if fractions.size == 0 or np.any(fractions < 0) or np.any(fractions > 1):
        raise ValueError(f"fractions: expected fractions in [0, 1], got {fractions.tolist()}.")
    problem = prepare(model, x, targets, batch_size, use_logits, output_index)
    fmaps = resolve_maps(problem, maps, method, method_options)
    layout = problem.layout
    inputs = problem.layout.to_fc(problem.x)
    n, num_features = fmaps.shape
    ranks = _ranks(fmaps)
    counts = np.round(fractions * num_features).astype(np.int64)
    linear = isinstance(imputation, str) and imputation == "linear"
    fill = None if linear else resolve_baseline(imputation, problem.x, layout, name="imputation")
    per = len(counts)

    def make(lo, hi):
        rows = []
        for r in range(lo, hi):
            i, k = divmod(r, per)
            if order == "morf":
                gone = ranks[i] < counts[k]
            else:
                gone = ranks[i] >= num_features - counts[k]
            if linear:
                rng = np.random.default_rng([int(seed), r])
                rows.append(noisy_linear_impute(inputs[i], gone, layout.feature_shape, noise, rng))
            else:
                rows.append(np.where(gone[:, None], fill[i], inputs[i]))
        rows = np.stack(rows).astype(np.float32)
        return layout.from_fc(rows), problem.units[np.arange(lo, hi) // per]

    curves = problem.score_lazily(n * per, make).reshape(n, per)
    per_sample = curves.mean(axis=1)
    return MetricResult(
        name=f"road_{order}", value=aggregate(per_sample), per_sample=per_sample,
        higher_is_better=order == "lerf", curve_x=fractions, curves=curves,
        details={"counts": counts, "imputation": imputation if isinstance(imputation, str)
                 else "baseline", "noise": noise, "use_logits": use_logits},
    )


def _road(order):
    fn = functools.partial(road, order=order)
    fn.__name__ = f"road_{order}"
    return fn


register("road_morf", "faithfulness", False, "Rong et al. 2022, arXiv:2202.00449",
         "Mean score with the most relevant features imputed (noisy linear).",
         aliases=("road",), has_curve=True)(_road("morf"))
register("road_lerf", "faithfulness", True, "Rong et al. 2022, arXiv:2202.00449",
         "Mean score with the least relevant features imputed (noisy linear).",
         has_curve=True)(_road("lerf"))


def _masked_confidence(problem, fmaps):
    weights = np.abs(fmaps)
    low = weights.min(axis=1, keepdims=True)
    high = weights.max(axis=1, keepdims=True)
    spread = high - low
    weights = np.where(spread > 0, (weights - low) / np.where(spread > 0, spread, 1.0), 0.0)
    rows = problem.layout.to_fc(problem.x) * weights[:, :, None]
    return problem.score(problem.layout.from_fc(rows), problem.units)


@register("average_drop", "faithfulness", False, "Chattopadhay et al. 2018, arXiv:1710.11063",
          "Relative score drop when the input is multiplied by the map.", aliases=("ad",))
def average_drop(model, x, targets=None, maps=None, method=None, *, batch_size=32,
                 use_logits=False, output_index=0, method_options=None):
    """Average drop in confidence (Chattopadhay et al. 2018, arXiv:1710.11063); lower is better.

    ``max(0, Y - O) / Y`` per input, with ``Y`` the target score of the input and
    ``O`` that of the input times its min-max scaled absolute map.
    """
    problem = prepare(model, x, targets, batch_size, use_logits, output_index)
    fmaps = resolve_maps(problem, maps, method, method_options)
    after = _masked_confidence(problem, fmaps)
    before = problem.base_scores
    with np.errstate(divide="ignore", invalid="ignore"):
        per_sample = np.where(before > 0, np.maximum(before - after, 0.0) / before, np.nan)
    return MetricResult(name="average_drop", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=False,
                        details={"scores": before, "masked_scores": after})


@register("average_increase", "faithfulness", True,
          "Chattopadhay et al. 2018, arXiv:1710.11063",
          "Fraction of inputs whose score rises when multiplied by the map.", aliases=("aic",))
def average_increase(model, x, targets=None, maps=None, method=None, *, batch_size=32,
                     use_logits=False, output_index=0, method_options=None):
    """Increase in confidence (Chattopadhay et al. 2018, arXiv:1710.11063); higher is better.

    The fraction of inputs whose target score rises when the input is multiplied by
    its min-max scaled absolute map.
    """
    problem = prepare(model, x, targets, batch_size, use_logits, output_index)
    fmaps = resolve_maps(problem, maps, method, method_options)
    after = _masked_confidence(problem, fmaps)
    per_sample = (after > problem.base_scores).astype(np.float64)
    return MetricResult(name="average_increase", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=True,
                        details={"scores": problem.base_scores, "masked_scores": after})


def plot_curves(results, title=None, labels=None):
    """A matplotlib figure of curve metrics (``kerascope.rendering.trust.curves_figure``)."""
    return trust_figures.curves_figure(results, title=title, labels=labels)


def curves_png(results, title=None, labels=None) -> bytes:
    """PNG bytes of :func:`plot_curves`."""
    return trust_figures.png(plot_curves(results, title=title, labels=labels))
