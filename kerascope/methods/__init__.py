"""Attribution methods: one module per family, each a class on ``Method`` plus a
pure batched function ``(model, x, targets, **options) -> maps``."""

from kerascope.methods.base import Method, reduce_channels
from kerascope.methods.cam import (
    CAM,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
    eigen_cam,
    grad_cam,
    grad_cam_plus_plus,
    hires_cam,
    layer_cam,
    score_cam,
    xgrad_cam,
)
from kerascope.methods.gradients import (
    GradientsInputs,
    VanillaGradients,
    gradients_inputs,
    vanilla_gradients,
)
from kerascope.methods.guided import (
    Deconvnet,
    GuidedBackprop,
    GuidedGradCAM,
    GuidedSmoothGrad,
    deconvnet,
    guided_backprop,
    guided_grad_cam,
    guided_smoothgrad,
)
from kerascope.methods.integrated_gradients import IntegratedGradients, integrated_gradients
from kerascope.methods.occlusion import RISE, Occlusion, occlusion, rise
from kerascope.methods.smoothgrad import SmoothGrad, smoothgrad

REGISTRY = {
    "vanilla_gradients": VanillaGradients,
    "gradients": VanillaGradients,
    "saliency": VanillaGradients,
    "gradients_inputs": GradientsInputs,
    "smoothgrad": SmoothGrad,
    "squaregrad": lambda **kw: SmoothGrad(variant="squaregrad", **kw),
    "vargrad": lambda **kw: SmoothGrad(variant="vargrad", **kw),
    "integrated_gradients": IntegratedGradients,
    "guided_backprop": GuidedBackprop,
    "guided_backpropagation": GuidedBackprop,
    "deconvnet": Deconvnet,
    "guided_smoothgrad": GuidedSmoothGrad,
    "guided_grad_cam": GuidedGradCAM,
    "guided_gradcam": GuidedGradCAM,
    "occlusion": Occlusion,
    "occlusion_sensitivity": Occlusion,
    "rise": RISE,
    "grad_cam": GradCAM,
    "gradcam": GradCAM,
    "grad_cam_plus_plus": GradCAMPlusPlus,
    "gradcam++": GradCAMPlusPlus,
    "gradcampp": GradCAMPlusPlus,
    "xgrad_cam": XGradCAM,
    "hires_cam": HiResCAM,
    "layer_cam": LayerCAM,
    "eigen_cam": EigenCAM,
    "score_cam": ScoreCAM,
    "scorecam": ScoreCAM,
}

FUNCTIONS = {
    vanilla_gradients: VanillaGradients,
    gradients_inputs: GradientsInputs,
    smoothgrad: SmoothGrad,
    integrated_gradients: IntegratedGradients,
    guided_backprop: GuidedBackprop,
    deconvnet: Deconvnet,
    guided_smoothgrad: GuidedSmoothGrad,
    guided_grad_cam: GuidedGradCAM,
    occlusion: Occlusion,
    rise: RISE,
    grad_cam: GradCAM,
    grad_cam_plus_plus: GradCAMPlusPlus,
    xgrad_cam: XGradCAM,
    hires_cam: HiResCAM,
    layer_cam: LayerCAM,
    eigen_cam: EigenCAM,
    score_cam: ScoreCAM,
}


def get(method, /, **options):
    """A ``Method`` instance from an instance, a class, a name or a method function."""
    if isinstance(method, Method):
        if options:
            raise ValueError(
                "method: options were given together with a configured method "
                "instance; pass them to its constructor instead."
            )
        return method
    if isinstance(method, type) and issubclass(method, Method):
        return method(**options)
    if method in FUNCTIONS:
        return FUNCTIONS[method](**options)
    if isinstance(method, str) and method in REGISTRY:
        return REGISTRY[method](**options)
    raise ValueError(
        f"method: unknown method {method!r}; expected a Method, its class, one of "
        f"{sorted(REGISTRY)} or a kerascope.methods function."
    )


__all__ = [
    "Method", "reduce_channels", "VanillaGradients", "GradientsInputs", "SmoothGrad",
    "IntegratedGradients", "vanilla_gradients", "gradients_inputs", "smoothgrad",
    "integrated_gradients", "get", "REGISTRY",
    "GuidedBackprop", "Deconvnet", "GuidedSmoothGrad", "GuidedGradCAM", "Occlusion", "RISE",
    "guided_backprop", "deconvnet", "guided_smoothgrad", "guided_grad_cam", "occlusion",
    "rise",
    "CAM", "GradCAM", "GradCAMPlusPlus", "XGradCAM", "HiResCAM", "LayerCAM", "EigenCAM",
    "ScoreCAM", "grad_cam", "grad_cam_plus_plus", "xgrad_cam", "hires_cam", "layer_cam",
    "eigen_cam", "score_cam",
]
