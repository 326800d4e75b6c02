"""tf-explain's ``GradientsInputs`` on kerascope."""

from kerascope.core.base import GrayscaleGradientExplainer
from kerascope.methods import gradients as methods


class GradientsInputs(GrayscaleGradientExplainer):
    """Grid of ``|x * dS_c/dx|`` (tf-explain takes the absolute value too)."""

    def method(self):
        return methods.GradientsInputs(channel_reduction="abs_sum")

    def explain(self, validation_data, model, class_index, batch_size=32):
        """uint8 grayscale grid of Gradients*Inputs of ``class_index``."""
        return self.render(self.explain_maps(validation_data, model, class_index, batch_size))
