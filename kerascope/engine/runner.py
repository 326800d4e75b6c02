"""Runs a model view's compiled passes over many rows, ``batch_size`` at a time.

Methods expand their inputs into rows (noisy copies, path points, masked images)
and hand them to a ``PassRunner``; it feeds them to the backend in batches of at
most ``batch_size`` rows and returns numpy arrays. On JAX, where every new shape is a
new XLA compilation, a short batch is padded (its last row repeated) to the
smallest size already compiled that fits, or under ``batch_size="auto"`` to its
power-of-two bucket (``memory.bucket``), and a short group of inputs of an expansion
to its bucket too (padded inputs repeat the last one; their results are dropped);
TensorFlow relaxes its traced shapes itself and PyTorch never compiles.

Rows are one array or, for a model with several inputs, ``kerascope.inputs.arrays.Inputs``
(one array per input, fed to the model in the structure the user gave). Integer
arrays (token ids) are fed as int32, everything else as float32. ``layer_values``
(one array or None per captured layer, row-aligned with ``x``) replace the captured
layers' outputs during the pass (layer attribution).

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

    with kerascope.engine.runner.count_traffic() as t:
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

from kerascope.inputs import arrays as data

from kerascope.engine import expansion as expansions, memory
from kerascope.backend.common import Passes
from kerascope.engine.surgery import ModelView


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
        score: a ``Score`` from ``kerascope.engine.targets``.
        batch_size: rows per compiled call (over all devices); bounds device memory.
            ``"auto"`` (default): ``memory.auto_rows`` of the view's model.
        dtype: input dtype fed to the model.
        distribution: a ``keras.distribution`` distribution (JAX) or ``tf.distribute``
            strategy (TensorFlow) to split every call's rows over several devices;
            None uses the global distribution (JAX) or the model's strategy
            (TensorFlow), if any.

    Attributes ``calls``, ``bytes_in``, ``bytes_out``: this runner's traffic so far.
    """

    def __init__(self, view, score, batch_size="auto", dtype="float32", distribution=None):
        self.view = view
        self.score = score
        self.batch_size = memory.resolve(batch_size, view.model)
        self.buckets = isinstance(self.batch_size, memory.Rows)
        self.dtype = dtype
        self.placement = backend.placement(distribution, view.model)
        self.replicas = 1 if self.placement is None else self.placement.replicas
        self.calls = self.bytes_in = self.bytes_out = 0
        self._compiled_sizes = set()
        self._constants = {}
        self._to_device, self._to_host = backend.host_transfers()
        self._device = None  # the name of the one device the passes run on, once known

    @classmethod
    def for_model(cls, model, score, batch_size="auto", output_index=0, use_logits=True,
                  layers=(), rules=(), distribution=None):
        view = ModelView(model, output_index=output_index, use_logits=use_logits,
                         layers=layers, rules=rules)
        return cls(view, score, batch_size=batch_size, distribution=distribution)

    def backprop(self, x, targets, wrt_inputs=True, layer_values=None, layer_views=False):
        """Scores and gradients for rows ``x`` with int32 row ``targets``.

        ``input_grads`` has the form of ``x`` (one array or ``Inputs``).
        ``layer_views=True``: the captured layers' outputs and gradients come back as
        read-only views of the device's results where the backend allows (no copy:
        for a caller that reads them once, e.g. a CAM's formula)."""
        fn = backend.compiled(self.view, self.score, gradients=True, wrt_inputs=wrt_inputs,
                              placement=self.placement)
        return self._run(fn, x, targets, layer_values, layer_views=layer_views)

    def forward(self, x, targets=None, layer_values=None, layer_views=False):
        """Outputs, scores and captured layer outputs for rows ``x``, no gradients
        (``layer_views`` as for ``backprop``)."""
        if targets is None:
            targets = np.zeros(len(x), dtype=np.int32)
        fn = backend.compiled(self.view, self.score, gradients=False, placement=self.placement)
        return self._run(fn, x, targets, layer_values, layer_views=layer_views)

    def scores(self, x, targets):
        """``forward(x, targets).scores``, the only array brought back to the host."""
        fn = backend.compiled(self.view, self.score, gradients=False, placement=self.placement)
        return self._run(fn, x, targets, scores_only=True).scores

    @property
    def fuses(self):
        """Whether ``expanded`` runs fused: one device (no distribution) and not inside
        ``expansion.host_reductions()``."""
        return self.placement is None and expansions.fused_enabled()

    def expanded(self, expansion, x, targets, samples, inputs=(), constants=(),
                 row_score=None):
        """Maps and passes of inputs ``x``: ``expansion``'s rows made, passed and
        reduced on the device (``kerascope.engine.expansion``), ``batch_size`` rows per call.

        Each group of inputs goes to the device once: the first call passes the inputs
        themselves with this runner's score (``targets`` may be ranks: "predicted",
        top-k), and their rows explain the units found there, scored with
        ``row_score`` (``fuses`` must hold). ``samples``: each input's index in the
        whole call (keys random draws); ``inputs``: per-input arrays sent along;
        ``constants``: arrays shared by every call (sent once per runner). Inputs are
        grouped so that a group's rows fit in ``batch_size`` (on JAX a short last group
        is padded to its ``memory.bucket``); an input with more rows than that has them
        made in equal chunks whose partial sums are merged on the device. Returns
        ``(maps, Passes(outputs, scores, units))`` as numpy."""
        fn = backend.fused(self.view, self.score, row_score, expansion)
        return self._expand(expansion, x, targets, samples, inputs, constants, fn)

    def expanded_on_host(self, expansion, x, units, samples, inputs=(), constants=()):
        """The maps of ``expanded`` for explicit ``units``, unfused: each chunk's rows
        built, passed through ``backprop``/``forward`` and reduced, each step a host
        round trip (the reference; the route under a distribution)."""
        return self._expand(expansion, x, units, samples, inputs, constants, None)[0]

    def _expand(self, expansion, x, targets, samples, inputs, constants, fn):
        fused = fn is not None
        k = expansion.rows
        chunks = -(-k // self.batch_size)
        m = -(-k // chunks)
        group = max(1, self.batch_size // m)
        to = keras.ops.convert_to_tensor
        constants = tuple(self._constant(c, fused) for c in constants)
        indices = [self._constant(np.arange(c * m, (c + 1) * m, dtype=np.int32), fused)
                   for c in range(chunks)]
        targets = np.asarray(targets, dtype=np.int32)
        samples = np.asarray(samples, dtype=np.int32)
        pad = backend.pads_batches()
        maps, firsts = [], []
        for start in range(0, len(x), group):
            stop = min(start + group, len(x))
            real = stop - start
            size = memory.bucket(real, group) if pad else real
            parts = [_repeat_last(p, size) for p in (
                self._rows(x[start:stop]), targets[start:stop], samples[start:stop],
                *(np.asarray(a[start:stop], dtype=np.float32) for a in inputs))]
            if fused:  # each group's arrays go to the device once, for all its chunks
                self._count(size * (m * chunks + 1), sum(p.nbytes for p in parts), 0)
            xb, tb, sb, *ib = (to(p) for p in parts) if fused else parts
            chunk = expansions.Chunk(to(xb), to(sb), None, tuple(map(to, ib)), constants,
                                     rows=k)
            sums = first = None
            for index in indices:
                chunk.index = index
                if fused:
                    part, resolved = fn(chunk, tb, first is None)
                    if first is None:
                        first, tb = resolved, resolved[2]
                    self.calls += 1
                    record_traffic(0, 0, 0, {backend.device_name(part[0]): size * m})
                else:
                    part = self._unfused(expansion, chunk, tb)
                sums = part if sums is None else expansion.combine(sums, part)
            result = keras.ops.convert_to_numpy(expansion.finish(sums, chunk))
            if fused:
                first = [keras.ops.convert_to_numpy(a)[:real] for a in first]
                self._count(0, 0, result.nbytes + sum(a.nbytes for a in first))
                firsts.append(first)
            maps.append(result[:real])
        passes = None
        if fused:
            outputs, scores, units = (np.concatenate(a) for a in zip(*firsts))
            passes = Passes(outputs=outputs, scores=scores, units=units)
        return np.concatenate(maps), passes

    def _constant(self, array, count):
        """``array`` on the device, sent once per runner (an explanation call) however
        many groups of inputs use it."""
        array = np.ascontiguousarray(array)
        key = (array.dtype.str, array.shape, hash(array.tobytes()))
        tensor = self._constants.get(key)
        if tensor is None:
            tensor = self._constants[key] = keras.ops.convert_to_tensor(array)
            if count:
                self._count(0, array.nbytes, 0)
        return tensor

    def _count(self, rows, sent, received):
        """Traffic outside ``_run`` (fused expansions), counted without a call."""
        self.bytes_in += sent
        self.bytes_out += received
        record_traffic(rows, sent, received, calls=0)

    def _unfused(self, expansion, chunk, targets):
        """One chunk as separate steps around host round trips (the reference)."""
        m = int(chunk.index.shape[0])
        if expansion.input_scores:
            chunk.input_scores = keras.ops.convert_to_tensor(
                self.forward(keras.ops.convert_to_numpy(chunk.x), targets).scores)
        rows = keras.ops.convert_to_numpy(expansion.expand(chunk))
        row_targets = np.repeat(targets, m)
        if expansion.gradients:
            values = self.backprop(rows, row_targets).input_grads
        else:
            values = self.forward(rows, row_targets).scores
        return tuple(expansion.reduce(keras.ops.convert_to_tensor(values), chunk))

    def _rows(self, array):
        """One input's rows as numpy: int32 for integer ids, ``dtype`` otherwise."""
        array = np.asarray(array)
        return array.astype(np.int32 if array.dtype.kind in "iu" else self.dtype, copy=False)

    def _feed(self, xb, to):
        """Rows as the model takes them (``to`` each array): one array, or the user's
        structure of them."""
        if isinstance(xb, data.Inputs):
            arrays = [to(a) for a in xb.arrays]
            return arrays[0] if len(arrays) == 1 else xb.pack(arrays)
        return to(xb)

    def _run(self, fn, x, targets, layer_values=None, scores_only=False, layer_views=False):
        n = len(x)
        if n == 0:
            raise ValueError("x: empty batch; expected at least one input.")
        pad = backend.pads_batches()
        convert = self.placement is None  # else the placement takes numpy rows
        to = self._to_device if convert else (lambda a: a)
        pieces = []
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            xb = data.per_input(self._rows, x[start:stop])
            tb = np.asarray(targets[start:stop], dtype=np.int32)
            vb = None if layer_values is None else [
                None if v is None else v[start:stop] for v in layer_values
            ]
            rows = self._padded_rows(stop - start) if pad else stop - start
            rows = -(-rows // self.replicas) * self.replicas
            if rows > stop - start:
                extra = rows - (stop - start)
                xb = data.concat_rows([xb, data.repeat_rows(xb[-1:], extra)])
                tb = np.concatenate([tb, np.repeat(tb[-1:], extra, axis=0)])
                if vb is not None:
                    vb = [None if v is None else np.concatenate(
                        [v, np.repeat(v[-1:], extra, axis=0)]) for v in vb]
            values = None if vb is None else [None if v is None else to(v) for v in vb]
            args = (self._feed(xb, to), to(tb))
            result = fn(*args) if values is None else fn(*args, values)
            if convert:
                if self._device is None:
                    self._device = backend.device_name(_first(result))
                spread = {self._device: rows}
            else:
                spread = self.placement.last_rows_per_device
            if scores_only:
                result = Passes(scores=result.scores)
            result, received = _to_numpy(result, x, self._to_host,
                                         backend.host_view if layer_views else None)
            sent = sum(a.nbytes for a in data.arrays(xb)) + tb.nbytes + sum(
                v.nbytes for v in (vb or ()) if v is not None)
            self.calls += 1
            self.bytes_in += sent
            self.bytes_out += received
            record_traffic(rows, sent, received, spread)
            pieces.append((stop - start, result))
        return _concat(pieces, layer_views)

    def _padded_rows(self, rows):
        """Rows a chunk of ``rows`` is padded to on JAX (each size is one compilation):
        under an automatic size its ``memory.bucket``; else the smallest size already
        compiled that fits, else ``rows`` itself (a new compilation). A short first call
        never caps later, larger ones, and a method that always hands the same number
        of rows is never padded."""
        if self.buckets:
            return memory.bucket(rows, self.batch_size)
        fitting = [size for size in self._compiled_sizes if size >= rows]
        size = min(fitting) if fitting else rows
        self._compiled_sizes.add(size)
        return size


def _repeat_last(rows, size):
    """``rows`` with its last row repeated up to ``size`` rows."""
    if size <= len(rows):
        return rows
    return data.concat_rows([rows, data.repeat_rows(rows[-1:], size - len(rows))])


def _check_values(values, count, rows):
    values = list(values)
    if len(values) != count:
        raise ValueError(
            f"layer_values: expected one array (or None) per captured layer ({count}), "
            f"got {len(values)}."
        )
    values = [None if v is None else np.asarray(v, dtype=np.float32) for v in values]
    for v in values:
        if v is not None and len(v) != rows:
            raise ValueError(
                f"layer_values: expected {rows} rows like x, got shape {v.shape}."
            )
    return values


def _input_grads(grads, x, to_host):
    """Input gradients in the form of the rows ``x``: one array or ``Inputs``."""
    if grads is None:
        return None
    if isinstance(x, data.Inputs):
        if len(x.arrays) == 1:
            values = [grads]
        elif isinstance(grads, dict):
            values = [grads[name] for name in x.names]
        else:
            values = list(grads)
        return x.with_arrays(to_host(g) for g in values)
    return to_host(grads)


def _first(result):
    for value in (result.outputs, result.scores):
        if value is not None:
            return value
    return None


def _to_numpy(result, x, to_host, layer_view=None):
    """``(passes as numpy, their bytes)``; ``layer_view``: how the captured layers'
    arrays come back instead of ``to_host`` (``backend.host_view``)."""
    convert = lambda t: None if t is None else to_host(t)  # noqa: E731
    layer = convert if layer_view is None else layer_view
    passes = Passes(
        outputs=convert(result.outputs),
        scores=convert(result.scores),
        units=convert(result.units),
        input_grads=_input_grads(result.input_grads, x, to_host),
        layer_outputs=tuple(map(layer, result.layer_outputs)),
        layer_grads=tuple(map(layer, result.layer_grads)),
    )
    return passes, sum(a.nbytes for a in _arrays(passes))


def _arrays(passes):
    """Every array of ``passes`` (row-aligned)."""
    grads = passes.input_grads
    arrays = [passes.outputs, passes.scores, passes.units,
              *(data.arrays(grads) if grads is not None else ()),
              *passes.layer_outputs, *passes.layer_grads]
    return [a for a in arrays if a is not None]


def _concat(pieces, views=False):
    """One ``Passes`` of the pieces of a call; a single piece's arrays are kept as
    they are when writeable (or, ``views``, the captured layers' read-only views)."""
    def join(arrays, views=False):
        if arrays[0][1] is None:
            return None
        if len(arrays) == 1 and (views or all(a is None or a.flags.writeable
                                              for a in data.arrays(arrays[0][1]))):
            n, array = arrays[0]
            return array[:n] if n < len(array) else array  # one call: no copy
        return data.concat_rows([a[:n] for n, a in arrays])

    first = pieces[0][1]
    return Passes(
        outputs=join([(n, p.outputs) for n, p in pieces]),
        scores=join([(n, p.scores) for n, p in pieces]),
        units=join([(n, p.units) for n, p in pieces]),
        input_grads=join([(n, p.input_grads) for n, p in pieces]),
        layer_outputs=tuple(
            join([(n, p.layer_outputs[i]) for n, p in pieces], views)
            for i in range(len(first.layer_outputs))
        ),
        layer_grads=tuple(
            join([(n, p.layer_grads[i]) for n, p in pieces], views)
            for i in range(len(first.layer_grads))
        ),
    )
