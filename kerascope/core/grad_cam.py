"""tf-explain's ``GradCAM`` (Selvaraju et al. 2017, arXiv:1610.02391) on kerascope.

tf-explain's variant, kept for compatibility: ``g = dp_c/dA`` of the model *output*
(after its softmax, tf-explain differentiates ``predictions[:, c]``), guided by
default (``g * (A > 0) * (g > 0)``), ``w_k = mean_ij g^k``, ``cam = sum_k w_k A^k``
without ReLU; each map is resized to its image, min-max scaled, coloured and blended
over the image (``image_weight``), and the overlays tiled in a grid. The paper's
Grad-CAM (logits, ReLU) is ``kerascope.grad_cam``.

Both call forms run::

    GradCAM().explain((images, None), model, class_index, layer_name=None)   # tf-explain 0.3
    GradCAM().explain(([img], None), model, "block5_conv3", class_index)     # tf-explain 0.1
"""

import numpy as np

from kerascope.core.base import Explainer, validation_images
from kerascope.methods import cam
from kerascope.utils.display import grid_display, heatmap_display

# OpenCV colormap constants (tf-explain took cv2.COLORMAP_*) -> matplotlib names.
_CV2_COLORMAPS = {
    0: "autumn", 1: "bone", 2: "jet", 3: "winter", 4: "rainbow", 5: "ocean", 6: "summer",
    7: "spring", 8: "cool", 9: "hsv", 10: "pink", 11: "hot", 13: "magma", 14: "inferno",
    15: "plasma", 16: "viridis", 17: "cividis", 18: "twilight", 19: "twilight_shifted",
    20: "turbo",
}


def _colormap(colormap):
    if isinstance(colormap, (int, np.integer)) and not isinstance(colormap, bool):
        if int(colormap) not in _CV2_COLORMAPS:
            raise ValueError(
                f"colormap: OpenCV colormap {colormap} has no matplotlib equivalent; pass a "
                f"matplotlib colormap name such as 'viridis'."
            )
        return _CV2_COLORMAPS[int(colormap)]
    return colormap


class GradCAM(Explainer):
    """Grid of Grad-CAM heatmaps blended over their images (tf-explain's variant)."""

    def explain(self, validation_data, model, class_index, layer_name=None,
                use_guided_grads=True, colormap="viridis", image_weight=0.7,
                batch_size=32):
        """uint8 RGB grid of the Grad-CAM of ``class_index`` over each image.

        ``layer_name``: the layer to explain (nested models too); None: the last
        layer with a spatial output. tf-explain 0.1's order
        ``explain(data, model, layer_name, class_index)`` is accepted too.
        """
        if isinstance(class_index, str):
            if layer_name is None or isinstance(layer_name, str):
                raise ValueError(
                    f"class_index: got the string {class_index!r}; the old call is "
                    f"explain(validation_data, model, layer_name, class_index) with an "
                    f"int class index as fourth argument."
                )
            class_index, layer_name = layer_name, class_index
        images = validation_images(validation_data)
        cams = self.explain_maps(images, model, class_index, layer_name,
                                 use_guided_grads, batch_size)
        colormap = _colormap(colormap)
        overlays = np.stack([
            heatmap_display(heat, image, colormap, image_weight)
            for heat, image in zip(cams, images)
        ])
        return grid_display(overlays)

    @staticmethod
    def explain_maps(images, model, class_index, layer_name=None, use_guided_grads=True,
                     batch_size=32):
        """Raw low-resolution tf-explain Grad-CAM maps ``(N, h, w)`` (no ReLU)."""
        method = cam.GradCAM(layer_name=layer_name, upsample=False, relu=False,
                             guided_grads=use_guided_grads)
        _, maps = method.explain(model, images, class_index, batch_size=batch_size,
                                 use_logits=False)
        return maps

    @staticmethod
    def generate_ponderated_output(outputs, grads):
        """tf-explain's combination: ``sum_k mean_ij(grads^k) outputs^k`` per sample."""
        return cam.tf_explain_grad_cam(outputs, grads, use_guided_grads=False)
