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
TRANSPOSED_CONV = _present("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
DEPTHWISE_CONV = _present("DepthwiseConv1D", "DepthwiseConv2D")
#: A depthwise kernel, then a pointwise (1x1) kernel and the bias.
SEPARABLE_CONV = _present("SeparableConv1D", "SeparableConv2D")
#: Convolutions, transposed, depthwise and separable ones, 1D to 3D.
CONV_LIKE = (_present("Conv1D", "Conv2D", "Conv3D") + TRANSPOSED_CONV + DEPTHWISE_CONV
             + SEPARABLE_CONV)
#: Layers computing ``act(linear(x) + b)``: a kernel, an optional bias, and their
#: ``activation`` applied as the last step of ``call`` (a fused activation).
AFFINE = DENSE_LIKE + CONV_LIKE
FUSED_ACTIVATION = AFFINE
NORMALIZATION = _present(
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
)
GLOBAL_AVERAGE_POOLING = _present(
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
)
#: Local and global average pooling: each output a mean of inputs.
AVERAGE_POOLING = (_present("AveragePooling1D", "AveragePooling2D", "AveragePooling3D")
                   + GLOBAL_AVERAGE_POOLING)
POOLING = _present(
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
) + AVERAGE_POOLING
ACTIVATIONS = _present("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax")
#: Layers acting on each element alone: activations and ``Rescaling``.
ELEMENTWISE = ACTIVATIONS + _present("Rescaling")
MERGES = _present(
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
)
#: Merges that sum their inputs (``Average``: a scaled sum).
SUMS = _present("Add", "Average")


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable).astype(np.float64)


def affine_of_batch_norm(mean, variance, epsilon, gamma=None, beta=None):
    """``(scale, shift)`` of ``y = gamma (x - mean) / sqrt(var + eps) + beta
    = scale x + shift``: ``scale = gamma / sqrt(var + eps)``, ``shift = beta -
    scale mean`` (Ioffe & Szegedy 2015, arXiv:1502.03167); arrays or tensors,
    a missing gamma is 1, a missing beta 0."""
    scale = (variance + epsilon) ** -0.5
    if gamma is not None:
        scale = gamma * scale
    shift = -(scale * mean)
    return scale, shift if beta is None else beta + shift


def batch_norm_affine(layer):
    """``(scale, shift)``, float64 per channel, of an inference-mode
    ``BatchNormalization`` (``affine_of_batch_norm`` of its variables)."""
    return affine_of_batch_norm(
        _numpy(layer.moving_mean), _numpy(layer.moving_variance), layer.epsilon,
        _numpy(layer.gamma) if layer.gamma is not None else None,
        _numpy(layer.beta) if layer.beta is not None else None)


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
