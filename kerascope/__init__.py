"""kerascope: explain what Keras 3 models see, on TensorFlow, JAX and PyTorch.

Bulk API::

    outputs, maps = kerascope.explain("smoothgrad", model, x, kerascope.top_k(3))
    outputs, maps = kerascope.gradients(model, x, targets=281)
    for outputs, maps in kerascope.explain_batches("gradients", model, batches): ...
    outputs, maps = kerascope.explain("gradients", model, batches, out="maps.npy")

tf-explain API::

    from kerascope.core.vanilla_gradients import VanillaGradients
    grid = VanillaGradients().explain((images, None), model, class_index=0)

The package imports Keras lazily, on first use of anything that needs it, so that
``kerascope --help`` and ``kerascope methods`` answer at once.
"""

import importlib as _importlib
from importlib import util as _util

from kerascope import _default_backend

_default_backend.choose()

from kerascope._version import __version__  # noqa: E402

#: Public names that are attributes of a module: imported on first access.
_ATTRIBUTES = {
    "explain": "kerascope.api",
    "explain_batches": "kerascope.api",
    "activations": "kerascope.engine.activations",
    "load_images": "kerascope.inputs.files",
    "PREDICTED": "kerascope.engine.targets",
    "TopK": "kerascope.engine.targets",
    "top_k": "kerascope.engine.targets",
}
#: Old names of modules that moved: ``from kerascope import io`` keeps working.
_MOVED = {"io": "kerascope.inputs.files", "sanity": "kerascope.metrics.randomization"}
#: Subpackages available as attributes after ``import kerascope``.
_SUBMODULES = ("filters", "methods", "feature_visualization", "callbacks", "core", "io",
               "rendering", "report", "demo", "utils")
_BASE_ALL = [
    "explain", "explain_batches", "top_k", "TopK", "PREDICTED", "filters", "methods",
    "__version__", "activations", "load_images", "metrics", "callbacks", "core", "feature_visualization", "io", "rendering", "report",
]


def __getattr__(name):
    """Lazy public names; ``kerascope.<method name>``: the shortcut of every registered
    method (and alias), ``(model, x, targets=None, **options) -> (outputs, maps)``."""
    if name in _ATTRIBUTES:
        value = getattr(_importlib.import_module(_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    if name in _MOVED:
        return _importlib.import_module(_MOVED[name])
    if name in _SUBMODULES:
        return _importlib.import_module(f"kerascope.{name}")
    if name == "__all__":
        from kerascope import methods

        return [*_BASE_ALL, *methods.names()]
    if name.startswith("__"):
        raise AttributeError(f"module 'kerascope' has no attribute {name!r}")
    if _util.find_spec(f"kerascope.{name}") is not None:  # a submodule
        return _importlib.import_module(f"kerascope.{name}")
    from kerascope.api import shortcut

    try:
        return shortcut(name)
    except ValueError:
        raise AttributeError(f"module 'kerascope' has no attribute {name!r}") from None


def __dir__():
    from kerascope import methods

    return sorted(set(globals()) | set(_BASE_ALL) | set(_SUBMODULES) | set(methods.names()))

