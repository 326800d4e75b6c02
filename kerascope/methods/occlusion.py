"""Perturbation methods: occlusion sensitivity (RISE, built on the same base, is in
``kerascope.methods.rise``).

Both score perturbed copies of each input with forward passes only, sent to the
model ``batch_size`` rows at a time (never one image at a time), and by default
score the model's outputs (probabilities), not the logits (``default_use_logits``
is False; pass ``use_logits=True`` for logits).

* Occlusion sensitivity (Zeiler & Fergus 2014, arXiv:1311.2901; tf-explain's
  definition): a ``patch_size`` window filled with ``fill_value`` (127.5, or the
  image's per-channel ``"mean"``) slides over the image with step ``stride``
  (default: the patch size, non-overlapping). Each window position ``w`` gets
  ``v_w = 1 - p_c(x_w)`` (``mode="complement"``, tf-explain) or
  ``v_w = p_c(x) - p_c(x_w)`` (``mode="difference"``). Pixel ``(i, j)`` gets the
  mean of ``v_w`` over the windows covering it (one window when the stride equals
  the patch size). Windows start at multiples of the stride, as few as cover the
  image; the last one is cut at the border. Rows are rows and columns are columns:
  non-square images are not transposed (tf-explain 0.3 transposes them).
  Sequences ``(N, T, C)`` (time series, token embeddings) and tables ``(N, F)``
  are occluded along their one axis: windows of ``patch_size`` steps covering all
  channels, maps ``(N, T)``. A rank-3 input is a sequence when the model has
  1-D layers (Conv1D, recurrent, 1-D pooling, attention) and no 2-D ones, an
  image otherwise (``sequence=True/False`` decides). Models with several inputs
  get one map per input, each input occluded with the others intact (``inputs=``
  names the ones to occlude; the others' maps are None).
"""

import numpy as np

import keras

from kerascope.inputs import arrays as data

from kerascope.engine import surgery
from kerascope.engine.expansion import Expansion
from kerascope.methods.base import Method
from kerascope.engine.validation import check_choice, check_positive_int

MODES = ("complement", "difference")
RESOLUTIONS = ("input", "patches")

_SLICE_BATCHES = 8  # rows built on the host at once: this many device batches


def _pair(value, name):
    """``(rows, cols)`` from an int or a pair of positive ints."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (check_positive_int(value[0], name), check_positive_int(value[1], name))
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"{name}: expected a positive int or a pair (rows, cols) of positive ints, "
            f"got {value!r}."
        )
    return (int(value), int(value))


def window_starts(size, patch, stride):
    """Start offsets of windows of ``patch`` cells every ``stride`` cells covering ``size``.

    As few as cover all cells; the last window may be cut by the border. With
    ``stride == patch`` this is ``range(0, size, patch)`` (tf-explain's positions).
    """
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] + patch < size:
        starts.append(starts[-1] + stride)
    return starts


def image_axes(x, channel_axis):
    """The two spatial axes of an image batch ``x`` (rank 3 or 4)."""
    if x.ndim == 3:
        return 1, 2
    if x.ndim == 4:
        return (2, 3) if channel_axis == 1 else (1, 2)
    raise ValueError(
        f"x: occlusion and RISE need images of shape (N, H, W) or (N, H, W, C), got "
        f"shape {x.shape}."
    )


def window_cells(starts, patch, size):
    """Per axis, ``(windows, patch)`` int32 indices of the windows' cells (a window cut
    by the border repeats its last cell)."""
    return np.minimum(np.asarray(starts)[:, None] + np.arange(patch), size - 1).astype(np.int32)


def window_masks(starts, patch, size):
    """Per axis, ``(windows, size)`` float32 indicators of the windows' cells."""
    masks = np.zeros((len(starts), size), dtype=np.float32)
    for w, start in enumerate(starts):
        masks[w, start:start + patch] = 1.0
    return masks


