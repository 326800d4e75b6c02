"""Postprocessing filters for raw maps (applied per map over its spatial axes).

Maps are ``(N, ...)`` or ``(N, K, ...)``; ``spatial_rank`` tells how many trailing axes
form one map (2 for images).
"""

import numpy as np


def _per_map(maps, spatial_rank):
    maps = np.asarray(maps, dtype=np.float32)
    axes = tuple(range(maps.ndim - spatial_rank, maps.ndim))
    return maps, axes


def normalize(maps, spatial_rank=2):
    """Min-max scale each map to [0, 1]; a constant map becomes 0."""
    maps, axes = _per_map(maps, spatial_rank)
    low = maps.min(axis=axes, keepdims=True)
    span = maps.max(axis=axes, keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0).astype(np.float32)


def absolute_normalize(maps, spatial_rank=2):
    """``|m|`` scaled by each map's maximum to [0, 1]."""
    maps, axes = _per_map(maps, spatial_rank)
    magnitude = np.abs(maps)
    top = magnitude.max(axis=axes, keepdims=True)
    return np.where(top > 0, magnitude / np.where(top > 0, top, 1), 0).astype(np.float32)


def positive_normalize(maps, spatial_rank=2):
    """``max(m, 0)`` scaled by each map's maximum to [0, 1]."""
    return absolute_normalize(np.maximum(np.asarray(maps, dtype=np.float32), 0), spatial_rank)
