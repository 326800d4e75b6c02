"""Turn arrays into displayable images: grids, colormaps and heatmap overlays
(drawn by ``kerascope.rendering.grids``; tf-explain's import path)."""

from kerascope.rendering.grids import (  # noqa: F401
    COLORMAP_VIRIDIS,
    GRID_TOO_SMALL_WARNING,
    OPENCV_COLORMAPS,
    _get_colormap,
    _grid_shape,
    _rgb_uint8,
    apply_colormap,
    filter_display,
    grid_display,
    heatmap_display,
    image_to_uint_255,
    overlay,
)

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
