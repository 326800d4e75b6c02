"""The backend layer: the only code that imports TensorFlow, JAX or PyTorch.

Each backend module (``kerascope.backend.<name>.passes``) turns a ``ModelView`` and
a ``Score`` into two compiled functions over a whole batch:

* ``backprop(x, targets) -> Passes``: outputs, scores, target units, the gradient
  of the per-sample scores with respect to the inputs and to the outputs of the
  view's captured layers (and those outputs);
* ``forward(x, targets) -> Passes``: the same without gradients.

Gradients with respect to a layer are taken through a zero tensor added to that
layer's output (JAX) or by watching the output tensor (TensorFlow, PyTorch): both
work for any graph shape, skip connections and nested models included.
Compiled functions are cached per model, view and score, and trace once per input
shape (``tf.function``, ``jax.jit`` over ``stateless_call``; PyTorch runs eagerly and
builds nothing per batch). ``trace_count()`` tells how often a graph was traced.
"""

import collections
import functools
import importlib
import importlib.util

import keras
import numpy as np

from kerascope.backend.common import Passes, note_trace, trace_count

__all__ = ["Passes", "note_trace", "trace_count", "backend_name", "compiled", "pads_batches",
           "clear_cache", "custom_gradient", "relu_backward", "vjp", "linearize",
           "linear_products", "native_layer_ops", "host_transfers", "host_view", "take_rows",
           "as_int32", "weight_holder", "native_summary_writer", "placement", "device_name",
           "fused", "noise_kernels", "accelerator_memory"]

_CACHE = collections.OrderedDict()
_CACHE_SIZE = 32


def backend_name():
    """The active Keras backend: 'tensorflow', 'jax' or 'torch'."""
    name = keras.backend.backend()
    if name not in ("tensorflow", "jax", "torch"):
        raise RuntimeError(
            f"kerascope supports the tensorflow, jax and torch Keras backends, "
            f"not {name!r}."
        )
    return name


def _module():
    return importlib.import_module(f"kerascope.backend.{backend_name()}.passes")


def compiled(view, score, gradients, wrt_inputs=True, placement=None):
    """The cached compiled pass for ``view`` and ``score``.

    ``gradients=False`` gives the forward-only pass. ``wrt_inputs=False`` skips the
    input gradient (layer gradients only, as CAM methods need). ``placement`` (from
    ``placement()``) splits each call's rows over several devices; the pass then
    takes numpy rows, a multiple of ``placement.replicas``.
    """
    key = (id(view.model), view.key, score.key, gradients, wrt_inputs, backend_name(),
           None if placement is None else placement.key)
    fn = _CACHE.get(key)
    if fn is None:
        module = _module()
        extra = {} if placement is None else {"placement": placement}
        if gradients:
            fn = module.make_backprop(view, score, wrt_inputs=wrt_inputs, **extra)
        else:
            fn = module.make_forward(view, score, **extra)
        _CACHE[key] = fn
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return fn


def fused(view, score, row_score, expansion):
    """The cached compiled ``expand -> pass -> reduce`` function of ``expansion``
    (``kerascope.engine.expansion``) for ``view``: ``fn(chunk, targets, resolve) -> (sums,
    first)`` (device tensors), one call per chunk of rows. ``resolve``: the inputs
    are first passed with ``score`` (``first`` = their outputs, scores and units),
    and the rows explain those units with ``row_score``."""
    key = (id(view.model), view.key, score.key, row_score.key, "fused", expansion.key,
           backend_name())
    fn = _CACHE.get(key)
    if fn is None:
        fn = _CACHE[key] = _module().make_fused(view, score, row_score, expansion)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return fn


def native_summary_writer(logdir):
    """The backend's own TensorBoard writer for ``logdir`` (``tf.summary`` on the
    TensorFlow backend), or None where there is none (JAX, PyTorch, or TensorFlow not
    installed): callers then write event files with the tensorboard package."""
    if backend_name() != "tensorflow" or importlib.util.find_spec("tensorflow") is None:
        return None
    from kerascope.backend.tensorflow.summary import TFSummaryWriter

    return TFSummaryWriter(logdir)


def placement(distribution, model):
    """How passes of ``model`` spread over devices, or None for one device.

    ``distribution``: a ``keras.distribution`` distribution (JAX; None: the global one
    set with ``keras.distribution.set_distribution``), a ``tf.distribute.Strategy``
    (TensorFlow; None: the strategy the model was built under, or the one whose
    ``scope()`` is active). The result has ``replicas`` (the batch is split in that
    many equal parts), a hashable ``key`` and, after each call,
    ``last_rows_per_device`` (device name -> rows it computed). PyTorch has no
    data-parallel distribution in Keras: use ``kerascope.ray`` with one actor per GPU.
    """
    resolve = getattr(_module(), "placement", None)
    if resolve is None:
        if distribution is not None:
            raise ValueError(
                f"distribution: the {backend_name()} backend has no data-parallel "
                f"distribution in Keras; run one kerascope.ray actor per device instead."
            )
        return None
    return resolve(distribution, model)


