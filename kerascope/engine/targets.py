"""What to explain: target classes and the per-sample scores they define.

A target is one of:

* an int: that output unit for every sample (``class_index`` in tf-explain);
* a sequence of ints, one per sample, or an ``(N, K)`` array of K units per sample;
* ``"predicted"`` (or None): the arg-max unit of each sample;
* ``TopK(k)`` / ``top_k(k)``: the k highest-scoring units of each sample;
* a callable ``outputs -> scores`` returning one scalar per sample, written with
  ``keras.ops`` (binary sigmoid models, regression, a segmentation mask sum, ...).

Scores are computed inside the compiled gradient pass, so ``"predicted"`` and top-k
cost no extra forward pass. For outputs of rank > 2 (segmentation maps), the score of
unit ``c`` is the sum of ``outputs[..., c]`` over all non-batch axes.
"""

import numpy as np

import keras

from kerascope import backend

PREDICTED = "predicted"


class TopK:
    """The ``k`` highest-scoring output units of each sample, best first."""

    def __init__(self, k):
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ValueError(f"targets: top-k needs a positive int k, got {k!r}.")
        self.k = int(k)

    def __repr__(self):
        return f"TopK({self.k})"


def top_k(k):
    """Target the ``k`` best-scoring units of each sample."""
    return TopK(k)


class Targets:
    """Targets resolved against a batch of ``n`` inputs.

    Attributes:
        kind: ``"index"`` (explicit units), ``"rank"`` (predicted / top-k) or
            ``"callable"``.
        per_input: number of targets per input, K.
        stacked: whether maps keep a K axis (``(N, K, ...)``) or not (``(N, ...)``).
    """

    def __init__(self, kind, per_input, stacked, values=None, fn=None, constant=None):
        self.kind = kind
        self.per_input = per_input
        self.stacked = stacked
        self.values = values
        self.fn = fn
        self.constant = constant

    def rows(self, start, stop):
        """Row targets for inputs ``start:stop``, input-major, int32 of shape (n*K,)."""
        n = stop - start
        if self.constant is not None:
            return np.full(n, self.constant, dtype=np.int32)
        if self.kind == "index":
            if stop > len(self.values):
                raise ValueError(
                    f"targets: {len(self.values)} per-sample targets given, but the "
                    f"inputs have at least {stop} samples."
                )
            return np.ascontiguousarray(self.values[start:stop].reshape(-1), dtype=np.int32)
        if self.kind == "rank":
            return np.tile(np.arange(self.per_input, dtype=np.int32), n)
        return np.zeros(n, dtype=np.int32)

    def score(self):
        """The ``Score`` computing these targets' scores from model logits."""
        if self.kind == "callable":
            return CallableScore(self.fn)
        return UnitScore(rank=self.kind == "rank", max_rank=self.per_input)


def resolve(targets, n, num_units=None):
    """Validate ``targets`` for ``n`` inputs and return a ``Targets``.

    ``num_units``: size of the model output's last axis when known, for range checks.
    ``n`` may be None for a stream of unknown length (then per-sample arrays are
    checked batch by batch).
    """
    if targets is None or (isinstance(targets, str) and targets == PREDICTED):
        return Targets("rank", 1, False)
    if isinstance(targets, str):
        raise ValueError(
            f"targets: unknown target {targets!r}; expected an int class index, one "
            f"index per sample, 'predicted', top_k(k) or a score callable."
        )
    if isinstance(targets, TopK):
        if num_units is not None and targets.k > num_units:
            raise ValueError(
                f"targets: top_k({targets.k}) asks for more units than the model "
                f"output has ({num_units})."
            )
        return Targets("rank", targets.k, True)
    if callable(targets):
        return Targets("callable", 1, False, fn=targets)
    if isinstance(targets, (list, tuple, int, np.ndarray, np.integer)):
        values = np.asarray(targets)
    else:
        values = np.asarray(keras.ops.convert_to_numpy(targets))
    if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
        if values.size and np.issubdtype(values.dtype, np.floating) and np.all(values == np.round(values)):
            values = values.astype(np.int64)
        else:
            raise ValueError(
                f"class_index: expected integer class indices, got dtype {values.dtype}."
            )
    if values.size and values.min() < 0:
        raise ValueError(f"class_index: must be >= 0, got {int(values.min())}.")
    if num_units is not None and values.size and values.max() >= num_units:
        raise ValueError(
            f"class_index: {int(values.max())} is out of range for a model output with "
            f"{num_units} units (valid: 0..{num_units - 1})."
        )
    if values.ndim == 0:
        return Targets("index", 1, False, constant=int(values))
    if values.ndim in (1, 2):
        if n is not None and values.shape[0] != n:
            raise ValueError(
                f"targets: got {values.shape[0]} targets for {n} inputs; expected one "
                f"per input (shape ({n},) or ({n}, K))."
            )
        stacked = values.ndim == 2
        values = values.reshape(values.shape[0], -1)
        return Targets("index", values.shape[1], stacked, values=values)
    raise ValueError(
        f"targets: expected a scalar, shape (N,) or (N, K) indices, got shape {values.shape}."
    )


def _class_axis_scores(logits):
    """(B, C) view of logits: sums a segmentation output over its spatial axes."""
    if len(logits.shape) > 2:
        logits = keras.ops.sum(logits, axis=tuple(range(1, len(logits.shape) - 1)))
    if len(logits.shape) == 1:
        logits = keras.ops.expand_dims(logits, -1)
    return logits


class UnitScore:
    """Score of one output unit per row: explicit (``rank=False``) or by rank."""

    def __init__(self, rank, max_rank=1):
        self.rank = rank
        self.max_rank = max_rank

    @property
    def key(self):
        return ("rank", self.max_rank) if self.rank else ("index",)

    def __call__(self, logits, row_targets):
        """``(scores, units)`` for ``logits`` and int32 ``row_targets`` of shape (B,)."""
        per_unit = _class_axis_scores(logits)
        units = row_targets
        if self.rank:
            order = keras.ops.top_k(per_unit, k=self.max_rank, sorted=True)[1]
            units = backend.take_rows(order, row_targets)
        units = backend.as_int32(units)
        return backend.take_rows(per_unit, units), units


class CallableScore:
    """Score given by a user function ``outputs -> (B,)``."""

    def __init__(self, fn):
        self.fn = fn

    @property
    def key(self):
        return ("callable", id(self.fn))

    def __call__(self, logits, row_targets):
        scores = self.fn(logits)
        shape = tuple(scores.shape)
        if len(shape) != 1:
            if len(shape) == 2 and shape[1] == 1:
                scores = scores[:, 0]
            else:
                raise ValueError(
                    f"targets: the score callable must return one scalar per sample, "
                    f"shape (batch,), got shape {shape}."
                )
        return scores, keras.ops.zeros_like(row_targets)
