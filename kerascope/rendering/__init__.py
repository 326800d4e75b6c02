"""Every picture kerascope draws: attribution maps (``maps``), token, table and series
attributions (``sequences``), figures to PNG (``figures``), the trust checks' plots
(``trust``) and tf-explain's grids (``grids``). Only numpy, Pillow and matplotlib; no
Keras backend.

May import: ``kerascope.engine`` (the resizer) and ``kerascope.inputs``. Nothing above it."""

from kerascope.rendering.maps import *  # noqa: F401,F403
from kerascope.rendering.maps import __all__
