"""Faithfulness by ordered perturbation, with Quantus's (0.6) definitions and defaults.

Features are those of :mod:`kerascope.metrics.base` (a pixel with all its
channels). ``f`` is the target score (``use_logits=False``: the model's output, a
probability for a softmax model: Quantus's ``softmax=False``). ``baseline="black"``
is each input's minimum (Quantus's default ``perturb_baseline="black"``).

* **Selectivity** (Montavon, Samek & Mueller 2018, arXiv:1706.07979): remove
  ``patch_size`` x ``patch_size`` patches in decreasing order of their summed map,
  cumulatively; the curve is ``f`` after each removal, the value
  ``trapz(curve, dx=1)``. Lower is better.
* **Region perturbation** (Samek et al. 2015, arXiv:1509.06321): the same patches
  (``order="morf"``, ``"lerf"`` or ``"random"``), the curve ``f(x) - f(x_k)`` for
  the first ``regions_evaluation`` patches, the value ``trapz(curve, dx=1)``.
  Higher is better for MoRF.
* **IROF** (Rieger & Hansen 2020, arXiv:2003.08747): SLIC super-pixels (scikit-image
  ``slic(image, start_label=0)``) removed in decreasing order of their mean map,
  cumulatively; the value is the area over ``f(x_k) / f(x)``:
  ``S - trapz(curve, dx=1)`` for ``S`` segments. Higher is better.
* **Faithfulness estimate** (Alvarez-Melis & Jaakkola 2018, arXiv:1806.07538):
  ``features_in_step`` features at a time in decreasing map order, each group
  removed alone: ``pearson_k(sum_{i in G_k} g_i, f(x) - f(x_{G_k}))``. Higher.
* **Monotonicity correlation** (Nguyen & Martinez 2020, arXiv:2007.07584): groups
  in *increasing* order of ``|g|``, each replaced ``nr_samples`` times by uniform
  noise (``baseline="uniform"``), ``v_k = mean (f(x_{G_k}) - f(x))^2 / f(x)^2``;
  ``spearman_k(sum_{G_k} |g|, v_k)``. Higher is better.
* **Sensitivity-n** (Ancona et al. 2018, arXiv:1711.06104): groups removed
  cumulatively in decreasing map order; for each ``n`` (the first
  ``int(n_max_percentage * F // features_in_step)`` steps) the Pearson correlation
  *across the inputs* of ``f(x) - f(x_n)`` and the map sum of the ``n``-th group.
  A data-set metric: ``details["per_n"]`` holds one value per ``n``; the value is
  their mean. Higher is better.
* **Infidelity** (Yeh et al. 2019, arXiv:1901.09392): patches of each size in
  ``perturb_patch_sizes`` removed cumulatively in raster order,
  ``mean_k (f(x) - f(x_k) - sum g (x - x_k))^2`` averaged over the sizes. Lower.
"""

from __future__ import annotations

import math

import numpy as np

from kerascope.engine.validation import check_choice, check_positive_int
from kerascope.metrics.base import (
    MetricResult,
    aggregate,
    normalise_maps,
    prepare,
    resolve_baseline,
    resolve_maps,
    rng_from,
)
from kerascope.metrics.registry import register
from kerascope.metrics.similarity import row_correlation

__all__ = ["selectivity", "region_perturbation", "irof", "faithfulness_estimate",
           "monotonicity_correlation", "sensitivity_n", "infidelity", "patches", "trapz"]


def trapz(curves):
    """Quantus's AUC: trapezoids with ``dx=1`` along the last axis."""
    curves = np.asarray(curves, dtype=np.float64)
    if curves.shape[-1] < 2:
        return np.zeros(curves.shape[:-1])
    return ((curves[..., 1:] + curves[..., :-1]) * 0.5).sum(axis=-1)


