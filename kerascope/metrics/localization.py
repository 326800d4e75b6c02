"""Localization: does the map point at the ground-truth region?

Each metric takes ground-truth ``masks``: one boolean mask per input of the
features' shape (``(N, H, W)`` for images), a single mask for all inputs, or masks
of the input's full shape (a pixel is inside if any channel is).

* **Pointing game** (Zhang et al. 2018, "Top-down Neural Attention by Excitation
  Backprop", arXiv:1608.00507): a hit when the map's maximum lies inside the mask,
  or within ``tolerance`` features of it (the paper uses 15 pixels on
  ImageNet-sized images); the value is the hit rate. Ties at the maximum count as
  a hit only if every tied feature is inside (the conservative reading).
* **Relevance mass accuracy** (Arras, Osman & Samek 2022, CLEVR-XAI,
  arXiv:2003.07258): ``R_within / R_total``, the share of the *positive* relevance
  that falls inside the mask.
* **Relevance rank accuracy** (same paper): with ``K`` the mask's size, the
  fraction of the ``K`` highest-relevance features that lie inside the mask.

Inputs with an empty mask have no value (NaN) and are left out of the mean.
"""

from __future__ import annotations

import numpy as np

from kerascope.metrics.registry import register
from kerascope.metrics.base import MetricResult, aggregate, maps_problem

__all__ = ["pointing_game", "relevance_mass", "relevance_rank", "relevance_rank_accuracy",
           "top_k_intersection", "focus"]


def _setup(model, x, targets, maps, method, masks, batch_size, output_index, method_options):
    if masks is None:
        raise ValueError("masks: localization metrics need ground-truth masks, got None.")
    problem, fmaps = maps_problem(model, x, targets, maps, method, batch_size, output_index,
                                  method_options=method_options)
    truth = problem.layout.feature_masks(masks, problem.n)
    return problem, fmaps, truth


def _dilate(truth, feature_shape, tolerance):
    """Masks grown by ``tolerance`` features (Euclidean distance)."""
    from scipy import ndimage

    grown = np.empty_like(truth)
    for i, mask in enumerate(truth):
        grid = mask.reshape(feature_shape)
        if not grid.any():
            grown[i] = mask
            continue
        distance = ndimage.distance_transform_edt(~grid)
        grown[i] = (distance <= tolerance).reshape(-1)
    return grown


def _top_inside(fmaps, truth, k):
    """How many of each row's ``k`` highest features (ties broken by feature order,
    as a stable sort of ``-fmaps``) lie inside ``truth``; ``k``: an int or ``(N,)`` ints >= 1.

    No sort of the rows: the k-th largest value (one ``partition`` when every row has
    the same ``k``), the features above it, then the first tied ones in order."""
    n, f = fmaps.shape
    k = np.asarray(k, dtype=np.int64)
    if k.ndim == 0 or (k == k[0]).all():
        top = int(k if k.ndim == 0 else k[0])
        kth = np.partition(fmaps, f - top, axis=1)[:, f - top]
    else:
        kth = np.take_along_axis(np.sort(fmaps, axis=1), (f - k)[:, None], axis=1)[:, 0]
    chosen = fmaps >= kth[:, None]
    if (chosen.sum(axis=1) > k).any():  # ties at the k-th value
        tied = fmaps == kth[:, None]
        above = chosen & ~tied
        room = k - above.sum(axis=1)  # tied features that still fit, in feature order
        chosen = above | (tied & (np.cumsum(tied, axis=1) <= room[:, None]))
    return (chosen & truth).sum(axis=1)


@register("pointing_game", "localization", True, "Zhang et al. 2018, arXiv:1608.00507",
          "Hit rate of the map's maximum inside the ground-truth mask.", aliases=("pointing",),
          needs_masks=True)
def pointing_game(model, x, targets=None, maps=None, method=None, *, masks=None, tolerance=0,
                  ties="all", batch_size=32, output_index=0, method_options=None):
    """Pointing game hit rate (Zhang et al. 2018, arXiv:1608.00507); higher is better.

    Args:
        masks: ground truth, ``(N, *features)``, ``(*features)`` or ``(N, *input_shape)``.
        tolerance: a maximum within this many features of the mask still hits.
        ties: several features at the maximum hit if ``"all"`` of them are inside
            (default) or ``"any"`` is (Quantus's convention).
    """
    if ties not in ("all", "any"):
        raise ValueError(f"ties: expected 'all' or 'any', got {ties!r}.")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.integer,
                                                                 np.floating)) or tolerance < 0:
        raise ValueError(f"tolerance: expected a number >= 0, got {tolerance!r}.")
    problem, fmaps, truth = _setup(model, x, targets, maps, method, masks, batch_size,
                                   output_index, method_options)
    region = _dilate(truth, problem.layout.feature_shape, tolerance) if tolerance else truth
    top = fmaps == fmaps.max(axis=1, keepdims=True)
    if ties == "all":
        hits = np.all(~top | region, axis=1).astype(np.float64)
    else:
        hits = np.any(top & region, axis=1).astype(np.float64)
    per_sample = np.where(truth.any(axis=1), hits, np.nan)
    return MetricResult(name="pointing_game", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=True,
                        details={"tolerance": tolerance})


@register("relevance_mass", "localization", True, "Arras et al. 2022, arXiv:2003.07258",
          "Share of positive relevance inside the ground-truth mask.", needs_masks=True)
