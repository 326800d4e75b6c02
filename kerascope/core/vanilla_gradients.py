"""tf-explain's ``VanillaGradients`` (Simonyan et al. 2013) on kerascope."""

from kerascope.core.base import GrayscaleGradientExplainer
from kerascope.methods import gradients as methods


class VanillaGradients(GrayscaleGradientExplainer):
    """Saliency grid: ``|dS_c/dx|`` of the score before the final softmax."""

    def method(self):
        return methods.VanillaGradients(channel_reduction="abs_sum")

    def explain(self, validation_data, model, class_index, batch_size=32):
        """uint8 grayscale grid of the saliency of ``class_index`` for each image."""
        return self.render(self.explain_maps(validation_data, model, class_index, batch_size))
