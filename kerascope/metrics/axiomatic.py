"""Axioms an attribution should satisfy.

* **Completeness** (Sundararajan, Taly & Yan 2017, Integrated Gradients,
  arXiv:1703.01365, Prop. 1): ``sum_i g_i = f(x) - f(x')`` with ``x'`` the baseline
  (Quantus: ``"black"``, each input's minimum). Per input 1.0 if the two sides agree
  within ``rtol`` (Quantus: exact equality, ``rtol=0``), else 0.0; the gap is in
  ``details["gap"]``. Maps of the input's full shape are summed over channels too.
"""

from __future__ import annotations

import numpy as np

from kerascope.inputs.arrays import to_numpy
from kerascope.metrics.base import (
    MetricResult,
    aggregate,
    normalise_maps,
    prepare,
    resolve_baseline,
    resolve_maps,
)
from kerascope.metrics.registry import register

__all__ = ["completeness"]


@register("completeness", "axiomatic", True, "Sundararajan et al. 2017, arXiv:1703.01365",
          "Whether the map sums to the score difference with the baseline.")
def completeness(model, x, targets=None, maps=None, method=None, *, baseline="black",
                 normalise=True, rtol=0.0, output_func=None, batch_size=64, use_logits=False,
                 output_index=0, method_options=None):
    """Completeness (Sundararajan et al. 2017, arXiv:1703.01365); higher is better.

    ``normalise``: divide the maps by the batch's max ``|g|`` first (Quantus's
    default). ``output_func``: applied to ``f(x) - f(x')`` (default: identity).
    """
    def baseline_rows(inputs, layout):
        return layout.from_fc(resolve_baseline(baseline, inputs, layout))

    # the inputs and their baselines in one pass where the target classes are given
    problem = prepare(model, x, targets, batch_size, use_logits, output_index,
                      along=baseline_rows)
    if maps is not None and np.shape(maps) == problem.x.shape:
        full = np.asarray(to_numpy(maps), dtype=np.float64).reshape(problem.n, -1)
        problem.feature_maps(maps)  # validates
        totals = normalise_maps(full, normalise).sum(axis=1)
    else:
        totals = normalise_maps(resolve_maps(problem, maps, method, method_options),
                                normalise).sum(axis=1)
    difference = problem.base_scores - problem.along_scores
    if output_func is not None:
        difference = np.asarray(output_func(difference), dtype=np.float64)
    gap = totals - difference
    per_sample = (np.abs(gap) <= rtol * np.abs(difference)).astype(np.float64)
    return MetricResult(name="completeness", value=aggregate(per_sample), per_sample=per_sample,
                        higher_is_better=True,
                        details={"gap": gap, "attribution_sums": totals,
                                 "score_differences": difference})
