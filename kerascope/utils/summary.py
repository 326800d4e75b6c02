"""``kerascope.utils.summary``, the old path of :mod:`kerascope.callbacks.summary`."""

import sys as _sys

from kerascope.callbacks import summary as _summary

_sys.modules[__name__] = _summary
