"""tf-explain's path ``tf_explain.core``: the classes live in
``kerascope.compat.tf_explain.core``; this package makes them importable here too
(``kerascope.core.grad_cam`` is that module, not a copy)."""

import importlib as _importlib
import pkgutil as _pkgutil
import sys as _sys

from kerascope.compat.tf_explain import core as _core
from kerascope.compat.tf_explain.core import *  # noqa: F401,F403
from kerascope.compat.tf_explain.core import __all__

for _info in _pkgutil.iter_modules(_core.__path__):
    _sys.modules[f"{__name__}.{_info.name}"] = _importlib.import_module(
        f"{_core.__name__}.{_info.name}")
