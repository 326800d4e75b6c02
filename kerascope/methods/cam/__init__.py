"""Class activation maps: the map formulas (``maps``: pure numpy functions of a
layer's activations and gradients), the ``CAM`` base class (``base``: layer choice,
layout, upsampling, merging), the Grad-CAM family (``variants``) and the classic
CAM of a global-average-pooling head (``classic``). Its modules import from
``kerascope.methods.base``, ``kerascope.engine`` and ``kerascope.inputs`` only; this
``__init__`` re-exports their public names for users (``kerascope.methods.cam.GradCAM``),
and modules import from the defining module, never from here.
"""

from kerascope.methods.cam.base import CAM
from kerascope.methods.cam.classic import ClassActivationMap, gap_head, producer
from kerascope.methods.cam.maps import (
    eigen_cam_map,
    grad_cam_map,
    grad_cam_plus_plus_map,
    guided_gradients,
    hires_cam_map,
    layer_cam_map,
    score_cam_map,
    score_cam_masks,
    score_cam_weights,
    tf_explain_grad_cam,
    tokens_to_grid,
    upsample,
    xgrad_cam_map,
)
from kerascope.methods.cam.variants import (
    SCORE_NORMALIZATIONS,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)

__all__ = [
    "CAM", "GradCAM", "GradCAMPlusPlus", "XGradCAM", "HiResCAM", "LayerCAM", "EigenCAM",
    "ScoreCAM", "ClassActivationMap", "SCORE_NORMALIZATIONS", "gap_head", "producer",
    "grad_cam_map", "tf_explain_grad_cam", "guided_gradients",
    "grad_cam_plus_plus_map", "xgrad_cam_map", "hires_cam_map", "layer_cam_map",
    "eigen_cam_map", "score_cam_masks", "score_cam_weights", "score_cam_map",
    "tokens_to_grid", "upsample",
]
