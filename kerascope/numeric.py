"""Low-level numeric helpers shared by methods, rendering and utilities (numpy only).

Separable linear resizing with half-pixel centres (the same as
``keras.ops.image.resize(..., "bilinear", antialias=False)``) and Gaussian blur.
They use einsum's own loops rather than BLAS: numpy's BLAS threads would fight the
framework's threads for the cores (measured 10-1000x slower under load).
"""

import numpy as np


def interpolation_matrix(source, target):
    """``(target, source)`` matrix of linear interpolation with half-pixel centres.

    Rows resample ``source`` samples to ``target`` (edges clamped), as
    ``keras.ops.image.resize(..., "bilinear", antialias=False)`` does per axis.
    """
    coords = (np.arange(target) + 0.5) * (source / target) - 0.5
    coords = np.clip(coords, 0.0, source - 1)
    low = np.floor(coords).astype(int)
    high = np.minimum(low + 1, source - 1)
    frac = coords - low
    matrix = np.zeros((target, source), dtype=np.float64)
    rows = np.arange(target)
    np.add.at(matrix, (rows, low), 1.0 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def upsample(maps, size):
    """(Bi)linearly resize ``maps`` ``(batch, *spatial[, ...])`` to ``size`` on axes 1..len(size).

    Separable linear interpolation with half-pixel centres (the same as
    ``keras.ops.image.resize(..., interpolation="bilinear", antialias=False)``),
    for any number of spatial axes; trailing axes are left alone.
    """
    out = np.asarray(maps, dtype=np.float32)
    size = tuple(int(s) for s in size)
    if out.ndim < 1 + len(size):
        raise ValueError(f"maps: shape {out.shape} has fewer than {len(size)} spatial axes.")
    for axis, n_out in enumerate(size, start=1):
        n_in = out.shape[axis]
        if n_in == n_out:
            continue
        matrix = interpolation_matrix(n_in, n_out).astype(np.float32)
        # einsum's own loops, not BLAS: numpy's BLAS threads would fight the
        # framework's threads for the cores (measured 10-1000x slower under load).
        moved = np.moveaxis(out, axis, -1)
        out = np.moveaxis(np.einsum("...i,oi->...o", moved, matrix, optimize=False), -1, axis)
    return np.ascontiguousarray(out, dtype=np.float32)


def spatial_axes(ndim, channel_axis):
    """The axes a blur runs along: all but the batch and (rank >= 3) channel axes."""
    channel_axis = channel_axis % ndim
    return [axis for axis in range(1, ndim) if not (axis == channel_axis and ndim >= 3)]


def gaussian_blur(x, sigma, channel_axis=-1):
    """Gaussian blur of a batch over its spatial axes (reflect borders)."""
    out = np.asarray(x, dtype=np.float64)
    for axis in spatial_axes(x.ndim, channel_axis):
        moved = np.moveaxis(out, axis, -1)
        blurred = np.einsum("...i,oi->...o", moved, blur_matrix(x.shape[axis], sigma), optimize=False)
        out = np.moveaxis(blurred, -1, axis)
    return out.astype(np.float32)


def blur_matrix(length, sigma):
    """``(length, length)`` matrix of a Gaussian blur of ``sigma`` samples along one
    axis, borders reflected (``gaussian_blur`` applies it per spatial axis)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / max(sigma, 1e-12)) ** 2)
    kernel /= kernel.sum()
    matrix = np.zeros((length, length))
    for i in range(length):
        for offset, weight in zip(offsets, kernel):
            j = i + offset
            j = -j if j < 0 else (2 * (length - 1) - j if j >= length else j)
            matrix[i, int(np.clip(j, 0, length - 1))] += weight
    return matrix
