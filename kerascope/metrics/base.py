"""What every explanation metric shares: inputs, targets, maps, batched scoring.

A metric is a function ``metric(model, x, targets=None, maps=None, method=None,
**options) -> MetricResult``. It evaluates either ready-made ``maps`` (computed by
kerascope or anywhere else) or a ``method``: a registered name (``"smoothgrad"``),
a ``kerascope.methods.Method`` instance or class, or any callable
``(model, x, targets) -> maps`` (``targets`` is then an int32 array of one class per
input).

Perturbed inputs never go to the model all at once: they are built ``batch_size``
rows at a time and scored by a ``PassRunner`` (one compiled forward pass, reused for
every chunk). The score of a row is the model output of its target class: the
probability for a softmax model (``use_logits=False``, the papers' convention).

Maps are compared with inputs on their *features*: the input without its batch and
channel axes (pixels of an image, time steps of a series, columns of a table). A map
may have that shape, or the input's full shape (then its channels are averaged, as
xplique does). A feature is perturbed in all its channels at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
from typing import Optional

import numpy as np

from kerascope.engine import surgery
from kerascope.inputs.arrays import to_numpy
from kerascope.engine import targets as targets_lib
from kerascope.engine.runner import PassRunner
from kerascope.engine.validation import check_inputs, check_positive_int
from kerascope.methods.driver import check_units, known_units

__all__ = ["MetricResult", "Problem", "Layout", "prepare", "explain_maps", "method_label",
           "named_methods", "maps_problem", "normalise_maps"]


@dataclasses.dataclass
class MetricResult:
    """The outcome of one metric on one set of maps.

    Attributes:
        name: the metric's registry name (``"deletion"``, ``"pointing_game"``...).
        value: the aggregate (mean over the samples with a defined value).
        per_sample: ``(N,)`` float64 values, NaN where undefined (an empty mask).
        higher_is_better: the direction of a better explanation.
        curve_x: for curve metrics, ``(K,)`` x-axis (fraction of features perturbed).
        curves: for curve metrics, ``(N, K)`` target scores along the curve.
        details: metric-specific extras (settings, subsets, ...).
    """

    name: str
    value: float
    per_sample: np.ndarray
    higher_is_better: bool
    curve_x: Optional[np.ndarray] = None
    curves: Optional[np.ndarray] = None
    details: dict = dataclasses.field(default_factory=dict)

    def __float__(self):
        return float(self.value)

    @property
    def std(self):
        """Standard deviation of the defined per-sample values."""
        values = self.per_sample[np.isfinite(self.per_sample)]
        return float(values.std()) if values.size else float("nan")

    def row(self, **extra) -> dict:
        """A flat table row: name, value, std, n, direction (+ ``extra`` keys first)."""
        return {
            **extra,
            "metric": self.name,
            "value": float(self.value),
            "std": self.std,
            "n": int(np.isfinite(self.per_sample).sum()),
            "higher_is_better": bool(self.higher_is_better),
        }

    def __repr__(self):
        arrow = "higher is better" if self.higher_is_better else "lower is better"
        return f"MetricResult({self.name}={self.value:.4f}, n={len(self.per_sample)}, {arrow})"


def aggregate(per_sample) -> float:
    values = np.asarray(per_sample, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    # np.mean's sum and division, without its wrapper
    return float(np.add.reduce(values) / values.size) if values.size else float("nan")


class Layout:
    """Where the features and channels of an input batch are.

    ``feature_shape``: the input's shape without batch and channel axes;
    ``channels``: the channel count (1 for inputs without a channel axis).
    """

    def __init__(self, input_shape, channel_axis):
        shape = tuple(input_shape)
        if len(shape) == 1:
            self.channel_axis = None
            self.feature_shape = shape
            self.channels = 1
        else:
            axis = channel_axis % (len(shape) + 1) - 1  # axis within one sample
            self.channel_axis = axis
            self.feature_shape = shape[:axis] + shape[axis + 1:]
            self.channels = shape[axis]
        self.input_shape = shape
        self.num_features = math.prod(self.feature_shape)

    def to_fc(self, x):
        """``(N, *input_shape)`` -> ``(N, F, C)`` (features, channels)."""
        x = np.asarray(x)
        if self.channels == 1:  # no channel axis, or one of size 1: a reshape
            return x.reshape(len(x), self.num_features, 1)
        x = np.moveaxis(x, self.channel_axis + 1, -1)
        return x.reshape(len(x), self.num_features, self.channels)

    def from_fc(self, x):
        """``(N, F, C)`` -> ``(N, *input_shape)``."""
        x = np.asarray(x)
        if self.channels == 1:
            return x.reshape((len(x),) + self.input_shape)
        x = x.reshape((len(x),) + self.feature_shape + (self.channels,))
        return np.moveaxis(x, -1, self.channel_axis + 1)

    def feature_maps(self, maps, n, name="maps"):
        """Maps of shape ``(n, *feature_shape)`` or ``(n, *input_shape)`` -> ``(n, F)``.

        Full-shape maps are averaged over the channel axis.
        """
        maps = np.asarray(maps)
        if maps.dtype.kind not in "iufc":  # np.number
            raise ValueError(f"{name}: expected numeric maps, got dtype {maps.dtype}.")
        maps = maps.astype(np.float64)
        expected = [(n,) + self.feature_shape]
        if self.channel_axis is not None:
            expected.append((n,) + self.input_shape)
        if maps.shape == expected[0]:
            flat = maps.reshape(n, -1)
        elif len(expected) > 1 and maps.shape == expected[1]:
            # one channel: its value (the mean of one value), without a reduction
            flat = (maps.reshape(n, -1) if self.channels == 1
                    else maps.mean(axis=self.channel_axis + 1).reshape(n, -1))
        else:
            raise ValueError(
                f"{name}: expected maps of shape {' or '.join(map(str, expected))} (one map "
                f"per input), got {maps.shape}."
            )
        if not np.isfinite(flat).all():
            raise ValueError(f"{name}: maps contain NaN or infinite values.")
        return flat

    def feature_masks(self, masks, n, name="masks"):
        """Ground-truth masks -> bool ``(n, F)``.

        Accepts ``(n, *feature_shape)``, ``(*feature_shape)`` (one mask for all) or
        ``(n, *input_shape)`` (a feature is inside if any of its channels is).
        """
        masks = np.asarray(masks)
        if masks.dtype.kind not in "biufc":  # np.number or bool
            raise ValueError(f"{name}: expected boolean or 0/1 masks, got dtype {masks.dtype}.")
        masks = masks != 0
        if masks.shape == self.feature_shape:
            return np.broadcast_to(masks.reshape(1, -1), (n, self.num_features)).copy()
        if masks.shape == (n,) + self.feature_shape:
            return masks.reshape(n, -1)
        if self.channel_axis is not None and masks.shape == (n,) + self.input_shape:
            if self.channels == 1:
                return masks.reshape(n, -1)
            return masks.any(axis=self.channel_axis + 1).reshape(n, -1)
        raise ValueError(
            f"{name}: expected one mask per input of shape {(n,) + self.feature_shape} "
            f"(or {self.feature_shape} for all inputs), got {masks.shape}."
        )


class Problem:
    """One metric call resolved: inputs, target units, base scores and a scorer.

    Attributes:
        model, x (float32 ``(N, ...)``), units (int32 ``(N,)``), base_scores
        (``(N,)`` target scores of the unperturbed inputs), outputs (model outputs),
        layout (:class:`Layout`), batch_size, output_index, use_logits.
    """

    def __init__(self, model, x, units, outputs, base_scores, runner, batch_size,
                 output_index, use_logits, layout=None):
        self.model = model
        self.x = x
        self.units = units
        self.outputs = outputs
        self.base_scores = base_scores
        self.runner = runner
        self.batch_size = batch_size
        self.output_index = output_index
        self.use_logits = use_logits
        self.layout = layout or Layout(x.shape[1:], surgery.channel_axis(model))

    @property
    def n(self):
        return len(self.x)

    def score(self, rows, units):
        """Target scores of ``rows`` (already built), ``batch_size`` at a time."""
        scores = self.runner.scores(np.asarray(rows, dtype=np.float32),
                                    np.asarray(units, dtype=np.int32)).astype(np.float64)
        counter = _ROWS_SCORED.get()
        if counter is not None:
            counter.add(len(scores))
        return scores

    def score_lazily(self, total, make_rows):
        """Scores of ``total`` rows that ``make_rows(start, stop) -> (rows, units)`` builds.

        Rows are built and sent ``batch_size`` at a time, so a long perturbation
        schedule never sits in memory at once.
        """
        scores = np.empty(total, dtype=np.float64)
        for start in range(0, total, self.batch_size):
            stop = min(start + self.batch_size, total)
            rows, units = make_rows(start, stop)
            scores[start:stop] = self.score(rows, units)
        return scores

    def feature_maps(self, maps, name="maps"):
        return self.layout.feature_maps(maps, self.n, name=name)


def _as_units(targets, n, num_units):
    """Class indices, one per input, from the targets accepted by metrics."""
    values = targets
    if not isinstance(values, (str, targets_lib.TopK)) and not callable(values) \
            and values is not None:
        array = np.asarray(to_numpy(values))
        # One-hot rows (xplique's convention) become class indices.
        if (array.ndim == 2 and num_units is not None and array.shape == (n, num_units)
                and num_units > 1 and np.all((array == 0) | (array == 1))
                and np.all(array.sum(axis=1) == 1)):
            values = array.argmax(axis=1)
        else:
            values = array
    resolved = targets_lib.resolve(values, n, num_units)
    if resolved.kind == "callable" or resolved.per_input != 1 or resolved.stacked:
        raise ValueError(
            "targets: metrics need one class per input: an int, one index per input "
            "(shape (N,)), one-hot rows (N, classes) or 'predicted'; got "
            f"{targets!r}."
        )
    return resolved


def prepare(model, x, targets=None, batch_size=32, use_logits=False, output_index=0,
            along=None):
    """Validate a metric call and compute the unperturbed outputs and scores.

    ``along(x, layout) -> rows``: ``N`` more rows scored at the same units; with explicit
    target classes they share the first pass (``Problem.along_scores``), else a
    second pass scores them."""
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"model: expected a keras.Model, got {type(model).__name__}.")
    batch_size = check_positive_int(batch_size, "batch_size")
    x = check_inputs(to_numpy(x), model)
    n = len(x)
    resolved = _as_units(targets, n, known_units(model, output_index))
    runner = PassRunner.for_model(model, targets_lib.UnitScore(rank=False),
                                  batch_size=batch_size, output_index=output_index,
                                  use_logits=use_logits)
    # The method driver's resolution: one pass scores the targets (the predicted
    # class for "predicted"), then the driver's range check of class indices.
    first = runner if resolved.kind != "rank" else PassRunner.for_model(
        model, resolved.score(), batch_size=batch_size, output_index=output_index,
        use_logits=use_logits)
    layout = Layout(x.shape[1:], surgery.channel_axis(model))
    extra = None if along is None else np.asarray(along(x, layout), dtype=np.float32)
    joint = extra is not None and resolved.kind == "index"  # units known before the pass
    rows = np.concatenate([x, extra]) if joint else x
    passes = first.forward(rows, resolved.rows(0, n) if not joint else
                           np.tile(np.asarray(resolved.rows(0, n), np.int32), 2))
    units = np.asarray(passes.units[:n], dtype=np.int32)
    outputs = passes.outputs[:n]
    check_units(resolved, outputs)
    problem = Problem(model, x, units, outputs, passes.scores[:n].astype(np.float64),
                      runner, batch_size, output_index, use_logits, layout)
    if extra is not None:
        problem.along_scores = (passes.scores[n:].astype(np.float64) if joint
                                else problem.score(extra, units))
    return problem


def method_label(method) -> str:
    """A short name for a method given as a name, instance, class or callable."""
    if isinstance(method, str):
        return method
    name = getattr(method, "name", None)
    if isinstance(name, str) and name != "method":
        return name
    return getattr(method, "__name__", type(method).__name__)


def named_methods(methods) -> dict:
    """``{label: method}`` from one method, a list of methods or a dict."""
    if isinstance(methods, dict):
        named = dict(methods)
    elif isinstance(methods, (list, tuple)):
        named = {}
        for method in methods:
            label = method_label(method)
            if label in named:
                raise ValueError(f"methods: {label!r} is given twice; pass a dict to name them.")
            named[label] = method
    else:
        named = {method_label(methods): methods}
    if not named:
        raise ValueError("methods: expected at least one method.")
    return named


def _is_kerascope_method(method):
    from kerascope.methods.base import Method

    if isinstance(method, (str, Method)):
        return True
    return isinstance(method, type) and issubclass(method, Method)


def explain_maps(model, x, units, method, batch_size=32, output_index=0, expected=None,
                 method_options=None):
    """Maps of ``method`` for inputs ``x`` and class ``units`` (one per input).

    ``method``: a registered name, a ``Method`` instance or class, or any callable
    ``(model, x, targets) -> maps`` (or ``-> (outputs, maps)``, as the
    ``kerascope.<name>`` shortcuts).
    ``expected``: a :class:`Layout` to validate the maps' shape against.
    """
    method_options = dict(method_options or {})
    if method is None:
        raise ValueError("method: expected a method name, a Method or a callable, got None.")
    if _is_kerascope_method(method):
        from kerascope.api import explain

        _, maps = explain(method, model, x, np.asarray(units, dtype=np.int64),
                          batch_size=batch_size, output_index=output_index, **method_options)
    elif callable(method):
        result = method(model, x, np.asarray(units, dtype=np.int32), **method_options)
        if isinstance(result, tuple) and len(result) == 2:
            result = result[1]
        maps = np.asarray(to_numpy(result))
    else:
        raise ValueError(
            f"method: expected a method name, a Method instance or class, or a callable "
            f"(model, x, targets) -> maps; got {type(method).__name__}."
        )
    maps = np.asarray(maps, dtype=np.float32)
    if expected is not None:
        try:
            expected.feature_maps(maps, len(x), name="method")
        except ValueError as error:
            raise ValueError(
                f"method: {method_label(method)} returned maps of shape {maps.shape}; "
                f"expected {(len(x),) + expected.feature_shape} or "
                f"{(len(x),) + expected.input_shape}."
            ) from error
    return maps


def resolve_maps(problem, maps, method, method_options=None, name="maps"):
    """``(N, F)`` feature maps from given ``maps`` or by running ``method``."""
    if maps is not None and method is not None:
        raise ValueError("maps: pass either maps or method, not both.")
    if maps is None:
        if method is None:
            raise ValueError("maps: pass the maps to evaluate or a method to compute them.")
        maps = explain_maps(problem.model, problem.x, problem.units, method,
                            batch_size=problem.batch_size, output_index=problem.output_index,
                            expected=problem.layout, method_options=method_options)
    return problem.feature_maps(maps, name=name)


def resolve_baseline(baseline, x, layout, name="baseline", blur_sigma=None):
    """The baseline each input is perturbed towards, as ``(N, F, C)``.

    ``baseline``: a number, an array broadcastable to ``x``, ``"mean"`` (each
    input's per-channel mean), ``"blur"`` (a Gaussian blur of the input over its
    feature axes, the RISE paper's insertion start) or a callable ``x -> array``.
    """
    if callable(baseline):
        values = np.asarray(to_numpy(baseline(x)), dtype=np.float32)
    elif isinstance(baseline, str):
        if baseline in ("black", "white"):
            # Quantus's "black"/"white": each input's minimum/maximum over all its values.
            flat = np.asarray(x).reshape(len(x), -1)
            value = flat.min(axis=1) if baseline == "black" else flat.max(axis=1)
            shape = (len(x), layout.num_features, layout.channels)
            return np.broadcast_to(value.reshape(-1, 1, 1), shape).astype(np.float32)
        if baseline == "mean":
            fc = layout.to_fc(x)
            return np.broadcast_to(fc.mean(axis=1, keepdims=True), fc.shape).astype(np.float32)
        if baseline == "blur":
            from scipy import ndimage

            fc = layout.to_fc(x)
            spatial = fc.reshape((len(x),) + layout.feature_shape + (layout.channels,))
            sigma = blur_sigma if blur_sigma is not None else max(1.0, min(layout.feature_shape) / 10)
            sigmas = (0,) + (sigma,) * len(layout.feature_shape) + (0,)
            blurred = ndimage.gaussian_filter(spatial.astype(np.float64), sigma=sigmas,
                                              mode="nearest")
            return blurred.reshape(fc.shape).astype(np.float32)
        raise ValueError(
            f"{name}: expected a number, an array, 'black', 'white', 'mean', 'blur' or a callable, got {baseline!r}."
        )
    else:
        values = np.asarray(to_numpy(baseline), dtype=np.float32)
    try:
        values = np.broadcast_to(values, x.shape)
    except ValueError:
        raise ValueError(
            f"{name}: expected a number or an array broadcastable to the inputs' shape "
            f"{x.shape}, got shape {values.shape}."
        ) from None
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: the baseline contains NaN or infinite values.")
    return layout.to_fc(np.ascontiguousarray(values))


def maps_problem(model, x, targets, maps, method, batch_size=32, output_index=0,
                 use_logits=False, method_options=None):
    """``(problem, fmaps)`` for a metric that needs no model pass of its own.

    With ready ``maps`` nothing runs on the model (``problem.units`` holds the
    given class indices, or None); with a ``method`` the inputs are prepared as usual.
    """
    if maps is None:
        problem = prepare(model, x, targets, batch_size, use_logits, output_index)
        return problem, resolve_maps(problem, None, method, method_options)
    if method is not None:
        raise ValueError("maps: pass either maps or method, not both.")
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"model: expected a keras.Model, got {type(model).__name__}.")
    x = np.asarray(to_numpy(x))
    if x.ndim < 2 or x.dtype.kind not in "iufc":  # np.number
        raise ValueError(f"x: expected a numeric batch (N, ...), got shape {x.shape}.")
    units = None
    if targets is not None and not isinstance(targets, str) and not callable(targets):
        values = np.asarray(to_numpy(targets))
        if values.ndim == 2:
            values = values.argmax(axis=1)
        units = np.empty(len(x), dtype=np.int32)
        units[:] = values
    problem = Problem(model, x.astype(np.float32, copy=False), units, None, None, None,
                      batch_size, output_index, use_logits)
    return problem, problem.feature_maps(maps)


def normalise_maps(fmaps, normalise):
    """``normalise=True``: divide by the batch's largest ``|value|`` (Quantus's
    ``normalise_by_max``); False: unchanged."""
    if not normalise:
        return fmaps
    top = np.abs(fmaps).max()
    return fmaps / top if top > 0 else fmaps


def check_fraction(value, name, low_open=True, high_closed=True):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name}: expected a number in (0, 1], got {value!r}.")
    value = float(value)
    ok = (value > 0 if low_open else value >= 0) and (value <= 1 if high_closed else value < 1)
    if not ok:
        interval = ("(" if low_open else "[") + "0, 1" + ("]" if high_closed else ")")
        raise ValueError(f"{name}: expected a number in {interval}, got {value!r}.")
    return value


def rng_from(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)



_ROWS_SCORED = contextvars.ContextVar("kerascope_rows_scored", default=None)


class _RowCounter:
    def __init__(self, bar):
        self.bar, self.rows = bar, 0

    def add(self, n):
        self.rows += int(n)
        self.bar.update(self.rows)


def quiet(verbose):
    """Whether ``verbose`` asks for no progress bar (0, False, "auto" on arrays)."""
    return isinstance(verbose, (str, bool, int)) and verbose in ("auto", 0, False)


@contextlib.contextmanager
def rows_progress(verbose):
    """While a metric runs: a Keras ``Progbar`` of the perturbed rows it scores, when
    ``verbose`` asks for one (1 shows, 0 and "auto" on arrays hide)."""
    if quiet(verbose):
        yield  # no bar (the common case): nothing to set up
        return
    bar = progress_bar(None, verbose, unit="row")
    if bar is None:
        yield
        return
    counter = _RowCounter(bar)
    token = _ROWS_SCORED.set(counter)
    try:
        yield
    finally:
        _ROWS_SCORED.reset(token)
        bar.update(counter.rows, finalize=True)


def progress_bar(total, verbose, unit="step"):
    """A Keras ``Progbar`` of ``total`` steps when ``verbose`` asks for one
    (``kerascope.explain``'s convention: 1 shows, 0 hides, "auto" only for
    iterables on a terminal), else None."""
    from kerascope.api import show_progress

    if not show_progress(verbose, np.zeros((total or 1, 1))):
        return None
    import keras

    return keras.utils.Progbar(total, unit_name=unit)
