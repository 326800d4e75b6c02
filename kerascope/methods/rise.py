"""RISE (Petsiuk, Das & Saenko 2018, arXiv:1806.07421), a perturbation method
(``kerascope.methods.occlusion``'s base: forward passes only, probabilities scored by
default).

``N`` binary grids of ``s x s`` cells, each cell 1 with probability ``p``, bilinearly
upsampled to ``(s + 1) * ceil(H / s)`` by ``(s + 1) * ceil(W / s)`` and cropped to
``H x W`` at a random shift below one cell: masks ``M_i`` in [0, 1]. Saliency
``S_c = sum_i p_c(x * M_i) M_i / (N p)``. ``center=True`` subtracts the mean
score, ``sum_i (p_c(x * M_i) - mean_j p_c(x * M_j)) M_i / (N p)``: the same map
up to a constant, with much lower variance (a control variate).

The masks are drawn, applied, scored and summed on the device (``MaskExpansion``).
"""

import math

import numpy as np

import keras

from kerascope.engine import noise
from kerascope.engine.expansion import Expansion
from kerascope.engine.numeric import interpolation_matrix
from kerascope.engine.validation import check_positive_int
from kerascope.methods.occlusion import PerturbationMethod, image_axes

_CELLS, _SHIFTS = 21, 22  # kerascope.engine.noise streams of RISE's grids and shifts


def rise_masks(index, seed, up_h, up_w, grid_size, probability, height, width):
    """RISE masks ``index`` (int32 ``(m,)``) in keras.ops: ``(m, height, width)``.

    Cell ``(a, b)`` of grid ``j`` is kept when its uniform draw keyed by ``(seed, j)``
    is below ``probability``; the grid is upsampled by the interpolation matrices
    ``up_h``/``up_w`` (``(s + 1) * cell`` rows each) and cropped at a shift below
    one cell drawn the same way."""
    s = grid_size
    cell_h, cell_w = math.ceil(height / s), math.ceil(width / s)
    cells = noise.uniform(noise.keys(seed, _CELLS, index), (s, s))
    cells = keras.ops.cast(keras.ops.less(cells, probability), "float32")
    shifts = noise.uniform(noise.keys(seed, _SHIFTS, index), (2,))
    shift_h = keras.ops.cast(keras.ops.floor(shifts[:, 0] * cell_h), "int32")
    shift_w = keras.ops.cast(keras.ops.floor(shifts[:, 1] * cell_w), "int32")
    rows = keras.ops.take(up_h, keras.ops.expand_dims(shift_h, 1)
                          + keras.ops.arange(height, dtype="int32"), axis=0)
    cols = keras.ops.take(up_w, keras.ops.expand_dims(shift_w, 1)
                          + keras.ops.arange(width, dtype="int32"), axis=0)
    return keras.ops.matmul(keras.ops.matmul(rows, cells), keras.ops.transpose(cols, (0, 2, 1)))


class MaskExpansion(Expansion):
    """RISE's rows on the device: masks drawn from the seed (``rise_masks``), each
    input times each mask, scored (forward only); sums: ``sum_j p_j M_j`` per input
    and ``sum_j M_j`` (``center``: ``sum_j (p_j - mean p) M_j`` with the count and
    mean of the scores). Constants: the seed and the two interpolation matrices."""

    gradients = False

    def __init__(self, num_masks, grid_size, probability, size, channel, center):
        self.rows = num_masks
        self.grid_size = grid_size
        self.probability = probability
        self.size = tuple(size)
        self.channel = channel
        self.center = center

    @property
    def key(self):
        return ("rise", self.rows, self.grid_size, self.probability, self.size, self.channel,
                self.center)

    def masks(self, chunk):
        seed, up_h, up_w = chunk.constants
        index = keras.ops.minimum(chunk.index, self.rows - 1)
        return rise_masks(index, seed, up_h, up_w, self.grid_size, self.probability,
                          *self.size)

    def expand(self, chunk):
        masks = chunk.baseline = self.masks(chunk)  # drawn once, for reduce too
        shape = tuple(chunk.x.shape[1:])
        if self.channel is not None:  # each mask repeated over the channels first
            ones = [1] * len(shape)
            ones[self.channel - 1] = shape[self.channel - 1]
            masks = (keras.ops.expand_dims(masks, self.channel)
                     * keras.ops.ones((1, *ones), dtype=masks.dtype))
        # (n, 1, size) x (1, m, size): TensorFlow's CPU kernels broadcast this form
        # at twice the speed of (n, 1, H, W, C) x (1, m, H, W, 1)
        size = math.prod(shape)
        rows = (keras.ops.reshape(chunk.x, (-1, 1, size))
                * keras.ops.reshape(masks, (1, -1, size)))
        return keras.ops.reshape(rows, (-1,) + shape)

    def reduce(self, values, chunk):
        m = int(chunk.index.shape[0])
        valid = chunk.valid
        scores = keras.ops.reshape(keras.ops.cast(values, "float32"), (-1, m)) * valid
        masks = chunk.baseline if chunk.baseline is not None else self.masks(chunk)
        masks = keras.ops.reshape(masks, (m, -1))
        mask_sum = keras.ops.matmul(keras.ops.expand_dims(valid, 0), masks)[0]
        if not self.center:
            return keras.ops.matmul(scores, masks), mask_sum
        # centred within the chunk (two passes), merged exactly by ``combine``: the
        # centred map is a small difference of large sums, kept small throughout
        count = keras.ops.sum(valid)
        mean = keras.ops.sum(scores, axis=1) / keras.ops.maximum(count, 1.0)
        centred = keras.ops.matmul((scores - keras.ops.expand_dims(mean, 1)) * valid, masks)
        return centred, mask_sum, count, mean

    def combine(self, sums, more):
        if not self.center:
            return super().combine(sums, more)
        (c_a, s_a, n_a, m_a), (c_b, s_b, n_b, m_b) = sums, more
        count = n_a + n_b
        mean = m_a + (m_b - m_a) * (n_b / keras.ops.maximum(count, 1.0))
        shift = lambda m, s: keras.ops.expand_dims(m - mean, 1) * keras.ops.expand_dims(s, 0)  # noqa: E731
        return c_a + c_b + shift(m_a, s_a) + shift(m_b, s_b), s_a + s_b, count, mean

    def finish(self, sums, chunk):
        return keras.ops.reshape(sums[0], (-1,) + self.size) / (self.rows * self.probability)


