"""Plain gradient methods.

* Vanilla gradients / saliency (Simonyan, Vedaldi & Zisserman 2013,
  arXiv:1312.6034): ``M = |dS_c/dx|``, reduced over channels (sum of absolute
  values, tf-explain's grayscale map). ``channel_reduction=None`` keeps the
  signed raw gradient ``dS_c/dx``.
* Gradients * Inputs (Shrikumar et al. 2016, arXiv:1605.01713):
  ``M = x * dS_c/dx``, summed over channels (signed).
"""

from kerascope.methods.base import Method


class VanillaGradients(Method):
    """Saliency: the gradient of the class score with respect to the input."""

    name = "vanilla_gradients"
    aliases = ("gradients", "saliency")
    family = "gradients"
    summary = "Gradient of the class score with respect to the input, |.| summed over channels."
    paper = "Simonyan, Vedaldi & Zisserman 2013, arXiv:1312.6034"
    evaluates_inputs = True

    def __init__(self, channel_reduction="abs_sum"):
        self.channel_reduction = channel_reduction

    def attribute(self, ctx, x, row_targets):
        passes = ctx.backprop(x, row_targets)
        return self.combine(passes.input_grads, x), passes

    def combine(self, gradients, x):
        return gradients


class GradientsInputs(VanillaGradients):
    """Gradients * Inputs: the gradient scaled element-wise by the input."""

    name = "gradients_inputs"
    aliases = ("gradient_x_input", "input_x_gradient")
    summary = "Gradient times input, summed over channels (signed)."
    paper = "Shrikumar et al. 2016, arXiv:1605.01713"
    signed = True

    def __init__(self, channel_reduction="sum"):
        self.channel_reduction = channel_reduction

    def combine(self, gradients, x):
        return gradients * x
