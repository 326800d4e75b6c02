"""The CAM methods: Grad-CAM, Grad-CAM++, XGrad-CAM, HiResCAM, Layer-CAM,
Eigen-CAM and Score-CAM (formulas and papers: ``kerascope.methods.cam.maps``)."""

import numpy as np

from kerascope.inputs import arrays as data
from kerascope.engine.numeric import multiply_masks
from kerascope.engine.validation import check_choice, check_positive_int
from kerascope.methods.cam.base import PROBABILITY_SCORE, CAM
from kerascope.methods.cam.maps import (
    eigen_cam_map,
    grad_cam_map,
    grad_cam_plus_plus_map,
    guided_gradients,
    hires_cam_map,
    layer_cam_map,
    score_cam_map,
    score_cam_masks,
    score_cam_weights,
    xgrad_cam_map,
)

SCORE_NORMALIZATIONS = ("channels", "classes", None)

__all__ = [
    "SCORE_NORMALIZATIONS", "GradCAM", "GradCAMPlusPlus", "XGradCAM", "HiResCAM",
    "LayerCAM", "EigenCAM", "ScoreCAM",
]


class GradCAM(CAM):
    """Grad-CAM; ``guided_grads=True, relu=False`` is tf-explain's variant."""

    name = "grad_cam"
    aliases = ("gradcam",)
    summary = "Channel activations weighted by their mean gradient, ReLU."
    paper = "Selvaraju et al. 2017, arXiv:1610.02391"

    def __init__(self, layer_name=None, upsample=True, relu=True, guided_grads=False,
                 reshape=None, class_token="auto", input=None):
        super().__init__(layer_name, upsample, relu, reshape, class_token, input)
        self.guided_grads = bool(guided_grads)

    def combine(self, activations, grads):
        if self.guided_grads:
            grads = guided_gradients(activations, grads)
        return grad_cam_map(activations, grads, self.relu)


class GradCAMPlusPlus(CAM):
    """Grad-CAM++ (paper's Eq. 19 with spatial sums)."""

    name = "grad_cam_plus_plus"
    aliases = ("gradcam++", "gradcampp", "gradcam_plus_plus")
    summary = "Grad-CAM with higher-order pixel weights of positive gradients (Eq. 19)."
    paper = "Chattopadhay et al. 2018, arXiv:1710.11063"
    formula = staticmethod(grad_cam_plus_plus_map)


class XGradCAM(CAM):
    """XGrad-CAM: activation-weighted gradient weights."""

    name = "xgrad_cam"
    aliases = ("xgradcam",)
    summary = "Channel weights from activation-weighted gradients (axiom-based)."
    paper = "Fu et al. 2020, arXiv:2008.02312"
    formula = staticmethod(xgrad_cam_map)


class HiResCAM(CAM):
    """HiResCAM: element-wise gradient times activation, summed over channels."""

    name = "hires_cam"
    aliases = ("hirescam",)
    summary = "Element-wise gradient times activation, summed over channels."
    paper = "Draelos & Carin 2020, arXiv:2011.08891"
    formula = staticmethod(hires_cam_map)


class LayerCAM(CAM):
    """Layer-CAM: element-wise positive gradient times activation."""

    name = "layer_cam"
    aliases = ("layercam",)
    summary = "Element-wise positive gradient times activation."
    paper = "Jiang et al. 2021, IEEE TIP 30"
    formula = staticmethod(layer_cam_map)


class EigenCAM(CAM):
    """Eigen-CAM: first principal direction of the activations (class independent)."""

    name = "eigen_cam"
    aliases = ("eigencam",)
    summary = "First principal component of the activations (class independent)."
    paper = "Muhammad & Yeasin 2020, arXiv:2008.00299"
    uses_gradients = False

    def __init__(self, layer_name=None, upsample=True, relu=True, center=False,
                 reshape=None, class_token="auto", input=None):
        super().__init__(layer_name, upsample, relu, reshape, class_token, input)
        self.center = bool(center)

    def combine(self, activations, grads):
        return eigen_cam_map(activations, self.relu, self.center)


