"""Low-level numeric helpers shared by methods, rendering and utilities (numpy only).

Separable linear resizing with half-pixel centres (the same as
``keras.ops.image.resize(..., "bilinear", antialias=False)``) and Gaussian blur, both
one small matrix applied along one axis at a time (``apply_along``).
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
        out = apply_along(out, interpolation_matrix(n_in, n_out).astype(np.float32), axis)
    return np.ascontiguousarray(out, dtype=np.float32)


# The largest m * n * k of one matrix product ``apply_along`` hands to BLAS. OpenBLAS
# computes products up to 4 * 65536 multiply-adds on the calling thread; larger ones
# wake its thread pool, whose spinning threads then fight the framework's threads
# for the cores (measured 10-1000x slower under load).
SINGLE_THREAD_PRODUCT = 65536


def apply_along(array, matrix, axis):
    """``out[..., o, ...] = sum_i matrix[o, i] * array[..., i, ...]`` along ``axis``.

    Computed as a stack of small matrix products (each at most
    ``SINGLE_THREAD_PRODUCT`` multiply-adds, so BLAS stays on this thread), or, when
    the rows cannot be cut that small, with einsum's own loops.
    """
    moved = np.moveaxis(array, axis, -1)
    n_in, n_out = matrix.shape[1], matrix.shape[0]
    rows = int(np.prod(moved.shape[:-1]))
    block = _row_block(moved.shape[-2] if moved.ndim > 1 else 1, n_in * n_out)
    if block:
        flat = np.ascontiguousarray(moved).reshape(rows // block, block, n_in)
        result = np.matmul(flat, np.ascontiguousarray(matrix.T, dtype=flat.dtype))
        result = result.reshape(moved.shape[:-1] + (n_out,))
    else:
        result = np.einsum("...i,oi->...o", moved, matrix, optimize=False)
    return np.moveaxis(result, -1, axis)


def _row_block(rows, cost_per_row):
    """Rows per small product: the largest divisor of ``rows`` (the length of the
    axis before the contracted one) that keeps a product within
    ``SINGLE_THREAD_PRODUCT``; 0 when only tiny blocks (< 8 rows) would."""
    most = SINGLE_THREAD_PRODUCT // max(cost_per_row, 1)
    for block in range(min(rows, most), 7, -1):
        if rows % block == 0:
            return block
    return 0


def spatial_axes(ndim, channel_axis):
    """The axes a blur runs along: all but the batch and (rank >= 3) channel axes."""
    channel_axis = channel_axis % ndim
    return [axis for axis in range(1, ndim) if not (axis == channel_axis and ndim >= 3)]


def gaussian_blur(x, sigma, channel_axis=-1):
    """Gaussian blur of a batch over its spatial axes (reflect borders)."""
    out = np.asarray(x, dtype=np.float64)
    for axis in spatial_axes(x.ndim, channel_axis):
        out = apply_along(out, blur_matrix(x.shape[axis], sigma), axis)
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
