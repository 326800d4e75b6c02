"""tf-explain's path ``tf_explain.utils``: the modules live in
``kerascope.compat.tf_explain.utils`` (and the TensorBoard reader/writer in
``kerascope.callbacks.summary``); this package makes them importable here too."""

import sys as _sys

from kerascope.compat.tf_explain import utils as _utils
from kerascope.compat.tf_explain.utils import *  # noqa: F401,F403
from kerascope.compat.tf_explain.utils import __all__, display, image, saver

for _module in (display, image, saver):
    _sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module
