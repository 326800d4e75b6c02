"""Backend-free image utilities: uint8 conversion, grids, colormaps, overlays and saving."""

from kerascope.compat.tf_explain.utils.display import (
    apply_colormap,
    filter_display,
    grid_display,
    heatmap_display,
    overlay,
)
from kerascope.compat.tf_explain.utils.image import (
    apply_grey_patch,
    image_to_uint_255,
    normalize_map,
    resize_map,
    to_uint8,
    transform_to_normalized_grayscale,
)
from kerascope.compat.tf_explain.utils.saver import save_grayscale, save_rgb

__all__ = [
    "apply_colormap",
    "apply_grey_patch",
    "filter_display",
    "grid_display",
    "heatmap_display",
    "image_to_uint_255",
    "normalize_map",
    "overlay",
    "resize_map",
    "save_grayscale",
    "save_rgb",
    "to_uint8",
    "transform_to_normalized_grayscale",
]
