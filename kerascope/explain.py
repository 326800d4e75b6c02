"""The bulk API: explain many inputs at once and get raw float maps back.

``outputs, maps = kerascope.explain(method, model, x, targets, batch_size=32)``
(the shape of keras-explainable's API). ``x`` is an array, a backend tensor or an
iterable of batches; ``targets`` as in ``kerascope.targets``; ``batch_size`` bounds
the rows sent to the device at once, noisy copies and path points included.

Every registered method also has a shortcut ``kerascope.<name>(model, x, targets,
**options) -> (outputs, maps)``, derived from the registry by ``shortcut``.
"""

import functools

from kerascope.methods import driver, registry


def explain(method, /, model, x, targets=None, batch_size=32, postprocessing=None,
            output_index=0, use_logits=None, distribution=None, **method_options):
    """Explain ``model`` on ``x`` with ``method``; return ``(outputs, maps)``.

    Args:
        method: a registered name (``"vanilla_gradients"``, ``"smoothgrad"``, ...;
            ``kerascope methods`` lists them), a ``Method`` class or instance.
        model: a Keras model (Sequential, Functional, nested or subclassed).
        x: inputs: numpy array, backend tensor, or iterable of batches.
        targets: class index, per-sample indices ``(N,)`` or ``(N, K)``,
            ``"predicted"`` (default), ``kerascope.top_k(k)`` or a score callable.
        batch_size: rows per device call.
        postprocessing: optional function applied to the maps (e.g.
            ``kerascope.filters.absolute_normalize``).
        output_index: which output of a multi-output model to explain.
        use_logits: explain the score before a final softmax/sigmoid; None (default)
            means the method's own default: True for gradient and CAM methods, False
            for occlusion and RISE (tf-explain's 1 - probability).
        distribution: split every pass's rows over several devices: a
            ``keras.distribution.DataParallel`` on JAX (default: the global
            distribution), a ``tf.distribute`` strategy on TensorFlow (default: the
            model's, or the one whose ``scope()`` is active). Same maps as one device.
        **method_options: options of the method (``num_samples``, ``n_steps``...).

    Returns:
        An ``Explanation``, a pair ``(outputs, maps)``: float32 model outputs per
        input and float32 maps, ``(N, ...)`` for one target per input or
        ``(N, K, ...)`` for K; its ``extras`` dict holds per-call results besides
        the maps (``"convergence_delta"`` of Integrated Gradients).
    """
    method = registry.get(method, **method_options)
    result = driver.run(method, model, x, targets, batch_size=batch_size,
                        output_index=output_index, use_logits=use_logits,
                        distribution=distribution)
    if postprocessing is not None:
        result = driver.Explanation(result.outputs, postprocessing(result.maps), result.extras)
    return result


@functools.lru_cache(maxsize=None)
def _shortcut(name, cls):
    def shortcut(model, x, targets=None, **options):
        return explain(name, model, x, targets, **options)

    shortcut.__name__ = shortcut.__qualname__ = name
    shortcut.__module__ = "kerascope"
    shortcut.__doc__ = (
        f"{cls.summary} ({cls.paper}).\n\n"
        f"``kerascope.explain({name!r}, model, x, targets, **options)``: returns "
        f"``(outputs, maps)``. Options: see ``{cls.__module__}.{cls.__qualname__}``."
    )
    return shortcut


def shortcut(name):
    """The public function ``kerascope.<name>`` of a registered method (or alias)."""
    cls = registry.lookup(name)
    return _shortcut(name, cls)