class ScoreCAM(CAM):
    """Score-CAM: channels weighted by the class score of the input they mask.

    Args (besides ``CAM``'s):
        score_normalization: "channels" (softmax over channels, the paper),
            "classes" (class probability of each masked input) or None (raw score).
        max_channels: keep only the N channels of highest spatial variance per input
            (Faster Score-CAM); None uses all.
    """

    name = "score_cam"
    aliases = ("scorecam",)
    summary = "Channels weighted by the class score of the input each one masks."
    paper = "Wang et al. 2020, arXiv:1910.01279"
    uses_gradients = False

    def __init__(self, layer_name=None, upsample=True, relu=True,
                 score_normalization="channels", max_channels=None, reshape=None,
                 class_token="auto", input=None):
        super().__init__(layer_name, upsample, relu, reshape, class_token, input)
        self.score_normalization = check_choice(
            score_normalization, "score_normalization", SCORE_NORMALIZATIONS
        )
        self.max_channels = (
            None if max_channels is None else check_positive_int(max_channels, "max_channels")
        )

    def _masked_runner(self, ctx):
        """Passes scoring masked inputs at the units resolved on the unmasked ones."""
        if self.score_normalization == "classes":
            if ctx.targets.kind == "callable":
                raise ValueError(
                    "score_normalization: 'classes' needs class-index targets, not a "
                    "score callable; use 'channels' or None."
                )
            return ctx.runner(score=PROBABILITY_SCORE, use_logits=True)
        return ctx.runner(score=ctx.unit_score)

    def attribute(self, ctx, x, row_targets):
        passes = ctx.forward(x, row_targets)
        units = np.asarray(passes.units, dtype=np.int32)
        masked = self._masked_runner(ctx)
        image = self.spatial_input(x)
        cams = []
        for index, a in enumerate(passes.layer_outputs):
            a = self._spatial(a, index, image, ctx)
            size = self._input_size(image, a.ndim - 2, ctx)
            channels = np.broadcast_to(np.arange(a.shape[-1]), (len(a), a.shape[-1]))
            if self.max_channels is not None and self.max_channels < a.shape[-1]:
                variance = a.reshape(len(a), -1, a.shape[-1]).var(axis=1)
                channels = np.argsort(-variance, axis=1, kind="stable")[:, : self.max_channels]
            selected = np.take_along_axis(
                a.reshape(len(a), -1, a.shape[-1]), channels[:, None, :], axis=2
            ).reshape(a.shape[:-1] + (channels.shape[1],))
            scores = self._masked_scores(masked, x, selected, size, units, ctx)
            weights = score_cam_weights(scores, self.score_normalization)
            cams.append(score_cam_map(selected, weights, self.relu))
        return self._merge(cams, image, ctx), passes

    def _masked_scores(self, runner, x, activations, size, units, ctx):
        """Scores of every (input, channel) masked input, ``batch_size`` rows at a time."""
        n, k = len(activations), activations.shape[-1]
        flat = np.moveaxis(activations, -1, 1).reshape((n * k,) + activations.shape[1:-1])
        scores = np.empty(n * k, dtype=np.float64)
        step = ctx.batch_size
        for start in range(0, n * k, step):
            rows = np.arange(start, min(start + step, n * k))
            masks = score_cam_masks(flat[rows][..., None], size)[:, 0]
            owners = rows // k
            image = self.spatial_input(x)
            if image.ndim != masks.ndim:
                masks = masks[:, None] if ctx.channel_axis == 1 else masks[..., None]
            if isinstance(x, data.Inputs):
                chosen = self.spatial_index(x)
                masked = x[owners]
                masked = masked.with_arrays(
                    _masked(a, masks) if j == chosen else a for j, a in enumerate(masked.arrays)
                )
            else:
                masked = _masked(x[owners], masks)
            scores[rows] = runner.forward(masked, units[owners]).scores
        return scores.reshape(n, k)


def _masked(rows, masks):
    """Rows (a fresh copy: ``x[owners]``) times their masks, in float32."""
    rows = np.asarray(rows)
    if rows.dtype != np.float32:
        return rows * masks
    return multiply_masks(rows, masks)