def patches(feature_shape, patch_size):
    """``(ids (F,), count)``: the patch of each feature, Quantus's grid (the image
    padded to a multiple of ``patch_size``, floor half before, ceil half after)."""
    if len(feature_shape) != 2:
        raise ValueError(f"patch_size: patch metrics need 2-D features (images), got "
                         f"features of shape {tuple(feature_shape)}.")
    ids, counts = [], []
    for size in feature_shape:
        pad = (-size) % patch_size
        ids.append((np.arange(size) + pad // 2) // patch_size)
        counts.append((size + pad) // patch_size)
    grid = ids[0][:, None] * counts[1] + ids[1][None, :]
    return grid.reshape(-1), counts[0] * counts[1]


def _order(values, descending=True):
    return np.argsort(-values if descending else values, axis=1, kind="stable")


def _rank(order):
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(order.shape[1])[None, :], axis=1)
    return ranks


def _setup(model, x, targets, maps, method, baseline, batch_size, use_logits, output_index,
           method_options, normalise=False):
    problem = prepare(model, x, targets, batch_size, use_logits, output_index)
    fmaps = normalise_maps(resolve_maps(problem, maps, method, method_options), normalise)
    fill = None if isinstance(baseline, str) and baseline == "uniform" else resolve_baseline(baseline, problem.x,
                                                               problem.layout)
    return problem, fmaps, problem.layout.to_fc(problem.x), fill


def _scores(problem, inputs, fill, removed_of, total, per):
    """Scores of ``total`` rows; row ``r`` is input ``r // per`` with the features of
    ``removed_of(r) -> bool (R, F)`` set to ``fill``."""

    def make(lo, hi):
        r = np.arange(lo, hi)
        i = r // per
        rows = np.where(removed_of(r)[:, :, None], fill[i], inputs[i])
        return problem.layout.from_fc(rows), problem.units[i]

    return problem.score_lazily(total, make)


def _patch_curve(problem, fmaps, inputs, fill, patch_size, order, limit, seed):
    ids, count = patches(problem.layout.feature_shape, check_positive_int(patch_size,
                                                                         "patch_size"))
    sums = np.zeros((problem.n, count))
    np.add.at(sums.T, ids, fmaps.T)
    if order == "random":
        rng = rng_from(seed)
        ranking = np.stack([rng.permutation(count) for _ in range(problem.n)])
    else:
        ranking = _order(sums, descending=order == "morf")
    patch_rank = _rank(ranking)[:, ids]  # (N, F): when each feature's patch goes
    steps = count if limit is None else min(limit, count)
    scores = _scores(problem, inputs, fill,
                     lambda r: patch_rank[r // steps] <= (r % steps)[:, None],
                     problem.n * steps, steps)
    return scores.reshape(problem.n, steps)


def _result(name, per_sample, higher, curves=None, **details):
    return MetricResult(name=name, value=aggregate(per_sample), per_sample=per_sample,
                        higher_is_better=higher,
                        curve_x=None if curves is None else np.arange(1, curves.shape[1] + 1),
                        curves=curves, details=details)


@register("selectivity", "faithfulness", False, "Montavon et al. 2018, arXiv:1706.07979",
          "AUC of the score as patches are removed in map order.", has_curve=True)
def selectivity(model, x, targets=None, maps=None, method=None, *, patch_size=8,
                baseline="black", batch_size=64, use_logits=False, output_index=0,
                method_options=None):
    """Selectivity (Montavon et al. 2018, arXiv:1706.07979): ``trapz(f(x_k), dx=1)``;
    lower is better. ``patch_size``: side of the square patches (Quantus: 8)."""
    problem, fmaps, inputs, fill = _setup(model, x, targets, maps, method, baseline,
                                          batch_size, use_logits, output_index, method_options)
    curves = _patch_curve(problem, fmaps, inputs, fill, patch_size, "morf", None, 0)
    return _result("selectivity", trapz(curves), False, curves, patch_size=patch_size)


@register("region_perturbation", "faithfulness", True, "Samek et al. 2015, arXiv:1509.06321",
          "AUC of the score drop as patches are removed (MoRF).", has_curve=True,
          aliases=("aopc",))
def region_perturbation(model, x, targets=None, maps=None, method=None, *, patch_size=8,
                        order="morf", regions_evaluation=100, baseline="black", seed=0,
                        batch_size=64, use_logits=False, output_index=0, method_options=None):
    """Region perturbation (Samek et al. 2015, arXiv:1509.06321):
    ``trapz(f(x) - f(x_k), dx=1)`` over the first ``regions_evaluation`` patches in
    ``order`` (``"morf"``, ``"lerf"``, ``"random"``); higher is better for MoRF."""
    check_choice(order, "order", ("morf", "lerf", "random"))
    problem, fmaps, inputs, fill = _setup(model, x, targets, maps, method, baseline,
                                          batch_size, use_logits, output_index, method_options)
    scores = _patch_curve(problem, fmaps, inputs, fill, patch_size, order,
                          check_positive_int(regions_evaluation, "regions_evaluation"), seed)
    curves = problem.base_scores[:, None] - scores
    return _result("region_perturbation", trapz(curves), order != "lerf", curves,
                   patch_size=patch_size, order=order)


def segments_of(problem, segmentation="slic"):
    """SLIC super-pixels of each input, ``(N, F)`` int labels from 0."""
    check_choice(segmentation, "segmentation", ("slic", "felzenszwalb"))
    from skimage.segmentation import felzenszwalb, slic

    layout = problem.layout
    if len(layout.feature_shape) != 2:
        raise ValueError("irof: super-pixels need 2-D features (images).")
    images = layout.to_fc(problem.x).reshape((problem.n,) + layout.feature_shape
                                             + (layout.channels,))
    out = []
    for image in images.astype(np.float64):
        labels = slic(image, start_label=0) if segmentation == "slic" else felzenszwalb(image)
        out.append(np.unique(labels.reshape(-1), return_inverse=True)[1])
    return np.stack(out)


@register("irof", "faithfulness", True, "Rieger & Hansen 2020, arXiv:2003.08747",
          "Area over the score curve as super-pixels are removed in map order.",
          has_curve=True)
def irof(model, x, targets=None, maps=None, method=None, *, segments=None,
         segmentation="slic", baseline="mean", batch_size=64, use_logits=False,
         output_index=0, method_options=None):
    """Iterative removal of features (Rieger & Hansen 2020, arXiv:2003.08747);
    ``S - trapz(f(x_k) / f(x), dx=1)``, higher is better.

    ``segments``: ``(N, *features)`` integer labels (default: SLIC super-pixels).
    ``baseline``: ``"mean"`` is each input's per-channel mean (Quantus: the mean of
    the whole batch, as it stands at each step).
    """
    problem, fmaps, inputs, fill = _setup(model, x, targets, maps, method, baseline,
                                          batch_size, use_logits, output_index, method_options)
    labels = segments_of(problem, segmentation) if segments is None else \
        np.asarray(segments).reshape(problem.n, -1).astype(np.int64)
    n = problem.n
    counts = labels.max(axis=1) + 1
    steps = int(counts.max())
    means = np.full((n, steps), -np.inf)
    for i in range(n):
        size = np.bincount(labels[i], minlength=counts[i])
        means[i, :counts[i]] = np.bincount(labels[i], fmaps[i], minlength=counts[i]) / \
            np.maximum(size, 1)
    segment_rank = _rank(_order(means))
    feature_rank = np.take_along_axis(segment_rank, labels, axis=1)
    scores = _scores(problem, inputs, fill,
                     lambda r: feature_rank[r // steps] <= (r % steps)[:, None],
                     n * steps, steps).reshape(n, steps)
    curves = scores / problem.base_scores[:, None]
    curves[np.arange(steps)[None, :] >= counts[:, None]] = 0.0
    per_sample = counts - trapz(curves)
    return _result("irof", per_sample, True, curves, segments=counts)


def _groups(num_features, features_in_step):
    step = check_positive_int(features_in_step, "features_in_step")
    return step, math.ceil(num_features / step)


@register("faithfulness_estimate", "faithfulness", True,
          "Alvarez-Melis & Jaakkola 2018, arXiv:1806.07538",
          "Correlation of a group's map sum with the score drop of removing it alone.")
def faithfulness_estimate(model, x, targets=None, maps=None, method=None, *,
                          features_in_step=1, baseline="black", batch_size=64,
                          use_logits=False, output_index=0, method_options=None):
    """Faithfulness estimate (Alvarez-Melis & Jaakkola 2018, arXiv:1806.07538);
    higher is better: Pearson over groups of ``features_in_step`` features."""
    problem, fmaps, inputs, fill = _setup(model, x, targets, maps, method, baseline,
                                          batch_size, use_logits, output_index, method_options)
    step, k = _groups(fmaps.shape[1], features_in_step)
    group = _rank(_order(fmaps)) // step  # (N, F): each feature's group
    scores = _scores(problem, inputs, fill, lambda r: group[r // k] == (r % k)[:, None],
                     problem.n * k, k).reshape(problem.n, k)
    sums = np.stack([np.bincount(g, f, minlength=k) for g, f in zip(group, fmaps)])
    drops = problem.base_scores[:, None] - scores
    per_sample = row_correlation(sums, drops, "pearson")
    return _result("faithfulness_estimate", per_sample, True, features_in_step=step)


@register("monotonicity_correlation", "faithfulness", True,
          "Nguyen & Martinez 2020, arXiv:2007.07584",
          "Spearman of a group's |map| sum with the score variance when it is noised.",
          aliases=("monotonicity_nguyen",))
def monotonicity_correlation(model, x, targets=None, maps=None, method=None, *,
                             features_in_step=1, nr_samples=100, baseline="uniform",
                             uniform_range=(0.0, 1.0), eps=1e-5, abs=True, seed=0,
                             batch_size=64, use_logits=False, output_index=0,
                             method_options=None):
    """Monotonicity correlation (Nguyen & Martinez 2020, arXiv:2007.07584); higher is
    better. ``baseline="uniform"`` draws each removed value in ``uniform_range``
    (``nr_samples`` draws per group); a fixed baseline needs one draw."""
    problem, fmaps, inputs, fill = _setup(model, x, targets, maps, method, baseline,
                                          batch_size, use_logits, output_index, method_options)
    fmaps = np.abs(fmaps) if abs else fmaps
    step, k = _groups(fmaps.shape[1], features_in_step)
    draws = check_positive_int(nr_samples, "nr_samples") if fill is None else 1
    group = _rank(_order(fmaps, descending=False)) // step
    per = k * draws
    rng = rng_from(seed)
    low, high = uniform_range

    def make(lo, hi):
        r = np.arange(lo, hi)
        i = r // per
        gone = group[i] == ((r % per) // draws)[:, None]
        values = fill[i] if fill is not None else \
            rng.uniform(low, high, size=inputs[i].shape).astype(np.float32)
        return problem.layout.from_fc(np.where(gone[:, :, None], values, inputs[i])), \
            problem.units[i]

    scores = problem.score_lazily(problem.n * per, make).reshape(problem.n, k, draws)
    y = problem.base_scores
    inv = np.where(np.abs(y) >= eps, 1.0 / np.where(np.abs(y) > 0, np.abs(y), 1.0), 1.0) ** 2
    variances = ((scores - y[:, None, None]) ** 2).mean(axis=2) * inv[:, None]
    sums = np.stack([np.bincount(g, f, minlength=k) for g, f in zip(group, fmaps)])
    per_sample = row_correlation(sums, variances, "spearman")
    return _result("monotonicity_correlation", per_sample, True, features_in_step=step,
                   nr_samples=draws)


@register("sensitivity_n", "faithfulness", True, "Ancona et al. 2018, arXiv:1711.06104",
          "Correlation across inputs of score drop and removed map sum, per n.")
def sensitivity_n(model, x, targets=None, maps=None, method=None, *, features_in_step=1,
                  n_max_percentage=0.8, baseline="black", batch_size=64, use_logits=False,
                  output_index=0, method_options=None):
    """Sensitivity-n (Ancona et al. 2018, arXiv:1711.06104); higher is better.

    One Pearson correlation per ``n`` across the inputs (``details["per_n"]``);
    ``per_sample`` repeats their mean (a data-set metric)."""
    problem, fmaps, inputs, fill = _setup(model, x, targets, maps, method, baseline,
                                          batch_size, use_logits, output_index, method_options)
    step, _ = _groups(fmaps.shape[1], features_in_step)
    k = max(1, int(n_max_percentage * fmaps.shape[1] // step))
    group = _rank(_order(fmaps)) // step
    scores = _scores(problem, inputs, fill, lambda r: group[r // k] <= (r % k)[:, None],
                     problem.n * k, k).reshape(problem.n, k)
    sums = np.stack([np.bincount(np.minimum(g, k), f, minlength=k + 1)[:k]
                     for g, f in zip(group, fmaps)])
    drops = problem.base_scores[:, None] - scores
    per_n = row_correlation(drops.T, sums.T, "pearson")
    value = aggregate(per_n)
    return MetricResult(name="sensitivity_n", value=value, per_sample=np.full(problem.n, value),
                        higher_is_better=True, curve_x=np.arange(1, k + 1) * step,
                        curves=per_n[None, :],
                        details={"per_n": per_n, "features_in_step": step})


@register("infidelity", "faithfulness", False, "Yeh et al. 2019, arXiv:1901.09392",
          "Squared error between score drops and map-weighted perturbations.")
def infidelity(model, x, targets=None, maps=None, method=None, *, perturb_patch_sizes=(4,),
               n_perturb_samples=10, baseline="black", uniform_range=(0.0, 1.0),
               normalise=False, seed=0, batch_size=64, use_logits=False, output_index=0,
               method_options=None):
    """Infidelity (Yeh et al. 2019, arXiv:1901.09392); lower is better.

    ``baseline="uniform"`` redraws the removed values for each of the
    ``n_perturb_samples``; a fixed baseline gives the same draws (computed once).
    ``normalise``: maps divided by the batch's max ``|g|`` first (Quantus's option).
    """
    problem, fmaps, inputs, fill = _setup(model, x, targets, maps, method, baseline,
                                          batch_size, use_logits, output_index, method_options,
                                          normalise)
    draws = check_positive_int(n_perturb_samples, "n_perturb_samples") if fill is None else 1
    rng = rng_from(seed)
    n = problem.n
    losses = []
    for _ in range(draws):
        target = fill if fill is not None else \
            rng.uniform(*uniform_range, size=inputs.shape).astype(np.float32)
        for size in perturb_patch_sizes:
            ids, count = patches(problem.layout.feature_shape, check_positive_int(size,
                                                                                "patch"))
            scores = _scores(problem, inputs, target,
                             lambda r: ids[None, :] <= (r % count)[:, None], n * count,
                             count).reshape(n, count)
            drops = problem.base_scores[:, None] - scores
            moved = (inputs - target).sum(axis=2) * fmaps  # (N, F)
            cumulative = np.stack([np.bincount(ids, row, minlength=count) for row in moved])
            sums = np.cumsum(cumulative, axis=1)
            losses.append(((drops - sums) ** 2).mean(axis=1))
    per_sample = np.mean(losses, axis=0)
    return _result("infidelity", per_sample, False, perturb_patch_sizes=tuple(
        perturb_patch_sizes), n_perturb_samples=draws)
