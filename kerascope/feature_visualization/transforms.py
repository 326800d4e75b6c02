"""Random transformations applied to the image before every step (robustness).

Olah et al. 2017 (Distill, "Feature Visualization") show that small random jitter,
rotation and scaling each step keep the optimization from exploiting single pixels.
Each transform draws its random parameters with NumPy from the run's seeded
generator (``draw(rng)``, a few numbers per step, identical on every backend) and
applies them with ``keras.ops`` / ``keras.ops.image`` inside the compiled step
(``apply(images, params, value_range)``), so the random values are step inputs and
never cause a recompilation. Images are ``(B, H, W, C)``; the whole batch shares
one draw per step. Rotation and scaling use ``affine_sample``, a bilinear resampler
written with gathers: the same values and gradients on every backend.
"""

import math

import keras
import numpy as np


def _sample(rng, amount, distribution, integer=False):
    """One number: uniform in [-amount, amount], normal with std ``amount``, or a choice."""
    if isinstance(amount, (list, tuple, np.ndarray)):
        value = float(rng.choice(np.asarray(amount, dtype=np.float64)))
    elif distribution == "normal":
        value = float(rng.normal() * amount)
    else:
        value = float(rng.uniform(-amount, amount))
    return float(np.round(value)) if integer else value


def _check_distribution(distribution):
    if distribution not in ("uniform", "normal"):
        raise ValueError(
            f"distribution: expected 'uniform' or 'normal', got {distribution!r}."
        )


class Transform:
    """Base class: ``draw(rng) -> float32 array`` and ``apply(images, params, range)``."""

    def key(self):
        return (type(self).__name__,) + tuple(sorted(
            (k, repr(v)) for k, v in vars(self).items()
        ))

    def draw(self, rng):
        return np.zeros((0,), np.float32)

    def apply(self, images, params, value_range):
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Jitter(Transform):
    """Roll the image by a random integer shift ``(dy, dx)`` (wrapping around).

    ``pixels``: maximum shift (uniform), standard deviation (``distribution="normal"``,
    the seed post's ``round(randn * 15)``), or a list of shifts to choose from.
    """

    def __init__(self, pixels, distribution="uniform"):
        _check_distribution(distribution)
        self.pixels = pixels
        self.distribution = distribution

    def draw(self, rng):
        return np.asarray(
            [_sample(rng, self.pixels, self.distribution, integer=True) for _ in range(2)],
            dtype=np.float32,
        )

    def apply(self, images, params, value_range):
        for axis in (1, 2):
            size = images.shape[axis]
            shift = keras.ops.cast(params[axis - 1], "int32")
            index = keras.ops.mod(keras.ops.arange(size, dtype="int32") - shift, size)
            images = keras.ops.take(images, index, axis=axis)
        return images


class Pad(Transform):
    """Pad ``pixels`` on every side with ``value`` (default: middle of the range).

    The image grows; after all transforms the driver crops its centre back to the
    model's input size, so ``Pad`` then ``Jitter`` is a translation with a flat
    border (Lucid's ``pad`` + ``jitter``). ``mode="reflect"`` mirrors instead.
    """

    def __init__(self, pixels, value=None, mode="constant"):
        if mode not in ("constant", "reflect", "symmetric"):
            raise ValueError(
                f"mode: expected 'constant', 'reflect' or 'symmetric', got {mode!r}."
            )
        self.pixels = int(pixels)
        self.value = value
        self.mode = mode

    def apply(self, images, params, value_range):
        p = self.pixels
        widths = [[0, 0], [p, p], [p, p], [0, 0]]
        if self.mode != "constant":
            return keras.ops.pad(images, widths, mode=self.mode)
        value = self.value
        if value is None:
            value = 0.0 if value_range is None else 0.5 * (value_range[0] + value_range[1])
        return keras.ops.pad(images, widths, mode="constant", constant_values=float(value))


def _fold(index, size, fill_mode):
    """Integer source ``index`` mapped into ``[0, size)`` and a 0/1 in-bounds mask."""
    ops = keras.ops
    inside = ops.cast(ops.logical_and(index >= 0, index <= size - 1), "float32")
    if fill_mode == "reflect":  # d c b a | a b c d | d c b a
        period = ops.mod(index, 2 * size)
        index = ops.where(period >= size, 2 * size - 1 - period, period)
        inside = ops.ones_like(inside)
    elif fill_mode == "wrap":
        index = ops.mod(index, size)
        inside = ops.ones_like(inside)
    elif fill_mode == "nearest":
        inside = ops.ones_like(inside)
    return ops.clip(index, 0, size - 1), inside


