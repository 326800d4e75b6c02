"""Per-call host<->device conversions and the score gather, without Keras's per-call
checks (PyTorch runs every op eagerly, so they cost on each pass: ~40 us for
``keras.ops.convert_to_tensor`` of an array, ~15 us back, ~70 us for a
``take_along_axis`` score, against a few us here; the same values).
"""

import keras
import numpy as np
import torch

_FAST = (np.dtype(np.float32), np.dtype(np.int32))


def transfers():
    """``(to_device, to_host)`` on the device Keras puts new tensors on now."""
    device = keras.ops.zeros(()).device
    move = device.type != "cpu"

    def to_device(array):
        if array.dtype not in _FAST:
            return keras.ops.convert_to_tensor(array)
        if not (array.flags.c_contiguous and array.flags.writeable):
            array = np.array(array)
        tensor = torch.from_numpy(array)
        return tensor.to(device) if move else tensor

    return to_device, to_host


def to_host(tensor):
    """A numpy copy of ``tensor`` (``keras.ops.convert_to_numpy``'s result)."""
    if tensor.requires_grad or tensor.dtype is torch.bfloat16:
        return keras.ops.convert_to_numpy(tensor)
    return tensor.numpy().copy() if tensor.is_cpu else tensor.cpu().numpy()


def view(tensor):
    """A read-only numpy view of ``tensor`` (a copy only off the CPU, or for a dtype
    numpy lacks)."""
    if tensor.requires_grad:
        tensor = tensor.detach()
    if tensor.dtype is torch.bfloat16 or not tensor.is_cpu:
        array = keras.ops.convert_to_numpy(tensor)
    else:
        array = tensor.numpy()
    array.flags.writeable = False
    return array


def take_rows(values, index):
    """``values[i, index[i]]`` of a ``(B, C)`` tensor (arrays are converted)."""
    values, index = _tensor(values), _tensor(index)
    if index.device != values.device:
        index = index.to(values.device)
    return values.gather(1, index.long().unsqueeze(1)).squeeze(1)


def as_int32(tensor):
    tensor = _tensor(tensor)
    return tensor if tensor.dtype is torch.int32 else tensor.to(torch.int32)


def _tensor(x):
    return x if isinstance(x, torch.Tensor) else keras.ops.convert_to_tensor(x)
