"""Layer groups LRP composites map to rules, and the linear parts of a layer.

A linear layer (Dense, Conv, DepthwiseConv, SeparableConv) is split into linear
parts ``z = run(x, kernel, bias)``; ``run`` is the layer's own ``call`` in a
``keras.StatelessScope`` binding its kernel to the given value (SeparableConv:
a depthwise part, then a pointwise part, each ruled on its own).

``nonnegative_input(layer)``: whether the model's graph shows every input of the
layer to be ``>= 0`` (the output of a ReLU-family activation, possibly through
pooling, reshapes, padding, dropout or concatenation); rules then leave out their
``x-`` terms, which are exactly zero.
"""

import weakref

import keras
from keras import ops

from kerascope import backend
from kerascope.engine import keras_internals
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


#: Activations whose outputs are never negative (compared by identity).
_NONNEGATIVE_ACTIVATIONS = tuple(
    getattr(keras.activations, name) for name in (
        "relu", "relu6", "sigmoid", "hard_sigmoid", "softmax", "softplus", "exponential")
    if hasattr(keras.activations, name))
#: Layers whose outputs are some of their inputs' values (or zeros, or means):
#: non-negative inputs give non-negative outputs.
_SIGN_KEEPING = groups.POOLING + tuple(getattr(keras.layers, name) for name in (
    "Flatten", "Reshape", "Permute", "RepeatVector", "Identity", "Concatenate",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
    "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D")
    if hasattr(keras.layers, name))
_MAX_DEPTH = 32


def _nonnegative_output(operation, depth):
    if isinstance(operation, keras.layers.ReLU):
        return (not operation.negative_slope and operation.threshold is not None
                and float(operation.threshold) >= 0)
    if isinstance(operation, keras.layers.Softmax):
        return True
    activation = operation.__dict__.get("activation")
    if activation is not None and any(activation is fn for fn in _NONNEGATIVE_ACTIVATIONS):
        return isinstance(operation, groups.AFFINE + (keras.layers.Activation,))
    if isinstance(operation, _SIGN_KEEPING):
        return nonnegative_input(operation, depth + 1)
    return False


def nonnegative_input(layer, depth=0):
    """Whether every input of every call of ``layer`` in a functional graph is the
    output of a non-negative activation (through sign-keeping layers); False when
    the graph does not tell (no recorded calls, subclassed ``call`` code)."""
    if depth > _MAX_DEPTH:
        return False
    nodes = keras_internals.inbound_nodes(layer)
    if not nodes:
        return False
    for node in nodes:
        tensors = keras.tree.flatten(node.input_tensors)
        if not tensors:
            return False
        for tensor in tensors:
            origin = keras_internals.producer(tensor)
            if origin is None or not _nonnegative_output(origin[0], depth):
                return False
    return True


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


def linear_parts(layer, call, inputs, values, merged=None, nonnegative=False):
    """``[(Linear, input)]`` of ``layer``, last part first, for one backward pass.

    ``values``: the layer's weights as read in the forward (``layer.weights`` order);
    ``merged``: ``(kernel, bias)`` replacing them (a merged BatchNormalization);
    ``nonnegative``: the layer's input is known to be ``>= 0``.
    """
    weights = {id(v): value for v, value in zip(layer.weights, values)}
    x = inputs[0]
    axis = channel_axis(layer)
    if isinstance(layer, groups.SEPARABLE_CONV):
        parts = _separable_parts(layer, x, weights, merged, axis)
        parts[-1][0].nonnegative = nonnegative
        return parts
    kernel_var, bias_var = kernel_variable(layer), bias_variable(layer)
    others = [(v, weights[id(v)]) for v in layer.weights
              if v is not kernel_var and v is not bias_var]
    direct = _direct(layer)

    def run(t, kernel, bias):
        if direct is not None:
            return add_bias(direct(t, kernel), bias, axis)
        mapping = others + [(kernel_var, kernel)]
        if bias_var is not None:
            mapping.append((bias_var, ops.zeros_like(weights[id(bias_var)])))
        return add_bias(rules_lib.stateless(layer, call, mapping)(t), bias, axis)

    if merged is not None:
        kernel, bias = merged
        part = rules_lib.Linear(run, kernel, bias, axis=axis, nonnegative=nonnegative)
    else:
        bias = weights[id(bias_var)] if bias_var is not None else None
        part = rules_lib.Linear(run, weights[id(kernel_var)], bias, axis=axis,
                                nonnegative=nonnegative)
    part.transpose = getattr(direct, "transpose", None)
    return [(part, x)]


_PLAIN_CONV = tuple(getattr(keras.layers, name) for name in ("Conv1D", "Conv2D", "Conv3D"))


def _direct(layer):
    """The cached ``_find_direct(layer)`` (a backward pass asks once per layer)."""
    key = (backend.backend_name(), getattr(layer, "lora_enabled", False),
           getattr(layer, "quantization_mode", None), layer.compute_dtype, layer.variable_dtype)
    found = _DIRECT.get(layer)
    if found is None or found[0] != key:
        found = _DIRECT[layer] = (key, _find_direct(layer))
    return found[1]


_DIRECT = weakref.WeakKeyDictionary()


def _find_direct(layer):
    """``(t, kernel) -> z`` (no bias, no activation) where the layer's ``call`` is known
    to be exactly that plus its bias and activation: plain ``Dense`` and ``Conv1D/2D/3D``
    (exact classes; no LoRA, quantization or autocast). None otherwise (the layer's own
    ``call`` then runs in a ``StatelessScope``). Where the backend has native products
    (``backend.linear_products``: PyTorch, which runs eagerly), they are used, with
    ``transpose(s, kernel) -> kernel^T s`` where exact (no forward re-run for autograd).
    """
    if (getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None)
            or layer.compute_dtype != layer.variable_dtype):
        return None
    if type(layer) is keras.layers.Dense:
        return backend.linear_products("dense") or ops.matmul
    if type(layer) not in _PLAIN_CONV or layer.padding == "causal":
        return None
    if layer.data_format == "channels_last" and layer.groups == 1:
        native = backend.linear_products(
            "conv", rank=layer.rank, strides=tuple(layer.strides), padding=layer.padding,
            dilation_rate=tuple(layer.dilation_rate), kernel_size=tuple(layer.kernel_size))
        if native is not None:
            return native
    return layer.convolution_op


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
