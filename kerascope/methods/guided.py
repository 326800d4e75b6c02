"""Guided backpropagation, Deconvnet and the methods built on them.

Both change only the backward pass through every ReLU (``y = max(x, 0)``, upstream
gradient ``g``); the forward pass, hence the outputs, is unchanged:

* Guided backpropagation (Springenberg et al. 2015, arXiv:1412.6806):
  ``dx = g * [x > 0] * [g > 0]``;
* Deconvnet (Zeiler & Fergus 2014, arXiv:1311.2901): ``dx = g * [g > 0]``
  (the forward mask is ignored);
* Guided Grad-CAM (Selvaraju et al. 2017, arXiv:1610.02391): the guided
  backpropagation map times the Grad-CAM map upsampled to the input size;
* Guided SmoothGrad: SmoothGrad (Smilkov et al. 2017) of guided gradients.

Both are rule sets (``kerascope.engine.rules.GUIDED_BACKPROP_RULES``, ``DECONVNET_RULES``)
that ``ModelView`` applies to ReLU layers and ``activation="relu"`` inside
Conv/Dense/Activation layers during the explanation pass only; the user's model
is never changed. ReLUs called as ``keras.ops.relu`` inside a subclassed ``call``
are not seen. The rule sets are module-level objects, so the compiled pass cache
(keyed on their identity) is reused across calls.
"""

import numpy as np

from kerascope.methods.base import Method
from kerascope.methods.gradients import VanillaGradients
from kerascope.methods.smoothgrad import SmoothGrad
from kerascope.engine.rules.relu import (  # noqa: F401  (guided_relu, deconvnet_relu: public here)
    DECONVNET_RULES,
    GUIDED_BACKPROP_RULES,
    deconvnet_relu,
    guided_relu,
)


class GuidedBackprop(VanillaGradients):
    """Guided backpropagation: the input gradient with guided ReLU gradients.

    Args:
        channel_reduction: how input channels are reduced (default ``"abs_sum"``
            as for saliency; None keeps the signed ``(N, H, W, C)`` map).
    """

    name = "guided_backprop"
    aliases = ("guided_backpropagation", "guidedbackprop")
    family = "guided"
    summary = "Input gradient where every ReLU passes only positive gradients of positive inputs."
    paper = "Springenberg et al. 2015, arXiv:1412.6806"
    signed = False

    def __init__(self, channel_reduction="abs_sum"):
        self.channel_reduction = channel_reduction

    def rules(self, model):
        return GUIDED_BACKPROP_RULES


class Deconvnet(GuidedBackprop):
    """Deconvnet: the input gradient with ReLU applied to the backward signal."""

    name = "deconvnet"
    aliases = ()
    summary = "Input gradient where every ReLU passes only positive gradients."
    paper = "Zeiler & Fergus 2014, arXiv:1311.2901"

    def rules(self, model):
        return DECONVNET_RULES


class GuidedSmoothGrad(SmoothGrad):
    """SmoothGrad of guided-backpropagation gradients (same options as SmoothGrad)."""

    name = "guided_smoothgrad"
    family = "guided"
    summary = "SmoothGrad of guided-backpropagation gradients."
    paper = "Smilkov et al. 2017, arXiv:1706.03825; Springenberg et al. 2015, arXiv:1412.6806"

    def rules(self, model):
        return GUIDED_BACKPROP_RULES


class GuidedGradCAM(Method):
    """Guided Grad-CAM: ``guided_backprop(x) * upsample(grad_cam(x))``.

    The guided-backpropagation gradient (per input channel) is multiplied by the
    Grad-CAM map of the same target, upsampled to the input size, then channels
    are reduced like guided backpropagation. Both come from ``ctx.run`` on the same
    rows and targets: nothing is resolved twice.

    Args:
        layer_name: the Grad-CAM layer (None: the last spatial layer).
        channel_reduction: as for ``GuidedBackprop`` (default ``"abs_sum"``).
        **cam_options: further options of ``kerascope.methods.cam.GradCAM``.
    """

    name = "guided_grad_cam"
    aliases = ("guided_gradcam",)
    family = "guided"
    summary = "Guided backpropagation times the upsampled Grad-CAM map."
    paper = "Selvaraju et al. 2017, arXiv:1610.02391"
    evaluates_inputs = True

    def __init__(self, layer_name=None, channel_reduction="abs_sum", **cam_options):
        from kerascope.methods.cam.variants import GradCAM

        self.layer_name = layer_name
        self.channel_reduction = channel_reduction
        self.cam_options = cam_options
        self._guided = GuidedBackprop(channel_reduction=None)
        self._cam = GradCAM(layer_name=layer_name, **cam_options)

    def attribute(self, ctx, x, row_targets):
        guided, passes = ctx.run(self._guided, x, row_targets, with_passes=True)
        cam_maps = ctx.run(self._cam, x, row_targets)
        if guided.ndim == cam_maps.ndim + 1:
            cam_maps = np.expand_dims(cam_maps, ctx.channel_axis)
        try:
            return guided * cam_maps, passes
        except ValueError:
            raise ValueError(
                f"layer_name: the Grad-CAM map of shape {cam_maps.shape[1:]} does not "
                f"match the input gradient of shape {guided.shape[1:]}; Guided Grad-CAM "
                f"needs a map upsampled to the input size."
            ) from None
