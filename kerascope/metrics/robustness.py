"""Robustness: does the map stay put when the input barely moves?

Yeh et al. 2019, "On the (In)fidelity and Sensitivity of Explanations",
arXiv:1901.09392, Def. 3.1: ``SENS_MAX(Phi, f, x, r) = max_{||y - x|| <= r}
||Phi(f, y) - Phi(f, x)||``, estimated by Monte Carlo over ``num_samples`` points
drawn uniformly in the L-infinity ball of radius ``radius`` around ``x`` (as Captum's
``sensitivity_max``). The *average* sensitivity (xplique's AverageStability) is the
mean of the same distances instead of their maximum. Both are lower-is-better.

``normalize=True`` (default) divides by ``||Phi(f, x)||`` so that maps of
different scales compare (as Captum); ``normalize=False`` is the paper's raw
definition. The noisy copies keep the original inputs' target classes.

Both need a ``method`` (the maps of the noisy inputs must be computed); the
inputs' own maps may be given as ``maps`` to skip recomputing them.
"""

from __future__ import annotations

import numpy as np

from kerascope.metrics.registry import register
from kerascope.metrics.base import (
    MetricResult,
    aggregate,
    explain_maps,
    prepare,
    resolve_maps,
    rng_from,
)
from kerascope.engine.validation import check_positive_int

__all__ = ["max_sensitivity", "average_sensitivity", "sensitivities"]


def sensitivities(model, x, targets=None, maps=None, method=None, *, radius=0.02,
                  num_samples=10, normalize=True, seed=0, batch_size=32, output_index=0,
                  method_options=None):
    """``(problem, distances)``: map distances ``(N, num_samples)`` under input noise."""
    if method is None:
        raise ValueError(
            "method: robustness metrics re-explain noisy copies of the inputs; pass "
            "method=... (maps alone are not enough)."
        )
    if isinstance(radius, bool) or not isinstance(radius, (int, float, np.integer, np.floating)) \
            or not radius > 0:
        raise ValueError(f"radius: expected a positive number, got {radius!r}.")
    num_samples = check_positive_int(num_samples, "num_samples")
    problem = prepare(model, x, targets, batch_size, False, output_index)
    given = maps
    fmaps = resolve_maps(problem, given, method if given is None else None, method_options)
    rng = rng_from(seed)
    n = problem.n
    distances = np.empty((n, num_samples))
    # Explain the noisy copies of a few inputs at a time: batch_size rows per call.
    per_call = max(1, problem.batch_size // num_samples)
    for start in range(0, n, per_call):
        stop = min(start + per_call, n)
        block = problem.x[start:stop]
        noise = rng.uniform(-radius, radius, size=(len(block), num_samples) + block.shape[1:])
        noisy = (block[:, None] + noise).reshape((-1,) + block.shape[1:]).astype(np.float32)
        units = np.repeat(problem.units[start:stop], num_samples)
        noisy_maps = explain_maps(problem.model, noisy, units, method,
                                  batch_size=problem.batch_size,
                                  output_index=problem.output_index, expected=problem.layout,
                                  method_options=method_options)
        flat = problem.layout.feature_maps(noisy_maps, len(noisy), name="method")
        flat = flat.reshape(stop - start, num_samples, -1)
        distances[start:stop] = np.linalg.norm(flat - fmaps[start:stop, None], axis=-1)
    if normalize:
        norms = np.linalg.norm(fmaps, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            distances = np.where(norms[:, None] > 0, distances / norms[:, None], np.nan)
    return problem, distances


@register("max_sensitivity", "robustness", False, "Yeh et al. 2019, arXiv:1901.09392",
          "Largest map change under small uniform input noise.", needs_method=True)
def max_sensitivity(model, x, targets=None, maps=None, method=None, *, radius=0.02,
                    num_samples=10, normalize=True, seed=0, batch_size=32, output_index=0,
                    method_options=None):
    """Max-sensitivity (Yeh et al. 2019, arXiv:1901.09392); lower is better.

    Args:
        method: the explanation method (name, ``Method`` or callable); required.
        maps: the inputs' own maps, if already computed.
        radius: half-width of the uniform noise (L-infinity ball), in input units.
        num_samples: noisy copies per input.
        normalize: divide by the norm of the input's map.
    """
    _, distances = sensitivities(model, x, targets, maps, method, radius=radius,
                                 num_samples=num_samples, normalize=normalize, seed=seed,
                                 batch_size=batch_size, output_index=output_index,
                                 method_options=method_options)
    per_sample = distances.max(axis=1)
    return MetricResult(name="max_sensitivity", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=False,
                        details={"radius": radius, "num_samples": num_samples,
                                 "normalize": normalize, "distances": distances})


@register("average_sensitivity", "robustness", False, "Yeh et al. 2019, arXiv:1901.09392",
          "Mean map change under small uniform input noise.",
          aliases=("average_stability", "avg_sensitivity"), needs_method=True)
def average_sensitivity(model, x, targets=None, maps=None, method=None, *, radius=0.02,
                        num_samples=10, normalize=True, seed=0, batch_size=32,
                        output_index=0, method_options=None):
    """Average sensitivity / stability (Yeh et al. 2019; xplique's AverageStability).

    The mean map distance over the noisy copies; lower is better. Arguments as
    :func:`max_sensitivity`.
    """
    _, distances = sensitivities(model, x, targets, maps, method, radius=radius,
                                 num_samples=num_samples, normalize=normalize, seed=seed,
                                 batch_size=batch_size, output_index=output_index,
                                 method_options=method_options)
    per_sample = distances.mean(axis=1)
    return MetricResult(name="average_sensitivity", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=False,
                        details={"radius": radius, "num_samples": num_samples,
                                 "normalize": normalize, "distances": distances})
