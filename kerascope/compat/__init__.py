"""Compatibility faces of other explanation libraries, on kerascope.

``from kerascope.compat import keras_explainable as ke`` gives keras-explainable's API
(``ke.explain``, ``ke.gradcam``, ``ke.methods.gradient.gradients``, ``ke.filters``,
``ke.inspection``, ``ke.utils.visualize``...) with its shapes (maps ``(N, H, W, K)``,
units last), running on kerascope's batched passes on TensorFlow, JAX and PyTorch.
kerascope's own API (``kerascope.explain``) keeps its own shapes (``(N, K, H, W)``).
tf-explain's face is ``kerascope.compat.tf_explain`` (also at ``kerascope.core`` and
``kerascope.utils``). Submodules are imported on use.
"""

__all__ = ["keras_explainable", "tf_explain"]
