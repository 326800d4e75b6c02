"""tf-explain's ``SmoothGrad`` on kerascope, with the paper's definition.

Differences from tf-explain 0.3: the gradient is of the class score (tf-explain
differentiates the cross-entropy ``-log p_c``), and ``noise`` is the standard deviation
as a fraction of each image's value range (tf-explain: absolute; identical for images
in [0, 1]).
"""

from kerascope.core.base import GrayscaleGradientExplainer
from kerascope import methods  # the package: methods.smoothgrad is the function


class SmoothGrad(GrayscaleGradientExplainer):
    """Grid of ``|mean_i dS_c/dx (x + noise_i)|``."""

    def method(self, num_samples, noise, seed=None):
        return methods.SmoothGrad(num_samples=num_samples, noise=noise, seed=seed,
                                  channel_reduction="abs_sum")

    def explain(self, validation_data, model, class_index, num_samples=5, noise=1.0,
                batch_size=32, seed=None):
        """uint8 grayscale grid of SmoothGrad of ``class_index``."""
        maps = self.explain_maps(validation_data, model, class_index, batch_size,
                                 num_samples=num_samples, noise=noise, seed=seed)
        return self.render(maps)
