"""The bulk API: explain many inputs at once and get raw float maps back.

``outputs, maps = kerascope.explain(method, model, x, targets)``
(the shape of keras-explainable's API). ``x`` is an array, a backend tensor or an
iterable of batches; ``targets`` as in ``kerascope.engine.targets``; ``batch_size`` bounds
the rows sent to the device at once, noisy copies and path points included (``"auto"``,
the default: from a memory budget, ``kerascope.engine.memory``).

Streaming, for more inputs than memory holds maps for:

- ``for outputs, maps in kerascope.explain_batches(method, model, x, ...)``: the
  same arguments as ``explain``; yields one ``Explanation`` (with its ``extras``) per
  batch of at most ``batch_size`` inputs, in input order, so memory stays bounded by
  ``batch_size`` whatever the number of inputs (feed ``x`` as an iterable of batches
  to keep the inputs out of memory too). Joined, the batches are ``explain``'s result.
- ``kerascope.explain(..., out="maps.npy")`` (or ``"maps.zarr"``, with ``pip install
  'kerascope[zarr]'``) writes the maps to disk as the batches come and returns
  ``(outputs, maps)`` with ``maps`` the file opened read-only (``np.load(out,
  mmap_mode="r")`` or a Zarr array). The file appears only once complete; an existing
  path is replaced only with ``overwrite=True``. A model with several inputs gets one
  file per input, ``maps.<input>.npy``. See ``kerascope.inputs.stores``.

``postprocessing`` is applied batch by batch when streaming: give a per-map function
(``kerascope.filters`` ones are).

Every registered method also has a shortcut ``kerascope.<name>(model, x, targets,
**options) -> (outputs, maps)``, derived from the registry by ``shortcut``.
"""

import functools
import sys

from kerascope.inputs import arrays as data
from kerascope.methods import driver, registry


def explain(method, /, model, x, targets=None, batch_size="auto", postprocessing=None,
            output_index=0, use_logits=None, distribution=None, out=None, overwrite=False,
            verbose="auto", **method_options):
    """Explain ``model`` on ``x`` with ``method``; return ``(outputs, maps)``.

    Args:
        method: a registered name (``"vanilla_gradients"``, ``"smoothgrad"``, ...;
            ``kerascope methods`` lists them), a ``Method`` class or instance.
        model: a Keras model (Sequential, Functional, nested or subclassed).
        x: inputs: numpy array, backend tensor, or iterable of batches; for a model
            with several inputs a list, tuple or dict of them (one per input), or
            batches of those. Maps then come back in the same structure.
        targets: class index, per-sample indices ``(N,)`` or ``(N, K)``,
            ``"predicted"`` (default), ``kerascope.top_k(k)`` or a score callable.
        batch_size: rows per device call, noisy copies and path points included. ``"auto"``
            (default) picks them from a memory budget (``kerascope.engine.memory``: 4 x
            the model's activation bytes per row within half the accelerator's free
            memory or a quarter of the host's available memory; at most 256 rows on a
            CPU, 512 on a GPU); on JAX its short calls are padded to power-of-two sizes
            (a few compilations for any number of inputs). An int is used as given.
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
        out: None (default: maps in memory), or a path ending in ``.npy`` or
            ``.zarr``: the maps are written there batch by batch (never all in
            memory) and come back opened read-only from it.
        overwrite: with ``out``, replace an existing file (default: ValueError).
        verbose: a progress bar of the inputs explained (Keras's ``Progbar``): 1 shows
            it, 0 hides it; ``"auto"`` (default) shows it when ``x`` is an iterable of
            batches (a dataset, a generator) and the output is a terminal.
        **method_options: options of the method (``num_samples``, ``n_steps``...).

    Returns:
        An ``Explanation``, a pair ``(outputs, maps)``: float32 model outputs per
        input and float32 maps, ``(N, ...)`` for one target per input or
        ``(N, K, ...)`` for K; its ``extras`` dict holds per-call results besides
        the maps (``"convergence_delta"`` of Integrated Gradients).
    """
    method = registry.get(method, **method_options)
    if out is not None:
        from kerascope.inputs import stores as store
        from kerascope.engine.validation import ModelInputs, check_model

        store.check_out(out, overwrite,
                        single=len(ModelInputs(check_model(model)).names or ()) <= 1)
        parts = driver.start(method, model, x, targets, batch_size=batch_size,
                             output_index=output_index, use_logits=use_logits,
                             distribution=distribution)
        parts = with_progress(parts, x, verbose)
        if postprocessing is not None:
            parts = _postprocessed(parts, postprocessing, packed=False)
        return driver.Explanation(*store.write(out, parts, overwrite=overwrite))
    result = driver.join(with_progress(
        driver.start(method, model, x, targets, batch_size=batch_size,
                     output_index=output_index, use_logits=use_logits,
                     distribution=distribution), x, verbose))
    if postprocessing is not None:
        result = _postprocess(result, postprocessing)
    return result


