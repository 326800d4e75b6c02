"""keras-explainable's ``filters``: post-processing of maps over their spatial axes.

Each takes maps (numpy or a backend tensor), e.g. ``(N, H, W, K)``, and ``axis``, the
spatial axes (default ``(-3, -2)``), and returns a float32 numpy array of the same
shape. ``negative`` keeps the negative part (keras-explainable's returned the positive
part), and ``negative_normalize`` scales its magnitude to [0, 1], so the most negative
value becomes 1.
"""

import numpy as np

from kerascope.compat.keras_explainable.inspection import SPATIAL_AXIS
from kerascope.compat.tf_explain.utils.image import as_numpy


def _axes(x, axis):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % x.ndim for a in axes)


def normalize(x, axis=SPATIAL_AXIS):
    """``(x - min) / max(x - min)`` over ``axis``; 0 where the map is constant."""
    x = np.asarray(as_numpy(x), dtype=np.float32)
    axes = _axes(x, axis)
    x = x - x.min(axis=axes, keepdims=True)
    top = x.max(axis=axes, keepdims=True)
    return np.where(top > 0, x / np.where(top > 0, top, 1), 0).astype(np.float32)


def positive(x, axis=SPATIAL_AXIS):
    """``max(x, 0)``: the positive part."""
    return np.maximum(np.asarray(as_numpy(x), dtype=np.float32), 0)


def negative(x, axis=SPATIAL_AXIS):
    """``min(x, 0)``: the negative part (values <= 0)."""
    return np.minimum(np.asarray(as_numpy(x), dtype=np.float32), 0)


def positive_normalize(x, axis=SPATIAL_AXIS):
    """The positive part, normalized to [0, 1] over ``axis``."""
    return normalize(positive(x, axis=axis), axis=axis)


def absolute_normalize(x, axis=SPATIAL_AXIS):
    """``|x|`` normalized to [0, 1] over ``axis``."""
    return normalize(np.abs(np.asarray(as_numpy(x), dtype=np.float32)), axis=axis)


def negative_normalize(x, axis=SPATIAL_AXIS):
    """The magnitude of the negative part, ``-min(x, 0)``, normalized to [0, 1]."""
    return normalize(-negative(x, axis=axis), axis=axis)


__all__ = ["normalize", "positive", "negative", "positive_normalize", "absolute_normalize",
           "negative_normalize"]
