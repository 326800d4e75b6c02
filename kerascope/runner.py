"""Runs a model view's compiled passes over many rows, ``batch_size`` at a time.

Methods expand their inputs into rows (noisy copies, path points, masked images)
and hand them to a ``PassRunner``; it feeds them to the backend in batches of at
most ``batch_size`` rows and returns numpy arrays. On JAX, where every new shape is a
new XLA compilation, a short batch is padded (its last row repeated) to the
smallest size already compiled that fits; TensorFlow relaxes its traced shapes
itself and PyTorch never compiles.

Several devices: given a ``distribution`` (a ``keras.distribution`` distribution on
JAX, a ``tf.distribute`` strategy on TensorFlow; by default the global one, or the
model's), each call's rows are split across the devices (padded to a multiple of
their number) and the weights replicated; ``batch_size`` stays the rows of one call
over all devices.

Traffic: every call counts the bytes it sends to the device (rows and targets, padding
included) and brings back (every array of the pass), per runner (``bytes_in``,
``bytes_out``, ``calls``) and process-wide: ``traffic()`` is a snapshot of the totals,
``count_traffic()`` a context manager counting one stretch of code, e.g. the
host<->device bytes per input of a method::

    with kerascope.runner.count_traffic() as t:
        kerascope.explain("smoothgrad", model, x)
    t.bytes_per_input(len(x))
"""

import collections
import contextlib
import copy
import dataclasses

import numpy as np

import keras

from kerascope import backend
from kerascope.backend.common import Passes
from kerascope.surgery import ModelView


@dataclasses.dataclass(eq=False)
class Traffic:
    """Host<->device traffic of passes: ``calls``, ``rows`` sent (padding included),
    ``bytes_in`` (host to device), ``bytes_out`` (device to host) and
    ``rows_per_device`` (device name -> rows it computed; several devices when a
    distribution split the batches)."""

    calls: int = 0
    rows: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    rows_per_device: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    @property
    def bytes(self):
        """``bytes_in + bytes_out``."""
        return self.bytes_in + self.bytes_out

    def bytes_per_input(self, n):
        """Bytes both ways per input, for ``n`` inputs explained."""
        return self.bytes / n

    def add(self, rows=0, bytes_in=0, bytes_out=0, rows_per_device=None, calls=1):
        self.calls += calls
        self.rows += rows
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out
        if rows_per_device:
            self.rows_per_device.update(rows_per_device)


_TOTAL = Traffic()
_COUNTERS = []


def traffic():
    """A snapshot (``Traffic``) of all passes' traffic since the process started."""
    return copy.deepcopy(_TOTAL)


@contextlib.contextmanager
def count_traffic():
    """Count the traffic of the passes run inside the ``with`` block (nestable)."""
    counter = Traffic()
    _COUNTERS.append(counter)
    try:
        yield counter
    finally:
        _COUNTERS.remove(counter)


def record_traffic(rows=0, bytes_in=0, bytes_out=0, rows_per_device=None, calls=1):
    """Add one device call's traffic to the totals and to every active counter (for
    code that moves data to or from the device outside a ``PassRunner``)."""
    for counter in [_TOTAL, *_COUNTERS]:
        counter.add(rows, bytes_in, bytes_out, rows_per_device, calls)


