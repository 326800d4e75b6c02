"""tf-explain's pictures: uint8 conversion, image grids, colormaps and heatmap overlays
(``kerascope.utils.display`` and ``kerascope.utils.image`` re-export them).

Pure NumPy + matplotlib colormaps; no deep-learning backend is imported here.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np

from kerascope.engine.numeric import resize_map as _resize
from kerascope.inputs.arrays import to_numpy

__all__ = [
    "grid_display",
    "filter_display",
    "image_to_uint_255",
    "apply_colormap",
    "heatmap_display",
    "overlay",
    "COLORMAP_VIRIDIS",
    "OPENCV_COLORMAPS",
    "to_uint8",
    "normalize_map",
    "resize_map",
]


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
    return to_uint8(to_numpy(image))


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


def resize_map(m, size_hw: Sequence[int]) -> np.ndarray:
    """Bilinearly resize a float map to ``size_hw = (H, W)`` (Pillow's float ``BILINEAR``).

    Accepts ``(h, w)`` or ``(h, w, C)`` (each channel resized separately) and returns
    ``float32`` of shape ``(H, W)`` or ``(H, W, C)``; values are not quantised.
    """
    if len(size_hw) != 2:
        raise ValueError(f"size_hw must be (height, width), got {size_hw!r}")
    height, width = int(size_hw[0]), int(size_hw[1])
    if height < 1 or width < 1:
        raise ValueError(f"size_hw must be positive, got {size_hw!r}")
    arr = np.asarray(m, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"m must have shape (h, w) or (h, w, C), got {arr.shape}")
    if arr.shape[:2] == (height, width):
        return arr.copy()
    if arr.size == 0:
        raise ValueError(f"m must not be empty, got shape {arr.shape}")
    return _resize(arr, (height, width))


#: ``cv2.COLORMAP_VIRIDIS``: tf-explain's default colormap (an OpenCV colormap code).
COLORMAP_VIRIDIS = 16

#: OpenCV colormap codes (``cv2.COLORMAP_*``, which tf-explain took) -> matplotlib names.
OPENCV_COLORMAPS = {
    0: "autumn", 1: "bone", 2: "jet", 3: "winter", 4: "rainbow", 5: "ocean", 6: "summer",
    7: "spring", 8: "cool", 9: "hsv", 10: "pink", 11: "hot", 13: "magma", 14: "inferno",
    15: "plasma", 16: "viridis", 17: "cividis", 18: "twilight", 19: "twilight_shifted",
    20: "turbo",
}

GRID_TOO_SMALL_WARNING = (
    "Given values for num_rows and num_columns doesn't allow to display all images. "
    "Values have been overrided to respect at least num_columns"
)


def _grid_shape(num_images: int, num_rows: Optional[int], num_columns: Optional[int]):
    """Rows and columns of tf-explain's grid for ``num_images`` cells.

    Neither given: a square ``ceil(sqrt(N))`` x ``ceil(sqrt(N))`` grid. One given: the
    other is ``ceil(N / given)``. Both given but too small: a warning, and the rows
    grow to ``ceil(N / num_columns)`` (``num_columns`` is kept).
    """
    for name, value in (("num_rows", num_rows), ("num_columns", num_columns)):
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
            raise ValueError(f"{name}: expected a positive int or None, got {value!r}.")
    if num_rows is not None and num_columns is not None:
        num_rows, num_columns = int(num_rows), int(num_columns)
        if num_rows * num_columns < num_images:
            warnings.warn(GRID_TOO_SMALL_WARNING, UserWarning, stacklevel=3)
            num_rows = math.ceil(num_images / num_columns)
    elif num_rows is not None:
        num_rows = int(num_rows)
        num_columns = math.ceil(num_images / num_rows)
    elif num_columns is not None:
        num_columns = int(num_columns)
        num_rows = math.ceil(num_images / num_columns)
    else:
        num_rows = num_columns = math.ceil(math.sqrt(num_images))
    return num_rows, num_columns


def grid_display(array, num_rows=None, num_columns=None) -> np.ndarray:
    """Tile N images ``(N, H, W)`` or ``(N, H, W, C)`` into one ``(rows*H, cols*W[, C])`` image.

    tf-explain's layout: images fill the grid row by row and unused cells are zeros.
    By default the grid is square, ``ceil(sqrt(N))`` rows and columns (2 images give a
    2 x 2 grid, 7 images of 28 x 28 give 84 x 84). If only one of ``num_rows`` and
    ``num_columns`` is given the other is derived; if ``num_rows * num_columns < N``
    a ``UserWarning`` is issued and the rows grow to ``ceil(N / num_columns)``. The
    output keeps the input dtype (a list of images or backend tensors is accepted).
    """
    images = to_numpy(array)
    if images.ndim not in (3, 4):
        raise ValueError(
            "array: expected images of shape (H, W) or (H, W, C), i.e. an array of shape "
            f"(N, H, W) or (N, H, W, C); got {images.shape}."
        )
    num_images = images.shape[0]
    if num_images == 0:
        raise ValueError("array: expected at least one image, got none.")
    num_rows, num_columns = _grid_shape(num_images, num_rows, num_columns)
    height, width = images.shape[1], images.shape[2]
    grid = np.zeros((num_rows * height, num_columns * width) + images.shape[3:], dtype=images.dtype)
    for index in range(num_images):
        row, col = divmod(index, num_columns)
        grid[row * height:(row + 1) * height, col * width:(col + 1) * width] = images[index]
    return grid


def filter_display(array, num_rows=None, num_columns=None) -> np.ndarray:
    """Grid of every channel of every image of activations ``(N, H, W, C)``.

    As tf-explain: the channels are moved into the batch axis (image 0's channels
    first, then image 1's, ...) and tiled with :func:`grid_display`; the values are
    kept as they are (``ExtractActivations`` scales the grid to uint8).
    """
    activations = to_numpy(array)
    if activations.ndim != 4:
        raise ValueError(
            f"array: expected activations of shape (N, H, W, C), got {activations.shape}."
        )
    n, h, w, c = activations.shape
    maps = np.moveaxis(activations, -1, 1).reshape(n * c, h, w)
    return grid_display(maps, num_rows, num_columns)


def _get_colormap(colormap):
    import matplotlib
    from matplotlib.colors import Colormap

    if isinstance(colormap, Colormap):
        return colormap
    if isinstance(colormap, (int, np.integer)) and not isinstance(colormap, bool):
        if int(colormap) not in OPENCV_COLORMAPS:
            raise ValueError(
                f"colormap: OpenCV colormap {colormap} has no matplotlib equivalent; pass a "
                f"matplotlib colormap name such as 'viridis'."
            )
        return matplotlib.colormaps[OPENCV_COLORMAPS[int(colormap)]]
    if isinstance(colormap, str):
        try:
            return matplotlib.colormaps[colormap]
        except KeyError:
            raise ValueError(
                f"Unknown matplotlib colormap {colormap!r}; see matplotlib.colormaps for names."
            ) from None
    raise ValueError(
        f"colormap: expected a matplotlib colormap name, a matplotlib.colors.Colormap or "
        f"an OpenCV colormap code (cv2.COLORMAP_*), got {type(colormap).__name__}."
    )


def apply_colormap(map2d_or_batch, colormap="viridis") -> np.ndarray:
    """Colour a float map with values in [0, 1] into ``uint8`` RGB, shape ``m.shape + (3,)``.

    Values are clipped to [0, 1] first (NaN becomes 0). ``colormap`` is a name in
    ``matplotlib.colormaps``, a ``matplotlib.colors.Colormap`` or an OpenCV colormap code
    (``cv2.COLORMAP_JET`` = 2, ...; see ``OPENCV_COLORMAPS``); the alpha channel is dropped.
    """
    cmap = _get_colormap(colormap)
    values = np.asarray(map2d_or_batch, dtype=np.float64)
    values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
    rgba = np.asarray(cmap(values, bytes=True), dtype=np.uint8)
    return np.ascontiguousarray(rgba[..., :3])


def _rgb_uint8(image) -> np.ndarray:
    """Image ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` -> ``uint8`` ``(H, W, 3)``."""
    img = image_to_uint_255(to_numpy(image))
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
        raise ValueError(
            "original_image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
            f"got {np.shape(image)}"
        )
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return img[..., :3]


def heatmap_display(heatmap, original_image, colormap=COLORMAP_VIRIDIS,
                    image_weight=0.7) -> np.ndarray:
    """Blend a coloured heatmap over an image; returns ``uint8`` RGB ``(H, W, 3)``.

    The heatmap ``(h, w)`` (or ``(h, w, 1)``) is bilinearly resized to the image's ``(H, W)``,
    min-max scaled to [0, 1] (a constant heatmap becomes 0), coloured with ``colormap`` (a
    matplotlib name or colormap, or an OpenCV code as tf-explain took; default
    ``cv2.COLORMAP_VIRIDIS``) and mixed as ``image_weight * image + (1 - image_weight) *
    colours`` in float, then rounded and clipped. (tf-explain adds the full heatmap on top,
    ``image_weight * image + colours``, which saturates bright images to white.)
    The image goes through :func:`image_to_uint_255`; grayscale images
    become RGB and an alpha channel is dropped.
    """
    if not 0.0 <= float(image_weight) <= 1.0:
        raise ValueError(f"image_weight must be in [0, 1], got {image_weight}")
    image = _rgb_uint8(original_image)
    heat = to_numpy(heatmap).astype(np.float32)
    if heat.ndim == 3 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim != 2:
        raise ValueError(f"heatmap must have shape (h, w) or (h, w, 1), got {np.shape(heatmap)}")
    heat = resize_map(heat, image.shape[:2])
    heat = normalize_map(heat, mode="minmax", per_sample=False)
    colours = apply_colormap(heat, colormap).astype(np.float32)
    weight = np.float32(image_weight)
    blended = weight * image.astype(np.float32) + (np.float32(1.0) - weight) * colours
    return to_uint8(blended, value_range=(0.0, 255.0))


def overlay(image, heatmap, alpha: float = 0.5, colormap="jet") -> np.ndarray:
    """:func:`heatmap_display` with ``alpha`` as the heatmap weight (``image_weight = 1 - alpha``)."""
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return heatmap_display(heatmap, image, colormap=colormap, image_weight=1.0 - float(alpha))
