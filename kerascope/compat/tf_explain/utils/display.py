"""Turn arrays into displayable images: grids, colormaps and heatmap overlays
(drawn by ``kerascope.rendering.grids``; tf-explain's import path)."""

from kerascope.rendering import grids as _grids
from kerascope.rendering.grids import (  # noqa: F401
    COLORMAP_VIRIDIS,
    GRID_TOO_SMALL_WARNING,
    OPENCV_COLORMAPS,
    apply_colormap,
    filter_display,
    grid_display,
    heatmap_display,
    image_to_uint_255,
    overlay,
)

__all__ = [name for name in _grids.__all__ if name not in ("to_uint8", "normalize_map",
                                                           "resize_map")]
