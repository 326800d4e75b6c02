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

Both are rule sets (``kerascope.rules.GUIDED_BACKPROP_RULES``, ``DECONVNET_RULES``)
that ``ModelView`` applies to ReLU layers and ``activation="relu"`` inside
Conv/Dense/Activation layers during the explanation pass only; the user's model
is never changed. ReLUs called as ``keras.ops.relu`` inside a subclassed ``call``
are not seen. The rule sets are module-level objects, so the compiled pass cache
(keyed on their identity) is reused across calls.
"""

import numpy as np

from kerascope import surgery
from kerascope.methods.base import Method
from kerascope.methods.gradients import VanillaGradients
from kerascope.methods.smoothgrad import SmoothGrad
from kerascope.rules import (  # noqa: F401  (guided_relu, deconvnet_relu: public here)
    DECONVNET_RULES,
    GUIDED_BACKPROP_RULES,
    deconvnet_relu,
    guided_relu,
)
from kerascope.targets import CallableScore


class GuidedBackprop(VanillaGradients):
    """Guided backpropagation: the input gradient with guided ReLU gradients.

    Args:
        channel_reduction: how input channels are reduced (default ``"abs_sum"``
            as for saliency; None keeps the signed ``(N, H, W, C)`` map).
    """

    name = "guided_backprop"

    def __init__(self, channel_reduction="abs_sum"):
        self.channel_reduction = channel_reduction

    def rules(self):
        return GUIDED_BACKPROP_RULES


class Deconvnet(GuidedBackprop):
    """Deconvnet: the input gradient with ReLU applied to the backward signal."""

    name = "deconvnet"

    def rules(self):
        return DECONVNET_RULES


class GuidedSmoothGrad(SmoothGrad):
    """SmoothGrad of guided-backpropagation gradients (same options as SmoothGrad)."""

    name = "guided_smoothgrad"

    def rules(self):
        return GUIDED_BACKPROP_RULES


class GuidedGradCAM(Method):
    """Guided Grad-CAM: ``guided_backprop(x) * upsample(grad_cam(x))``.

    The guided-backpropagation gradient (per input channel) is multiplied by the
    Grad-CAM map of the same target, upsampled to the input size, then channels
    are reduced like guided backpropagation.

    Args:
        layer_name: the Grad-CAM layer (None: the last spatial layer).
        channel_reduction: as for ``GuidedBackprop`` (default ``"abs_sum"``).
        **cam_options: further options of ``kerascope.methods.cam.GradCAM``.
    """

    name = "guided_grad_cam"
    evaluates_inputs = True

    def __init__(self, layer_name=None, channel_reduction="abs_sum", **cam_options):
        self.layer_name = layer_name
        self.channel_reduction = channel_reduction
        self.cam_options = cam_options

    def rules(self):
        return GUIDED_BACKPROP_RULES

    def explain(self, model, x, targets=None, **run_options):
        self._layer = self.layer_name
        try:
            return super().explain(model, x, targets, **run_options)
        finally:
            del self._layer

    def _cam(self, model, x):
        from kerascope.methods.cam import GradCAM  # lazy: the CAM family lives there

        if self._layer is None:  # resolved once per explain call, not per batch
            self._layer = surgery.last_spatial_layer(model, x[:1])
        return GradCAM(layer_name=self._layer, **self.cam_options)

    def attribute(self, runner, x, row_targets):
        view = runner.view
        passes = runner.backprop(x, row_targets)
        guided = passes.input_grads
        if isinstance(runner.score, CallableScore):
            cam_targets = runner.score.fn
        else:
            cam_targets = np.asarray(passes.units, dtype=np.int64)  # resolved units
        _, cam_maps = self._cam(view.model, x).explain(
            view.model, x, cam_targets, batch_size=runner.batch_size,
            output_index=view.output_index, use_logits=view.stripped_layer is not None,
        )
        cam_maps = np.asarray(cam_maps, dtype=np.float32)
        if guided.ndim == cam_maps.ndim + 1:
            cam_maps = np.expand_dims(cam_maps, surgery.channel_axis(view.model))
        try:
            return guided * cam_maps, passes
        except ValueError:
            raise ValueError(
                f"layer_name: the Grad-CAM map of shape {cam_maps.shape[1:]} does not "
                f"match the input gradient of shape {guided.shape[1:]}; Guided Grad-CAM "
                f"needs a map upsampled to the input size."
            ) from None


def guided_backprop(model, x, targets=None, channel_reduction="abs_sum", **run_options):
    """Guided backpropagation maps of ``model`` for ``x`` (see ``GuidedBackprop``)."""
    return GuidedBackprop(channel_reduction).explain(model, x, targets, **run_options)[1]


def deconvnet(model, x, targets=None, channel_reduction="abs_sum", **run_options):
    """Deconvnet maps of ``model`` for ``x`` (see ``Deconvnet``)."""
    return Deconvnet(channel_reduction).explain(model, x, targets, **run_options)[1]


def guided_smoothgrad(model, x, targets=None, num_samples=25, noise=0.15, variant="smoothgrad",
                      seed=None, channel_reduction="default", **run_options):
    """Guided SmoothGrad maps of ``model`` for ``x`` (see ``GuidedSmoothGrad``)."""
    method = GuidedSmoothGrad(num_samples, noise, variant, seed, channel_reduction)
    return method.explain(model, x, targets, **run_options)[1]


def guided_grad_cam(model, x, targets=None, layer_name=None, channel_reduction="abs_sum",
                    **run_options):
    """Guided Grad-CAM maps of ``model`` for ``x`` (see ``GuidedGradCAM``)."""
    method = GuidedGradCAM(layer_name=layer_name, channel_reduction=channel_reduction)
    return method.explain(model, x, targets, **run_options)[1]
