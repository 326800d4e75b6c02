"""Running a kerascope method with keras-explainable's conventions.

keras-explainable's methods are functions ``method(model, inputs, indices=None,
indices_axis=-1, indices_batch_dims=-1, spatial_axis=(-3, -2), ...) -> (logits, maps)``:
``indices`` ``(N, K)`` are the output units to explain per sample (None: every unit),
``logits`` ``(N, K)`` the model outputs at those units and ``maps`` ``(N, *spatial, K)``,
units last. Here each such function builds a kerascope ``Method`` and runs it through
kerascope's driver (batched, on any backend); the function carries the builder as
``function.kerascope_method(model, spatial_axis=..., **params)`` so that the meta
functions (``smooth``, ``tta``) wrap the kerascope method itself.
"""

import numpy as np

from kerascope.compat.keras_explainable.inspection import KERNEL_AXIS
from kerascope.compat.keras_explainable.methods._traced import is_traced
from kerascope.methods.cam.classic import gap_head, producer
from kerascope.methods.driver import known_units
from kerascope.compat.tf_explain.utils.image import as_numpy


def check_not_traced(inputs):
    """kerascope compiles its own passes: a method inside ``tf.function`` cannot run."""
    if is_traced(inputs):
        raise ValueError(
            "inputs: got a symbolic TensorFlow tensor: the method is being traced by "
            "tf.function. kerascope methods compile their own batched passes on every "
            "backend (only methods.gradient.gradients also runs traced); call the method "
            "directly, without tf.function."
        )


def unit_targets(model, x, indices, indices_axis=KERNEL_AXIS, indices_batch_dims=-1):
    """``(N, K)`` int targets from keras-explainable's ``indices`` (None: every unit)."""
    if indices_axis not in (-1,) or indices_batch_dims not in (-1, 1):
        raise ValueError(
            f"indices_axis, indices_batch_dims: only the defaults (-1, -1), units of the "
            f"last output axis per sample, are supported; got ({indices_axis}, "
            f"{indices_batch_dims})."
        )
    n = len(x)
    if indices is None:
        units = known_units(model, 0)
        if units is None:
            first = model(x[:1], training=False)
            first = first[0] if isinstance(first, (list, tuple)) else first
            units = int(as_numpy(first).shape[-1])
        return np.tile(np.arange(units, dtype=np.int64), (n, 1))
    values = np.asarray(as_numpy(indices))
    if values.ndim == 0:
        return np.full((n, 1), int(values), dtype=np.int64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or len(values) != n:
        raise ValueError(
            f"indices: expected (N, K) unit indices for {n} inputs, got shape {values.shape}."
        )
    return values.astype(np.int64)


def run(method, model, inputs, indices=None, indices_axis=KERNEL_AXIS, indices_batch_dims=-1,
        batch_size="auto"):
    """``(logits, maps)`` of the kerascope ``method``, keras-explainable's shapes."""
    check_not_traced(inputs)
    x = as_numpy(inputs)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32)
    targets = unit_targets(model, x, indices, indices_axis, indices_batch_dims)
    outputs, maps = method.explain(model, x, targets, batch_size=batch_size)
    logits = np.take_along_axis(outputs.reshape(len(x), -1), targets, axis=-1)
    return logits.astype(np.float32), np.moveaxis(maps, 1, -1)


def feature_layer(model, inputs=None):
    """The signal CAMs are computed on: the second output of an exposed model, else the
    input of the last global pooling (or flatten) layer, else None (kerascope's default,
    the last layer with a spatial output)."""
    try:
        outputs = list(model.outputs)
    except (AttributeError, ValueError, TypeError):
        outputs = []
    if len(outputs) >= 2:
        layer = producer(outputs[1])
        if layer is not None:
            return layer
    if inputs is not None:
        _, layer = gap_head(model, as_numpy(inputs)[:1].astype(np.float32))
        if layer is not None:
            return layer
    from kerascope.compat.keras_explainable.inspection import get_global_pooling_layer

    try:
        return producer(get_global_pooling_layer(model).input)
    except (ValueError, AttributeError):
        return None


def kerascope_method(build):
    """Mark a keras-explainable method function as backed by the kerascope ``Method``
    ``build(model, inputs, spatial_axis, **params)``."""

    def attach(function):
        function.kerascope_method = build
        return function

    return attach
