"""keras-explainable's CAM methods on kerascope: ``cam``, ``gradcam``, ``gradcampp``,
``scorecam``.

Each explains the signal keras-explainable's exposed models output second (the input of
the last global pooling layer); a plain model works too (that same signal is found, or
the last layer with a spatial output). The maps are signed (no ReLU; the shortcuts
``ke.cam``... keep the positive part) and at the signal's resolution, except Score-CAM's,
at the input's.

* ``cam`` (Zhou et al. 2016, arXiv:1512.04150): ``sum_k w_k^u A^k`` with the dense
  weights ``w`` of ``logits_layer``.
* ``gradcam`` (Selvaraju et al. 2017, arXiv:1610.02391): ``sum_k mean_ij(dS_u/dA^k) A^k``.
* ``gradcampp`` (Chattopadhay et al. 2018, arXiv:1710.11063): kerascope's Grad-CAM++;
  keras-explainable's maps carry an extra positive factor ``exp(S_u)`` per map, which
  normalization removes.
* ``scorecam`` (Wang et al. 2020, arXiv:1910.01279): kerascope's Score-CAM with the raw
  scores of the masked inputs as weights (keras-explainable's choice), ``sum_k s_k A^k``
  upsampled (keras-explainable summed ``s_k`` times the upsampled, normalized masks).
"""

from kerascope.compat.keras_explainable.inspection import KERNEL_AXIS, SPATIAL_AXIS
from kerascope.compat.keras_explainable.methods._run import feature_layer, kerascope_method, run
from kerascope.methods.cam.variants import GradCAM, GradCAMPlusPlus, ScoreCAM
from kerascope.methods.cam.classic import ClassActivationMap


def _build_cam(model, inputs, spatial_axis=SPATIAL_AXIS, logits_layer=None):
    return ClassActivationMap(layer_name=feature_layer(model, inputs), dense_layer=logits_layer,
                              upsample=False, relu=False)


def _build_gradcam(model, inputs, spatial_axis=SPATIAL_AXIS):
    return GradCAM(layer_name=feature_layer(model, inputs), upsample=False, relu=False)


def _build_gradcampp(model, inputs, spatial_axis=SPATIAL_AXIS):
    return GradCAMPlusPlus(layer_name=feature_layer(model, inputs), upsample=False, relu=False)


def _build_scorecam(model, inputs, spatial_axis=SPATIAL_AXIS):
    return ScoreCAM(layer_name=feature_layer(model, inputs), upsample=True, relu=False,
                    score_normalization=None)


@kerascope_method(_build_cam)
def cam(model, inputs, indices=None, indices_axis=KERNEL_AXIS, indices_batch_dims=-1,
        spatial_axis=SPATIAL_AXIS, logits_layer=None, batch_size="auto"):
    """CAM maps ``(N, h, w, K)`` and logits ``(N, K)``; ``logits_layer``: the dense layer
    (name or layer) after the pooling (default: found after it)."""
    method = _build_cam(model, inputs, spatial_axis, logits_layer)
    return run(method, model, inputs, indices, indices_axis, indices_batch_dims, batch_size)


@kerascope_method(_build_gradcam)
def gradcam(model, inputs, indices=None, indices_axis=KERNEL_AXIS, indices_batch_dims=-1,
            spatial_axis=SPATIAL_AXIS, batch_size="auto"):
    """Grad-CAM maps ``(N, h, w, K)`` and logits ``(N, K)``."""
    method = _build_gradcam(model, inputs, spatial_axis)
    return run(method, model, inputs, indices, indices_axis, indices_batch_dims, batch_size)


@kerascope_method(_build_gradcampp)
def gradcampp(model, inputs, indices=None, indices_axis=KERNEL_AXIS, indices_batch_dims=-1,
              spatial_axis=SPATIAL_AXIS, batch_size="auto"):
    """Grad-CAM++ maps ``(N, h, w, K)`` and logits ``(N, K)``."""
    method = _build_gradcampp(model, inputs, spatial_axis)
    return run(method, model, inputs, indices, indices_axis, indices_batch_dims, batch_size)


@kerascope_method(_build_scorecam)
def scorecam(model, inputs, indices=None, indices_axis=KERNEL_AXIS, indices_batch_dims=-1,
             spatial_axis=SPATIAL_AXIS, batch_size="auto"):
    """Score-CAM maps ``(N, H, W, K)`` (input resolution) and logits ``(N, K)``."""
    method = _build_scorecam(model, inputs, spatial_axis)
    return run(method, model, inputs, indices, indices_axis, indices_batch_dims, batch_size)


METHODS = [cam, gradcam, gradcampp, scorecam]

__all__ = ["cam", "gradcam", "gradcampp", "scorecam"]