def relevance_mass(model, x, targets=None, maps=None, method=None, *, masks=None,
                   batch_size=32, output_index=0, method_options=None):
    """Relevance mass accuracy (Arras et al. 2022, arXiv:2003.07258); higher is better.

    ``sum(max(R, 0) inside) / sum(max(R, 0))``; NaN for an input without positive
    relevance or with an empty mask.
    """
    _, fmaps, truth = _setup(model, x, targets, maps, method, masks, batch_size,
                             output_index, method_options)
    positive = np.maximum(fmaps, 0.0)
    total = positive.sum(axis=1)
    inside = (positive * truth).sum(axis=1)
    per_sample = np.divide(inside, total, out=np.full(len(total), np.nan),
                           where=(total > 0) & truth.any(axis=1))
    return MetricResult(name="relevance_mass", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=True)


@register("relevance_rank", "localization", True, "Arras et al. 2022, arXiv:2003.07258",
          "Share of the top-|mask| features inside the mask.", needs_masks=True,
          aliases=("relevance_rank_accuracy",))
def relevance_rank(model, x, targets=None, maps=None, method=None, *, masks=None,
                   batch_size=32, output_index=0, method_options=None):
    """Relevance rank accuracy (Arras et al. 2022, arXiv:2003.07258); higher is better.

    With ``K = |mask|``: the share of the ``K`` top-relevance features inside the
    mask (ties at the K-th value broken by feature order).
    """
    _, fmaps, truth = _setup(model, x, targets, maps, method, masks, batch_size,
                             output_index, method_options)
    sizes = truth.sum(axis=1)
    per_sample = np.divide(_top_inside(fmaps, truth, np.maximum(sizes, 1)), sizes,
                           out=np.full(len(sizes), np.nan), where=sizes > 0)
    return MetricResult(name="relevance_rank", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=True)


relevance_rank_accuracy = relevance_rank  # Quantus's name


@register("top_k_intersection", "localization", True, "Theiner et al. 2021, arXiv:2104.14995",
          "Share of the k top-relevance features inside the mask.", needs_masks=True)
def top_k_intersection(model, x, targets=None, maps=None, method=None, *, masks=None, k=1000,
                       concept_influence=False, batch_size=32, output_index=0,
                       method_options=None):
    """Top-k intersection (Theiner et al. 2021, arXiv:2104.14995); higher is better.

    ``mean(mask[top_k(g)])``; ``concept_influence`` multiplies by ``F / |mask|``.
    ``k`` counts features (Quantus: 1000, elements of the map); a ``k`` above the
    feature count is clipped to it (Quantus refuses it).
    """
    _, fmaps, truth = _setup(model, x, targets, maps, method, masks, batch_size,
                             output_index, method_options)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected a positive int, got {k!r}.")
    k = min(int(k), fmaps.shape[1])
    per_sample = _top_inside(fmaps, truth, k) / k
    sizes = truth.sum(axis=1)
    if concept_influence:
        per_sample = per_sample * fmaps.shape[1] / np.maximum(sizes, 1)
    per_sample = np.where(sizes > 0, per_sample, np.nan)
    return MetricResult(name="top_k_intersection", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=True, details={"k": k})


def quadrant_masks(quadrants, feature_shape):
    """Focus's mosaic labels ``(N, 4)`` (top-left, top-right, bottom-left,
    bottom-right; 1 = the target class) -> bool masks ``(N, F)``."""
    quadrants = np.asarray(quadrants, dtype=bool)
    if len(feature_shape) != 2 or quadrants.ndim != 2 or quadrants.shape[1] != 4:
        raise ValueError("quadrants: expected (N, 4) labels of 2-D mosaics.")
    h, w = feature_shape
    grid = np.zeros((len(quadrants), h, w), dtype=bool)
    for index, (rows, cols) in enumerate([(slice(None, h // 2), slice(None, w // 2)),
                                          (slice(None, h // 2), slice(w // 2, None)),
                                          (slice(h // 2, None), slice(None, w // 2)),
                                          (slice(h // 2, None), slice(w // 2, None))]):
        grid[:, rows, cols] = quadrants[:, index, None, None]
    return grid.reshape(len(quadrants), -1)


@register("focus", "localization", True, "Arias-Duart et al. 2022, arXiv:2109.15035",
          "Share of positive relevance on the target's mosaic quadrants.", needs_masks=True)
def focus(model, x, targets=None, maps=None, method=None, *, masks=None, quadrants=None,
          batch_size=32, output_index=0, method_options=None):
    """Focus (Arias-Duart et al. 2022, arXiv:2109.15035); higher is better.

    ``sum(max(g, 0) in target quadrants) / (sum(max(g, 0)) + 1e-9)``. The target
    region is given as ``quadrants`` (Quantus's mosaic labels ``(N, 4)``) or as ``masks``.
    """
    if quadrants is not None and masks is not None:
        raise ValueError("focus: pass quadrants or masks, not both.")
    if quadrants is not None:
        problem, fmaps = maps_problem(model, x, targets, maps, method, batch_size,
                                      output_index, method_options=method_options)
        truth = quadrant_masks(quadrants, problem.layout.feature_shape)
    else:
        _, fmaps, truth = _setup(model, x, targets, maps, method, masks, batch_size,
                                 output_index, method_options)
    positive = np.maximum(fmaps, 0.0)
    per_sample = (positive * truth).sum(axis=1) / (positive.sum(axis=1) + 1e-9)
    return MetricResult(name="focus", value=aggregate(per_sample), per_sample=per_sample,
                        higher_is_better=True)
