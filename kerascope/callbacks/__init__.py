"""Keras callbacks that write explanations to TensorBoard during ``fit``.

One module per method, as tf-explain's ``tf_explain.callbacks``; the same
constructors (``validation_data``, ``class_index``, ``layer_name``, ``output_dir``, ...)
plus ``every_n_epochs``, ``max_images``, a list of classes, ``strict`` and
``batch_size`` (see :class:`~kerascope.callbacks.base.ExplanationCallback`). Works on
the TensorFlow, JAX and PyTorch backends, with or without TensorFlow installed::

    from kerascope.callbacks import GradCAMCallback
    model.fit(x, y, epochs=5, callbacks=[GradCAMCallback((x_val, None), class_index=0)])
"""

from kerascope.callbacks.activations_visualization import ActivationsVisualizationCallback
from kerascope.callbacks.base import ExplanationCallback
from kerascope.callbacks.cams import (
    CAMCallback,
    EigenCAMCallback,
    GradCAMPlusPlusCallback,
    HiResCAMCallback,
    LayerCAMCallback,
    ScoreCAMCallback,
    XGradCAMCallback,
)
from kerascope.callbacks.grad_cam import GradCAMCallback
from kerascope.callbacks.gradients_inputs import GradientsInputsCallback
from kerascope.callbacks.guided_backprop import (
    DeconvnetCallback,
    GuidedBackpropCallback,
    GuidedGradCAMCallback,
)
from kerascope.callbacks.integrated_gradients import IntegratedGradientsCallback
from kerascope.callbacks.method import MethodCallback
from kerascope.callbacks.occlusion_sensitivity import OcclusionSensitivityCallback
from kerascope.callbacks.smoothgrad import SmoothGradCallback
from kerascope.callbacks.metrics import MetricsCallback, SanityCheckCallback
from kerascope.callbacks.vanilla_gradients import VanillaGradientsCallback

#: The spelling of the tf-explain talk slides (``tf_explain.callbacks.GradCAMcallback``).
GradCAMcallback = GradCAMCallback

__all__ = [
    "ExplanationCallback",
    "MethodCallback",
    "VanillaGradientsCallback",
    "GradientsInputsCallback",
    "SmoothGradCallback",
    "IntegratedGradientsCallback",
    "GradCAMCallback",
    "GradCAMcallback",
    "OcclusionSensitivityCallback",
    "ActivationsVisualizationCallback",
    "CAMCallback",
    "GradCAMPlusPlusCallback",
    "XGradCAMCallback",
    "HiResCAMCallback",
    "LayerCAMCallback",
    "EigenCAMCallback",
    "ScoreCAMCallback",
    "GuidedBackpropCallback",
    "DeconvnetCallback",
    "GuidedGradCAMCallback",
    "MetricsCallback",
    "SanityCheckCallback",
]
