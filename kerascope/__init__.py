"""kerascope: explain what Keras 3 models see, on TensorFlow, JAX and PyTorch.

Bulk API::

    outputs, maps = kerascope.explain("smoothgrad", model, x, kerascope.top_k(3))
    outputs, maps = kerascope.gradients(model, x, targets=281)

tf-explain API::

    from kerascope.core.vanilla_gradients import VanillaGradients
    grid = VanillaGradients().explain((images, None), model, class_index=0)
"""

from kerascope import _default_backend

_default_backend.choose()

from kerascope import filters, methods  # noqa: E402
from kerascope import feature_visualization  # noqa: E402  (visualize, objectives)
from kerascope import callbacks, core  # noqa: E402  (tf-explain's kerascope.callbacks.X)
from kerascope.explain import (
    explain,
    gradients,
    gradients_inputs,
    integrated_gradients,
    smoothgrad,
)
from kerascope.explain import (
    eigen_cam,
    grad_cam,
    grad_cam_plus_plus,
    hires_cam,
    layer_cam,
    score_cam,
    xgrad_cam,
)
from kerascope.explain import (
    deconvnet,
    guided_backprop,
    guided_grad_cam,
    guided_smoothgrad,
    occlusion,
    rise,
)
from kerascope.activations import activations  # noqa: E402  (the function, not the module)
from kerascope.targets import PREDICTED, TopK, top_k

__version__ = "0.1.0"

__all__ = [
    "explain", "gradients", "gradients_inputs", "smoothgrad", "integrated_gradients",
    "top_k", "TopK", "PREDICTED", "filters", "methods", "__version__",
    "grad_cam", "grad_cam_plus_plus", "score_cam", "layer_cam", "xgrad_cam", "hires_cam",
    "eigen_cam",
    "guided_backprop", "deconvnet", "guided_smoothgrad", "guided_grad_cam", "occlusion",
    "rise", "activations", "callbacks", "core", "feature_visualization",
]
