"""Every picture kerascope draws: attribution maps (``maps``), token, table and series
attributions (``sequences``). Only numpy, Pillow and matplotlib; no Keras backend.

May import: ``kerascope.engine`` (the resizer). Nothing above it."""

from kerascope.rendering.maps import *  # noqa: F401,F403
from kerascope.rendering.maps import __all__