class PassRunner:
    """Batched forward / forward+backward passes of one ``ModelView``.

    Args:
        view: the ``ModelView`` (which output, logits, captured layers).
        score: a ``Score`` from ``kerascope.targets``.
        batch_size: rows per compiled call (over all devices); bounds device memory.
        dtype: input dtype fed to the model.
        distribution: a ``keras.distribution`` distribution (JAX) or ``tf.distribute``
            strategy (TensorFlow) to split every call's rows over several devices;
            None uses the global distribution (JAX) or the model's strategy
            (TensorFlow), if any.

    Attributes ``calls``, ``bytes_in``, ``bytes_out``: this runner's traffic so far.
    """

    def __init__(self, view, score, batch_size=32, dtype="float32", distribution=None):
        self.view = view
        self.score = score
        self.batch_size = int(batch_size)
        self.dtype = dtype
        self.placement = backend.placement(distribution, view.model)
        self.replicas = 1 if self.placement is None else self.placement.replicas
        self.calls = self.bytes_in = self.bytes_out = 0
        self._compiled_sizes = set()

    @classmethod
    def for_model(cls, model, score, batch_size=32, output_index=0, use_logits=True,
                  layers=(), rules=(), distribution=None):
        view = ModelView(model, output_index=output_index, use_logits=use_logits,
                         layers=layers, rules=rules)
        return cls(view, score, batch_size=batch_size, distribution=distribution)

    def backprop(self, x, targets, wrt_inputs=True):
        """Scores and gradients for rows ``x`` with int32 row ``targets``."""
        fn = backend.compiled(self.view, self.score, gradients=True, wrt_inputs=wrt_inputs,
                              placement=self.placement)
        return self._run(fn, x, targets)

    def forward(self, x, targets=None):
        """Outputs, scores and captured layer outputs for rows ``x``, no gradients."""
        if targets is None:
            targets = np.zeros(len(x), dtype=np.int32)
        fn = backend.compiled(self.view, self.score, gradients=False, placement=self.placement)
        return self._run(fn, x, targets)

    def _run(self, fn, x, targets):
        n = len(x)
        if n == 0:
            raise ValueError("x: empty batch; expected at least one input.")
        pad = backend.pads_batches()
        pieces = []
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            xb = np.asarray(x[start:stop], dtype=self.dtype)
            tb = np.asarray(targets[start:stop], dtype=np.int32)
            rows = self._padded_rows(stop - start) if pad else stop - start
            rows = -(-rows // self.replicas) * self.replicas
            if rows > stop - start:
                extra = rows - (stop - start)
                xb = np.concatenate([xb, np.repeat(xb[-1:], extra, axis=0)])
                tb = np.concatenate([tb, np.repeat(tb[-1:], extra, axis=0)])
            if self.placement is None:
                result = fn(keras.ops.convert_to_tensor(xb), keras.ops.convert_to_tensor(tb))
                spread = {backend.device_name(_first(result)): rows}
            else:
                result = fn(xb, tb)
                spread = self.placement.last_rows_per_device
            result = _to_numpy(result)
            sent = xb.nbytes + tb.nbytes
            received = _nbytes(result)
            self.calls += 1
            self.bytes_in += sent
            self.bytes_out += received
            record_traffic(rows, sent, received, spread)
            pieces.append((stop - start, result))
        return _concat(pieces)

    def _padded_rows(self, rows):
        """Rows a chunk of ``rows`` is padded to on JAX (each size is one compilation):
        the smallest size already compiled that fits, else ``rows`` itself (a new
        compilation). A short first call never caps later, larger ones, and a method
        that always hands the same number of rows is never padded."""
        fitting = [size for size in self._compiled_sizes if size >= rows]
        size = min(fitting) if fitting else rows
        self._compiled_sizes.add(size)
        return size


def _first(result):
    for value in (result.outputs, result.scores, result.input_grads):
        if value is not None:
            return value
    return None


def _nbytes(passes):
    arrays = [passes.outputs, passes.scores, passes.units, passes.input_grads,
              *passes.layer_outputs, *passes.layer_grads]
    return sum(a.nbytes for a in arrays if a is not None)


def _to_numpy(result):
    convert = lambda t: None if t is None else keras.ops.convert_to_numpy(t)  # noqa: E731
    return Passes(
        outputs=convert(result.outputs),
        scores=convert(result.scores),
        units=convert(result.units),
        input_grads=convert(result.input_grads),
        layer_outputs=tuple(map(convert, result.layer_outputs)),
        layer_grads=tuple(map(convert, result.layer_grads)),
    )


def _concat(pieces):
    def join(arrays):
        if arrays[0][1] is None:
            return None
        return np.concatenate([a[:n] for n, a in arrays])

    first = pieces[0][1]
    return Passes(
        outputs=join([(n, p.outputs) for n, p in pieces]),
        scores=join([(n, p.scores) for n, p in pieces]),
        units=join([(n, p.units) for n, p in pieces]),
        input_grads=join([(n, p.input_grads) for n, p in pieces]),
        layer_outputs=tuple(
            join([(n, p.layer_outputs[i]) for n, p in pieces])
            for i in range(len(first.layer_outputs))
        ),
        layer_grads=tuple(
            join([(n, p.layer_grads[i]) for n, p in pieces])
            for i in range(len(first.layer_grads))
        ),
    )
