"""keras-explainable's ``methods``: ``gradient``, ``cams`` and ``meta``."""

from kerascope.compat.keras_explainable.methods import cams, gradient, meta

__all__ = ["cams", "gradient", "meta"]
