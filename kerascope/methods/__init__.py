"""Attribution methods: one module per family, each a class on ``Method`` plus a
pure batched function ``(model, x, targets, **options) -> maps``."""

from kerascope.methods.base import Method, reduce_channels
from kerascope.methods.gradients import (
    GradientsInputs,
    VanillaGradients,
    gradients_inputs,
    vanilla_gradients,
)
from kerascope.methods.integrated_gradients import IntegratedGradients, integrated_gradients
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
}

FUNCTIONS = {
    vanilla_gradients: VanillaGradients,
    gradients_inputs: GradientsInputs,
    smoothgrad: SmoothGrad,
    integrated_gradients: IntegratedGradients,
}


def get(method, **options):
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
]
