"""KernelSHAP (Lundberg & Lee 2017, arXiv:1705.07874), batched, over feature masks.

For ``M`` features (``kerascope.methods.ablation``: feature masks for tables,
superpixels, time windows and tokens) and a coalition ``z in {0, 1}^M`` (1: the
feature keeps its value), ``f(z)`` is the class score with the switched-off
features taken from the background: the mean of ``S_c`` over the reference rows
(``references=``, the interventional expectation), or ``S_c`` with them at
``baseline``. The Shapley values are the solution of the weighted least squares

    min_phi  sum_z pi(z) (f(z) - phi_0 - z . phi)^2,   pi(z) = (M - 1) / (C(M, |z|) |z| (M - |z|))

(the Shapley kernel) under ``phi_0 = f(0)`` and ``sum phi = f(1) - f(0)`` (local
accuracy), solved exactly by eliminating one feature. Coalitions follow the shap
package's sampler: with a budget of ``num_samples`` coalitions (default
``2 M + 2048``), coalition sizes ``s`` and ``M - s`` are enumerated completely,
smallest first, while the budget covers them with their exact kernel weights; the
remaining sizes are sampled (sizes in proportion to their kernel mass, members
uniformly, each draw paired with its complement) and share the remaining mass.
When ``2^M - 2 <= num_samples`` every coalition is used: the values are then exact.

The background score ``f(0)`` is ``extras["base_value"]``; maps sum (over their
features) to ``f(1) - f(0)``.
"""

import math

import numpy as np

from kerascope.methods.ablation import (
    FeatureMaskMethod,
    check_feature_count,
    coalition_scores,
    in_order,
    spread,
    take_rows,
)
from kerascope.engine.validation import check_positive_int


def shapley_kernel(m, size):
    """The Shapley kernel weight of one coalition of ``size`` among ``m`` features."""
    size = np.asarray(size, dtype=np.float64)
    return (m - 1) / (np.vectorize(math.comb)(m, size.astype(int)) * size * (m - size))


