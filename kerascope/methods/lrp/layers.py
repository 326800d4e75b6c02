"""Layer groups LRP composites map to rules, and the linear parts of a layer.

A linear layer (Dense, Conv, DepthwiseConv, SeparableConv) is split into linear
parts ``z = run(x, kernel, bias)``; ``run`` is the layer's own ``call`` in a
``keras.StatelessScope`` binding its kernel to the given value (SeparableConv:
a depthwise part, then a pointwise part, each ruled on its own).
"""

import keras
from keras import ops

from kerascope.engine import layers as groups
from kerascope.methods.lrp import rules as rules_lib

#: Group names a composite's ``(match, rule)`` may use (``kerascope.engine.layers``).
#: Weightless layers whose gradient is the right relevance flow (winner takes all,
#: rearrangements) are ruled by nothing; so are all weightless layers not listed.
GROUPS = {
    "linear": groups.AFFINE, "convolution": groups.CONV_LIKE, "dense": groups.DENSE_LIKE,
    "activation": groups.ELEMENTWISE, "sum": groups.SUMS,
    "average_pooling": groups.AVERAGE_POOLING,
    "attention": (keras.layers.MultiHeadAttention,),
    "layer_norm": (keras.layers.LayerNormalization,),
    "embedding": (keras.layers.Embedding,),
}


def kernel_variable(layer):
    """The layer's kernel variable (``kernel`` or ``depthwise_kernel``)."""
    for name in ("kernel", "depthwise_kernel"):
        variable = getattr(layer, name, None)
        if isinstance(variable, keras.Variable):
            return variable
    raise ValueError(
        f"layer {layer.name!r} ({type(layer).__name__}) has no kernel variable for an LRP "
        f"rule that modifies weights."
    )


def bias_variable(layer):
    variable = getattr(layer, "bias", None)
    return variable if isinstance(variable, keras.Variable) else None


def channel_axis(layer):
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


def add_bias(z, bias, axis):
    if bias is None:
        return z
    if axis == -1 or len(z.shape) == 2:
        return z + bias
    shape = [1] * len(z.shape)
    shape[axis] = bias.shape[0]
    return z + ops.reshape(bias, shape)


def read(variables):
    """The values of ``variables`` for this pass, detached (read in the forward)."""
    return [ops.stop_gradient(ops.convert_to_tensor(v.value)) for v in variables]


def linear_parts(layer, call, inputs, values, merged=None):
    """``[(Linear, input)]`` of ``layer``, last part first, for one backward pass.

    ``values``: the layer's weights as read in the forward (``layer.weights`` order);
    ``merged``: ``(kernel, bias)`` replacing them (a merged BatchNormalization).
    """
    weights = {id(v): value for v, value in zip(layer.weights, values)}
    x = inputs[0]
    axis = channel_axis(layer)
    if isinstance(layer, groups.SEPARABLE_CONV):
        return _separable_parts(layer, x, weights, merged, axis)
    kernel_var, bias_var = kernel_variable(layer), bias_variable(layer)
    others = [(v, weights[id(v)]) for v in layer.weights
              if v is not kernel_var and v is not bias_var]

    def run(t, kernel, bias):
        mapping = others + [(kernel_var, kernel)]
        if bias_var is not None:
            mapping.append((bias_var, ops.zeros_like(weights[id(bias_var)])))
        return add_bias(rules_lib.stateless(layer, call, mapping)(t), bias, axis)

    if merged is not None:
        kernel, bias = merged
        part = rules_lib.Linear(run, kernel, bias, axis=axis)
    else:
        bias = weights[id(bias_var)] if bias_var is not None else None
        part = rules_lib.Linear(run, weights[id(kernel_var)], bias, axis=axis)
    return [(part, x)]


def _separable_parts(layer, x, weights, merged, axis):
    rank = len(x.shape) - 2
    strides, dilation = layer.strides, layer.dilation_rate
    depthwise = weights[id(layer.depthwise_kernel)]
    pointwise = weights[id(layer.pointwise_kernel)]
    bias = weights[id(layer.bias)] if bias_variable(layer) is not None else None
    if merged is not None:
        pointwise, bias = merged
    data_format = layer.data_format

    def run_depthwise(t, kernel, b):
        out = ops.depthwise_conv(t, kernel, strides=strides, padding=layer.padding,
                                 data_format=data_format, dilation_rate=dilation)
        return add_bias(out, b, axis)

    def run_pointwise(t, kernel, b):
        out = ops.conv(t, kernel, strides=(1,) * rank, padding="valid", data_format=data_format)
        return add_bias(out, b, axis)

    hidden = run_depthwise(x, depthwise, None)
    return [
        (rules_lib.Linear(run_pointwise, pointwise, bias, axis=axis), hidden),
        (rules_lib.Linear(run_depthwise, depthwise, None, output=hidden, axis=axis), x),
    ]


def pointwise_kernel_scale(layer, kernel, scale):
    """``kernel`` with each output channel multiplied by ``scale`` (BN merging)."""
    if isinstance(layer, groups.SEPARABLE_CONV):
        return kernel * scale
    if isinstance(layer, groups.DEPTHWISE_CONV):
        shape = tuple(kernel.shape)
        return kernel * ops.reshape(scale, shape[-2:])
    if isinstance(layer, groups.TRANSPOSED_CONV):
        return kernel * ops.reshape(scale, (-1, 1))
    return kernel * scale
