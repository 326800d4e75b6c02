"""Model parameter randomization revisited (Hedström et al. 2023, "Sanity checks
revisited", arXiv:2401.06465), on the copies of :mod:`randomization` (the user's
model is never changed).

* **Smooth MPRT** (sMPRT): each map is denoised SmoothGrad-style before it is
  compared, ``e(x) = 1/S sum_s m(x + eps_s)`` with ``eps_s ~ N(0, sigma^2)``,
  ``sigma = noise_magnitude * (max x - min x)`` per input and the last ``eps = 0``
  (Quantus: ``nr_samples=50``, ``noise_magnitude=0.1``); maps are divided by
  their root mean square and made absolute, then compared with Spearman's rank
  correlation to the original model's after each randomization step (Quantus's
  default order ``"bottom_up"``). Value: the similarity at the last step (every
  layer randomized); lower is better.
* **Efficient MPRT** (eMPRT): the relative rise in explanation complexity from
  the original model ``f`` to its fully randomized copy ``f_r``,
  ``(H(m_r) - H(m)) / H(m)`` with ``H`` the discrete entropy of the map's
  100-bin histogram (Quantus's ``discrete_entropy``); higher is better.
"""

from __future__ import annotations

import numpy as np

from kerascope.metrics.base import (
    MetricResult,
    aggregate,
    explain_maps,
    prepare,
    progress_bar,
    rng_from,
)
from kerascope.metrics.randomization import (
    RANDOMIZATIONS,
    clone_with_weights,
    random_weights,
    select_layers,
)
from kerascope.metrics.registry import register
from kerascope.metrics.similarity import similarity

__all__ = ["smooth_mprt", "efficient_mprt", "discrete_entropy", "ORDERS"]

ORDERS = ("bottom_up", "top_down", "independent")
PAPER = "Hedström et al. 2023, arXiv:2401.06465"


def discrete_entropy(fmaps, n_bins=100):
    """Entropy of each row's histogram of ``n_bins`` equal bins (``(N, F) -> (N,)``)."""
    values = np.asarray(fmaps, dtype=np.float64)
    out = np.empty(len(values))
    for index, row in enumerate(values):
        counts, _ = np.histogram(row, bins=n_bins)
        p = counts[counts > 0] / counts.sum()
        out[index] = float(-(p * np.log(p)).sum())
    return out


def _check(order, randomization, nr_samples=1):
    if order not in ORDERS:
        raise ValueError(f"order: expected one of {ORDERS}, got {order!r}.")
    if randomization not in RANDOMIZATIONS:
        raise ValueError(f"randomization: expected one of {RANDOMIZATIONS}, got {randomization!r}.")
    if isinstance(nr_samples, bool) or not isinstance(nr_samples, (int, np.integer)) \
            or nr_samples < 1:
        raise ValueError(f"nr_samples: expected an integer >= 1, got {nr_samples!r}.")


def _maps(problem, model, x, method, method_options):
    maps = explain_maps(model, x, problem.units, method, batch_size=problem.batch_size,
                        output_index=problem.output_index, expected=problem.layout,
                        method_options=method_options)
    return problem.layout.feature_maps(maps, problem.n, name="method").astype(np.float64)


def _steps(copy, layers, order, seed, randomization):
    """Randomize ``copy`` step by step (in place); yield each step's layer name."""
    chosen = select_layers(copy, layers)
    trained = copy.get_weights()
    sequence = chosen if order == "bottom_up" else list(reversed(chosen))
    for index, layer in enumerate(sequence):
        if order == "independent":
            copy.set_weights(trained)
        layer.set_weights(random_weights(layer, seed + index, randomization))
        yield layer.name


def _smooth_rms_abs(fmaps):
    rms = np.sqrt((fmaps ** 2).mean(axis=1, keepdims=True))
    return np.abs(np.where(rms > 0, fmaps / np.where(rms > 0, rms, 1.0), fmaps))


@register("smooth_mprt", "randomization", False, PAPER,
          "Rank correlation of denoised maps before/after randomizing the model.",
          aliases=("smpr",), needs_method=True)
