"""Callbacks for guided backpropagation (Springenberg et al. 2015), Deconvnet (Zeiler &
Fergus 2014) and Guided Grad-CAM (Selvaraju et al. 2017), ``kerascope.methods.guided``.

The maps ``|dS_c/dx|`` (ReLU gradients overridden during the explanation pass only;
the model is not changed) are summed over channels and rendered as the gradient
explainers' grayscale grid.
"""

from kerascope.callbacks.base import ExplanationCallback


class GuidedBackpropCallback(ExplanationCallback):
    """Guided backpropagation grid after epochs, tag ``GuidedBackprop``."""

    method_class = "guided_backprop"
    method_dir = "guided_backprop"
    tag = "GuidedBackprop"

    def __init__(self, validation_data, class_index, output_dir=None, *, every_n_epochs=1,
                 max_images=None, strict=False, batch_size="auto", **method_options):
        super().__init__(validation_data, class_index, output_dir, every_n_epochs=every_n_epochs,
                         max_images=max_images, strict=strict, batch_size=batch_size)
        from kerascope.compat.tf_explain.core.method_explainer import MethodExplainer

        self.method_options = method_options
        self.explainer = MethodExplainer(self.method_class, **method_options)
        self.method = self.explainer.method

    def explain_grid(self, images, model, class_index):
        return self.explainer.explain((images, None), model, class_index,
                                      batch_size=self.batch_size)


class DeconvnetCallback(GuidedBackpropCallback):
    """Deconvnet grid after epochs, tag ``Deconvnet``."""

    method_class = "deconvnet"
    method_dir = "deconvnet"
    tag = "Deconvnet"


class GuidedGradCAMCallback(GuidedBackpropCallback):
    """Guided Grad-CAM grid after epochs, tag ``Guided Grad CAM``."""

    method_class = "guided_grad_cam"
    method_dir = "guided_grad_cam"
    tag = "Guided Grad CAM"

    def __init__(self, validation_data, class_index, layer_name=None, output_dir=None,
                 **options):
        super().__init__(validation_data, class_index, output_dir, layer_name=layer_name,
                         **options)
        self.layer_name = layer_name
