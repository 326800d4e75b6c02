"""``OcclusionSensitivityCallback``: occlusion maps (Zeiler & Fergus 2014) in TensorBoard."""

from kerascope.callbacks.base import ExplanationCallback


class OcclusionSensitivityCallback(ExplanationCallback):
    """Write the ``kerascope.compat.tf_explain.core.OcclusionSensitivity`` grid after epochs (tag ``Occlusion Sensitivity``).

    Each image is occluded by grey ``patch_size`` squares, one model pass per patch
    position (batched, ``batch_size`` rows at a time); the map ``1 - p_c`` is
    overlaid on the image. Arguments as tf-explain 0.3's.
    """

    method_dir = "occlusion_sensitivity"
    tag = "Occlusion Sensitivity"

    def __init__(self, validation_data, class_index, patch_size, output_dir=None, *,
                 colormap="viridis", every_n_epochs=1, max_images=None, strict=False,
                 batch_size="auto"):
        super().__init__(validation_data, class_index, output_dir, every_n_epochs=every_n_epochs,
                         max_images=max_images, strict=strict, batch_size=batch_size)
        self.patch_size = patch_size
        self.colormap = colormap

    def explain_grid(self, images, model, class_index):
        from kerascope.compat.tf_explain.core.occlusion_sensitivity import OcclusionSensitivity

        return OcclusionSensitivity(batch_size=self.batch_size).explain(
            (images, None), model, class_index, self.patch_size, colormap=self.colormap)
