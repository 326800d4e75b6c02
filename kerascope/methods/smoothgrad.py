"""SmoothGrad and its variants (Smilkov et al. 2017, arXiv:1706.03825).

With ``n`` noisy copies ``x_i = x + N(0, sigma^2)``, ``sigma = noise * (max(x) - min(x))``
per input, and ``g_i = dS_c/dx (x_i)``:

* SmoothGrad: ``mean_i g_i`` (then ``|.|`` summed over channels by default);
* SquareGrad (Hooker et al. 2019): ``mean_i g_i^2``;
* VarGrad (Adebayo et al. 2018): ``mean_i (g_i - mean_j g_j)^2``.

The noisy copies of a batch go through the model together, never one by one.
"""

import numpy as np

from kerascope.methods.base import Method
from kerascope.validation import check_choice, check_positive_int

VARIANTS = ("smoothgrad", "squaregrad", "vargrad")


class SmoothGrad(Method):
    """Average of gradients at noisy copies of the input.

    Args:
        num_samples: noisy copies per input.
        noise: standard deviation as a fraction of each input's value range.
        variant: "smoothgrad", "squaregrad" or "vargrad".
        seed: seed of the noise (numpy Generator); None draws a fresh one.
        channel_reduction: how to reduce channels (default: |.| summed for
            SmoothGrad, summed for the non-negative variants).
    """

    name = "smoothgrad"
    family = "gradients"
    summary = "Mean gradient over noisy copies of the input (|.| summed over channels)."
    paper = "Smilkov et al. 2017, arXiv:1706.03825"
    variant = "smoothgrad"

    def __init__(self, num_samples=25, noise=0.15, variant=None, seed=None,
                 channel_reduction="default"):
        variant = type(self).variant if variant is None else variant
        self.num_samples = check_positive_int(num_samples, "num_samples")
        if not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise: expected a finite value >= 0, got {noise!r}.")
        self.noise = float(noise)
        self.variant = check_choice(variant, "variant", VARIANTS)
        self.seed = seed
        if channel_reduction == "default":
            channel_reduction = "abs_sum" if variant == "smoothgrad" else "sum"
        self.channel_reduction = channel_reduction

    def rows_per_input(self):
        return self.num_samples

    def noisy_copies(self, x, rng=None):
        """``(n * num_samples, ...)`` noisy rows, input-major; noise from ``rng``
        (default: a fresh Generator of ``seed``)."""
        rng = np.random.default_rng(self.seed) if rng is None else rng
        axes = tuple(range(1, x.ndim))
        spread = (x.max(axis=axes, keepdims=True) - x.min(axis=axes, keepdims=True))
        sigma = np.repeat(self.noise * spread, self.num_samples, axis=0)
        rows = np.repeat(x, self.num_samples, axis=0)
        if self.noise > 0:
            rows = rows + sigma * rng.standard_normal(rows.shape, dtype=np.float32)
        return rows.astype(np.float32, copy=False)

    def attribute(self, ctx, x, row_targets):
        rows = self.noisy_copies(x, ctx.rng(self.seed))
        grads = ctx.backprop(rows, np.repeat(row_targets, self.num_samples)).input_grads
        grads = grads.reshape((len(x), self.num_samples) + x.shape[1:])
        if self.variant == "smoothgrad":
            return grads.mean(axis=1), None
        if self.variant == "squaregrad":
            return np.square(grads).mean(axis=1), None
        return np.square(grads - grads.mean(axis=1, keepdims=True)).mean(axis=1), None



class SquareGrad(SmoothGrad):
    """SmoothGrad's ``variant="squaregrad"``: the mean squared gradient."""

    name = "squaregrad"
    summary = "Mean squared gradient over noisy copies of the input."
    paper = "Hooker et al. 2019, arXiv:1806.10758"
    variant = "squaregrad"


class VarGrad(SmoothGrad):
    """SmoothGrad's ``variant="vargrad"``: the variance of the gradients."""

    name = "vargrad"
    summary = "Variance of the gradient over noisy copies of the input."
    paper = "Adebayo et al. 2018, arXiv:1810.03292"
    variant = "vargrad"
