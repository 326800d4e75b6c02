"""FullGrad: the full-gradient representation (Srinivas & Fleuret 2019, arXiv:1905.00780).

For a network with biases, the class score splits exactly into an input part and one
part per biased layer. With ``z_l = W_l h + b_l`` the pre-activation output of a
biased layer ``l`` (dense, convolution, or an inference-mode batch normalization,
whose bias is ``beta - gamma * mean / sqrt(var + eps)``):

    S_c(x) = sum(x * dS_c/dx) + sum_l sum(b_l * dS_c/dz_l)

holds exactly for piecewise-linear networks (ReLU, max/average pooling, no other
offsets), the paper's completeness. ``b_l * dS_c/dz_l`` (the bias broadcast over the
positions of ``z_l``) is the *bias-gradient* of layer ``l``. The saliency map is

    M = psi(x * dS_c/dx) + sum_{spatial l} psi(b_l * dS_c/dz_l)

with ``psi`` = absolute value, per-sample min-max scaling to [0, 1] (the official
implementation's ``x / (max + 1e-6)`` after subtracting the minimum), a sum over
channels, and a bilinear resize to the input's size; only layers with spatial outputs
(the input's rank) enter the map, every biased layer enters the completeness sums.
Each call records per map ``extras["input_attribution"]`` (``sum(x * dS/dx)``),
``extras["bias_attribution"]`` (the bias-gradients summed over all layers) and
``extras["score"]`` (``S_c``), so completeness can be checked.

``dS/dz_l`` is read off the captured layer output ``a_l = f(z_l)``: the gradient there
times ``f'(z_l)``, written in terms of ``a_l`` for the activations that allow it
(linear, relu, relu6, leaky_relu, elu, selu, sigmoid, tanh, softplus, softsign,
exponential). A biased layer with another fused activation (gelu, silu, softmax...)
is a ValueError naming it: put the activation in its own layer. A layer called more
than once in a forward pass is not supported (its bias-gradient would be ambiguous).
"""

import keras
import numpy as np

from kerascope.engine import layers, surgery
from kerascope.methods.base import Method
from kerascope.engine.numeric import upsample
from kerascope.engine.validation import check_choice

REDUCTIONS = ("sum", "mean")
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805

def layer_bias(layer):
    """The bias ``layer`` adds (an array) or None; batch normalization's implicit one
    (``kerascope.engine.layers.bias_of``)."""
    return layers.bias_of(layer)


def _broadcast_bias(layer, bias, output):
    """``bias`` shaped to broadcast against ``layer``'s batched ``output``."""
    if isinstance(layer, keras.layers.BatchNormalization):
        axes = layers.normalization_axes(layer)
        shape = [1] * output.ndim
        for axis in axes:
            shape[axis % output.ndim] = output.shape[axis]
        return bias.reshape(shape)
    if getattr(layer, "data_format", None) == "channels_first":
        return bias.reshape((1, -1) + (1,) * (output.ndim - 2))
    return bias  # trailing-axis broadcasting (dense, einsum dense, channels-last conv)


def _slope(name, a):
    """``f'(z)`` written with the activation's output ``a = f(z)``, or None."""
    if name in ("linear", "identity"):
        return np.ones_like(a)
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "relu6":
        return ((a > 0) & (a < 6)).astype(a.dtype)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, 0.2)
    if name == "elu":
        return np.where(a > 0, 1.0, a + 1.0)
    if name == "selu":
        return np.where(a > 0, _SELU_SCALE, a + _SELU_SCALE * _SELU_ALPHA)
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "softplus":
        return 1.0 - np.exp(-a)
    if name == "softsign":
        return np.square(1.0 - np.abs(a))
    if name == "exponential":
        return a
    return None


def _activation_name(layer, view):
    if layer is view.stripped_layer:
        return "linear"  # the final softmax/sigmoid was skipped for the score
    activation = getattr(layer, "activation", None)
    return "linear" if activation is None else getattr(activation, "__name__", repr(activation))


