"""keras-explainable's ``explain``: run a method over data like ``Model.predict``.

``explain(method, model, x, y=None, batch_size=None, ...)`` splits ``x`` (an array, a
backend tensor, or an iterable of batches ``x`` or ``(x, y)``) into batches, calls
``method(model=model, inputs=batch, indices=units, spatial_axis=..., **method_params)``
on each, applies ``postprocessing(maps, axis=spatial_axis)`` and resizes the maps to
the inputs' spatial size (``resizing=True``; a size; or False), calls Keras
``callbacks`` (``on_predict_*``) and shows a progress bar (``verbose``), and returns
numpy ``(logits, maps)``, maps ``(N, H, W, K)``. kerascope's method functions run their
batch through kerascope's compiled passes on TensorFlow, JAX or PyTorch; no
distribution strategy or XLA flag is involved (keras-explainable's ``force``,
``max_queue_size``, ``workers`` and ``use_multiprocessing`` are accepted and ignored).
"""

import keras
import numpy as np

from kerascope.inputs import arrays as data
from kerascope.compat.keras_explainable.inspection import SPATIAL_AXIS
from kerascope.engine.numeric import upsample
from kerascope.compat.tf_explain.utils.image import as_numpy


def _batches(x, y, batch_size, steps):
    """``(inputs, indices)`` batches of ``x`` and ``y``."""
    if data.is_array_like(x):
        x = as_numpy(x)
        y = None if y is None else np.asarray(as_numpy(y))
        if y is not None and len(y) != len(x):
            raise ValueError(f"y: got {len(y)} rows of indices for {len(x)} inputs.")
        for step, start in enumerate(range(0, len(x), batch_size)):
            if steps is not None and step >= steps:
                return
            yield x[start:start + batch_size], None if y is None else y[start:start + batch_size]
        return
    if y is not None:
        raise ValueError("y: pass the indices inside the batches, (x, y), when x is a stream.")
    for step, batch in enumerate(x):
        if steps is not None and step >= steps:
            return
        if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
            yield as_numpy(batch[0]), None if batch[1] is None else as_numpy(batch[1])
        else:
            yield as_numpy(batch), None


def _spatial_size(inputs, spatial_axis):
    return tuple(inputs.shape[a] for a in spatial_axis)


def explain_step(model, method, inputs, indices, spatial_axis=SPATIAL_AXIS, postprocessing=None,
                 resizing=True, **params):
    """One batch: the method, then ``postprocessing`` and resizing of its maps."""
    logits, maps = method(model=model, inputs=inputs, indices=indices,
                          spatial_axis=spatial_axis, **params)
    maps = np.asarray(as_numpy(maps), dtype=np.float32)
    if postprocessing is not None:
        maps = np.asarray(as_numpy(postprocessing(maps, axis=spatial_axis)), dtype=np.float32)
    if resizing is not None and resizing is not False:
        size = _spatial_size(inputs, spatial_axis) if resizing is True else tuple(
            int(s) for s in resizing)
        axes = tuple(a % maps.ndim for a in spatial_axis)
        moved = np.moveaxis(maps, axes, range(1, 1 + len(axes)))
        if moved.shape[1:1 + len(axes)] != size:
            moved = upsample(moved, size)
        maps = np.moveaxis(moved, range(1, 1 + len(axes)), axes)
    return np.asarray(as_numpy(logits), dtype=np.float32), maps


def explain(method, model, x, y=None, batch_size=None, verbose="auto", steps=None,
            callbacks=None, max_queue_size=10, workers=1, use_multiprocessing=False,
            force=True, *, spatial_axis=SPATIAL_AXIS, postprocessing=None, resizing=True,
            **method_params):
    """Explain ``model``'s outputs ``y`` (unit indices ``(N, K)``; None: every unit) on
    ``x`` with ``method``; returns numpy ``(logits (N, K), maps (N, H, W, K))``.

    Args:
        method: a method function (``methods.gradient.gradients``, ...) or any callable
            ``method(model, inputs, indices, spatial_axis=..., **params) -> (logits, maps)``.
        batch_size: inputs per step (default 32).
        verbose: progress bar ("auto" or 1: shown, 0: silent).
        steps: at most this many batches.
        callbacks: Keras callbacks; they get ``on_predict_begin``,
            ``on_predict_batch_begin/end`` (``logs={"outputs": (logits, maps)}``) and
            ``on_predict_end``.
        spatial_axis: the spatial axes of inputs and maps (default ``(-3, -2)``).
        postprocessing: ``f(maps, axis=spatial_axis)``, e.g. ``filters.normalize``.
        resizing: True resizes maps to the input's spatial size (bilinear), a size
            resizes to it, False or None keeps the method's.
        **method_params: passed to ``method``.
    """
    batch_size = 32 if batch_size is None else batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int or None, got {batch_size!r}.")
    total = None
    if data.is_array_like(x):
        total = -(-data.num_samples(x) // batch_size)
        if steps is not None:
            total = min(total, steps)
    if not isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks = keras.callbacks.CallbackList(
            callbacks, add_history=False, add_progbar=verbose not in (0, False), model=model,
            verbose=1 if verbose == "auto" else verbose, epochs=1, steps=total)
    callbacks.on_predict_begin()
    logits, maps = [], []
    for step, (inputs, indices) in enumerate(_batches(x, y, batch_size, steps)):
        callbacks.on_predict_batch_begin(step)
        batch = explain_step(model, method, inputs, indices, spatial_axis, postprocessing,
                             resizing, **method_params)
        logits.append(batch[0])
        maps.append(batch[1])
        callbacks.on_predict_batch_end(step, {"outputs": batch})
    callbacks.on_predict_end()
    if not maps:
        raise ValueError("x: empty input; expected at least one batch.")
    return np.concatenate(logits), np.concatenate(maps)


def partial_explain(method, **default_params):
    """``explain`` with ``method`` and default parameters bound:
    ``partial_explain(m, postprocessing=f)(model, x, y, **params)``."""

    def _partial_method_explain(*args, **params):
        return explain(method, *args, **{**default_params, **params})

    _partial_method_explain.__name__ = f"{getattr(method, '__name__', 'method')}_explain"
    _partial_method_explain.__doc__ = (
        f"``explain({getattr(method, '__name__', 'method')}, model, x, y, **params)`` with "
        f"defaults {default_params}."
    )
    return _partial_method_explain


__all__ = ["explain", "explain_step", "partial_explain"]