def affine_sample(images, matrix, fill_mode="reflect", fill_value=0.0):
    """Bilinear resampling of ``(B, H, W, C)`` images about their centre.

    Output pixel ``p`` (``(x, y)``, relative to the centre ``c``) reads the input at
    ``A (p - c) + c`` with ``A = [[a00, a01], [a10, a11]]`` (``matrix``, 4 scalar
    tensors), shared by the batch. Written with gathers (``keras.ops.take``) so it
    gives the same values on every backend and differentiates with respect to the
    images. ``fill_mode``: ``"reflect"``, ``"wrap"``, ``"nearest"`` or ``"constant"``.
    """
    ops = keras.ops
    b, h, w, c = images.shape
    a00, a01, a10, a11 = matrix
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ys = ops.repeat(ops.arange(h, dtype="float32") - cy, w)
    xs = ops.tile(ops.arange(w, dtype="float32") - cx, [h])
    src_x = a00 * xs + a01 * ys + cx
    src_y = a10 * xs + a11 * ys + cy
    x0, y0 = ops.floor(src_x), ops.floor(src_y)
    wx, wy = src_x - x0, src_y - y0
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    indices, weights, outside = [], [], []
    for dy, weight_y in ((0, 1.0 - wy), (1, wy)):
        yi, y_in = _fold(y0 + dy, h, fill_mode)
        for dx, weight_x in ((0, 1.0 - wx), (1, wx)):
            xi, x_in = _fold(x0 + dx, w, fill_mode)
            weight = weight_y * weight_x
            indices.append(yi * w + xi)
            weights.append(weight * y_in * x_in)
            outside.append(weight * (1.0 - y_in * x_in))
    # One gather for the four corners: (B, 4 * H * W, C).
    corners = ops.take(ops.reshape(images, (-1, h * w, c)), ops.concatenate(indices), axis=1)
    corners = ops.reshape(corners, (-1, 4, h * w, c))
    out = ops.sum(corners * ops.reshape(ops.stack(weights), (1, 4, h * w, 1)), axis=1)
    if fill_mode == "constant":
        out = out + ops.reshape(sum(outside), (1, h * w, 1)) * fill_value
    return ops.reshape(out, (-1, h, w, c))


class _Affine(Transform):
    fill_mode = "reflect"

    def matrix(self, params):
        raise NotImplementedError

    def apply(self, images, params, value_range):
        fill = 0.0 if value_range is None else 0.5 * (value_range[0] + value_range[1])
        return affine_sample(images, self.matrix(params), self.fill_mode, fill)


class RandomRotate(_Affine):
    """Rotate about the centre by a random angle (degrees; bilinear, mirrored border).

    ``degrees``: maximum angle (uniform), standard deviation (``distribution="normal"``)
    or a list of angles (Lucid: ``range(-10, 11)``). The seed post's
    ``randn * 0.05`` radians is ``RandomRotate(math.degrees(0.05), "normal")``.
    """

    def __init__(self, degrees, distribution="uniform", fill_mode="reflect"):
        _check_distribution(distribution)
        self.degrees = degrees
        self.distribution = distribution
        self.fill_mode = fill_mode

    def draw(self, rng):
        angle = math.radians(_sample(rng, self.degrees, self.distribution))
        return np.asarray([angle], dtype=np.float32)

    def matrix(self, params):
        c, s = keras.ops.cos(params[0]), keras.ops.sin(params[0])
        return c, -s, s, c


class RandomScale(_Affine):
    """Zoom about the centre by a random factor from ``scales`` (a list) or a range.

    ``scales=(low, high)`` with ``distribution="uniform"`` draws uniformly in it; a
    list of more than two values is a set to choose from (Lucid: ``1 + (i - 5) / 50``).
    """

    def __init__(self, scales, distribution="uniform", fill_mode="reflect"):
        scales = tuple(float(s) for s in scales)
        if not scales or min(scales) <= 0:
            raise ValueError(f"scales: expected positive factors, got {scales!r}.")
        self.scales = scales
        self.distribution = distribution
        self.fill_mode = fill_mode

    def draw(self, rng):
        if len(self.scales) == 2 and self.distribution == "uniform":
            value = rng.uniform(*self.scales)
        else:
            value = rng.choice(np.asarray(self.scales))
        return np.asarray([value], dtype=np.float32)

    def matrix(self, params):
        inverse = 1.0 / params[0]
        zero = keras.ops.zeros_like(inverse)
        return inverse, zero, zero, inverse


def standard_transforms(size=128):
    """Lucid's standard set scaled to ``size`` pixels (Lucid's numbers at 128 px).

    Pad 12, jitter 8, scale 0.9..1.1, rotate -10..10 degrees, jitter 4 at 128 px.
    """
    factor = size / 128.0
    px = lambda n: max(1, int(round(n * factor)))  # noqa: E731
    return [
        Pad(px(12)),
        Jitter(px(8)),
        RandomScale([1 + (i - 5) / 50.0 for i in range(11)]),
        RandomRotate(list(range(-10, 11))),
        Jitter(px(4)),
    ]


def post_transforms(shift=15.0):
    """The seed post's augmentation: rotate ``randn * 0.05`` rad, roll ``randn * shift``
    px (15 on its 299 px images), the border filled with the middle of the range."""
    return [RandomRotate(math.degrees(0.05), "normal", fill_mode="constant"),
            Jitter(shift, "normal")]
