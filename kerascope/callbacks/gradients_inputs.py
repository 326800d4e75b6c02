"""``GradientsInputsCallback``: ``|x * dS_c/dx|`` in TensorBoard."""

from kerascope.callbacks.base import ExplanationCallback
from kerascope.compat.tf_explain.core.gradients_inputs import GradientsInputs


class GradientsInputsCallback(ExplanationCallback):
    """Write the ``kerascope.compat.tf_explain.core.GradientsInputs`` grid after epochs (tag ``GradientsInputs``).

    Arguments as tf-explain 0.3's; the extra options as in
    :class:`~kerascope.callbacks.base.ExplanationCallback`.
    """

    method_dir = "gradients_inputs"
    #: tf-explain's class attributes: the explainer used and the default log sub-folder.
    explainer = GradientsInputs()
    default_output_subdir = method_dir
    tag = "GradientsInputs"

    def __init__(self, validation_data, class_index, output_dir=None, *, every_n_epochs=1,
                 max_images=None, strict=False, batch_size="auto"):
        super().__init__(validation_data, class_index, output_dir, every_n_epochs=every_n_epochs,
                         max_images=max_images, strict=strict, batch_size=batch_size)

    def explain_grid(self, images, model, class_index):
        return self.explainer.explain((images, None), model, class_index,
                                      batch_size=self.batch_size)
