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

import keras

from kerascope.inputs import arrays as data

from kerascope.engine import noise as noise_lib
from kerascope.engine.expansion import Expansion, per_row, value_range
from kerascope.methods.base import Method, reduce_channels
from kerascope.methods.layer_attribution import LayerOption, check_layer
from kerascope.engine.validation import check_choice, check_positive_int

VARIANTS = ("smoothgrad", "squaregrad", "vargrad")

_STREAM = 1  # kerascope.engine.noise stream of SmoothGrad's noise (+ input position)


def noisy_rows(x, noise, seed, samples, index, stream=_STREAM, relative=True):
    """``(n * m, ...)`` rows ``x_i + sigma_i * eps_ij`` (keras.ops), input-major, for
    the copies ``index`` (m,) of inputs ``x`` (n, ...) with draw keys ``samples``
    (n,): ``sigma_i = noise * (max(x_i) - min(x_i))`` (``relative=False``:
    ``noise``), ``eps_ij`` standard normal keyed by ``(seed, stream, samples[i],
    index[j])``."""
    x = keras.ops.convert_to_tensor(x, "float32")
    shape = tuple(x.shape[1:])
    if relative:
        low, high = value_range(x)
        sigma = keras.ops.expand_dims(noise * (high - low), 1)  # over the copies axis
    else:
        sigma = noise
    keys = noise_lib.keys(seed, stream, keras.ops.expand_dims(samples, 1),
                          keras.ops.expand_dims(index, 0))
    rows = noise_lib.shifted_normal(keys, shape, keras.ops.expand_dims(x, 1), sigma)
    return keras.ops.reshape(rows, (-1,) + shape)


class NoiseExpansion(Expansion):
    """SmoothGrad's rows on the device: noisy copies in, the variant's statistic of
    their input gradients out (sums of ``g`` and/or ``g^2``; channels reduced by
    ``reduction``). The seed is ``constants[0]`` (a new seed does not recompile)."""

    def __init__(self, num_samples, noise, variant, reduction, channel_axis):
        self.rows = num_samples
        self.noise = noise
        self.variant = variant
        self.reduction = reduction
        self.channel_axis = channel_axis

    @property
    def key(self):
        return ("noise", self.rows, self.noise, self.variant, self.reduction, self.channel_axis)

    def expand(self, chunk):
        return noisy_rows(chunk.x, self.noise, chunk.constants[0], chunk.samples, chunk.index)

    def reduce(self, values, chunk):
        m = int(chunk.index.shape[0])
        grads = per_row(values, m)
        valid = keras.ops.reshape(chunk.valid, (1, m) + (1,) * (len(grads.shape) - 2))
        return moments(self.variant, grads, valid, keras.ops)

    def combine(self, sums, more):
        if self.variant != "vargrad":
            return super().combine(sums, more)
        # Chan et al.'s pairwise update of (count, mean, sum of squared deviations)
        (count_a, mean_a, m2_a), (count_b, mean_b, m2_b) = sums, more
        count = count_a + count_b
        delta = mean_b - mean_a
        share = count_b / keras.ops.maximum(count, 1.0)
        return count, mean_a + delta * share, m2_a + m2_b + keras.ops.square(delta) * count_a * share

    def finish(self, sums, chunk):
        return statistic(self.variant, sums, self.rows, self.reduction, self.channel_axis,
                         keras.ops)


def moments(variant, grads, valid, ops):
    """Sums over the copies (axis 1 of ``grads``, weighted by ``valid``) the variant
    needs: ``(sum g,)``, ``(sum g^2,)``, or VarGrad's ``(count, mean, sum (g -
    mean)^2)`` (two passes: no cancellation)."""
    if variant == "smoothgrad":
        return (ops.sum(grads * valid, axis=1),)
    if variant == "squaregrad":
        return (ops.sum(ops.square(grads) * valid, axis=1),)
    count = ops.sum(valid)
    mean = ops.sum(grads * valid, axis=1) / ops.maximum(count, 1.0)
    deviations = ops.sum(ops.square(grads - ops.expand_dims(mean, 1)) * valid, axis=1)
    return count, mean, deviations


def statistic(variant, sums, count, reduction, channel_axis, ops):
    """The variant's map from ``moments`` summed over all ``count`` copies, channels
    reduced by ``reduction`` for inputs of rank >= 3 (``ops``: numpy or keras.ops)."""
    if variant == "vargrad":
        maps = sums[2] / count
    else:
        maps = sums[0] / count
    if reduction is not None and len(maps.shape) >= 3:
        maps = reduce_channels(maps, reduction, channel_axis, ops)
    return maps


