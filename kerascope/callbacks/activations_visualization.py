"""``ActivationsVisualizationCallback``: layer activations in TensorBoard."""

from kerascope.callbacks.base import ExplanationCallback


class ActivationsVisualizationCallback(ExplanationCallback):
    """Write the ``kerascope.compat.tf_explain.core.ExtractActivations`` grid after epochs (tag ``Activations Visualization``).

    Every channel of the outputs of ``layers_name`` (a layer name or a list of them)
    for every validation image, min-max scaled together, tiled in one grayscale grid.
    No class index. Arguments as tf-explain 0.3's (default folder
    ``./logs/activations_visualizations``).
    """

    method_dir = "activations_visualizations"
    tag = "Activations Visualization"

    def __init__(self, validation_data, layers_name, output_dir=None, *, every_n_epochs=1,
                 max_images=None, strict=False, batch_size="auto"):
        super().__init__(validation_data, None, output_dir, every_n_epochs=every_n_epochs,
                         max_images=max_images, strict=strict, batch_size=batch_size)
        self.layers_name = layers_name

    def explain_grid(self, images, model, class_index):
        from kerascope.compat.tf_explain.core import activations

        explainer = getattr(activations, "ExtractActivations", None) or getattr(
            activations, "ActivationsVisualization")
        return explainer(batch_size=self.batch_size).explain((images, None), model,
                                                              self.layers_name)
