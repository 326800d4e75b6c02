"""tf-explain compatible explainers: ``explain(validation_data, model, ...)`` returns
a uint8 image grid, ``save(grid, output_dir, output_name)`` writes it as PNG.

Each class is a thin layer over a ``kerascope.methods`` method and
``kerascope.compat.tf_explain.utils`` rendering; old tf-explain code runs by changing its imports.
"""

from kerascope.compat.tf_explain.core.activations import ActivationsVisualization, ExtractActivations
from kerascope.compat.tf_explain.core.grad_cam import GradCAM
from kerascope.compat.tf_explain.core.gradients_inputs import GradientsInputs
from kerascope.compat.tf_explain.core.integrated_gradients import IntegratedGradients
from kerascope.compat.tf_explain.core.occlusion_sensitivity import OcclusionSensitivity
from kerascope.compat.tf_explain.core.smoothgrad import SmoothGrad
from kerascope.compat.tf_explain.core.vanilla_gradients import VanillaGradients

__all__ = ["ExtractActivations", "ActivationsVisualization", "OcclusionSensitivity", "GradCAM", "VanillaGradients", "GradientsInputs", "SmoothGrad", "IntegratedGradients"]
