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
from kerascope.explain import explain  # noqa: E402
from kerascope.activations import activations  # noqa: E402  (the function, not the module)
from kerascope.targets import PREDICTED, TopK, top_k

__version__ = "0.1.0"

__all__ = [
    "explain", "top_k", "TopK", "PREDICTED", "filters", "methods", "__version__",
    "activations", "callbacks", "core", "feature_visualization",
    *methods.names(),
]


def __getattr__(name):
    """``kerascope.<method name>``: the shortcut of every registered method (and alias),
    ``(model, x, targets=None, **options) -> (outputs, maps)``."""
    from kerascope.explain import shortcut

    try:
        return shortcut(name)
    except ValueError:
        raise AttributeError(f"module 'kerascope' has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(methods.names()))
