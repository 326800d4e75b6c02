"""Plain gradient methods.

* Vanilla gradients / saliency (Simonyan, Vedaldi & Zisserman 2013,
  arXiv:1312.6034): ``M = |dS_c/dx|``, reduced over channels (sum of absolute
  values, tf-explain's grayscale map). ``channel_reduction=None`` keeps the
  signed raw gradient ``dS_c/dx``.
* Gradients * Inputs (Shrikumar et al. 2016, arXiv:1605.01713):
  ``M = x * dS_c/dx``, summed over channels (signed).

Models with several inputs get one map per input (the gradient with respect to
each). ``layer=`` attributes to a layer's output ``A`` instead: ``dS_c/dA`` and
``A * dS_c/dA`` (``kerascope.methods.layer_attribution``); inputs of integer ids
(token ids) need it, they have no gradient.
"""

from kerascope.inputs import arrays as data
from kerascope.methods.base import Method
from kerascope.methods.layer_attribution import LayerOption, check_layer


class VanillaGradients(LayerOption, Method):
    """Saliency: the gradient of the class score with respect to the input.

    Args:
        channel_reduction: how to reduce channels ("abs_sum" default, None keeps
            the signed gradient).
        layer: attribute to this layer's output (name or layer object) instead of
            the input.
    """

    name = "vanilla_gradients"
    aliases = ("gradients", "saliency")
    family = "gradients"
    summary = "Gradient of the class score with respect to the input, |.| summed over channels."
    paper = "Simonyan, Vedaldi & Zisserman 2013, arXiv:1312.6034"
    evaluates_inputs = True
    multi_input = True

    def __init__(self, channel_reduction="abs_sum", layer=None):
        self.channel_reduction = channel_reduction
        self.layer = check_layer(layer)

    def attribute(self, ctx, x, row_targets):
        if self.layer is not None:
            passes = ctx.backprop(x, row_targets, wrt_inputs=False)
            return self.combine(passes.layer_grads[0], passes.layer_outputs[0]), passes
        passes = ctx.backprop(x, row_targets)
        return data.per_input(self.combine, passes.input_grads, x), passes

    def combine(self, gradients, x):
        return gradients


class GradientsInputs(VanillaGradients):
    """Gradients * Inputs: the gradient scaled element-wise by the input (or, with
    ``layer=``, by the layer's output)."""

    name = "gradients_inputs"
    aliases = ("gradient_x_input", "input_x_gradient")
    summary = "Gradient times input, summed over channels (signed)."
    paper = "Shrikumar et al. 2016, arXiv:1605.01713"
    signed = True

    def __init__(self, channel_reduction="sum", layer=None):
        self.channel_reduction = channel_reduction
        self.layer = check_layer(layer)

    def combine(self, gradients, x):
        return gradients * x
