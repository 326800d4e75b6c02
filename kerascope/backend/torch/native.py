"""Channels-last convolutions and poolings of a Keras model, run without Keras's
layout copies (PyTorch).

Keras's torch backend convolves a channels-last tensor by permuting it to
channels-first and copying it twice (``.contiguous()``, then back to the
``channels_last`` memory format for oneDNN); its poolings copy it to channels-first
too, and the layer after them copies their output again. Every copy comes back
in the backward pass. A channels-last tensor permuted to channels-first already
*is* a ``channels_last``-format tensor, so here it goes to ``torch``'s convolution
and pooling as it is: the same values in the same layout reach the same kernels
(maps and outputs are unchanged, ``tests/test_native_layers.py``), and a pass of a
convolutional network makes about a third fewer memory-bound ops.

``patches(layers)`` lists ``(layer, attribute, function)`` for the layers this
covers (``Conv2D``/``Conv3D`` and their subclasses that keep Keras's
``convolution_op``: that op; ``MaxPooling``/``AveragePooling`` 2D/3D with
``valid`` padding: ``call``). ``kerascope.engine.surgery.ModelView`` sets them on
the layer instances for the duration of each pass, like its other patches.

``weight_holder(model)``: the weights as autograd constants while a pass that is
differentiated with respect to its inputs only is recorded.
"""

import keras
import torch
import torch.nn.functional as F

_CONV = {2: F.conv2d, 3: F.conv3d}
_POOL = {("max", 2): F.max_pool2d, ("max", 3): F.max_pool3d,
         ("average", 2): F.avg_pool2d, ("average", 3): F.avg_pool3d}
_FORMAT = {2: torch.channels_last, 3: torch.channels_last_3d}
_CONV_CLASSES = (keras.layers.Conv2D, keras.layers.Conv3D)
_POOL_CLASSES = (keras.layers.MaxPooling2D, keras.layers.MaxPooling3D,
                 keras.layers.AveragePooling2D, keras.layers.AveragePooling3D)


def patches(layers):
    """``[(layer, attribute, function)]``: the native op of each covered layer."""
    found = []
    for layer in layers:
        if not isinstance(layer, _CONV_CLASSES + _POOL_CLASSES) or \
                layer.data_format != "channels_last":
            continue
        if isinstance(layer, _CONV_CLASSES) and _keeps(layer, "convolution_op"):
            found.append((layer, "convolution_op", _conv(layer)))
        elif (isinstance(layer, _POOL_CLASSES) and _keeps(layer, "call")
              and layer.padding == "valid"):
            found.append((layer, "call", _pool(layer)))
    return found


def _keeps(layer, name):
    """Whether ``layer``'s class uses Keras's own ``name`` (not an override)."""
    base = next(cls for cls in _CONV_CLASSES + _POOL_CLASSES if isinstance(layer, cls))
    return getattr(type(layer), name, None) is getattr(base, name)


def permutations(rank):
    """``(first, last, kernel)``: the ``permute`` orders from channels-last to
    channels-first, back, and from a Keras kernel ``(*k, in, out)`` to torch's
    ``(out, in, *k)``."""
    first = (0, rank + 1) + tuple(range(1, rank + 1))
    last = (0,) + tuple(range(2, rank + 2)) + (1,)
    return first, last, (rank + 1, rank) + tuple(range(rank))


def _same_padding(length, kernel, stride, dilation):
    """Keras's ``same`` padding of one axis on torch: ``(left, right)``."""
    effective = (kernel - 1) * dilation + 1
    if stride == 1:
        total = effective - 1
    else:
        total = max(0, (-(-length // stride) - 1) * stride + effective - length)
    return total // 2, total - total // 2


def _conv(layer):
    rank = layer.rank
    conv, memory_format = _CONV[rank], _FORMAT[rank]
    first, last, to_torch = permutations(rank)
    strides, dilation = tuple(layer.strides), tuple(layer.dilation_rate)
    same = layer.padding == "same"

    def convolution_op(inputs, kernel):
        x = inputs.permute(first)
        if not x.is_contiguous(memory_format=memory_format):
            x = x.contiguous(memory_format=memory_format)
        w = keras.ops.convert_to_tensor(kernel).permute(to_torch).contiguous(memory_format=memory_format)
        padding = 0
        if same:
            pads = [_same_padding(n, k, s, d) for n, k, s, d in
                    zip(x.shape[2:], w.shape[2:], strides, dilation)]
            if all(left == right for left, right in pads):
                padding = [left for left, _ in pads]
            else:
                x = F.pad(x, tuple(p for pair in reversed(pads) for p in pair))
        out = conv(x, w, stride=strides, padding=padding, dilation=dilation,
                   groups=x.shape[1] // w.shape[1])
        return out.permute(last)

    return convolution_op


def _pool(layer):
    rank = len(layer.pool_size)
    pool = _POOL[(layer.pool_mode, rank)]
    first, last, _ = permutations(rank)
    size, strides = tuple(layer.pool_size), tuple(layer.strides)
    extra = {"count_include_pad": False} if layer.pool_mode == "average" else {}

    def call(inputs, *args, **kwargs):
        return pool(inputs.permute(first), kernel_size=size, stride=strides,
                    **extra).permute(last)

    return call


def weight_holder(model):
    """``hold() -> undo``: ``requires_grad`` off on ``model``'s trainable weights that
    have it, back on with ``undo``. For a forward pass differentiated with respect
    to its inputs only: autograd then records no weight gradient paths, and an
    in-place op after a weighted one (BatchNorm's ``mul_``) keeps no copy of its
    input. The values computed are the same."""
    tensors = [keras.ops.convert_to_tensor(v) for v in model.trainable_variables]

    def hold():
        held = [t for t in tensors if t.is_leaf and t.requires_grad]
        for t in held:
            t.requires_grad_(False)

        def undo():
            for t in held:
                t.requires_grad_(True)

        return undo

    return hold
