"""Attribution methods: the ``Method`` interface (``base``), the per-call
``Context`` (``context``), the registry (``registry``: ``get(name, **options)``,
``catalog()``), the one driver (``driver.run``) and one module (or sub-package:
``cam/``) per family, each class registered by its ``name``. May import:
``kerascope.backend``, ``kerascope.inputs``, ``kerascope.engine``; nothing above.
Its modules import from the defining module, never from this ``__init__``, which
re-exports the public names.
"""

from kerascope.methods.base import Method, reduce_channels
from kerascope.methods.context import Context
from kerascope.methods.cam.base import CAM
from kerascope.methods.cam.variants import (
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)
from kerascope.methods.cam.classic import ClassActivationMap
from kerascope.methods.driver import Explanation, run
from kerascope.methods.fullgrad import FullGrad
from kerascope.methods.gradients import GradientsInputs, VanillaGradients
from kerascope.methods.guided import Deconvnet, GuidedBackprop, GuidedGradCAM, GuidedSmoothGrad
from kerascope.methods.integrated_gradients import ExpectedGradients, IntegratedGradients
from kerascope.methods.occlusion import Occlusion
from kerascope.methods.rise import RISE
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
from kerascope.methods.lrp import LRP  # noqa: E402
from kerascope.methods.attention import AttentionRollout, GenericAttention  # noqa: E402


def _register_every_family():
    """Import every module and sub-package of this package, so that a method added as
    one new file registers itself without an edit here."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_register_every_family()

__all__ = [
    "Method", "Context", "Explanation", "MethodInfo", "reduce_channels", "run", "get",
    "lookup", "names", "catalog", "register",
    "VanillaGradients", "GradientsInputs", "SmoothGrad", "SquareGrad", "VarGrad",
    "IntegratedGradients", "GuidedBackprop", "Deconvnet", "GuidedSmoothGrad",
    "GuidedGradCAM", "Occlusion", "RISE", "CAM", "GradCAM", "GradCAMPlusPlus", "XGradCAM",
    "HiResCAM", "LayerCAM", "EigenCAM", "ScoreCAM",
    "ClassActivationMap", "FullGrad", "Smooth", "TestTimeAugmentation",
    "ExpectedGradients", "FeatureAblation", "KernelSHAP", "LIME", "superpixels",
    "time_windows", "feature_groups", "LRP", "AttentionRollout", "GenericAttention",
]
