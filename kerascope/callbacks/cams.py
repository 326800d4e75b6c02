"""Callbacks for the newer CAM methods: Grad-CAM++, XGrad-CAM, HiResCAM, Layer-CAM,
Eigen-CAM and Score-CAM (``kerascope.methods.cam``; formulas and papers there).

Each map is computed at the layer's resolution with the paper's definition (class
score before the final softmax, final ReLU), upsampled to the input, min-max scaled,
coloured and blended over its image (``image_weight``) as ``GradCAMCallback`` does;
the overlays are tiled in one RGB grid.
"""

from kerascope.callbacks.base import ExplanationCallback


class CAMCallback(ExplanationCallback):
    """Base of the CAM-family callbacks: ``method_class`` names the registered method;
    ``**method_options`` go to its constructor. Rendered by
    ``kerascope.compat.tf_explain.core.method_explainer.MethodExplainer``."""

    method_class = None

    def __init__(self, validation_data, class_index, layer_name=None, output_dir=None, *,
                 colormap="viridis", image_weight=0.7, every_n_epochs=1, max_images=None,
                 strict=False, batch_size="auto", **method_options):
        super().__init__(validation_data, class_index, output_dir, every_n_epochs=every_n_epochs,
                         max_images=max_images, strict=strict, batch_size=batch_size)
        from kerascope.compat.tf_explain.core.method_explainer import MethodExplainer

        self.layer_name = layer_name
        self.colormap = colormap
        self.image_weight = image_weight
        self.method_options = method_options
        self.explainer = MethodExplainer(self.method_class, layer_name=layer_name,
                                         **method_options)
        self.method = self.explainer.method

    def explain_grid(self, images, model, class_index):
        return self.explainer.explain((images, None), model, class_index, self.colormap,
                                      self.image_weight, batch_size=self.batch_size)


class GradCAMPlusPlusCallback(CAMCallback):
    """Grad-CAM++ overlays (Chattopadhay et al. 2018), tag ``Grad CAM++``."""

    method_class = "grad_cam_plus_plus"
    method_dir = "grad_cam_plus_plus"
    tag = "Grad CAM++"


class XGradCAMCallback(CAMCallback):
    """XGrad-CAM overlays (Fu et al. 2020), tag ``XGrad CAM``."""

    method_class = "xgrad_cam"
    method_dir = "xgrad_cam"
    tag = "XGrad CAM"


class HiResCAMCallback(CAMCallback):
    """HiResCAM overlays (Draelos & Carin 2020), tag ``HiResCAM``."""

    method_class = "hires_cam"
    method_dir = "hires_cam"
    tag = "HiResCAM"


class LayerCAMCallback(CAMCallback):
    """Layer-CAM overlays (Jiang et al. 2021), tag ``Layer CAM``."""

    method_class = "layer_cam"
    method_dir = "layer_cam"
    tag = "Layer CAM"


class EigenCAMCallback(CAMCallback):
    """Eigen-CAM overlays (Muhammad & Yeasin 2020), tag ``Eigen CAM``; class independent,
    so ``class_index`` may be None."""

    method_class = "eigen_cam"
    method_dir = "eigen_cam"
    tag = "Eigen CAM"

    def __init__(self, validation_data, class_index=None, layer_name=None, output_dir=None,
                 **options):
        super().__init__(validation_data, class_index, layer_name, output_dir, **options)


class ScoreCAMCallback(CAMCallback):
    """Score-CAM overlays (Wang et al. 2020), tag ``Score CAM``: one masked pass per
    channel and image each time (``max_channels`` bounds it)."""

    method_class = "score_cam"
    method_dir = "score_cam"
    tag = "Score CAM"
