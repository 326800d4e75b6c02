"""Attribution methods: one module per family, each class registered by its ``name``.

``kerascope.methods.get(name, **options)`` builds one, ``catalog()`` lists them; the
driver (``driver.run``) runs any of them. The public functions are the shortcuts
``kerascope.<name>(model, x, targets, **options) -> (outputs, maps)``.
"""

from kerascope.methods.base import Context, Method, reduce_channels
from kerascope.methods.cam import (
    CAM,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)
from kerascope.methods.cam_classic import ClassActivationMap
from kerascope.methods.driver import Explanation, run
from kerascope.methods.fullgrad import FullGrad
from kerascope.methods.gradients import GradientsInputs, VanillaGradients
from kerascope.methods.guided import Deconvnet, GuidedBackprop, GuidedGradCAM, GuidedSmoothGrad
from kerascope.methods.integrated_gradients import ExpectedGradients, IntegratedGradients
from kerascope.methods.occlusion import RISE, Occlusion
from kerascope.methods.registry import MethodInfo, catalog, get, lookup, names, register
from kerascope.methods.meta import Smooth, TestTimeAugmentation
from kerascope.methods.smoothgrad import SmoothGrad, SquareGrad, VarGrad

# Methods over feature masks, registered after the families above (catalog order).
from kerascope.methods.ablation import (  # noqa: E402
    FeatureAblation,
    feature_groups,
    superpixels,
    time_windows,
)
from kerascope.methods.lime import LIME  # noqa: E402
from kerascope.methods.shapley import KernelSHAP  # noqa: E402
from kerascope.methods.attention import AttentionRollout, GenericAttention  # noqa: E402

__all__ = [
    "Method", "Context", "Explanation", "MethodInfo", "reduce_channels", "run", "get",
    "lookup", "names", "catalog", "register",
    "VanillaGradients", "GradientsInputs", "SmoothGrad", "SquareGrad", "VarGrad",
    "IntegratedGradients", "GuidedBackprop", "Deconvnet", "GuidedSmoothGrad",
    "GuidedGradCAM", "Occlusion", "RISE", "CAM", "GradCAM", "GradCAMPlusPlus", "XGradCAM",
    "HiResCAM", "LayerCAM", "EigenCAM", "ScoreCAM",
    "ClassActivationMap", "FullGrad", "Smooth", "TestTimeAugmentation",
    "ExpectedGradients", "FeatureAblation", "KernelSHAP", "LIME", "superpixels",
    "time_windows", "feature_groups", "AttentionRollout", "GenericAttention",
]
