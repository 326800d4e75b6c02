"""tf-explain's ``OcclusionSensitivity`` on kerascope.

Same definition as tf-explain 0.3: non-overlapping ``patch_size`` patches filled with
127.5, map value ``1 - p_c`` of the occluded image, coloured and blended over each
image (``image_weight=0.7``). Differences: non-square images are not transposed, the
patched images of all inputs go through the model ``batch_size`` at a time, the map
is kept at pixel resolution (tf-explain bilinearly resizes the patch grid), and
``stride`` / ``fill_value`` are available.
"""

import numpy as np

from kerascope.compat.tf_explain.core.base import Explainer, validation_images
from kerascope.methods.occlusion import Occlusion
from kerascope.compat.tf_explain.utils.display import COLORMAP_VIRIDIS, grid_display, heatmap_display


class OcclusionSensitivity(Explainer):
    """Occlusion sensitivity grid.

    Args:
        batch_size: patched images per forward pass (None: 32, as Keras' predict).
    """

    def __init__(self, batch_size=None):
        self.batch_size = batch_size

    @property
    def _rows(self):
        return 32 if self.batch_size is None else self.batch_size

    def get_sensitivity_map(self, model, image, class_index, patch_size, stride=None,
                            fill_value=127.5):
        """``(H, W)`` map of ``1 - p_c`` for one ``image`` ``(H, W[, C])``."""
        method = Occlusion(patch_size, stride=stride, fill_value=fill_value)
        _, maps = method.explain(model, np.asarray(image)[None], class_index,
                                 batch_size=self._rows)
        return maps[0]

    def explain(self, validation_data, model, class_index, patch_size,
                colormap=COLORMAP_VIRIDIS, stride=None, fill_value=127.5, image_weight=0.7):
        """uint8 RGB grid: each image with its occlusion map blended over it.

        ``colormap``: an OpenCV colormap code (``cv2.COLORMAP_JET``...) as tf-explain
        took, or a matplotlib colormap name.
        """
        images = validation_images(validation_data)
        method = Occlusion(patch_size, stride=stride, fill_value=fill_value)
        _, maps = method.explain(model, images, class_index, batch_size=self._rows)
        images = np.asarray(images)
        heatmaps = np.stack([
            heatmap_display(heatmap, _channels_last(image, maps.shape[1:]), colormap,
                            image_weight)
            for heatmap, image in zip(maps, images)
        ])
        return grid_display(heatmaps)


def _channels_last(image, size):
    """``image`` as ``(H, W[, C])`` given the map size ``(H, W)``."""
    if image.ndim == 3 and image.shape[1:] == tuple(size):
        return np.moveaxis(image, 0, -1)
    return image
