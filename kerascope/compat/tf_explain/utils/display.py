"""Turn arrays into displayable images: grids, colormaps and heatmap overlays.

Pure NumPy + matplotlib colormaps + Pillow; no deep-learning backend is imported here.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np

from kerascope.compat.tf_explain.utils.image import as_numpy as _numpy
from kerascope.compat.tf_explain.utils.image import image_to_uint_255, normalize_map, resize_map, to_uint8

__all__ = [
    "grid_display",
    "filter_display",
    "image_to_uint_255",
    "apply_colormap",
    "heatmap_display",
    "overlay",
    "COLORMAP_VIRIDIS",
    "OPENCV_COLORMAPS",
]


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
    images = _numpy(array)
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
    activations = _numpy(array)
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
    img = image_to_uint_255(_numpy(image))
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
    The image goes through :func:`~kerascope.compat.tf_explain.utils.image.image_to_uint_255`; grayscale images
    become RGB and an alpha channel is dropped.
    """
    if not 0.0 <= float(image_weight) <= 1.0:
        raise ValueError(f"image_weight must be in [0, 1], got {image_weight}")
    image = _rgb_uint8(original_image)
    heat = _numpy(heatmap).astype(np.float32)
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
