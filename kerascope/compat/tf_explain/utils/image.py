"""Array-level image helpers: uint8 conversion, map normalisation, patches, resizing.

Pure NumPy + Pillow; no deep-learning backend is imported here.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from kerascope.engine.numeric import interpolation_matrix  # noqa: F401  (re-exported)

__all__ = [
    "as_numpy",
    "tensor_result",
    "TensorResult",
    "to_uint8",
    "image_to_uint_255",
    "transform_to_normalized_grayscale",
    "normalize_map",
    "apply_grey_patch",
    "resize_map",
]


def as_numpy(array) -> np.ndarray:
    """``array`` (numpy, a list of images, or a TensorFlow/JAX/PyTorch tensor) as numpy."""
    if isinstance(array, np.ndarray):
        return array
    if isinstance(array, (list, tuple)):
        return np.stack([as_numpy(item) for item in array]) if len(array) else np.asarray(array)
    if isinstance(array, (int, float, np.generic)):
        return np.asarray(array)
    import keras  # a backend tensor: let Keras bring it to the host

    return keras.ops.convert_to_numpy(array)


class TensorResult(np.ndarray):
    """A numpy array that also answers ``.numpy()``, as the TensorFlow tensors
    tf-explain's helpers returned did (``transform_to_normalized_grayscale(g).numpy()``)."""

    def numpy(self):
        return np.asarray(self)


def tensor_result(array):
    """What tf-explain's tensor-returning helpers return here.

    On the TensorFlow backend a ``tf.Tensor`` (tf-explain's callers chain ``tf.*`` ops
    and ``.numpy()``); on JAX and PyTorch a :class:`TensorResult`, a numpy array with a
    ``.numpy()`` method.
    """
    import keras

    array = np.asarray(array)
    if keras.backend.backend() == "tensorflow":
        return keras.ops.convert_to_tensor(array)
    return array.view(TensorResult)


def _infer_value_range(array: np.ndarray) -> Tuple[float, float]:
    """Guess the value range of a float image: [0, 1], [-1, 1] or [0, 255]."""
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= 0.0 and hi <= 1.0:
        return (0.0, 1.0)
    if lo < 0.0 and lo >= -1.0 and hi <= 1.0:
        return (-1.0, 1.0)
    return (0.0, 255.0)