class RISE(PerturbationMethod):
    """RISE saliency maps ``(N, H, W)`` (see the module docstring).

    Args:
        num_masks: random masks ``N`` per input (the same masks for every input).
        grid_size: cells ``s`` per side of the random grids.
        probability: probability ``p`` that a cell is kept.
        seed: seed of the masks (``kerascope.engine.noise``: the same masks on every backend);
            None draws one for this instance (its masks stay the same across calls).
        center: subtract the mean masked score (lower variance, map shifted by a
            constant).

    The masks are drawn, applied, scored and summed on the device
    (``MaskExpansion``): one image goes in and one map comes out per input.
    """

    name = "rise"
    evaluates_inputs = True  # the fused pass resolves the targets at the inputs
    summary = "Masked-input scores averaged over random smooth masks."
    paper = "Petsiuk, Das & Saenko 2018, arXiv:1806.07421"

    cli_options = {"num_masks": 1000}

    def __init__(self, num_masks=4000, grid_size=7, probability=0.5, seed=None, center=False):
        self.num_masks = check_positive_int(num_masks, "num_masks")
        self.grid_size = check_positive_int(grid_size, "grid_size")
        if not 0.0 < float(probability) <= 1.0:
            raise ValueError(f"probability: expected a value in (0, 1], got {probability!r}.")
        self.probability = float(probability)
        self.seed = seed
        self.center = bool(center)
        self._seed = noise.seed_value(seed)

    def rows_per_input(self):
        return self.num_masks

    def _upsampling(self, height, width):
        s = self.grid_size
        if s > height or s > width:
            raise ValueError(
                f"grid_size: {s} cells per side do not fit an image of ({height}, {width})."
            )
        cell_h, cell_w = math.ceil(height / s), math.ceil(width / s)
        return (interpolation_matrix(s, (s + 1) * cell_h).astype(np.float32),
                interpolation_matrix(s, (s + 1) * cell_w).astype(np.float32))

    def masks(self, height, width, index=None):
        """Masks ``index`` (default all) for an ``height x width`` image, float32 in [0, 1]."""
        up_h, up_w = self._upsampling(height, width)
        index = np.arange(self.num_masks) if index is None else np.asarray(index)
        masks = rise_masks(keras.ops.convert_to_tensor(index.astype(np.int32)), self._seed,
                           keras.ops.convert_to_tensor(up_h), keras.ops.convert_to_tensor(up_w),
                           self.grid_size, self.probability, height, width)
        return keras.ops.convert_to_numpy(masks)

    def attribute(self, ctx, x, row_targets):
        ax, ay = image_axes(x, ctx.channel_axis)
        channel = None if x.ndim == 3 else (3 if ay == 2 else 1)
        size = (x.shape[ax], x.shape[ay])
        expansion = MaskExpansion(self.num_masks, self.grid_size, self.probability, size,
                                  channel, self.center)
        constants = (np.asarray(self._seed, dtype=np.int32), *self._upsampling(*size))
        return ctx.expanded(expansion, x, row_targets, constants=constants)
