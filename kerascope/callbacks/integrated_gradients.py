"""``IntegratedGradientsCallback``: Integrated Gradients (Sundararajan et al. 2017) in TensorBoard."""

from kerascope.callbacks.base import ExplanationCallback


class IntegratedGradientsCallback(ExplanationCallback):
    """Write the ``kerascope.compat.tf_explain.core.IntegratedGradients`` grid after epochs (tag ``IntegratedGradients``).

    ``n_steps=5`` is tf-explain's callback default (its core explainer's is 10).
    """

    method_dir = "integrated_gradients"
    tag = "IntegratedGradients"

    def __init__(self, validation_data, class_index, n_steps=5, output_dir=None, *,
                 every_n_epochs=1, max_images=None, strict=False, batch_size="auto"):
        super().__init__(validation_data, class_index, output_dir, every_n_epochs=every_n_epochs,
                         max_images=max_images, strict=strict, batch_size=batch_size)
        self.n_steps = n_steps

    def explain_grid(self, images, model, class_index):
        from kerascope.compat.tf_explain.core.integrated_gradients import IntegratedGradients

        return IntegratedGradients().explain((images, None), model, class_index,
                                             n_steps=self.n_steps, batch_size=self.batch_size)