def explain_batches(method, /, model, x, targets=None, batch_size="auto", postprocessing=None,
                    output_index=0, use_logits=None, distribution=None, verbose="auto",
                    **method_options):
    """Explain ``model`` on ``x`` batch by batch: yield one ``Explanation``
    ``(outputs, maps)`` (with ``.extras``) per batch, in input order.

    Takes the arguments of :func:`explain` (without ``out``). Each batch holds at
    most ``batch_size`` inputs (a batch of an iterable ``x`` is never joined with the
    next, and is split when it holds more), so memory stays bounded by
    ``batch_size`` whatever the number of inputs; joined along axis 0 the batches
    are what ``explain`` returns: per-sample ``targets`` are matched to their
    inputs, top-k maps are ``(n, K, ...)`` per batch, and ``extras`` (e.g. IG's
    ``"convergence_delta"``) hold the batch's rows. Arguments are checked and the
    first batch is read when this is called; the rest when iterated.
    ``postprocessing`` is applied to each batch's maps.
    """
    method = registry.get(method, **method_options)
    parts = with_progress(driver.batches(method, model, x, targets, batch_size=batch_size,
                                         output_index=output_index, use_logits=use_logits,
                                         distribution=distribution), x, verbose)
    if postprocessing is not None:
        parts = _postprocessed(parts, postprocessing, packed=True)
    return parts


def show_progress(verbose, x):
    """Whether ``verbose`` asks for a progress bar on input ``x``."""
    if verbose not in ("auto", 0, 1, True, False):
        raise ValueError(f"verbose: expected 0, 1 or 'auto', got {verbose!r}.")
    if verbose == "auto":
        return _count(x) is None and sys.stdout.isatty()
    return bool(verbose)


def _count(x):
    try:
        return data.num_samples(x)
    except Exception:  # noqa: BLE001 - an odd structure: counted as it comes
        return None


def with_progress(parts, x, verbose):
    """``parts`` (batches of explanations), counted on a Keras ``Progbar`` of inputs
    when :func:`show_progress`; the total is known for arrays, open for iterables."""
    if not show_progress(verbose, x):
        return parts
    import keras

    total = _count(x)

    def counted():
        bar = keras.utils.Progbar(total, unit_name="input")
        done = 0
        for part in parts:
            done += len(part.outputs)
            bar.update(done, finalize=total is not None and done >= total)
            yield part
        if total is None:
            bar.update(done, finalize=True)

    return counted()


def _postprocessed(parts, postprocessing, packed):
    for part in parts:
        if packed:
            yield _postprocess(part, postprocessing)
        else:
            maps = data.per_input(postprocessing, part.maps)
            yield driver.Explanation(part.outputs, maps, part.extras)


def _postprocess(result, postprocessing):
    maps = result.maps
    if isinstance(maps, dict):
        maps = {k: None if m is None else postprocessing(m) for k, m in maps.items()}
    elif isinstance(maps, (list, tuple)):
        maps = type(maps)(None if m is None else postprocessing(m) for m in maps)
    else:
        maps = postprocessing(maps)
    return driver.Explanation(result.outputs, maps, result.extras)


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
