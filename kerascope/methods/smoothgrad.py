"""SmoothGrad and its variants (Smilkov et al. 2017, arXiv:1706.03825).

With ``n`` noisy copies ``x_i = x + N(0, sigma^2)``, ``sigma = noise * (max(x) - min(x))``
per input, and ``g_i = dS_c/dx (x_i)``:

* SmoothGrad: ``mean_i g_i`` (then ``|.|`` summed over channels by default);
* SquareGrad (Hooker et al. 2019): ``mean_i g_i^2``;
* VarGrad (Adebayo et al. 2018): ``mean_i (g_i - mean_j g_j)^2``.

The noisy copies of a batch go through the model together, never one by one. The
class ``c`` is the one the targets pick at ``x`` (``"predicted"``: ``x``'s best
class), for every noisy copy.

Several inputs: each input gets its own noise, scaled to that input's range, and
its own map. ``layer=``: the noise is added to the layer's output ``A`` instead,
``sigma = noise * (max(A) - min(A))`` per sample, and the maps are the smoothed
``dS_c/dA`` (``kerascope.methods.layer_attribution``); this is how inputs of
integer ids (token ids into an Embedding) are smoothed.
"""

import numpy as np

from kerascope import data
from kerascope.methods.base import Method
from kerascope.methods.layer_attribution import LayerOption, check_layer
from kerascope.validation import check_choice, check_positive_int

VARIANTS = ("smoothgrad", "squaregrad", "vargrad")


class SmoothGrad(LayerOption, Method):
    """Average of gradients at noisy copies of the input.

    Args:
        num_samples: noisy copies per input.
        noise: standard deviation as a fraction of each input's value range.
        variant: "smoothgrad", "squaregrad" or "vargrad".
        seed: seed of the noise (numpy Generator); None draws a fresh one.
        channel_reduction: how to reduce channels (default: |.| summed for
            SmoothGrad, summed for the non-negative variants).
        layer: smooth the gradient with respect to this layer's output (name or
            layer object), with noise added to that output.
    """

    name = "smoothgrad"
    family = "gradients"
    summary = "Mean gradient over noisy copies of the input (|.| summed over channels)."
    paper = "Smilkov et al. 2017, arXiv:1706.03825"
    variant = "smoothgrad"
    multi_input = True

    def __init__(self, num_samples=25, noise=0.15, variant=None, seed=None,
                 channel_reduction="default", layer=None):
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
        self.layer = check_layer(layer)

    def rows_per_input(self):
        return self.num_samples

    def noisy_copies(self, x, rng=None):
        """``(n * num_samples, ...)`` noisy rows, input-major; noise from ``rng``
        (default: a fresh Generator of ``seed``). For ``Inputs``, each input gets
        its own noise, scaled to its own range."""
        rng = np.random.default_rng(self.seed) if rng is None else rng
        return data.per_input(lambda a: self._noisy(a, rng), x)

    def _noisy(self, x, rng):
        x = np.asarray(x, dtype=np.float32)
        axes = tuple(range(1, x.ndim))
        spread = (x.max(axis=axes, keepdims=True) - x.min(axis=axes, keepdims=True))
        sigma = np.repeat(self.noise * spread, self.num_samples, axis=0)
        rows = np.repeat(x, self.num_samples, axis=0)
        if self.noise > 0:
            rows = rows + sigma * rng.standard_normal(rows.shape, dtype=np.float32)
        return rows.astype(np.float32, copy=False)

    def attribute(self, ctx, x, row_targets):
        if self.layer is None:
            ctx.check_differentiable()
        passes, units = ctx.resolve_units(x, row_targets)
        rng = ctx.rng(self.seed)
        row_units = np.repeat(units, self.num_samples)
        if self.layer is not None:
            if passes is None:
                passes = ctx.forward(x, units, units=True)
            noisy = self.noisy_copies(passes.layer_outputs[0], rng)
            rows = data.repeat_rows(x, self.num_samples)
            grads = ctx.backprop(rows, row_units, wrt_inputs=False, layer_values=[noisy],
                                 units=True).layer_grads[0]
            return self.reduce(grads, len(x)), passes
        rows = self.noisy_copies(x, rng)
        grads = ctx.backprop(rows, row_units, units=True).input_grads
        return data.per_input(lambda g: self.reduce(g, len(x)), grads), passes

    def reduce(self, grads, n):
        """The variant's statistic of ``(n * num_samples, ...)`` gradients."""
        grads = grads.reshape((n, self.num_samples) + grads.shape[1:])
        if self.variant == "smoothgrad":
            return grads.mean(axis=1)
        if self.variant == "squaregrad":
            return np.square(grads).mean(axis=1)
        return np.square(grads - grads.mean(axis=1, keepdims=True)).mean(axis=1)



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
