"""Class activation maps: the map formulas (``maps``: pure numpy functions of a
layer's activations and gradients), the ``CAM`` base class (``base``: layer choice,
layout, upsampling, merging), the Grad-CAM family (``variants``) and the classic
CAM of a global-average-pooling head (``classic``). Its modules import from
``kerascope.methods.base``, ``kerascope.engine`` and ``kerascope.inputs`` only; this
``__init__`` re-exports their public names for users (``kerascope.methods.cam.GradCAM``),
and modules import from the defining module, never from here.
"""

from kerascope.methods.cam import maps, variants
from kerascope.methods.cam.base import CAM
from kerascope.methods.cam.classic import ClassActivationMap, gap_head, producer
from kerascope.methods.cam.maps import *  # noqa: F401,F403  (the formulas, by name)
from kerascope.methods.cam.variants import *  # noqa: F401,F403  (the methods, by name)

__all__ = (["CAM", "ClassActivationMap", "gap_head", "producer"]
           + list(variants.__all__) + list(maps.__all__))
