"""A tf-explain style explainer for any registered method.

``MethodExplainer("grad_cam_plus_plus").explain((images, None), model, class_index)``
runs the method through the driver and renders what tf-explain renders for its
family: heatmaps blended over the images for maps at the input's resolution that
localize (CAMs, perturbation), the normalized grayscale grid for gradient maps.
The callbacks of methods tf-explain did not have go through it.
"""

import numpy as np

from kerascope import methods
from kerascope.compat.tf_explain.core.base import Explainer, validation_images
from kerascope.compat.tf_explain.utils.display import grid_display, heatmap_display
from kerascope.compat.tf_explain.utils.image import transform_to_normalized_grayscale

OVERLAY_FAMILIES = ("cam", "perturbation")


class MethodExplainer(Explainer):
    """Explain with ``method`` (a name, class or instance; ``**options`` for a name)."""

    def __init__(self, method, **options):
        self.method = methods.get(method, **options)

    def explain_maps(self, validation_data, model, class_index=None, batch_size="auto"):
        """The method's float maps ``(N, H, W)`` for ``validation_data``'s images."""
        images = validation_images(validation_data)
        return self.method.explain(model, images, class_index, batch_size=batch_size)[1]

    def explain(self, validation_data, model, class_index=None, colormap="viridis",
                image_weight=0.7, batch_size="auto"):
        """uint8 grid: overlays (CAM and perturbation families) or grayscale maps."""
        images = np.asarray(validation_images(validation_data))
        maps = self.explain_maps((images, None), model, class_index, batch_size)
        if type(self.method).family in OVERLAY_FAMILIES:
            return grid_display(np.stack([
                heatmap_display(heat, image, colormap, image_weight)
                for heat, image in zip(maps, images)
            ]))
        return grid_display(transform_to_normalized_grayscale(np.abs(maps)))
