"""tf-explain's ``GradientsInputs`` (Shrikumar et al. 2016, arXiv:1605.01713) on kerascope."""

from kerascope.compat.tf_explain.core.base import class_scores
from kerascope.compat.tf_explain.core.vanilla_gradients import VanillaGradients
from kerascope.methods import gradients as methods
from kerascope.compat.tf_explain.utils.image import as_numpy, tensor_result


class GradientsInputs(VanillaGradients):
    """Grid of ``|x * dS_c/dx|`` (tf-explain takes the absolute value too)."""

    def method(self):
        return methods.GradientsInputs(channel_reduction="abs_sum")

    @staticmethod
    def compute_gradients(images, model, class_index):
        """``x * dS_c/dx`` for a batch ``images``, channels kept (see
        ``VanillaGradients.compute_gradients``)."""
        x = as_numpy(images).astype("float32")
        return tensor_result(x * class_scores(model, x, class_index, use_logits=True))
