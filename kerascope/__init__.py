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
import sys as _sys
import types as _types

from kerascope import _default_backend

_default_backend.choose()

__version__ = "0.1.0"

#: Public names that are attributes of a module: imported on first access.
_ATTRIBUTES = {
    "explain": "kerascope.explain",
    "explain_batches": "kerascope.explain",
    "activations": "kerascope.activations",  # the function, not the module
    "PREDICTED": "kerascope.targets",
    "TopK": "kerascope.targets",
    "top_k": "kerascope.targets",
}
#: Subpackages available as attributes after ``import kerascope``.
_SUBMODULES = ("filters", "methods", "feature_visualization", "callbacks", "core", "io",
               "rendering", "report", "demo", "utils")
_BASE_ALL = [
    "explain", "explain_batches", "top_k", "TopK", "PREDICTED", "filters", "methods",
    "__version__", "activations", "callbacks", "core", "feature_visualization", "io", "rendering", "report",
]


def __getattr__(name):
    """Lazy public names; ``kerascope.<method name>``: the shortcut of every registered
    method (and alias), ``(model, x, targets=None, **options) -> (outputs, maps)``."""
    if name in _ATTRIBUTES:
        value = getattr(_importlib.import_module(_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return _importlib.import_module(f"kerascope.{name}")
    if name == "__all__":
        from kerascope import methods

        return [*_BASE_ALL, *methods.names()]
    if name.startswith("__"):
        raise AttributeError(f"module 'kerascope' has no attribute {name!r}")
    if _util.find_spec(f"kerascope.{name}") is not None:  # a submodule
        return _importlib.import_module(f"kerascope.{name}")
    from kerascope.explain import shortcut

    try:
        return shortcut(name)
    except ValueError:
        raise AttributeError(f"module 'kerascope' has no attribute {name!r}") from None


def __dir__():
    from kerascope import methods

    return sorted(set(globals()) | set(_BASE_ALL) | set(_SUBMODULES) | set(methods.names()))


class _Package(_types.ModuleType):
    """Keeps ``kerascope.explain`` and ``kerascope.activations`` the functions when their
    modules of the same name are imported (the import system would set the modules)."""

    def __setattr__(self, name, value):
        if name in ("explain", "activations") and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