class WindowExpansion(Expansion):
    """Occlusion's rows on the device: each input with window ``j`` filled, scored
    (forward only), and the window values ``1 - p`` (or ``p(x) - p``) spread back:
    summed into the cells each window covers (then divided by the windows covering
    each cell), or one value per window (``resolution="patches"``).

    Constants: one ``(windows, size)`` indicator matrix per occluded axis, the count
    of windows covering each cell, then one ``(windows, patch)`` list of cell indices
    per occluded axis (``window_cells``). Window ``j`` is cell ``j`` of the window
    grid in row-major order.

    The rows are the inputs repeated, with the fill scattered into each row's window
    cells: only the window is written (a select over whole rows costs 2-3x more on
    TensorFlow and PyTorch)."""

    gradients = False

    def __init__(self, grid, axes, fill, mode, resolution):
        self.grid = tuple(grid)
        self.rows = int(np.prod(self.grid))
        self.axes = tuple(axes)
        self.fill = fill
        self.mode = mode
        self.resolution = resolution
        self.input_scores = mode == "difference"

    @property
    def key(self):
        return ("windows", self.grid, self.axes, self.fill, self.mode, self.resolution)

    def masks(self, chunk):
        """``(m, *sizes)`` masks of the chunk's windows (1 inside)."""
        j = keras.ops.minimum(chunk.index, self.rows - 1)
        first = keras.ops.take(chunk.constants[0], j // self.grid[-1] if len(self.grid) == 2
                               else j, axis=0)
        if len(self.grid) == 1:
            return first
        second = keras.ops.take(chunk.constants[1], j % self.grid[1], axis=0)
        return keras.ops.expand_dims(first, 2) * keras.ops.expand_dims(second, 1)

    def window_index(self, chunk):
        """Per occluded axis, ``(m, patch)`` cell indices of the chunk's windows."""
        j = keras.ops.minimum(chunk.index, self.rows - 1)
        cells = chunk.constants[len(self.grid) + 1:]
        if len(self.grid) == 1:
            return [keras.ops.take(cells[0], j, axis=0)]
        return [keras.ops.take(cells[0], j // self.grid[1], axis=0),
                keras.ops.take(cells[1], j % self.grid[1], axis=0)]

    def expand(self, chunk):
        x = chunk.x
        ops = keras.ops
        g, m, shape = x.shape[0], int(chunk.index.shape[0]), tuple(x.shape[1:])
        occluded = tuple(range(1, 1 + len(self.axes)))
        rows = ops.reshape(ops.broadcast_to(ops.expand_dims(x, 1), (g, m) + shape),
                           (g * m,) + shape)
        rows = ops.moveaxis(rows, self.axes, occluded)  # (rows, *occluded, *rest)
        rest = tuple(rows.shape[1 + len(self.axes):])
        # (g, m, p1[, p2]) grid of (row, cell[, cell]) indices of every window cell
        cells = self.window_index(chunk)
        sizes = tuple(int(c.shape[1]) for c in cells)
        grid = (g, m) + sizes
        row = ops.reshape(ops.arange(g * m, dtype="int32"), (g, m) + (1,) * len(sizes))
        parts = [ops.broadcast_to(row, grid)]
        for k, c in enumerate(cells):
            shaped = [1] * len(sizes)
            shaped[k] = sizes[k]
            parts.append(ops.broadcast_to(ops.reshape(c, (1, m, *shaped)), grid))
        index = ops.reshape(ops.stack(parts, axis=-1), (-1, 1 + len(sizes)))
        if self.fill == "mean":
            fill = ops.mean(x, axis=self.axes)  # (g, *rest)
            fill = ops.broadcast_to(ops.reshape(fill, (g, 1) + (1,) * len(sizes) + rest),
                                    grid + rest)
            updates = ops.reshape(fill, (-1,) + rest)
        else:
            updates = ops.full((int(np.prod(grid)),) + rest, self.fill, dtype=rows.dtype)
        rows = ops.scatter_update(rows, index, ops.cast(updates, rows.dtype))
        return ops.moveaxis(rows, occluded, self.axes)

    def reduce(self, values, chunk):
        m = int(chunk.index.shape[0])
        scores = keras.ops.reshape(keras.ops.cast(values, "float32"), (-1, m))
        if self.mode == "complement":
            window = 1.0 - scores
        else:
            window = keras.ops.expand_dims(keras.ops.cast(chunk.input_scores, "float32"),
                                           1) - scores
        window = window * chunk.valid
        if self.resolution == "patches":
            j = keras.ops.minimum(chunk.index, self.rows - 1)
            return (keras.ops.matmul(window, keras.ops.one_hot(j, self.rows)),)
        masks = self.masks(chunk)
        flat = keras.ops.reshape(masks, (m, -1))
        return (keras.ops.reshape(keras.ops.matmul(window, flat),
                                  (-1,) + tuple(masks.shape[1:])),)

    def finish(self, sums, chunk):
        if self.resolution == "patches":
            return keras.ops.reshape(sums[0], (-1,) + self.grid)
        return sums[0] / chunk.constants[len(self.grid)]


def row_slices(total, batch_size):
    size = batch_size * _SLICE_BATCHES
    for start in range(0, total, size):
        yield start, min(start + size, total)


class PerturbationMethod(Method):
    """Shared driver: forward passes only, probabilities by default."""

    family = "perturbation"
    evaluates_inputs = False
    channel_reduction = None
    default_use_logits = False

    def postprocess(self, maps, x, ctx):
        return maps


class Occlusion(PerturbationMethod):
    """Occlusion sensitivity maps ``(N, H, W)``, or ``(N, T)`` for sequences (see the
    module docstring).

    Args:
        patch_size: window size, an int or ``(rows, cols)``; for sequences an int
            (steps).
        stride: step between windows, an int or ``(rows, cols)``; None (default)
            uses the patch size (tf-explain's non-overlapping patches).
        fill_value: value written in the window: a number (default 127.5, as in
            tf-explain, meant for images in [0, 255]) or ``"mean"`` (each input's
            per-channel mean).
        mode: ``"complement"`` (``1 - p_c``, tf-explain) or ``"difference"``
            (``p_c(x) - p_c(occluded)``).
        resolution: ``"input"`` (per-pixel or per-step maps) or ``"patches"``
            (one value per window position).
        sequence: None (decide from the model's layers), True (occlude along the
            first axis after the batch) or False (an image).
        inputs: for models with several inputs, the inputs to occlude (names or
            positions); None occludes each of them.
    """

    name = "occlusion"
    aliases = ("occlusion_sensitivity",)
    evaluates_inputs = True  # the fused pass resolves the targets at the inputs
    summary = "Score drop when a sliding patch of the input is covered."
    paper = "Zeiler & Fergus 2014, arXiv:1311.2901"
    multi_input = True
    cli_note = "occlusion fills patches with {fill_value:.4g}, black as the model sees it " \
        "after preprocessing"

    @classmethod
    def cli_defaults(cls, accepted, black, image_size):  # black patches 1/8 of the side
        return {"patch_size": max(2, round(min(image_size) / 8)),
                "fill_value": float(np.mean(black)), "mode": "difference"}

    def __init__(self, patch_size=8, stride=None, fill_value=127.5, mode="complement",
                 resolution="input", sequence=None, inputs=None):
        self.patch_size = _pair(patch_size, "patch_size")
        self.stride = self.patch_size if stride is None else _pair(stride, "stride")
        if self.stride[0] > self.patch_size[0] or self.stride[1] > self.patch_size[1]:
            raise ValueError(
                f"stride: {self.stride} leaves pixels no window covers; expected at most "
                f"patch_size {self.patch_size}."
            )
        self._square = (not isinstance(patch_size, (tuple, list))
                        and (stride is None or not isinstance(stride, (tuple, list))))
        if isinstance(fill_value, str):
            check_choice(fill_value, "fill_value", ("mean",))
        elif (isinstance(fill_value, bool) or np.ndim(fill_value) != 0
              or not np.isfinite(np.asarray(fill_value, dtype=np.float64))):
            raise ValueError(
                f"fill_value: expected a finite number or 'mean', got {fill_value!r}."
            )
        self.fill_value = fill_value
        self.mode = check_choice(mode, "mode", MODES)
        self.resolution = check_choice(resolution, "resolution", RESOLUTIONS)
        check_choice(sequence, "sequence", (None, True, False))
        self.sequence = sequence
        self.inputs = input_list(inputs)

    def windows(self, height, width):
        """``(row_starts, col_starts)`` of the windows for an ``height x width`` image."""
        (ph, pw), (sh, sw) = self.patch_size, self.stride
        if ph > height or pw > width:
            raise ValueError(
                f"patch_size: {self.patch_size} is larger than the image "
                f"({height}, {width}); expected at most the image size."
            )
        return window_starts(height, ph, sh), window_starts(width, pw, sw)

    def steps(self, length):
        """Start offsets of the windows along a sequence of ``length`` steps."""
        if not self._square:
            raise ValueError(
                f"patch_size: a sequence is occluded along one axis; expected an int "
                f"window length (and stride), got patch_size {self.patch_size}, stride "
                f"{self.stride}."
            )
        if self.patch_size[0] > length:
            raise ValueError(
                f"patch_size: {self.patch_size[0]} steps is longer than the sequence "
                f"({length} steps); expected at most its length."
            )
        return window_starts(length, self.patch_size[0], self.stride[0])

    def expansion(self, ctx, x):
        """``(WindowExpansion, constants)`` occluding one-array rows ``x``."""
        if is_sequence(x, ctx, self.sequence):
            axes, starts, patch = (1,), [self.steps(x.shape[1])], (self.patch_size[0],)
        else:
            axes = image_axes(x, ctx.channel_axis)
            starts = list(self.windows(x.shape[axes[0]], x.shape[axes[1]]))
            patch = self.patch_size
        masks = [window_masks(s, p, x.shape[axis]) for s, p, axis in zip(starts, patch, axes)]
        count = masks[0].sum(axis=0)
        if len(masks) == 2:
            count = np.outer(count, masks[1].sum(axis=0))
        cells = [window_cells(s, p, x.shape[axis]) for s, p, axis in zip(starts, patch, axes)]
        fill = "mean" if self.fill_value == "mean" else float(self.fill_value)
        expansion = WindowExpansion([len(s) for s in starts], axes, fill, self.mode,
                                    self.resolution)
        return expansion, masks + [count.astype(np.float32)] + cells

    def attribute(self, ctx, x, row_targets):
        if not isinstance(x, data.Inputs):
            expansion, constants = self.expansion(ctx, x)
            return ctx.expanded(expansion, x, row_targets, constants=constants)
        passes, row_targets = ctx.resolve_units(x, row_targets)
        if passes is None:
            passes = ctx.forward(x, row_targets, units=True)
        base = passes.scores.astype(np.float64)
        if isinstance(x, data.Inputs):
            chosen = explained_inputs(self.inputs, x)
            return x.with_arrays(
                self._occlude(ctx, x, k, row_targets, base) if k in chosen else None
                for k in range(len(x.arrays))
            ), passes

    def _occlude(self, ctx, x, k, row_targets, base):
        """Map of input ``k`` of ``x`` (None: ``x`` is one array)."""
        a = x if k is None else x.arrays[k]
        if is_sequence(a, ctx, self.sequence):
            axes = (1,)
            starts = [self.steps(a.shape[1])]
            patch = (self.patch_size[0],)
        else:
            axes = image_axes(a, ctx.channel_axis)
            starts = list(self.windows(a.shape[axes[0]], a.shape[axes[1]]))
            patch = self.patch_size
        positions = [p for p in np.ndindex(*[len(s) for s in starts])]
        per_input = len(positions)
        if self.fill_value == "mean":
            fills = a.mean(axis=axes, keepdims=True)
        else:
            fills = np.full((len(a),) + (1,) * (a.ndim - 1), self.fill_value, np.float32)

        values = np.empty(len(a) * per_input, dtype=np.float64)
        for start, stop in row_slices(len(values), ctx.batch_size):
            index = np.arange(start, stop)
            inputs = index // per_input
            rows = a[inputs].copy()
            for row, (i, w) in enumerate(zip(inputs, index % per_input)):
                where = [row] + [slice(None)] * (a.ndim - 1)
                for axis, starts_axis, size, p in zip(axes, starts, patch, positions[w]):
                    where[axis] = slice(starts_axis[p], starts_axis[p] + size)
                rows[tuple(where)] = fills[i, ...]
            if k is None:
                batch = rows
            else:
                batch = x[inputs]
                batch = batch.with_arrays(
                    rows if j == k else array for j, array in enumerate(batch.arrays)
                )
            values[start:stop] = ctx.forward(batch, row_targets[inputs], units=True).scores
        values = values.reshape((len(a),) + tuple(len(s) for s in starts))
        if self.mode == "complement":
            values = 1.0 - values
        else:
            values = base.reshape((-1,) + (1,) * len(starts)) - values
        if self.resolution == "patches":
            return values.astype(np.float32)
        return _spread(values, starts, patch, tuple(a.shape[axis] for axis in axes))


def input_list(inputs):
    if inputs is None:
        return None
    if isinstance(inputs, (str, int, np.integer)):
        return [inputs]
    if isinstance(inputs, (list, tuple)) and inputs:
        return list(inputs)
    raise ValueError(
        f"inputs: expected an input name or position, or a list of them, got {inputs!r}."
    )


def explained_inputs(inputs, x):
    """Positions of the inputs of ``Inputs`` rows ``x`` named by ``inputs`` (all if None)."""
    if inputs is None:
        return list(range(len(x.arrays)))
    return sorted({x.index(name) for name in inputs})


_SEQUENCE_LAYERS = ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "MultiHeadAttention",
                    "Embedding")


