"""Turn arrays into displayable images: grids, colormaps and heatmap overlays.

Pure NumPy + matplotlib colormaps + Pillow; no deep-learning backend is imported here.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np

from kerascope.utils.image import image_to_uint_255, normalize_map, resize_map, to_uint8

__all__ = [
    "grid_display",
    "filter_display",
    "apply_colormap",
    "heatmap_display",
    "overlay",
]


def _grid_shape(num_images: int, num_rows: Optional[int], num_columns: Optional[int]):
    """Rows and columns of a grid holding ``num_images`` cells."""
    for name, value in (("num_rows", num_rows), ("num_columns", num_columns)):
        if value is not None and int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if num_rows is None and num_columns is None:
        num_columns = math.ceil(math.sqrt(num_images))
        num_rows = math.ceil(num_images / num_columns)
    elif num_rows is None:
        num_rows = math.ceil(num_images / int(num_columns))
    elif num_columns is None:
        num_columns = math.ceil(num_images / int(num_rows))
    num_rows, num_columns = int(num_rows), int(num_columns)
    if num_rows * num_columns < num_images:
        warnings.warn(
            f"A grid of {num_rows}x{num_columns} cannot hold {num_images} images; "
            "using a square-ish grid instead.",
            stacklevel=3,
        )
        return _grid_shape(num_images, None, None)
    return num_rows, num_columns


def grid_display(array, num_rows: Optional[int] = None,
                 num_columns: Optional[int] = None) -> np.ndarray:
    """Tile N images ``(N, H, W)`` or ``(N, H, W, C)`` into one ``(rows*H, cols*W[, C])`` image.

    Images fill the grid row by row; unused cells are zeros. By default the grid has
    ``ceil(sqrt(N))`` columns and as many rows as needed. If only one of ``num_rows`` and
    ``num_columns`` is given the other is derived; if ``num_rows * num_columns < N`` a warning
    is issued and the default grid is used. The output keeps the input dtype.
    """
    images = np.asarray(array)
    if images.ndim not in (3, 4):
        raise ValueError(
            "array must hold images of shape (H, W) or (H, W, C), i.e. have shape "
            f"(N, H, W) or (N, H, W, C); got {images.shape}"
        )
    num_images = images.shape[0]
    if num_images == 0:
        raise ValueError("array must contain at least one image")
    num_rows, num_columns = _grid_shape(num_images, num_rows, num_columns)
    height, width = images.shape[1], images.shape[2]
    grid = np.zeros((num_rows * height, num_columns * width) + images.shape[3:], dtype=images.dtype)
    for index in range(num_images):
        row, col = divmod(index, num_columns)
        grid[row * height:(row + 1) * height, col * width:(col + 1) * width] = images[index]
    return grid


def filter_display(array, num_rows: Optional[int] = None,
                   num_columns: Optional[int] = None) -> np.ndarray:
    """Grid of every channel of every image of activations ``(N, H, W, C)``, as ``uint8``.

    Channels are moved into the batch axis (image 0's channels first, then image 1's, ...),
    all values are min-max scaled together to [0, 255] (a constant input gives zeros), then
    tiled with :func:`grid_display`; empty cells stay 0.
    """
    activations = np.asarray(array)
    if activations.ndim != 4:
        raise ValueError(f"array must have shape (N, H, W, C), got {activations.shape}")
    n, h, w, c = activations.shape
    maps = np.moveaxis(activations, -1, 1).reshape(n * c, h, w)
    scaled = normalize_map(maps, mode="minmax", per_sample=False)
    return grid_display(to_uint8(scaled, value_range=(0.0, 1.0)), num_rows, num_columns)


def _get_colormap(colormap):
    import matplotlib
    from matplotlib.colors import Colormap

    if isinstance(colormap, Colormap):
        return colormap
    if isinstance(colormap, str):
        try:
            return matplotlib.colormaps[colormap]
        except KeyError:
            raise ValueError(
                f"Unknown matplotlib colormap {colormap!r}; see matplotlib.colormaps for names."
            ) from None
    raise TypeError(
        f"colormap must be a matplotlib colormap name or a matplotlib.colors.Colormap, "
        f"got {type(colormap).__name__}"
    )


def apply_colormap(map2d_or_batch, colormap="viridis") -> np.ndarray:
    """Colour a float map with values in [0, 1] into ``uint8`` RGB, shape ``m.shape + (3,)``.

    Values are clipped to [0, 1] first (NaN becomes 0). ``colormap`` is a name in
    ``matplotlib.colormaps`` or a ``matplotlib.colors.Colormap``; the alpha channel is dropped.
    """
    cmap = _get_colormap(colormap)
    values = np.asarray(map2d_or_batch, dtype=np.float64)
    values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
    rgba = np.asarray(cmap(values, bytes=True), dtype=np.uint8)
    return np.ascontiguousarray(rgba[..., :3])


def _rgb_uint8(image) -> np.ndarray:
    """Image ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` -> ``uint8`` ``(H, W, 3)``."""
    img = image_to_uint_255(np.asarray(image))
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


def heatmap_display(heatmap, original_image, colormap="viridis",
                    image_weight: float = 0.7) -> np.ndarray:
    """Blend a coloured heatmap over an image; returns ``uint8`` RGB ``(H, W, 3)``.

    The heatmap ``(h, w)`` (or ``(h, w, 1)``) is bilinearly resized to the image's ``(H, W)``,
    min-max scaled to [0, 1] (a constant heatmap becomes 0), coloured with ``colormap`` and mixed
    as ``image_weight * image + (1 - image_weight) * colours`` in float, then rounded and clipped.
    The image goes through :func:`~kerascope.utils.image.image_to_uint_255`; grayscale images
    become RGB and an alpha channel is dropped.
    """
    if not 0.0 <= float(image_weight) <= 1.0:
        raise ValueError(f"image_weight must be in [0, 1], got {image_weight}")
    image = _rgb_uint8(original_image)
    heat = np.asarray(heatmap, dtype=np.float32)
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
