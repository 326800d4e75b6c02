"""Perturbation methods: occlusion sensitivity and RISE.

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
* RISE (Petsiuk, Das & Saenko 2018, arXiv:1806.07421): ``N`` binary grids of
  ``s x s`` cells, each cell 1 with probability ``p``, bilinearly upsampled to
  ``(s + 1) * ceil(H / s)`` by ``(s + 1) * ceil(W / s)`` and cropped to ``H x W`` at
  a random shift below one cell: masks ``M_i`` in [0, 1]. Saliency
  ``S_c = sum_i p_c(x * M_i) M_i / (N p)``. ``center=True`` subtracts the mean
  score, ``sum_i (p_c(x * M_i) - mean_j p_c(x * M_j)) M_i / (N p)``: the same map
  up to a constant, with much lower variance (a control variate).
"""

import math

import numpy as np

from kerascope.methods.base import Method
from kerascope.numeric import interpolation_matrix
from kerascope.validation import check_choice, check_positive_int

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


def _spatial_axes(x, channel_axis):
    """The two spatial axes of an image batch ``x`` (rank 3 or 4)."""
    if x.ndim == 3:
        return 1, 2
    if x.ndim == 4:
        return (2, 3) if channel_axis == 1 else (1, 2)
    raise ValueError(
        f"x: occlusion and RISE need images of shape (N, H, W) or (N, H, W, C), got "
        f"shape {x.shape}."
    )


def _row_slices(total, batch_size):
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
    """Occlusion sensitivity maps ``(N, H, W)`` (see the module docstring).

    Args:
        patch_size: window size, an int or ``(rows, cols)``.
        stride: step between windows, an int or ``(rows, cols)``; None (default)
            uses the patch size (tf-explain's non-overlapping patches).
        fill_value: value written in the window: a number (default 127.5, as in
            tf-explain, meant for images in [0, 255]) or ``"mean"`` (each image's
            per-channel mean).
        mode: ``"complement"`` (``1 - p_c``, tf-explain) or ``"difference"``
            (``p_c(x) - p_c(occluded)``).
        resolution: ``"input"`` (``(N, H, W)`` per-pixel maps) or ``"patches"``
            (``(N, rows, cols)``: one value per window position).
    """

    name = "occlusion"
    aliases = ("occlusion_sensitivity",)
    summary = "Score drop when a sliding patch of the input is covered."
    paper = "Zeiler & Fergus 2014, arXiv:1311.2901"

    def __init__(self, patch_size=8, stride=None, fill_value=127.5, mode="complement",
                 resolution="input"):
        self.patch_size = _pair(patch_size, "patch_size")
        self.stride = self.patch_size if stride is None else _pair(stride, "stride")
        if self.stride[0] > self.patch_size[0] or self.stride[1] > self.patch_size[1]:
            raise ValueError(
                f"stride: {self.stride} leaves pixels no window covers; expected at most "
                f"patch_size {self.patch_size}."
            )
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

    def windows(self, height, width):
        """``(row_starts, col_starts)`` of the windows for an ``height x width`` image."""
        (ph, pw), (sh, sw) = self.patch_size, self.stride
        if ph > height or pw > width:
            raise ValueError(
                f"patch_size: {self.patch_size} is larger than the image "
                f"({height}, {width}); expected at most the image size."
            )
        return window_starts(height, ph, sh), window_starts(width, pw, sw)

    def attribute(self, ctx, x, row_targets):
        ax, ay = _spatial_axes(x, ctx.channel_axis)
        height, width = x.shape[ax], x.shape[ay]
        rows_at, cols_at = self.windows(height, width)
        positions = [(r, c) for r in rows_at for c in cols_at]
        per_input = len(positions)
        ph, pw = self.patch_size
        if self.fill_value == "mean":
            fills = x.mean(axis=(ax, ay), keepdims=True)
        else:
            fills = np.full((len(x),) + (1,) * (x.ndim - 1), self.fill_value, np.float32)

        values = np.empty(len(x) * per_input, dtype=np.float64)
        for start, stop in _row_slices(len(values), ctx.batch_size):
            index = np.arange(start, stop)
            inputs = index // per_input
            rows = x[inputs].copy()
            for row, (i, k) in enumerate(zip(inputs, index % per_input)):
                r, c = positions[k]
                where = [row] + [slice(None)] * (x.ndim - 1)
                where[ax] = slice(r, r + ph)
                where[ay] = slice(c, c + pw)
                rows[tuple(where)] = fills[i, ...]
            values[start:stop] = ctx.forward(rows, row_targets[inputs]).scores
        values = values.reshape(len(x), len(rows_at), len(cols_at))
        if self.mode == "complement":
            values = 1.0 - values
        else:
            base = ctx.forward(x, row_targets).scores.astype(np.float64)
            values = base[:, None, None] - values
        if self.resolution == "patches":
            return values.astype(np.float32)
        return _spread(values, rows_at, cols_at, (ph, pw), (height, width))