def device_name(tensor):
    """The device ``tensor`` lives on, as ``"cpu:0"`` / ``"gpu:1"`` (lower case), or
    ``"?"`` when it cannot be told."""
    devices = getattr(tensor, "devices", None)
    if callable(devices):  # jax.Array
        found = sorted(f"{d.platform}:{d.id}" for d in devices())
        return ",".join(found) or "?"
    device = str(getattr(tensor, "device", "") or "")
    if "device:" in device:  # TensorFlow: /job:localhost/replica:0/task:0/device:CPU:0
        device = device.rsplit("device:", 1)[1]
    if not device:
        return "?"
    device = device.lower()
    return device if ":" in device else f"{device}:0"


def pads_batches():
    """Whether short batches should be padded to the compiled size (JAX only)."""
    return backend_name() == "jax"


def clear_cache():
    """Drop every compiled function (they hold references to their models)."""
    _CACHE.clear()


def _gradients():
    return importlib.import_module(f"kerascope.backend.{backend_name()}.gradients")


def custom_gradient(fn):
    """A function of tensors with its own backward, the same on all three backends.

    ``fn(*inputs) -> (output, grad)``, where ``grad(upstream)`` returns the gradient
    with respect to each input (a tuple, or one tensor for one input). Unlike
    ``keras.ops.custom_gradient``, ``grad`` gets the upstream gradient the same way
    on every backend (PyTorch passes it as a keyword there) and never has to handle
    the variables a TensorFlow forward reads (they get no gradient). Inputs are
    positional tensors; the output is one tensor.
    """
    compiled = []

    @functools.wraps(fn)
    def call(*inputs):
        if not compiled:
            compiled.append(_gradients().custom_gradient(fn))
        return compiled[0](*inputs)

    return call


def relu_backward(upstream, output):
    """``upstream * [output > 0]``: a ReLU's own backward (``output`` its forward's
    result), as the framework's one fused kernel where it has one (TensorFlow's
    ``ReluGrad``, PyTorch's ``threshold_backward``; JAX fuses the ``where``)."""
    return _gradients().relu_backward(upstream, output)


def linear_products(kind, **config):
    """Native ``(t, kernel) -> W t`` (no bias), with ``.transpose(s, kernel) -> W^T s``
    where exact, for ``kind`` ``"dense"`` or ``"conv"`` (channels-last, one group;
    ``rank``, ``strides``, ``padding``, ``dilation_rate``, ``kernel_size``); None where the
    backend has nothing faster than ``keras.ops`` (JAX and TensorFlow trace them once).
    """
    if backend_name() != "torch":
        return None
    linear = importlib.import_module("kerascope.backend.torch.linear")
    return linear.dense() if kind == "dense" else linear.conv(**config)


def host_transfers():
    """``(to_device, to_host)``: a numpy array to a backend tensor and back, the
    values ``keras.ops.convert_to_tensor`` / ``convert_to_numpy`` give, for the pass
    runner's every call (TensorFlow's and PyTorch's skip Keras's per-call checks,
    ``kerascope.backend.<name>.host``)."""
    name = backend_name()
    if name == "jax":
        return keras.ops.convert_to_tensor, keras.ops.convert_to_numpy
    return _host(name).transfers()


def host_view(tensor):
    """``tensor``'s values as a read-only numpy array, without a copy where the
    backend allows (a result read once on the host, then dropped)."""
    if tensor is None:
        return None
    if backend_name() == "torch":
        return _host("torch").view(tensor)
    array = np.asarray(tensor)  # TensorFlow and JAX: a view of the host buffer
    array.flags.writeable = False
    return array


def take_rows(values, index):
    """``values[i, index[i]]`` of a ``(B, C)`` tensor for int ``index`` ``(B,)``."""
    name = backend_name()
    if name == "jax":
        return keras.ops.take_along_axis(values, keras.ops.expand_dims(index, -1), axis=1)[:, 0]
    return _host(name).take_rows(values, index)


def as_int32(tensor):
    """``tensor`` cast to int32."""
    if backend_name() != "torch":
        return keras.ops.cast(tensor, "int32")
    return _host("torch").as_int32(tensor)


