"""Complexity: how concentrated is a map? (No model pass beyond the maps.)

* **Sparseness** (Chalasani et al. 2020, "Concise Explanations of Neural Networks
  using Adversarial Training", ICML, arXiv:1810.06583): the Gini index of the
  absolute map sorted ascending, ``G = sum_k (2k - d - 1) a_(k) / (d sum_k a_(k))``
  for ``k = 1..d``: 0 for a constant map, ``1 - 1/d`` when one feature holds
  everything. Higher is sparser.
* **Complexity** (Bhatt, Weller & Moura 2020, arXiv:2005.00631, Def. 4): the
  entropy of the fractional contributions ``P_i = |g_i| / sum_j |g_j|``,
  ``-sum_i P_i ln P_i``: ``ln d`` for a constant map, 0 for a single feature.
  Lower is simpler.

An all-zero map has no distribution: sparseness 0 and complexity NaN.
"""

from __future__ import annotations

import numpy as np

from kerascope.metrics.registry import register
from kerascope.metrics.base import MetricResult, aggregate, maps_problem

__all__ = ["sparseness", "complexity", "gini", "entropy"]


def gini(fmaps):
    """Gini index of each row of ``|fmaps|`` (``(N, d)`` -> ``(N,)``)."""
    values = np.abs(np.asarray(fmaps, dtype=np.float64))
    values.sort(axis=1)
    d = values.shape[1]
    total = values.sum(axis=1)
    weights = np.arange(1 - d, d, 2)  # 2k - d - 1 for k = 1..d
    return np.divide((weights * values).sum(axis=1), d * total, out=np.zeros(len(values)),
                     where=total > 0)


def entropy(fmaps):
    """Entropy of each row's fractional contributions ``|g| / sum |g|``."""
    values = np.abs(np.asarray(fmaps, dtype=np.float64))
    total = values.sum(axis=1, keepdims=True)
    defined = (total > 0).all()
    if defined:  # masked ufuncs (where=) only where needed: they are slower
        p = values / total
    else:
        p = np.divide(values, total, out=np.zeros_like(values), where=total > 0)
    if (p > 0).all():
        logs = np.log(p)
    else:
        logs = np.zeros_like(p)
        np.log(p, out=logs, where=p > 0)  # 0 ln 0 = 0
    sums = -(p * logs).sum(axis=1)
    return sums if defined else np.where(total[:, 0] > 0, sums, np.nan)


@register("sparseness", "complexity", True, "Chalasani et al. 2020, arXiv:1810.06583",
          "Gini index of the absolute map.", aliases=("gini",))
def sparseness(model, x, targets=None, maps=None, method=None, *, batch_size=32,
               output_index=0, method_options=None):
    """Gini sparseness of the maps (Chalasani et al. 2020); higher is better."""
    _, fmaps = maps_problem(model, x, targets, maps, method, batch_size, output_index,
                            method_options=method_options)
    per_sample = gini(fmaps)
    return MetricResult(name="sparseness", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=True)


@register("complexity", "complexity", False, "Bhatt et al. 2020, arXiv:2005.00631",
          "Entropy of the map's fractional contributions.", aliases=("entropy",))
def complexity(model, x, targets=None, maps=None, method=None, *, batch_size=32,
               output_index=0, method_options=None):
    """Entropy complexity of the maps (Bhatt et al. 2020, arXiv:2005.00631); lower is better."""
    _, fmaps = maps_problem(model, x, targets, maps, method, batch_size, output_index,
                            method_options=method_options)
    per_sample = entropy(fmaps)
    return MetricResult(name="complexity", value=aggregate(per_sample),
                        per_sample=per_sample, higher_is_better=False)