def to_uint8(array, value_range: Optional[Sequence[float]] = None) -> np.ndarray:
    """Convert an array to ``uint8`` by linear scaling, rounding and clipping.

    ``value_range=(lo, hi)`` maps ``lo -> 0`` and ``hi -> 255``; values outside are
    clipped to 0 or 255 (never wrapped around as a bare ``astype(np.uint8)`` would).

    When ``value_range`` is None it is inferred from the data:

    * floats with ``min >= 0`` and ``max <= 1``: ``(0, 1)``;
    * floats with ``-1 <= min < 0`` and ``max <= 1``: ``(-1, 1)``;
    * anything else (including integer arrays): ``(0, 255)``, i.e. values are kept
      and only clipped.

    ``uint8`` input with no ``value_range`` is returned unchanged; booleans map to 0/255.
    NaN becomes 0, ``+inf`` becomes 255 and ``-inf`` becomes 0.
    """
    array = np.asarray(array)
    if array.dtype == np.uint8 and value_range is None:
        return array
    if array.dtype == np.bool_:
        array = array.astype(np.float32)

    if value_range is None:
        if np.issubdtype(array.dtype, np.floating):
            lo, hi = _infer_value_range(array)
        else:
            lo, hi = 0.0, 255.0
    else:
        if len(value_range) != 2:
            raise ValueError(f"value_range must be a pair (low, high), got {value_range!r}")
        lo, hi = float(value_range[0]), float(value_range[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
            raise ValueError(f"value_range must satisfy low < high, got {value_range!r}")

    work_dtype = np.result_type(array.dtype, np.float32)
    if not np.issubdtype(work_dtype, np.floating):
        work_dtype = np.float64
    scaled = (array.astype(work_dtype) - lo) * (255.0 / (hi - lo))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def image_to_uint_255(image) -> np.ndarray:
    """Convert an image to ``uint8`` in [0, 255], always clipping.

    ``uint8`` images pass through unchanged. Float images in [0, 1] are multiplied by 255,
    float images in [-1, 1] (with a negative value) are mapped with ``(x + 1) * 127.5``,
    and any other float image is treated as already being on the [0, 255] scale (kept, then
    clipped). A very dark [0, 255] image whose values all lie in [0, 1] is therefore read as
    a [0, 1] image; call :func:`to_uint8` with an explicit ``value_range`` in that case.
    """
    return to_uint8(as_numpy(image))


def transform_to_normalized_grayscale(tensor):
    """Turn a batch of attribution maps into ``uint8`` grayscale maps.

    Input ``(N, H, W)`` or ``(N, H, W, C)`` (channels are summed), numpy or a backend
    tensor; the result is a :func:`tensor_result` (a ``tf.Tensor`` on TensorFlow, a
    numpy array with ``.numpy()`` elsewhere), as tf-explain returned a tensor. Each map is
    standardised on its own, ``(x - mean) / std``, multiplied by 255, then rounded and
    clipped to [0, 255]: below-mean values become 0 and values more than one standard
    deviation above the mean saturate at 255. ``(N, H, W)`` ``uint8``. Unlike tf-explain (which calls
    TensorFlow's ``per_image_standardization`` on the ``(N, H, W)`` stack, so the whole
    batch shares one mean and one std floored at ``1 / sqrt(N * H * W)``, and whose cast
    wraps around), each map has its own statistics, small gradients are not rendered
    black and nothing wraps.
    """
    maps = as_numpy(tensor)
    if maps.ndim == 4:
        maps = maps.sum(axis=-1, dtype=np.float64)
    elif maps.ndim != 3:
        raise ValueError(
            "tensor must have shape (N, H, W) or (N, H, W, C), "
            f"got an array of shape {maps.shape}"
        )
    maps = np.nan_to_num(maps.astype(np.float64), nan=0.0)
    num_elements = maps.shape[1] * maps.shape[2]
    if num_elements == 0:
        return tensor_result(np.zeros(maps.shape, dtype=np.uint8))
    mean = maps.mean(axis=(1, 2), keepdims=True)
    std = maps.std(axis=(1, 2), keepdims=True)
    std = np.where(std > 0, std, 1.0)
    standardized = (maps - mean) / std
    return tensor_result(to_uint8(standardized * 255.0, value_range=(0.0, 255.0)))


_NORMALIZE_MODES = ("minmax", "abs", "positive")


def normalize_map(m, mode: str = "minmax", per_sample: bool = True) -> np.ndarray:
    """Rescale attribution maps to [0, 1] ``float32``.

    ``mode``: ``'minmax'`` gives ``(x - min) / (max - min)``; ``'abs'`` gives ``|x| / max|x|``;
    ``'positive'`` gives ``relu(x) / max(relu(x))``. With ``per_sample=True`` and ``m.ndim >= 3``
    the first axis is the batch and each sample is scaled by its own statistics; otherwise the
    whole array shares one scale. A map with zero spread (constant, or nothing positive for
    ``'positive'``) becomes all zeros; non-finite values are ignored and become 0.
    """
    if mode not in _NORMALIZE_MODES:
        raise ValueError(f"mode must be one of {_NORMALIZE_MODES}, got {mode!r}")
    x = np.asarray(m, dtype=np.float64)
    finite = np.isfinite(x)
    x = np.where(finite, x, 0.0)
    if mode == "abs":
        x = np.abs(x)
    elif mode == "positive":
        x = np.maximum(x, 0.0)

    if per_sample and x.ndim >= 3:
        axes = tuple(range(1, x.ndim))
    else:
        axes = tuple(range(x.ndim))
    if x.size == 0:
        return x.astype(np.float32)

    if mode == "minmax":
        lo = np.min(np.where(finite, x, np.inf), axis=axes, keepdims=True)
        hi = np.max(np.where(finite, x, -np.inf), axis=axes, keepdims=True)
        lo = np.where(np.isfinite(lo), lo, 0.0)
        hi = np.where(np.isfinite(hi), hi, 0.0)
    else:
        lo = np.zeros([1] * x.ndim)
        hi = np.max(x, axis=axes, keepdims=True)
    spread = hi - lo
    safe = np.where(spread > 0, spread, 1.0)
    out = np.where((spread > 0) & finite, (x - lo) / safe, 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def apply_grey_patch(image, top_left_x: int, top_left_y: int, patch_size: int,
                     value: float = 127.5) -> np.ndarray:
    """Return a copy of ``image`` with a square patch set to ``value``.

    ``top_left_x`` is the column and ``top_left_y`` the row of the patch's top-left corner:
    the copy gets ``image[y:y + patch_size, x:x + patch_size] = value`` (the patch is cut at
    the image border). The input is never modified. For integer images ``value`` is cast to
    the image dtype (127.5 becomes 127).
    """
    image = np.array(image, copy=True)
    if image.ndim < 2:
        raise ValueError(f"image must have at least 2 dimensions (H, W), got shape {image.shape}")
    if int(top_left_x) < 0 or int(top_left_y) < 0:
        raise ValueError(
            f"top_left_x and top_left_y must be >= 0, got ({top_left_x}, {top_left_y})"
        )
    if int(patch_size) < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    x, y, p = int(top_left_x), int(top_left_y), int(patch_size)
    image[y:y + p, x:x + p] = value
    return image


def resize_map(m, size_hw: Sequence[int]) -> np.ndarray:
    """Bilinearly resize a float map to ``size_hw = (H, W)`` with Pillow's float mode ``'F'``.

    Accepts ``(h, w)`` or ``(h, w, C)`` (each channel resized separately) and returns
    ``float32`` of shape ``(H, W)`` or ``(H, W, C)``; values are not quantised.
    """
    if len(size_hw) != 2:
        raise ValueError(f"size_hw must be (height, width), got {size_hw!r}")
    height, width = int(size_hw[0]), int(size_hw[1])
    if height < 1 or width < 1:
        raise ValueError(f"size_hw must be positive, got {size_hw!r}")
    arr = np.asarray(m, dtype=np.float32)
    if arr.ndim == 3:
        channels = [resize_map(arr[..., c], (height, width)) for c in range(arr.shape[-1])]
        return np.stack(channels, axis=-1)
    if arr.ndim != 2:
        raise ValueError(f"m must have shape (h, w) or (h, w, C), got {arr.shape}")
    if arr.shape == (height, width):
        return arr.copy()
    if arr.size == 0:
        raise ValueError(f"m must not be empty, got shape {arr.shape}")
    pil = Image.fromarray(np.ascontiguousarray(arr))  # float32 2-D -> mode 'F'
    resized = pil.resize((width, height), Image.Resampling.BILINEAR)  # Pillow wants (W, H)
    return np.asarray(resized, dtype=np.float32).copy()