def _spread(values, rows_at, cols_at, patch, size):
    """Per-pixel mean of the window values covering each pixel."""
    ph, pw = patch
    total = np.zeros((len(values),) + tuple(size), dtype=np.float64)
    count = np.zeros(tuple(size), dtype=np.float64)
    for a, r in enumerate(rows_at):
        for b, c in enumerate(cols_at):
            total[:, r:r + ph, c:c + pw] += values[:, a, b, None, None]
            count[r:r + ph, c:c + pw] += 1.0
    return (total / count).astype(np.float32)


class RISE(PerturbationMethod):
    """RISE saliency maps ``(N, H, W)`` (see the module docstring).

    Args:
        num_masks: random masks ``N`` per input (the same masks for every input).
        grid_size: cells ``s`` per side of the random grids.
        probability: probability ``p`` that a cell is kept.
        seed: seed of the masks (numpy Generator); None draws fresh ones.
        center: subtract the mean masked score (lower variance, map shifted by a
            constant).
    """

    name = "rise"
    summary = "Masked-input scores averaged over random smooth masks."
    paper = "Petsiuk, Das & Saenko 2018, arXiv:1806.07421"

    def __init__(self, num_masks=4000, grid_size=7, probability=0.5, seed=None, center=False):
        self.num_masks = check_positive_int(num_masks, "num_masks")
        self.grid_size = check_positive_int(grid_size, "grid_size")
        if not 0.0 < float(probability) <= 1.0:
            raise ValueError(f"probability: expected a value in (0, 1], got {probability!r}.")
        self.probability = float(probability)
        self.seed = seed
        self.center = bool(center)
        rng = np.random.default_rng(seed)
        shape = (self.num_masks, self.grid_size, self.grid_size)
        self._cells = rng.random(shape) < self.probability
        self._shifts = rng.random((self.num_masks, 2))

    def rows_per_input(self):
        return self.num_masks

    def masks(self, height, width, index=None):
        """Masks ``index`` (default all) for an ``height x width`` image, float32 in [0, 1]."""
        s = self.grid_size
        if s > height or s > width:
            raise ValueError(
                f"grid_size: {s} cells per side do not fit an image of ({height}, {width})."
            )
        index = np.arange(self.num_masks) if index is None else np.asarray(index)
        cell_h, cell_w = math.ceil(height / s), math.ceil(width / s)
        up_h = interpolation_matrix(s, (s + 1) * cell_h)
        up_w = interpolation_matrix(s, (s + 1) * cell_w)
        shift_h = np.floor(self._shifts[index, 0] * cell_h).astype(int)
        shift_w = np.floor(self._shifts[index, 1] * cell_w).astype(int)
        rows = up_h[shift_h[:, None] + np.arange(height)]
        cols = up_w[shift_w[:, None] + np.arange(width)]
        cells = self._cells[index].astype(np.float64)
        return np.matmul(np.matmul(rows, cells), cols.transpose(0, 2, 1)).astype(np.float32)

    def attribute(self, ctx, x, row_targets):
        ax, ay = _spatial_axes(x, ctx.channel_axis)
        height, width = x.shape[ax], x.shape[ay]
        n = len(x)
        weighted = np.zeros((n, height, width), dtype=np.float64)
        mask_sum = np.zeros((height, width), dtype=np.float64)
        score_sum = np.zeros(n, dtype=np.float64)
        per_slice = max(1, ctx.batch_size * _SLICE_BATCHES // n)
        channel = None if x.ndim == 3 else (3 if ay == 2 else 1)
        for start in range(0, self.num_masks, per_slice):
            stop = min(start + per_slice, self.num_masks)
            masks = self.masks(height, width, np.arange(start, stop))
            m = len(masks)
            shaped = masks if channel is None else np.expand_dims(masks, channel)
            rows = (x[:, None] * shaped[None]).reshape((n * m,) + x.shape[1:])
            scores = ctx.forward(rows, np.repeat(row_targets, m)).scores
            scores = scores.astype(np.float64).reshape(n, m)
            # einsum's own loops, not BLAS threads competing with the framework's.
            weighted += np.einsum("nm,mhw->nhw", scores, masks, optimize=False)
            mask_sum += masks.sum(axis=0)
            score_sum += scores.sum(axis=1)
        if self.center:
            weighted -= (score_sum / self.num_masks)[:, None, None] * mask_sum[None]
        return (weighted / (self.num_masks * self.probability)).astype(np.float32)