@functools.cache
def _host(name):
    """``kerascope.backend.<name>.host``: TensorFlow's and PyTorch's host-side helpers."""
    return importlib.import_module(f"kerascope.backend.{name}.host")


def native_layer_ops(layers):
    """``[(layer, attribute, function)]``: faster, identical ops for some of ``layers``,
    set on the instances while a pass runs (``ModelView.patched``); PyTorch only:
    channels-last convolutions and poolings without Keras's layout copies
    (``kerascope.backend.torch.native``). JAX and TensorFlow compile the layers' own."""
    if backend_name() != "torch":
        return []
    return importlib.import_module("kerascope.backend.torch.native").patches(layers)


def weight_holder(model):
    """``hold() -> undo``: while held, autograd treats ``model``'s trainable weights as
    constants (PyTorch: ``requires_grad`` off, put back by ``undo``), for a forward
    pass differentiated with respect to its inputs only; a no-op where the gradient
    is traced only where asked (JAX, TensorFlow)."""
    if backend_name() != "torch":
        return lambda: (lambda: None)
    return importlib.import_module("kerascope.backend.torch.native").weight_holder(model)


def vjp(fn, inputs, upstream):
    """The vector-Jacobian product ``upstream^T d fn(*inputs) / d inputs``.

    Returns one gradient per input (a tuple). Usable inside a ``custom_gradient``
    gradient function, e.g. to give a replaced layer the backward of its own
    forward, or of a modified forward (LRP rules). ``fn`` is run again on
    ``inputs``; a function closing over a layer reads its weights as they are
    when the backward runs (JAX: the values of the current call).
    """
    return _gradients().vjp(fn, tuple(inputs), upstream)


def linearize(fn, inputs):
    """``(fn(*inputs), pullback)``: ``pullback(upstream)`` is ``vjp(fn, inputs, upstream)``
    from the same forward (PyTorch keeps its graph; ``fn`` is not run again).

    Call ``pullback`` once (TensorFlow's tape is not persistent). Like ``vjp``, usable
    inside a ``custom_gradient`` gradient function (LRP rules: ``z = fn(x)``, then
    ``x * pullback(R / z)``).
    """
    return _gradients().linearize(fn, tuple(inputs))


_ASCENT_CACHE = collections.OrderedDict()


def ascent_step(key, view, loss_fn, update_fn, finish_fn):
    """The cached compiled feature-visualization functions for ``key`` (hashable).

    ``loss_fn(params, args, variables) -> (total, per_image)``,
    ``update_fn(params, grads, state, args) -> (params, state)`` and
    ``finish_fn(params, values, variables) -> (images, per_image)`` are keras.ops
    code; the backend's ``ascent.make_step`` returns ``(step, finish)``:
    ``step(params, state, args) -> (params, state, per_image)`` differentiates
    ``total`` with respect to ``params`` and updates them; ``finish(params, values)``
    renders the images. Entries hold their model, so a recycled ``id`` never matches.
    """
    entry = _ASCENT_CACHE.get(key)
    if entry is None or entry[0] is not view.model:
        module = importlib.import_module(f"kerascope.backend.{backend_name()}.ascent")
        entry = (view.model, module.make_step(view, loss_fn, update_fn, finish_fn))
        _ASCENT_CACHE[key] = entry
        while len(_ASCENT_CACHE) > _CACHE_SIZE:
            _ASCENT_CACHE.popitem(last=False)
    else:
        _ASCENT_CACHE.move_to_end(key)
    return entry[1]


def noise_kernels():
    """The backend's own kernels of ``kerascope.engine.noise`` (the same draws, bit for
    bit, with fewer temporaries), or None: only eager PyTorch has them (JAX and
    TensorFlow compile the ``keras.ops`` version into one program)."""
    if backend_name() != "torch":
        return None
    return importlib.import_module("kerascope.backend.torch.noise")


def accelerator_memory():
    """Free bytes on the accelerator the passes run on, or None on a CPU (or where the
    framework does not tell)."""
    name = backend_name()
    try:
        if name == "torch":
            import torch

            device = keras.ops.convert_to_tensor(0.0).device
            if device.type != "cuda":
                return None
            return int(torch.cuda.mem_get_info(device)[0])
        if name == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform == "cpu":
                return None
            stats = device.memory_stats() or {}
            if "bytes_limit" not in stats:
                return None
            return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        if not gpus:
            return None
        info = tf.config.experimental.get_memory_info(gpus[0].name)
        limit = 16 * 2**30  # TensorFlow does not tell the device's size: a 16 GiB card
        return max(limit - int(info.get("current", 0)), limit // 8)
    except Exception:  # noqa: BLE001 - no figure: the caller's CPU budget applies
        return None
