"""tf-explain's ``SmoothGrad`` (Smilkov et al. 2017, arXiv:1706.03825) on kerascope.

``mean_i dS_c/dx (x + noise_i)``, ``|.|`` summed over channels. Differences from
tf-explain 0.3: the gradient is of the class score before the softmax (tf-explain
differentiates the cross-entropy ``-log p_c``), and ``explain``'s ``noise`` is the
standard deviation as a fraction of each image's value range (tf-explain: absolute;
identical for images in [0, 1]). The helper ``generate_noisy_images`` keeps
tf-explain's absolute standard deviation and its draws from ``np.random.normal``.
"""

import numpy as np

from kerascope import methods  # the package: methods.smoothgrad is the module
from kerascope.compat.tf_explain.core.base import GrayscaleGradientExplainer, class_scores
from kerascope.compat.tf_explain.utils.image import as_numpy, tensor_result
from kerascope.engine.validation import check_positive_int


class SmoothGrad(GrayscaleGradientExplainer):
    """Grid of ``|mean_i dS_c/dx (x + noise_i)|``."""

    def method(self, num_samples, noise, seed=None):
        return methods.SmoothGrad(num_samples=num_samples, noise=noise, seed=seed,
                                  channel_reduction="abs_sum")

    def explain(self, validation_data, model, class_index, num_samples=5, noise=1.0,
                batch_size="auto", seed=None):
        """uint8 grayscale grid of SmoothGrad of ``class_index``."""
        maps = self.explain_maps(validation_data, model, class_index, batch_size,
                                 num_samples=num_samples, noise=noise, seed=seed)
        return self.render(maps)

    @staticmethod
    def generate_noisy_images(images, num_samples, noise):
        """``(N * num_samples, H, W, C)``: each image repeated ``num_samples`` times
        (image-major) plus ``np.random.normal(0, noise)`` noise (absolute std)."""
        num_samples = check_positive_int(num_samples, "num_samples")
        if not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise: expected a finite value >= 0, got {noise!r}.")
        repeated = np.repeat(as_numpy(images), num_samples, axis=0)
        return repeated + np.random.normal(0, noise, repeated.shape).astype(np.float32)

    @staticmethod
    def get_averaged_gradients(noisy_images, model, class_index, num_samples):
        """Mean of ``dS_c/dx`` over each image's ``num_samples`` consecutive noisy
        copies: ``(N, H, W, C)`` from ``(N * num_samples, H, W, C)``. Returns a
        ``tf.Tensor`` on TensorFlow, else a numpy array with ``.numpy()``."""
        num_samples = check_positive_int(num_samples, "num_samples")
        rows = as_numpy(noisy_images).astype(np.float32)
        if len(rows) % num_samples:
            raise ValueError(
                f"noisy_images: {len(rows)} rows are not a whole number of groups of "
                f"num_samples={num_samples}."
            )
        grads = class_scores(model, rows, class_index, use_logits=True)
        return tensor_result(grads.reshape((-1, num_samples) + rows.shape[1:]).mean(axis=1))
