"""tf-explain's ``IntegratedGradients`` on kerascope, with the paper's definition
(Sundararajan et al. 2017, arXiv:1703.01365).

``IG(x) = (x - x') * integral_0^1 dS_c/dx(x' + a (x - x')) da`` from the zero
baseline ``x'``, approximated on ``n_steps`` evenly spaced path points, end points
included (trapezoid rule). Differences from tf-explain 0.3: attributions are
multiplied by ``(x - baseline)`` (tf-explain returns the mean gradient only,
tf-explain issue #128), the end points get half weight, and the score is taken
before the final softmax.
"""

import numpy as np

from kerascope import methods  # the package: methods.integrated_gradients is the module
from kerascope.compat.tf_explain.core.base import GrayscaleGradientExplainer, class_scores
from kerascope.compat.tf_explain.utils.image import as_numpy, tensor_result
from kerascope.engine.validation import check_positive_int


class IntegratedGradients(GrayscaleGradientExplainer):
    """Grid of ``|IG|`` summed over channels."""

    def method(self, n_steps):
        method = "riemann_trapezoid" if n_steps >= 2 else "riemann_right"
        return methods.IntegratedGradients(n_steps=n_steps, method=method,
                                           channel_reduction="abs_sum")

    def explain(self, validation_data, model, class_index, n_steps=10, batch_size="auto"):
        """uint8 grayscale grid of Integrated Gradients of ``class_index``."""
        maps = self.explain_maps(validation_data, model, class_index, batch_size,
                                 n_steps=n_steps)
        return self.render(maps)

    @staticmethod
    def get_integrated_gradients(interpolated_images, model, class_index, n_steps):
        """Integrated Gradients ``(N, H, W, C)`` from the ``(N * n_steps, H, W, C)``
        straight paths of ``generate_interpolations`` (each image's path runs from
        its baseline, the first point, to the image, the last point).

        Gradients of all path points go through the model in batches; they are
        averaged with the trapezoid rule and multiplied by ``image - baseline``.
        Returns a ``tf.Tensor`` on TensorFlow, else a numpy array with ``.numpy()``.
        """
        n_steps = check_positive_int(n_steps, "n_steps")
        path = as_numpy(interpolated_images).astype(np.float32)
        if len(path) % n_steps:
            raise ValueError(
                f"interpolated_images: {len(path)} rows are not a whole number of paths "
                f"of n_steps={n_steps} points."
            )
        grads = class_scores(model, path, class_index, use_logits=True)
        grads = grads.reshape((-1, n_steps) + path.shape[1:])
        path = path.reshape(grads.shape)
        weights = np.ones(n_steps, dtype=np.float64)
        if n_steps > 1:
            weights[[0, -1]] = 0.5
        weights /= weights.sum()
        mean = np.tensordot(weights, np.moveaxis(grads, 1, 0), axes=1)
        return tensor_result((path[:, -1] - path[:, 0]) * mean)

    @staticmethod
    def generate_interpolations(images, n_steps):
        """``(N * n_steps, H, W, C)``: each image's straight path from the zero baseline."""
        images = as_numpy(images)
        baseline = np.zeros(images.shape[1:], dtype=images.dtype)
        return np.concatenate([
            np.stack(IntegratedGradients.generate_linear_path(baseline, image, n_steps))
            for image in images
        ])

    @staticmethod
    def generate_linear_path(baseline, target, n_steps):
        """``n_steps`` evenly spaced points from ``baseline`` to ``target``, both included
        (a list of arrays; one step gives ``[target]``)."""
        n_steps = check_positive_int(n_steps, "n_steps")
        baseline, target = as_numpy(baseline), as_numpy(target)
        if n_steps == 1:
            return [target + 0 * baseline]
        return [baseline + (target - baseline) * (index / (n_steps - 1))
                for index in range(n_steps)]