def rescale(part, eps=1e-6):
    """FullGrad's psi before the channel sum: ``|part|`` scaled per sample to [0, 1]."""
    part = np.abs(part)
    axes = tuple(range(1, part.ndim))
    part = part - part.min(axis=axes, keepdims=True)
    return part / (part.max(axis=axes, keepdims=True) + eps)


class FullGrad(Method):
    """FullGrad saliency: the input-gradient and every layer's bias-gradient.

    Args:
        psi: the post-processing of each part, before the channel sum: None (the
            paper's: ``|.|`` and per-sample min-max) or a callable taking a part
            ``(rows, *spatial, channels)`` channels last and returning that shape.
        reduce: how the post-processed parts' channels are combined, "sum" (the
            paper) or "mean" (keras-explainable).
    """

    name = "full_grad"
    aliases = ("fullgrad", "full_gradients")
    family = "gradients"
    summary = "Input-gradient x input plus every layer's bias-gradient, rescaled and summed."
    paper = "Srinivas & Fleuret 2019, arXiv:1905.00780"
    signed = False
    evaluates_inputs = True

    def __init__(self, psi=None, reduce="sum"):
        if psi is not None and not callable(psi):
            raise ValueError(f"psi: expected None or a callable, got {type(psi).__name__}.")
        self.psi = psi
        self.reduce = check_choice(reduce, "reduce", REDUCTIONS)

    def layers(self, model, sample):
        seen, biased = set(), []
        for layer, _ in surgery.describe(model, sample):
            if id(layer) in seen:
                if layer_bias(layer) is not None:
                    raise ValueError(
                        f"model: biased layer {layer.name!r} runs more than once in a "
                        f"forward pass; FullGrad needs one bias-gradient per layer call."
                    )
                continue
            seen.add(id(layer))
            if layer_bias(layer) is not None:
                biased.append(layer)
        return biased

    def postprocess(self, maps, x, ctx):
        return maps

    def _channels_last(self, part, ctx):
        return np.moveaxis(part, 1, -1) if ctx.channel_axis == 1 else part

    def _combine(self, part, ctx):
        """``psi`` then the channel reduction: ``(rows, *spatial)``."""
        part = self._channels_last(part, ctx)
        part = rescale(part) if self.psi is None else np.asarray(self.psi(part), np.float64)
        return part.sum(axis=-1) if self.reduce == "sum" else part.mean(axis=-1)

    def attribute(self, ctx, x, row_targets):
        passes = ctx.backprop(x, row_targets)
        x64 = np.asarray(x, dtype=np.float64)
        input_part = x64 * passes.input_grads
        bias_total = np.zeros(len(x))
        spatial = x.ndim >= 3
        saliency = self._combine(input_part, ctx) if spatial else rescale(input_part)
        size = saliency.shape[1:]
        for layer, a, g in zip(ctx.layers, passes.layer_outputs, passes.layer_grads):
            a, g = np.asarray(a, dtype=np.float64), np.asarray(g, dtype=np.float64)
            name = _activation_name(layer, ctx.view)
            slope = _slope(name, a)
            if slope is None:
                raise ValueError(
                    f"model: layer {layer.name!r} fuses its bias with activation {name!r}, "
                    f"whose input cannot be read from its output; FullGrad needs the "
                    f"gradient before the activation. Put the activation in its own layer "
                    f"(activation=None, then keras.layers.Activation({name!r}))."
                )
            part = _broadcast_bias(layer, layer_bias(layer), a) * (g * slope)
            bias_total += part.reshape(len(x), -1).sum(axis=1)
            if spatial and part.ndim == x.ndim:
                saliency = saliency + upsample(self._combine(part, ctx), size)
        ctx.record("input_attribution", input_part.reshape(len(x), -1).sum(axis=1))
        ctx.record("bias_attribution", bias_total)
        ctx.record("score", np.asarray(passes.scores, dtype=np.float64))
        return saliency.astype(np.float32), passes


__all__ = ["FullGrad", "layer_bias", "rescale"]
