"""LIME (Ribeiro, Singh & Guestrin 2016, arXiv:1602.04938), batched, over feature masks.

The interpretable representation is a binary vector ``z in {0, 1}^M`` over the
``M`` features of a feature mask (``kerascope.methods.ablation``: table columns,
superpixels, time windows, tokens); ``z_j = 0`` sets feature ``j`` to its baseline
(a number, an array, or the mean of ``references``). As in the ``lime`` package's
text and image explainers, the first sample is ``z = 1`` (the input itself) and each
other sample switches off ``d ~ U{1..M}`` features chosen uniformly. Samples are
weighted by the exponential kernel on the cosine distance to ``z = 1``,

    d(z) = 1 - |z|^(1/2) / M^(1/2),   pi(z) = sqrt(exp(-d(z)^2 / width^2))

(``kernel_width`` 0.25, lime's image default), and the explanation is the weighted
ridge regression ``g(z) = b + z . beta`` of the class scores ``S_c(x_z)``:
``beta = argmin sum pi(z) (S_c(x_z) - b - z . beta)^2 + alpha |beta|^2`` (intercept
not penalised; ``alpha = 1``, lime's default). Every element of feature ``j`` gets
``beta_j``; ``extras["intercept"]`` is ``b`` and ``extras["score"]`` the weighted
``R^2`` of the surrogate on its samples (lime's ``score``).
"""

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


def lime_samples(m, num_samples, rng):
    """``(num_samples, m)`` binary samples: all ones first, then ``U{1..m}`` features off."""
    samples = np.ones((num_samples, m), bool)
    if m == 0 or num_samples == 1:
        return samples
    counts = rng.integers(1, m + 1, size=num_samples - 1)
    for row, count in enumerate(counts, start=1):
        samples[row, rng.choice(m, size=count, replace=False)] = False
    return samples


def lime_weights(samples, kernel_width):
    """The exponential kernel on the cosine distance to the all-ones sample."""
    m = samples.shape[1]
    kept = samples.sum(axis=1).astype(np.float64)
    distance = 1.0 - np.sqrt(kept / max(m, 1))
    return np.sqrt(np.exp(-(distance ** 2) / kernel_width ** 2))


def weighted_ridge(design, targets, weights, alpha):
    """``(coef (n, M), intercept (n,), r2 (n,))`` of the weighted ridge regressions of
    every row of ``targets`` ``(n, K)`` on ``design`` ``(K, M)`` (intercept free)."""
    w = weights / weights.sum()
    x_mean = w @ design                                    # (M,)
    y_mean = targets @ w                                    # (n,)
    xc = design - x_mean
    yc = targets - y_mean[:, None]
    gram = (xc * w[:, None]).T @ xc + (alpha / weights.sum()) * np.eye(design.shape[1])
    coef = np.linalg.solve(gram, (xc * w[:, None]).T @ yc.T).T   # (n, M)
    intercept = y_mean - coef @ x_mean
    fitted = coef @ design.T + intercept[:, None]
    residual = ((targets - fitted) ** 2) @ w
    total = (yc ** 2) @ w
    r2 = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), 1.0)
    return coef, intercept, r2


class LIME(FeatureMaskMethod):
    """LIME: a weighted ridge surrogate over binary feature masks (module docstring).

    At most 2048 features per input (group pixels with ``superpixels``, steps with
    ``time_windows``).

    Args (besides ``FeatureMaskMethod``'s ``feature_mask``, ``baseline``,
    ``references`` (their mean is the baseline), ``inputs``, ``channel_reduction``):
        num_samples: perturbed samples per input (the first is the input itself).
        kernel_width: width of the exponential kernel on the cosine distance.
        alpha: ridge penalty.
        seed: seed of the samples; None draws fresh ones.
    """

    name = "lime"
    summary = "Weighted ridge surrogate of the scores of randomly masked feature groups."
    paper = "Ribeiro, Singh & Guestrin 2016, arXiv:1602.04938"
    signed = True

    def __init__(self, feature_mask=None, baseline=0.0, references=None, num_samples=1000,
                 kernel_width=0.25, alpha=1.0, seed=None, inputs=None,
                 channel_reduction="mean"):
        super().__init__(feature_mask, baseline, references, inputs, channel_reduction)
        self.num_samples = check_positive_int(num_samples, "num_samples")
        if not np.isfinite(kernel_width) or kernel_width <= 0:
            raise ValueError(f"kernel_width: expected a positive number, got {kernel_width!r}.")
        if not np.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha: expected a number >= 0, got {alpha!r}.")
        self.kernel_width = float(kernel_width)
        self.alpha = float(alpha)
        self.seed = seed

    def rows_per_input(self):
        return 1

    def attribute(self, ctx, x, row_targets):
        plan, fills = self.setup(ctx, x)
        rng = ctx.rng(self.seed)
        parts, order = [], []
        intercepts, scores_r2 = np.zeros(len(x)), np.zeros(len(x))
        for rows, columns, m in plan.groups:
            check_feature_count(m, self.name)
            sub, units = x[rows], row_targets[rows]
            coef = np.zeros((len(rows), m))
            if m:
                samples = lime_samples(m, self.num_samples, rng)
                values = coalition_scores(ctx, sub, units, columns, samples,
                                          take_rows(fills, rows))
                coef, intercept, r2 = weighted_ridge(
                    samples.astype(np.float64), values,
                    lime_weights(samples, self.kernel_width), self.alpha)
                intercepts[rows], scores_r2[rows] = intercept, r2
            parts.append(spread(coef.astype(np.float32), columns, sub))
            order.append(rows)
        ctx.record("intercept", intercepts.astype(np.float32))
        ctx.record("score", scores_r2.astype(np.float32))
        return in_order(parts, order, len(x))
