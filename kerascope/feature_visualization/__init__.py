"""Feature visualization: inputs that maximize a channel, a neuron or a class.

    from kerascope import feature_visualization as fv
    images = fv.visualize(model, [fv.class_logit(c) for c in range(10)],
                          **fv.seed_post_recipe())
    images = fv.visualize(model, fv.channel("conv_2", 3) - 0.05 * fv.l1(0.5))

See ``optimize`` for the algorithm, ``objectives``, ``regularizers``,
``transforms`` and ``parametrizations`` for the pieces.
"""

from kerascope.feature_visualization.objectives import (
    Objective,
    channel,
    class_logit,
    deepdream,
    direction,
    neuron,
)
from kerascope.feature_visualization.optimize import (
    lucid_recipe,
    seed_article_recipe,
    seed_post_recipe,
    visualize,
)
from kerascope.feature_visualization.parametrizations import FourierImage, PixelImage
from kerascope.feature_visualization.regularizers import blur, l1, l2, total_variation
from kerascope.feature_visualization.transforms import (
    Jitter,
    Pad,
    RandomRotate,
    RandomScale,
    standard_transforms,
)

__all__ = [
    "visualize", "Objective", "channel", "neuron", "class_logit", "direction",
    "deepdream", "l1", "l2", "total_variation", "blur", "PixelImage", "FourierImage",
    "Jitter", "Pad", "RandomRotate", "RandomScale", "standard_transforms",
    "seed_post_recipe", "seed_article_recipe", "lucid_recipe",
]
