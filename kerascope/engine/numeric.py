"""Low-level numeric helpers shared by methods, rendering and utilities (numpy only).

Separable linear resizing with half-pixel centres (the same as
``keras.ops.image.resize(..., "bilinear", antialias=False)``) and Gaussian blur, both
one small matrix applied along one axis at a time (``apply_along``).
"""

import functools

import numpy as np


def interpolation_matrix(source, target, antialias=False):
    """``(target, source)`` matrix of linear interpolation with half-pixel centres.

    Rows resample ``source`` samples to ``target`` (edges clamped), as
    ``keras.ops.image.resize(..., "bilinear", antialias=False)`` does per axis.
    ``antialias`` and ``target < source``: Pillow's ``BILINEAR`` instead, a triangle
    filter ``s = source / target`` samples wide, its weights normalized per row.
    """
    if antialias and target < source:
        scale = source / target
        centres = (np.arange(target) + 0.5) * scale
        offsets = (np.arange(source)[None, :] + 0.5 - centres[:, None]) / scale
        weights = np.maximum(1.0 - np.abs(offsets), 0.0)
        return weights / weights.sum(axis=1, keepdims=True)
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


@functools.lru_cache(maxsize=64)
def _cached_matrix(source, target, antialias, dtype):
    """``interpolation_matrix`` in ``dtype``, made once (read-only)."""
    matrix = interpolation_matrix(source, target, antialias).astype(dtype)
    matrix.flags.writeable = False
    return matrix


def upsample(maps, size):
    """(Bi)linearly resize ``maps`` ``(batch, *spatial[, ...])`` to ``size`` on axes 1..len(size).

    Separable linear interpolation with half-pixel centres (the same as
    ``keras.ops.image.resize(..., interpolation="bilinear", antialias=False)``),
    for any number of spatial axes; trailing axes are left alone.
    """
    out = resize(np.asarray(maps, dtype=np.float32), size)
    return np.ascontiguousarray(out, dtype=np.float32)


def resize(maps, size, interpolation="bilinear", antialias=False, dtype=np.float32):
    """Resize axes ``1..len(size)`` of ``maps`` ``(batch, *spatial[, ...])`` to ``size``.

    ``"bilinear"``: :func:`interpolation_matrix` per axis (``antialias``: Pillow's
    ``BILINEAR`` when shrinking), computed in ``dtype``; ``"nearest"``: output index
    ``i`` reads input ``floor((i + 0.5) * in / out)`` (``tf.image.resize`` nearest).
    """
    size = tuple(int(s) for s in size)
    out = np.asarray(maps)
    if out.ndim < 1 + len(size):
        raise ValueError(f"maps: shape {out.shape} has fewer than {len(size)} spatial axes.")
    if interpolation == "bilinear" and out.ndim == 3 and len(size) == 2:
        plane = _resize_planes(out, size, antialias, np.dtype(dtype))
        if plane is not None:
            return plane
    for axis, n_out in enumerate(size, start=1):
        n_in = out.shape[axis]
        if interpolation == "nearest":
            index = np.minimum(np.floor((np.arange(n_out) + 0.5) * n_in / n_out).astype(int),
                               n_in - 1)
            out = np.take(out, index, axis=axis)
        elif n_in != n_out:
            matrix = _cached_matrix(n_in, n_out, antialias, np.dtype(dtype))
            out = apply_along(out.astype(dtype, copy=False), matrix, axis)
    return out


def _resize_planes(maps, size, antialias, dtype):
    """``R_h @ map @ R_w^T`` for a batch of 2-D ``maps``, two stacked matrix products
    (the common CAM upsampling), or None when a product would wake BLAS's threads
    (``SINGLE_THREAD_PRODUCT``)."""
    (n_h, n_w), (h, w) = maps.shape[1:], size
    if max(h * n_h * n_w, h * n_w * w) > SINGLE_THREAD_PRODUCT:
        return None
    rows = _cached_matrix(n_h, h, antialias, dtype) if n_h != h else None
    cols = _cached_matrix(n_w, w, antialias, dtype) if n_w != w else None
    out = maps.astype(dtype, copy=False)
    if rows is not None:
        out = np.matmul(rows, out)
    if cols is not None:
        out = np.matmul(out, cols.T)
    return out


def resize_map(values, shape):
    """A map ``(h, w)`` or ``(h, w, C)`` resized to ``shape`` ``(H, W)`` as float32, the same
    as Pillow's float ``BILINEAR`` resize: the width first, then the height, each pass in
    float64 rounded to float32 (antialiased when shrinking)."""
    out = np.asarray(values, dtype=np.float32)
    for axis, n_out in ((1, int(shape[1])), (0, int(shape[0]))):
        size = (n_out,) if axis == 0 else (out.shape[0], n_out)
        out = resize(out[None].astype(np.float64), size, antialias=True,
                     dtype=np.float64)[0].astype(np.float32)
    return out


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


def multiply_masks(rows, masks):
    """``rows * masks`` in place in ``rows`` (a fresh array the caller owns), returned.

    A mask of one channel against rows of a few channels, last (``(..., 1)`` against
    ``(..., C)``), is applied one channel at a time: numpy broadcasts a length-1
    last axis ~5x slower than it multiplies strided planes.
    """
    if 1 < rows.shape[-1] <= 8 and masks.shape[-1] == 1 and masks.ndim == rows.ndim:
        plane = masks[..., 0]
        for channel in range(rows.shape[-1]):
            rows[..., channel] *= plane
        return rows
    rows *= masks
    return rows
