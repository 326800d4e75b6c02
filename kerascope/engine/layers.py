"""Groups of Keras layer classes, and the affine form of batch normalization.

One place for "which layers are dense-like, conv-like, normalizations, pooling,
activations, merges": the layer rules (fused activations), FullGrad (the layers
that add a bias) and LRP-style rules later read these tuples. A group lists the
classes this Keras version has (``DepthwiseConv1D`` is recent, for one).
"""

import keras
import numpy as np


def _present(*names):
    return tuple(getattr(keras.layers, name) for name in names if hasattr(keras.layers, name))


#: ``y = act(x W + b)`` over the last axis (``EinsumDense``: any einsum contraction).
DENSE_LIKE = _present("Dense", "EinsumDense")
#: Convolutions, transposed, depthwise and separable ones, 1D to 3D.
CONV_LIKE = _present(
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
)
#: Layers computing ``act(linear(x) + b)``: a kernel, an optional bias, and their
#: ``activation`` applied as the last step of ``call`` (a fused activation).
AFFINE = DENSE_LIKE + CONV_LIKE
FUSED_ACTIVATION = AFFINE
NORMALIZATION = _present(
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
)
POOLING = _present(
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
)
GLOBAL_AVERAGE_POOLING = _present(
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
)
ACTIVATIONS = _present("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax")
MERGES = _present(
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
)


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable).astype(np.float64)


def batch_norm_affine(layer):
    """``(scale, shift)``, float64 per channel, of an inference-mode
    ``BatchNormalization``: ``y = gamma (x - mean) / sqrt(var + eps) + beta
    = scale x + shift`` with ``scale = gamma / sqrt(var + eps)`` and
    ``shift = beta - gamma mean / sqrt(var + eps)`` (Ioffe & Szegedy 2015,
    arXiv:1502.03167); a missing gamma is 1, a missing beta 0."""
    mean, variance = _numpy(layer.moving_mean), _numpy(layer.moving_variance)
    gamma = _numpy(layer.gamma) if layer.gamma is not None else np.ones_like(mean)
    beta = _numpy(layer.beta) if layer.beta is not None else np.zeros_like(mean)
    root = np.sqrt(variance + layer.epsilon)
    return gamma / root, beta - gamma * mean / root


def bias_of(layer):
    """The bias ``layer`` adds, float64, or None: an affine layer's ``bias``, or a
    batch normalization's implicit one (its ``shift``)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return batch_norm_affine(layer)[1]
    if isinstance(layer, AFFINE) and getattr(layer, "bias", None) is not None:
        return _numpy(layer.bias)
    return None


def normalization_axes(layer):
    """The channel axes of a normalization layer (a list)."""
    return [layer.axis] if isinstance(layer.axis, int) else list(layer.axis)
