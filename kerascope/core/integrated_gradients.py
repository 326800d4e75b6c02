"""tf-explain's ``IntegratedGradients`` on kerascope, with the paper's definition.

Differences from tf-explain 0.3: attributions are multiplied by ``(x - baseline)``
(tf-explain returns the mean gradient only, tf-explain issue #128), and the score is
taken before the final softmax. ``n_steps`` keeps its meaning: gradient evaluations
on the straight path from the zero baseline, end points included (trapezoid rule).
"""

from kerascope.core.base import GrayscaleGradientExplainer
from kerascope import methods  # the package: methods.integrated_gradients is the function


class IntegratedGradients(GrayscaleGradientExplainer):
    """Grid of ``|IG|`` summed over channels."""

    def method(self, n_steps):
        method = "riemann_trapezoid" if n_steps >= 2 else "riemann_right"
        return methods.IntegratedGradients(n_steps=n_steps, method=method,
                                           channel_reduction="abs_sum")

    def explain(self, validation_data, model, class_index, n_steps=10, batch_size=32):
        """uint8 grayscale grid of Integrated Gradients of ``class_index``."""
        maps = self.explain_maps(validation_data, model, class_index, batch_size,
                                 n_steps=n_steps)
        return self.render(maps)
