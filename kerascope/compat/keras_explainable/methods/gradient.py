"""keras-explainable's gradient methods on kerascope: ``gradients`` and ``full_gradients``.

* ``gradients`` (Simonyan et al. 2013, arXiv:1312.6034): ``mean_channels
  gradient_filter(dS_u/dx)`` for each unit ``u`` of ``indices``.
* ``full_gradients`` (Srinivas & Fleuret 2019, arXiv:1905.00780): kerascope's
  ``full_grad`` with keras-explainable's post-processing: ``psi`` (default
  ``filters.absolute_normalize`` over the spatial axes) of the input-gradient x input and
  of each spatial layer's bias-gradient, averaged over channels, resized and summed. The
  biases are read from the model's layers (``biases`` is accepted and ignored), every unit
  gets its own map (keras-explainable summed the units' gradients), and an exposed model
  is not needed.

The score is the unit before a final softmax/sigmoid, if the model has one.
"""

import numpy as np

from kerascope.compat.keras_explainable import filters
from kerascope.compat.keras_explainable.inspection import KERNEL_AXIS, SPATIAL_AXIS
from kerascope.compat.keras_explainable.methods._run import kerascope_method, run
from kerascope.compat.keras_explainable.methods._traced import is_traced, traced_gradients
from kerascope.methods.fullgrad import FullGrad
from kerascope.methods.gradients import VanillaGradients
from kerascope.compat.tf_explain.utils.image import as_numpy


class _FilteredGradients(VanillaGradients):
    """``mean_channels filter(dS/dx)`` with a custom element-wise filter (not registered)."""

    name = None

    def __init__(self, gradient_filter):
        super().__init__(channel_reduction=None)
        self.gradient_filter = gradient_filter

    def postprocess(self, maps, x, ctx):
        filtered = np.asarray(as_numpy(self.gradient_filter(maps)), dtype=np.float32)
        return filtered.mean(axis=ctx.channel_axis)


def _build_gradients(model, inputs, spatial_axis=SPATIAL_AXIS, gradient_filter=np.abs):
    if gradient_filter is np.abs or gradient_filter is None:
        return VanillaGradients(channel_reduction="abs_mean")
    return _FilteredGradients(gradient_filter)


def _build_full_gradients(model, inputs, spatial_axis=SPATIAL_AXIS,
                          psi=filters.absolute_normalize, biases=None):
    return FullGrad(psi=lambda part: psi(part, axis=spatial_axis), reduce="mean")


@kerascope_method(_build_gradients)
def gradients(model, inputs, indices=None, indices_axis=KERNEL_AXIS, indices_batch_dims=-1,
              spatial_axis=SPATIAL_AXIS, gradient_filter=np.abs, batch_size="auto"):
    """Gradient back-propagation maps ``(N, H, W, K)`` and the logits ``(N, K)``.

    ``gradient_filter`` is applied element-wise before the mean over channels (default
    ``np.abs``; any function of an array). ``batch_size``: rows per device call
    (``"auto"``: from a memory budget).
    Traced by ``tf.function`` (symbolic inputs), the maps are built from traceable ops
    (the filter then gets a tensor).
    """
    if is_traced(inputs):
        return traced_gradients(model, inputs, indices, gradient_filter)
    method = _build_gradients(model, inputs, spatial_axis, gradient_filter)
    return run(method, model, inputs, indices, indices_axis, indices_batch_dims, batch_size)


@kerascope_method(_build_full_gradients)
def full_gradients(model, inputs, indices=None, indices_axis=KERNEL_AXIS, indices_batch_dims=-1,
                   spatial_axis=SPATIAL_AXIS, psi=filters.absolute_normalize, biases=None,
                   batch_size="auto"):
    """FullGrad maps ``(N, H, W, K)`` and the logits ``(N, K)`` (see the module docstring)."""
    method = _build_full_gradients(model, inputs, spatial_axis, psi, biases)
    return run(method, model, inputs, indices, indices_axis, indices_batch_dims, batch_size)


METHODS = [gradients, full_gradients]

__all__ = ["gradients", "full_gradients"]
