"""Base of the tf-explain style explainers."""

import numpy as np

from kerascope.compat.tf_explain.utils.display import grid_display
from kerascope.compat.tf_explain.utils.image import as_numpy, transform_to_normalized_grayscale
from kerascope.compat.tf_explain.utils.saver import save_grayscale, save_rgb


def validation_images(validation_data):
    """The images of tf-explain's ``validation_data = (images, labels)`` as numpy."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError(
            "validation_data: expected a tuple (images, labels) such as (x, None), got "
            f"{type(validation_data).__name__}."
        )
    return as_numpy(validation_data[0])


def class_scores(model, images, class_index, use_logits, batch_size="auto"):
    """Batched ``dS/dx`` (raw, channels kept) of ``model``'s class ``class_index`` on
    ``images``, through kerascope's backend-agnostic passes."""
    from kerascope.methods.gradients import VanillaGradients

    method = VanillaGradients(channel_reduction=None)
    _, grads = method.explain(model, as_numpy(images), class_index, batch_size=batch_size,
                              use_logits=use_logits)
    return grads


class Explainer:
    """An explainer with tf-explain's interface: ``explain`` then ``save``."""

    def explain(self, validation_data, model, *args, **kwargs):
        raise NotImplementedError

    def save(self, grid, output_dir, output_name):
        """Write ``grid`` as a PNG ``output_dir/output_name`` (folder created)."""
        grid = as_numpy(grid)
        if grid.ndim == 3 and grid.shape[-1] in (3, 4):
            return save_rgb(grid, output_dir, output_name)
        return save_grayscale(grid, output_dir, output_name)


class GrayscaleGradientExplainer(Explainer):
    """Gradient-family explainer rendered as tf-explain's grayscale grid.

    tf-explain's rendering: ``|map|`` summed over channels, standardized, times 255,
    then (unlike tf-explain, which wraps around) clipped to uint8.
    """

    def method(self, **options):
        raise NotImplementedError

    def explain_maps(self, validation_data, model, class_index, batch_size="auto", **options):
        images = validation_images(validation_data)
        method = self.method(**options)
        _, maps = method.explain(model, images, class_index, batch_size=batch_size)
        return maps

    def render(self, maps):
        return grid_display(np.asarray(transform_to_normalized_grayscale(np.abs(maps))))
