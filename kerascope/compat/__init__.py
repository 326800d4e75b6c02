"""Compatibility faces of other explanation libraries, on kerascope.

``from kerascope.compat import keras_explainable as ke`` gives keras-explainable's API
(``ke.explain``, ``ke.gradcam``, ``ke.methods.gradient.gradients``, ``ke.filters``,
``ke.inspection``, ``ke.utils.visualize``...) with its shapes (maps ``(N, H, W, K)``,
units last), running on kerascope's batched passes on TensorFlow, JAX and PyTorch.
kerascope's own API (``kerascope.explain``) keeps its own shapes (``(N, K, H, W)``).
"""

from kerascope.compat import keras_explainable

__all__ = ["keras_explainable"]
