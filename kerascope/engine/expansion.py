"""Expansions: how a method's rows are made and reduced *on the device*.

Many methods explain an input by passing ``k`` rows derived from it (noisy copies,
path points, occluded or masked copies) and reducing the ``k`` results to one map
(mean, variance, quadrature sum, mask-weighted sum). An ``Expansion`` states both
halves in ``keras.ops``; the backend compiles ``expand -> forward or backward ->
reduce`` as one function (``kerascope.backend.fused``), so only the inputs go to the
device and one map per (input, target) comes back: SmoothGrad with 50 samples moves
one image and one map, not 50 gradients, and never draws its noise on the host
(``kerascope.engine.noise``).

``PassRunner.expanded`` runs an expansion over inputs in groups whose rows fit in
``batch_size``; when one input expands into more rows than that, its rows go in
chunks whose partial sums are added on the device. The same ``expand`` / ``reduce``
/ ``finish`` also run unfused (rows built, passed through ``backprop``/``forward``
and reduced, each step a round trip through the host) under a distribution over
several devices, or inside ``host_reductions()``: the reference the fused pass is
tested against, and the "before" of the benchmarks.
"""

import contextlib
import dataclasses
import threading

import numpy as np

import keras


@dataclasses.dataclass
class Chunk:
    """What an expansion sees of one device call (tensors of the backend).

    x: ``(n, ...)`` inputs; samples: ``(n,)`` int32, each input's index in the whole
    call (keys its random draws); index: ``(m,)`` int32, the rows of each input this
    call makes (``0..rows-1``; entries ``>= rows`` are padding, masked by ``valid``);
    inputs: per-input arrays ``(n, ...)`` the method sends (e.g. baselines);
    constants: arrays shared by every call (quadrature weights, window masks);
    input_scores: ``(n,)`` scores of ``x`` itself, when the expansion asks for them;
    baseline: what ``expand`` made the rows from, kept for ``reduce`` (IG's ``x'``).
    """

    x: object
    samples: object
    index: object
    inputs: tuple = ()
    constants: tuple = ()
    input_scores: object = None
    rows: int = 1
    baseline: object = None

    @property
    def valid(self):
        """``(m,)`` float32: 1 for real rows, 0 for padding rows."""
        return keras.ops.cast(keras.ops.less(self.index, self.rows), "float32")


class Expansion:
    """How rows are expanded and reduced on the device (see the module docstring).

    Attributes: ``rows`` (rows per input, ``k``), ``gradients`` (reduce the rows'
    input gradients, else their scores), ``input_scores`` (the reduction also needs
    the scores of the inputs themselves), ``key`` (hashable: everything static the
    compiled function depends on).
    """

    rows = 1
    gradients = True
    input_scores = False

    @property
    def key(self):
        raise NotImplementedError

    def expand(self, chunk):
        """``(n * m, ...)`` rows, input-major: the ``chunk.index`` rows of each input."""
        raise NotImplementedError

    def reduce(self, values, chunk):
        """Partial sums (a tuple of tensors) over the chunk's valid rows; ``values``
        are ``(n * m, ...)`` input gradients or ``(n * m,)`` scores. Sums of
        successive chunks of the same inputs are merged by ``combine``."""
        raise NotImplementedError

    def combine(self, sums, more):
        """The sums of two chunks of the same inputs as one (default: added)."""
        return tuple(keras.ops.add(a, b) for a, b in zip(sums, more))

    def finish(self, sums, chunk):
        """The maps ``(n, ...)`` from the summed ``reduce`` results."""
        raise NotImplementedError


def per_row(values, m):
    """``(n * m, ...)`` values as ``(n, m, ...)``."""
    return keras.ops.reshape(values, (-1, m) + tuple(values.shape[1:]))


def value_range(x):
    """``(low, high)``: each input's minimum and maximum, shaped ``(n, 1, ..., 1)``
    to broadcast against ``x``."""
    shape = tuple(x.shape[1:])
    flat = keras.ops.reshape(x, (-1, int(np.prod(shape))))
    keep = (-1,) + (1,) * len(shape)
    return (keras.ops.reshape(keras.ops.min(flat, axis=1), keep),
            keras.ops.reshape(keras.ops.max(flat, axis=1), keep))


def weighted_sum(values, weights, m):
    """``sum_j weights[j] * values[i, j]`` over the ``m`` rows of each input:
    ``(n * m, ...)`` values, ``(m,)`` weights -> ``(n, ...)``."""
    values = per_row(values, m)
    shape = (1, m) + (1,) * (len(values.shape) - 2)
    return keras.ops.sum(values * keras.ops.reshape(weights, shape), axis=1)


_HOST = threading.local()  # per thread: a block in one thread leaves the others fused


@contextlib.contextmanager
def host_reductions():
    """Run expansions unfused inside the block: rows built and reduced around
    separate device passes, as kerascope did before fused expansions (tests compare
    the two; ``bench/bench_methods.py``'s ``host/raw`` column times it)."""
    _HOST.depth = getattr(_HOST, "depth", 0) + 1
    try:
        yield
    finally:
        _HOST.depth -= 1


def fused_enabled():
    """False inside ``host_reductions()``."""
    return not getattr(_HOST, "depth", 0)