def smooth_mprt(model, x, targets=None, maps=None, method=None, *, layers=None,
                order="bottom_up", nr_samples=50, noise_magnitude=0.1, normalise=True,
                randomization="normal", average=False, batch_size=32, seed=42,
                output_index=0, method_options=None, verbose=0):
    """Smooth MPRT (Hedström et al. 2023, arXiv:2401.06465); lower is better.

    ``e(x) = 1/S sum_s m(x + eps_s)``, ``sigma = noise_magnitude * (max x - min x)``,
    ``S = nr_samples`` (the last draw noise-free); value: Spearman correlation of
    ``|e|`` before and after the last step (``average=True``: mean over the steps).
    ``maps`` are ignored (the metric re-explains noisy inputs); ``details`` holds
    the per-step similarities (``"steps"``, ``"scores"``) and the noise std.
    """
    _check(order, randomization, nr_samples)
    if method is None:
        raise ValueError("method: smooth_mprt re-explains noisy inputs; pass a method.")
    problem = prepare(model, x, targets, batch_size, False, output_index)
    rng = rng_from(seed)
    axes = tuple(range(1, problem.x.ndim))
    std = float(noise_magnitude) * (problem.x.max(axis=axes, keepdims=True)
                                    - problem.x.min(axis=axes, keepdims=True))
    noises = [rng.standard_normal(problem.x.shape).astype(np.float32) * std
              for _ in range(nr_samples - 1)] + [np.zeros_like(problem.x)]
    copy = clone_with_weights(model, problem.x)
    num_layers = len(select_layers(copy, layers))
    bar = progress_bar(num_layers + 1, verbose, unit="model")

    def smoothed(current):
        total = sum(_maps(problem, current, (problem.x + eps).astype(np.float32), method,
                          method_options) for eps in noises) / nr_samples
        return _smooth_rms_abs(total) if normalise else np.abs(total)

    reference = smoothed(copy)
    if bar is not None:
        bar.update(1)
    names, scores = [], []
    for name in _steps(copy, layers, order, seed, randomization):
        found = similarity(reference, smoothed(copy), ("spearman",))["spearman"]
        names.append(name)
        scores.append(found)
        if bar is not None:
            bar.update(len(names) + 1)
    scores = np.stack(scores)
    per_sample = scores.mean(axis=0) if average else scores[-1]
    return MetricResult(name="smooth_mprt", value=aggregate(per_sample), per_sample=per_sample,
                        higher_is_better=False,
                        details={"steps": names, "scores": scores, "noise_std": std.ravel()})


@register("efficient_mprt", "randomization", True, PAPER,
          "Relative rise of the maps' histogram entropy once the model is randomized.",
          aliases=("emprt",), needs_method=True)
def efficient_mprt(model, x, targets=None, maps=None, method=None, *, layers=None,
                   n_bins=100, randomization="normal", batch_size=32, seed=42,
                   output_index=0, method_options=None, verbose=0):
    """Efficient MPRT (Hedström et al. 2023, arXiv:2401.06465); higher is better.

    ``(H(m_r) - H(m)) / H(m)`` per input, ``H`` the discrete entropy of the map's
    ``n_bins``-bin histogram, ``m_r`` the map of the copy with every chosen layer
    randomized. Given ``maps`` stand for ``m`` (else ``method`` makes them);
    ``details`` holds both entropies.
    """
    _check("bottom_up", randomization)
    if method is None:
        raise ValueError("method: efficient_mprt explains the randomized model; pass a method.")
    problem = prepare(model, x, targets, batch_size, False, output_index)
    bar = progress_bar(2, verbose, unit="model")
    if maps is not None:
        before = problem.feature_maps(maps).astype(np.float64)
    else:
        before = _maps(problem, model, problem.x, method, method_options)
    if bar is not None:
        bar.update(1)
    copy = clone_with_weights(model, problem.x)
    for _ in _steps(copy, layers, "bottom_up", seed, randomization):
        pass
    after = _maps(problem, copy, problem.x, method, method_options)
    if bar is not None:
        bar.update(2)
    h_before = discrete_entropy(before, n_bins)
    h_after = discrete_entropy(after, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_sample = (h_after - h_before) / h_before
    return MetricResult(name="efficient_mprt", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=True,
                        details={"entropy_original": h_before, "entropy_randomized": h_after})
