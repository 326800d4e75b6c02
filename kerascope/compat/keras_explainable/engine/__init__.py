"""keras-explainable's ``engine``: ``explaining.explain`` and ``partial_explain``."""

from kerascope.compat.keras_explainable.engine import explaining

__all__ = ["explaining"]
