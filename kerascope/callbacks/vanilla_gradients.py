"""``VanillaGradientsCallback``: saliency ``|dS_c/dx|`` (Simonyan et al. 2013) in TensorBoard."""

from kerascope.callbacks.base import ExplanationCallback
from kerascope.compat.tf_explain.core.vanilla_gradients import VanillaGradients


class VanillaGradientsCallback(ExplanationCallback):
    """Write the ``kerascope.compat.tf_explain.core.VanillaGradients`` grid after epochs (tag ``VanillaGradients``).

    Arguments as tf-explain 0.3's; ``every_n_epochs``, ``max_images``, ``strict`` and
    ``batch_size`` as in :class:`~kerascope.callbacks.base.ExplanationCallback`.
    ``class_index`` may be a list: one image per class, tagged ``VanillaGradients/class_<c>``.
    """

    method_dir = "vanilla_gradients"
    #: tf-explain's class attributes: the explainer used and the default log sub-folder.
    explainer = VanillaGradients()
    default_output_subdir = method_dir
    tag = "VanillaGradients"

    def __init__(self, validation_data, class_index, output_dir=None, *, every_n_epochs=1,
                 max_images=None, strict=False, batch_size="auto"):
        super().__init__(validation_data, class_index, output_dir, every_n_epochs=every_n_epochs,
                         max_images=max_images, strict=strict, batch_size=batch_size)

    def explain_grid(self, images, model, class_index):
        return self.explainer.explain((images, None), model, class_index,
                                      batch_size=self.batch_size)