class SmoothGrad(LayerOption, Method):
    """Average of gradients at noisy copies of the input.

    Args:
        num_samples: noisy copies per input.
        noise: standard deviation as a fraction of each input's value range.
        variant: "smoothgrad", "squaregrad" or "vargrad".
        seed: seed of the noise (``kerascope.engine.noise``: the same draws on every backend
            and batch size); None draws a fresh one per call.
        channel_reduction: how to reduce channels (default: |.| summed for
            SmoothGrad, summed for the non-negative variants).
        layer: smooth the gradient with respect to this layer's output (name or
            layer object), with noise added to that output.

    The noisy copies are drawn, differentiated and reduced on the device
    (``NoiseExpansion``): one image goes in and one map comes out per input.
    """

    name = "smoothgrad"
    family = "gradients"
    summary = "Mean gradient over noisy copies of the input (|.| summed over channels)."
    paper = "Smilkov et al. 2017, arXiv:1706.03825"
    variant = "smoothgrad"
    multi_input = True
    evaluates_inputs = True  # the fused pass resolves the targets at the inputs

    def __init__(self, num_samples=25, noise=0.15, variant=None, seed=None,
                 channel_reduction="default", layer=None):
        variant = type(self).variant if variant is None else variant
        self.num_samples = check_positive_int(num_samples, "num_samples")
        if not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise: expected a finite value >= 0, got {noise!r}.")
        self.noise = float(noise)
        self.variant = check_choice(variant, "variant", VARIANTS)
        if seed is not None:
            noise_lib.seed_value(seed)
        self.seed = seed
        if channel_reduction == "default":
            channel_reduction = "abs_sum" if variant == "smoothgrad" else "sum"
        self.channel_reduction = channel_reduction
        self.layer = check_layer(layer)

    def rows_per_input(self):
        return self.num_samples

    def noisy_copies(self, x, seed=None, samples=None):
        """``(n * num_samples, ...)`` noisy rows (numpy), input-major, the ones the
        method differentiates: noise keyed by ``seed`` (default: the method's) and
        each input's index ``samples`` (default ``0..n-1``). For ``Inputs``, each
        input gets its own noise, scaled to its own range."""
        seed = noise_lib.seed_value(self.seed if seed is None else seed)
        n = len(x)
        samples = np.arange(n, dtype=np.int32) if samples is None else np.asarray(
            samples, dtype=np.int32)
        index = np.arange(self.num_samples, dtype=np.int32)
        if isinstance(x, data.Inputs):
            return x.with_arrays(
                keras.ops.convert_to_numpy(noisy_rows(a, self.noise, seed, samples, index,
                                                      _STREAM + k))
                for k, a in enumerate(x.arrays))
        return keras.ops.convert_to_numpy(noisy_rows(x, self.noise, seed, samples, index))

    def attribute(self, ctx, x, row_targets):
        if self.layer is None:
            ctx.check_differentiable()
        seed = ctx.seed(self.seed)
        if self.layer is None and not isinstance(x, data.Inputs):
            expansion = NoiseExpansion(self.num_samples, self.noise, self.variant,
                                       ctx.reduction(self.channel_reduction), ctx.channel_axis)
            return ctx.expanded(expansion, x, row_targets,
                                constants=(np.asarray(seed, dtype=np.int32),))
        passes, units = ctx.resolve_units(x, row_targets)
        samples = ctx.row_samples if ctx.row_samples is not None else np.arange(len(x))
        row_units = np.repeat(units, self.num_samples)
        if self.layer is not None:
            if passes is None:
                passes = ctx.forward(x, units, units=True)
            noisy = self.noisy_copies(passes.layer_outputs[0], seed, samples)
            rows = data.repeat_rows(x, self.num_samples)
            grads = ctx.backprop(rows, row_units, wrt_inputs=False, layer_values=[noisy],
                                 units=True).layer_grads[0]
            return self.reduce(grads, len(x)), passes
        rows = self.noisy_copies(x, seed, samples)
        grads = ctx.backprop(rows, row_units, units=True).input_grads
        return data.per_input(lambda g: self.reduce(g, len(x)), grads), passes

    def reduce(self, grads, n):
        """The variant's statistic of ``(n * num_samples, ...)`` gradients (numpy)."""
        grads = grads.reshape((n, self.num_samples) + grads.shape[1:])
        valid = np.ones((1, self.num_samples) + (1,) * (grads.ndim - 2), dtype=grads.dtype)
        return statistic(self.variant, moments(self.variant, grads, valid, np),
                         self.num_samples, None, None, np)


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
