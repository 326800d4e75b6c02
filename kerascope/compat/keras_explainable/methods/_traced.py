"""keras-explainable's ``gradients`` as traceable ops, for ``tf.function(gradients)``.

keras-explainable's documentation wraps a method in ``tf.function(..., jit_compile=True)``.
kerascope's driver works on numpy batches and cannot run on symbolic tensors, so when
the inputs are being traced the maps are computed here with ``keras.ops`` and the
backend's vector-Jacobian product instead: the same scores (the unit before a final
softmax/sigmoid) and the same reductions as the direct call.
"""

import keras
import numpy as np

from kerascope import backend
from kerascope.engine.surgery import ModelView
from kerascope.methods.driver import known_units


def is_traced(inputs):
    """True for a symbolic (graph) TensorFlow tensor: the caller is being traced."""
    kind = type(inputs)
    return kind.__module__.startswith("tensorflow") and kind.__name__ != "EagerTensor"


def _indices(model, inputs, indices):
    n = keras.ops.shape(inputs)[0]
    if indices is None:
        units = known_units(model, 0)
        if units is None:
            raise ValueError("indices: required under tf.function when the model does not "
                             "declare its output width.")
        return keras.ops.tile(keras.ops.arange(units, dtype="int32")[None], (n, 1))
    values = keras.ops.cast(keras.ops.convert_to_tensor(indices), "int32")
    if len(values.shape) == 0:
        return keras.ops.full((n, 1), values, dtype="int32")
    return values[:, None] if len(values.shape) == 1 else values


def traced_gradients(model, inputs, indices, gradient_filter=np.abs):
    """``(outputs (N, K), maps (N, H, W, K))`` of keras-explainable's ``gradients``,
    built from traceable ops."""
    view = ModelView(model, output_index=0, use_logits=True)
    x = keras.ops.cast(inputs, "float32")
    units = _indices(model, x, indices)
    count = units.shape[-1]
    if count is None:
        raise ValueError("indices: the number of units K must be static under tf.function.")

    def pick(values):
        flat = keras.ops.reshape(values, (keras.ops.shape(values)[0], -1))
        return keras.ops.take_along_axis(flat, units, axis=-1)

    def score(batch):
        return pick(view.forward(batch)[1])

    outputs = pick(view.forward(x)[0])  # keras-explainable's "logits": the model outputs
    maps = []
    for k in range(count):
        upstream = keras.ops.cast(keras.ops.one_hot(
            keras.ops.full((keras.ops.shape(x)[0],), k, dtype="int32"), count), outputs.dtype)
        (grads,) = backend.vjp(score, [x], upstream)
        if gradient_filter is np.abs or gradient_filter is None:
            grads = keras.ops.abs(grads)
        else:
            grads = gradient_filter(grads)
        maps.append(keras.ops.mean(grads, axis=-1))
    return outputs, keras.ops.stack(maps, axis=-1)
