"""``batch_size="auto"``: rows per device call from a memory budget.

The rows of one call cost about ``ROW_FACTOR`` times the model's activations of one
row (the forward's outputs kept for the backward, their gradients, the rows
themselves and the method's temporaries), read once per model from its layers'
output shapes. The budget is a share of the accelerator's free memory, or on a
CPU of the host's available memory, capped (``CPU_BUDGET``, ``GPU_BUDGET``), less
the model's parameters; the rows are capped at ``MAX_ROWS`` (``MAX_CPU_ROWS`` on a
CPU, where larger calls only add page faults). A model whose
activation size cannot be read (a subclassed model never called symbolically)
gets ``FALLBACK_ROWS``.

The chosen rows come back as ``Rows``, an ``int`` that tells runners the size was
automatic: on JAX (every new number of rows per call is a new XLA compilation) they pad
short calls, and short groups of inputs, to power-of-two ``bucket`` sizes, so that any
number of inputs compiles at most ``log2(rows) + 1`` shapes per program.
"""

import ctypes
import os
import weakref

import numpy as np

from kerascope import backend

AUTO = "auto"
ROW_FACTOR = 4
CPU_BUDGET = 4 << 30  # bytes of rows per call on a CPU
GPU_BUDGET = 8 << 30
MAX_ROWS = 512  # on an accelerator
MAX_CPU_ROWS = 256  # larger calls were slower on CPU (bench_auto.py: 512 rows 14-18% slower)
FALLBACK_ROWS = 64

_SIZES = weakref.WeakKeyDictionary()
_TRIM = []  # glibc's malloc_trim, or None, once looked up


class Rows(int):
    """Rows per call chosen by ``auto_rows``: an ``int`` marked as automatic."""


def is_auto(batch_size):
    """Whether ``batch_size`` asks for automatic sizing."""
    return isinstance(batch_size, str) and batch_size == AUTO


def check(batch_size):
    """``batch_size`` validated: ``"auto"``, or a positive int (a ``Rows`` kept as it
    is); ValueError naming ``batch_size`` for anything else."""
    if is_auto(batch_size) or isinstance(batch_size, Rows):
        return batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(
            f"batch_size: expected a positive integer or 'auto', got {batch_size!r}.")
    return int(batch_size)


def resolve(batch_size, model):
    """Rows per device call for ``batch_size`` (``check``ed): ``auto_rows(model)`` for
    ``"auto"``, an int as given."""
    batch_size = check(batch_size)
    return auto_rows(model) if is_auto(batch_size) else batch_size


def bucket(rows, cap):
    """The padded size of a call of ``rows`` rows under an automatic size: the power of
    two at or above ``rows``, at most ``cap``."""
    return min(1 << (int(rows) - 1).bit_length(), int(cap))


def model_bytes(model):
    """``(parameter bytes, activation bytes of one row or None)`` of ``model``,
    read once per model from its weights and its layers' output shapes."""
    try:
        return _SIZES[model]
    except (KeyError, TypeError):
        pass
    params = sum(int(np.prod(w.shape)) * _itemsize(w) for w in model.weights)
    acts = 0
    for layer in _layers(model):
        try:
            outputs = layer.output
        except (AttributeError, ValueError, RuntimeError):
            continue
        for tensor in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
            shape = getattr(tensor, "shape", None)
            if shape is None or any(d is None for d in tuple(shape)[1:]):
                continue
            acts += int(np.prod(tuple(shape)[1:])) * _itemsize(tensor)
    sizes = (params, acts or None)
    try:
        _SIZES[model] = sizes
    except TypeError:
        pass
    return sizes


def _itemsize(tensor):
    try:
        return np.dtype(str(tensor.dtype)).itemsize
    except TypeError:
        return 4


def _layers(model):
    """Every layer of ``model``, nested models' layers included."""
    for layer in getattr(model, "layers", ()):
        yield layer
        if getattr(layer, "layers", None):
            yield from _layers(layer)


def host_available():
    """Available host memory in bytes (``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def budget():
    """``(bytes, max rows)`` of one call: half the accelerator's free memory (at most
    ``GPU_BUDGET``; ``MAX_ROWS``), or a quarter of the host's available memory (at
    most ``CPU_BUDGET``; ``MAX_CPU_ROWS``)."""
    free = backend.accelerator_memory()
    if free is not None:
        return min(free // 2, GPU_BUDGET), MAX_ROWS
    available = host_available()
    room = CPU_BUDGET if available is None else min(available // 4, CPU_BUDGET)
    return room, MAX_CPU_ROWS


def auto_rows(model, input_bytes=0):
    """Rows per device call for ``model`` within ``budget()``: at least 1, at most
    its row cap. ``input_bytes``: bytes of one input row (counted with the
    activations)."""
    params, acts = model_bytes(model)
    if acts is None:
        return Rows(FALLBACK_ROWS)
    total, most = budget()
    room = max(total - params, total // 4)
    per_row = ROW_FACTOR * (acts + input_bytes)
    return Rows(max(1, min(most, room // max(per_row, 1))))


def release():
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim(0)``;
    nothing where there is none): called between streamed batches, so that a long
    stream keeps less resident between calls (its peak's drift is glibc's growing
    mmap threshold: ``bench/README.md``, "Memory-budgeted batch size")."""
    if not _TRIM:
        try:
            _TRIM.append(ctypes.CDLL(None).malloc_trim)
        except (OSError, AttributeError, TypeError):
            _TRIM.append(None)
    if _TRIM[0] is not None:
        _TRIM[0](0)
