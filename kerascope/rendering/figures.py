"""Matplotlib figures without pyplot state: a new figure on an Agg canvas, its pixels,
its PNG bytes and files."""

from __future__ import annotations

import io
import pathlib
import sys

import numpy as np

__all__ = ["new_figure", "figure_png", "save_figure", "png_to_array", "figure_array"]


def new_figure(width, height, dpi=100, layout="constrained"):
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def figure_array(figure):
    """uint8 RGB ``(H, W, 3)`` pixels of a figure drawn on its canvas."""
    figure.canvas.draw()
    rgba = np.asarray(figure.canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[..., :3])


def figure_png(figure, dpi=None, bbox_inches=None) -> bytes:
    """PNG bytes of a matplotlib ``figure`` (a pyplot figure is closed afterwards)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches=bbox_inches)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(figure)
    return buffer.getvalue()


def save_figure(figure, path, **options):
    """Write a figure to ``path`` (PNG); returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_png(figure, **options))
    return path


def png_to_array(png: bytes) -> np.ndarray:
    """uint8 ``(H, W, 3)`` array of PNG bytes."""
    from PIL import Image

    return np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))