def kernel_coalitions(m, num_samples, rng):
    """``(coalitions, weights)``: ``(K, m)`` bool coalitions (neither empty nor full)
    and their regression weights (see the module docstring)."""
    if m < 2:
        return np.zeros((0, m), bool), np.zeros(0)
    if m <= 30 and 2 ** m - 2 <= num_samples:
        codes = np.arange(1, 2 ** m - 1, dtype=np.int64)
        coalitions = ((codes[:, None] >> np.arange(m)) & 1).astype(bool)
        return coalitions, shapley_kernel(m, coalitions.sum(axis=1))
    sizes = np.arange(1, m)
    mass = (m - 1) / (sizes * (m - sizes))
    mass = mass / mass.sum()
    # pair sizes s and m - s, smallest first
    half = [(s, m - s) for s in range(1, m // 2 + 1)]
    pair_mass = np.array([mass[s - 1] + (mass[t - 1] if t != s else 0.0) for s, t in half])
    chosen, weights = [], []
    left, remaining = num_samples, 1.0
    done = 0
    for (s, t), p in zip(half, pair_mass):
        count = math.comb(m, s) * (2 if t != s else 1)
        if remaining <= 0 or left * p / remaining < count - 1e-8:
            break
        for size in ((s, t) if t != s else (s,)):
            members = _all_subsets(m, size)
            chosen.append(members)
            weights.append(np.full(len(members), mass[size - 1] / len(members)))
        left -= count
        remaining -= p
        done += 1
    rest = [size for pair in half[done:] for size in sorted(set(pair))]
    if rest and left > 0:
        rest_mass = np.array([mass[s - 1] for s in rest])
        draws = max(2, left - left % 2)
        size_draws = rng.choice(rest, size=draws // 2, p=rest_mass / rest_mass.sum())
        coalitions = np.zeros((draws, m), bool)
        for i, size in enumerate(size_draws):
            members = rng.choice(m, size=size, replace=False)
            coalitions[2 * i, members] = True
            coalitions[2 * i + 1] = ~coalitions[2 * i]
        chosen.append(coalitions)
        weights.append(np.full(draws, remaining / draws))
    return np.concatenate(chosen), np.concatenate(weights)


def _all_subsets(m, size):
    import itertools

    combos = np.array(list(itertools.combinations(range(m), size)), dtype=np.int64)
    coalitions = np.zeros((len(combos), m), bool)
    coalitions[np.arange(len(combos))[:, None], combos] = True
    return coalitions


def solve_shapley(coalitions, weights, values, full, empty):
    """Shapley values ``(n, M)`` from coalition values ``(n, K)`` (see module docstring)."""
    n, m = len(values), coalitions.shape[1]
    delta = full - empty
    if m == 1:
        return delta[:, None]
    z = coalitions.astype(np.float64)
    target = (values - empty[:, None]) - z[:, -1][None] * delta[:, None]      # (n, K)
    design = z[:, :-1] - z[:, -1:]                                             # (K, M-1)
    root = np.sqrt(weights)[:, None]
    solution = np.linalg.lstsq(design * root, (target * root.T).T, rcond=None)[0]  # (M-1, n)
    phi = np.empty((n, m))
    phi[:, :-1] = solution.T
    phi[:, -1] = delta - solution.sum(axis=0)
    return phi


class KernelSHAP(FeatureMaskMethod):
    """KernelSHAP Shapley values over feature masks (see the module docstring).

    At most 2048 features per input (group pixels with ``superpixels``, steps with
    ``time_windows``); ``extras["base_value"]`` is the background score ``f(0)``.

    Args (besides ``FeatureMaskMethod``'s ``feature_mask``, ``baseline``,
    ``references``, ``inputs``, ``channel_reduction``):
        num_samples: coalitions per input; "auto" (default) is ``2 M + 2048``.
        seed: seed of the coalition sampler; None draws fresh ones.
    """

    name = "kernel_shap"
    aliases = ("kernelshap", "shap")
    summary = "Shapley values of feature groups from a kernel-weighted regression on coalitions."
    paper = "Lundberg & Lee 2017, arXiv:1705.07874"
    signed = True
    mean_references = False

    #: ``kerascope explain``: 512 coalitions per image (about 10 per superpixel), not
    #: the shap package's ``2 M + 2048``, so the demo's report stays a matter of seconds.
    cli_options = {"num_samples": 512}

    def __init__(self, feature_mask=None, baseline=0.0, references=None, num_samples="auto",
                 seed=None, inputs=None, channel_reduction="mean"):
        super().__init__(feature_mask, baseline, references, inputs, channel_reduction)
        if num_samples != "auto":
            num_samples = check_positive_int(num_samples, "num_samples")
        self.num_samples = num_samples
        self.seed = seed

    def budget(self, m):
        return 2 * m + 2048 if self.num_samples == "auto" else self.num_samples

    def attribute(self, ctx, x, row_targets):
        plan, fills = self.setup(ctx, x)
        rng = ctx.rng(self.seed)
        parts, order = [], []
        base_values = np.empty(len(x))
        for rows, columns, m in plan.groups:
            check_feature_count(m, self.name)
            sub, units, sub_fills = x[rows], row_targets[rows], take_rows(fills, rows)
            coalitions, weights = kernel_coalitions(m, self.budget(m), rng)
            ends = np.stack([np.ones(m, bool), np.zeros(m, bool)])
            scores = coalition_scores(ctx, sub, units, columns,
                                      np.concatenate([ends, coalitions]), sub_fills)
            full, empty = scores[:, 0], scores[:, 1]
            phi = solve_shapley(coalitions, weights, scores[:, 2:], full, empty) if m else (
                np.zeros((len(rows), 0)))
            base_values[rows] = empty
            parts.append(spread(phi.astype(np.float32), columns, sub))
            order.append(rows)
        ctx.record("base_value", base_values.astype(np.float32))
        return in_order(parts, order, len(x))
