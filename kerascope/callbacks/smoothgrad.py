"""``SmoothGradCallback``: ``|mean_i dS_c/dx(x + noise_i)|`` (Smilkov et al. 2017) in TensorBoard."""

from kerascope.callbacks.base import ExplanationCallback


class SmoothGradCallback(ExplanationCallback):
    """Write the ``kerascope.compat.tf_explain.core.SmoothGrad`` grid after epochs (tag ``SmoothGrad``).

    ``num_samples=5`` and ``noise=1.0`` are tf-explain's callback defaults. ``seed``
    (default 0) fixes the noise, the same at every epoch, so the images change only
    with the model; the noise never draws from the global RNGs training uses.
    """

    method_dir = "smoothgrad"
    tag = "SmoothGrad"

    def __init__(self, validation_data, class_index, num_samples=5, noise=1.0, output_dir=None,
                 *, seed=0, every_n_epochs=1, max_images=None, strict=False, batch_size="auto"):
        super().__init__(validation_data, class_index, output_dir, every_n_epochs=every_n_epochs,
                         max_images=max_images, strict=strict, batch_size=batch_size)
        self.num_samples = num_samples
        self.noise = noise
        self.seed = seed

    def explain_grid(self, images, model, class_index):
        from kerascope.compat.tf_explain.core.smoothgrad import SmoothGrad

        return SmoothGrad().explain((images, None), model, class_index,
                                    num_samples=self.num_samples, noise=self.noise,
                                    batch_size=self.batch_size, seed=self.seed)