def is_sequence(a, ctx, sequence=None):
    """Whether input array ``a`` is a sequence (one axis to perturb along) rather than
    an image: rank 2 always; rank 3 when ``sequence`` says so or, if None, when the
    model has 1-D layers and no 2-D ones."""
    if sequence is not None:
        if sequence and a.ndim < 2:
            raise ValueError(f"sequence: inputs of shape {a.shape} have no axis to occlude.")
        return bool(sequence) or a.ndim == 2
    if a.ndim == 2:
        return True
    if a.ndim != 3:
        return False
    key = "occlusion_layout"
    if key not in ctx.state:
        kinds = {type(layer).__name__ for layer in surgery.iter_layers(ctx.model)}
        one_d = any(k.endswith("1D") or k in _SEQUENCE_LAYERS for k in kinds)
        two_d = any(k.endswith("2D") for k in kinds)
        ctx.state[key] = one_d and not two_d
    return ctx.state[key]


def _spread(values, starts, patch, size):
    """Per-pixel (per-step) mean of the window values covering each position.

    ``values``: ``(n, windows along axis 1, [windows along axis 2])``; ``starts``:
    the window offsets per axis; ``patch``: the window size per axis.
    """
    total = np.zeros((len(values),) + tuple(size), dtype=np.float64)
    count = np.zeros(tuple(size), dtype=np.float64)
    for position in np.ndindex(*values.shape[1:]):
        where = tuple(
            slice(starts_axis[p], starts_axis[p] + width)
            for starts_axis, p, width in zip(starts, position, patch)
        )
        total[(slice(None),) + where] += values[(slice(None),) + position].reshape(
            (-1,) + (1,) * len(size))
        count[where] += 1.0
    return (total / count).astype(np.float32)
