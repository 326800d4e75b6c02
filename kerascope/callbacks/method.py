"""``MethodCallback``: any registered method's explanation in TensorBoard during ``fit``.

``MethodCallback((x_val, None), "grad_cam_plus_plus", class_index=3)`` writes, after
epochs, the grid ``kerascope.compat.tf_explain.core.method_explainer.MethodExplainer`` renders for that
method (overlays for CAMs and perturbation methods, grayscale gradient maps
otherwise), tagged with the method's name. A method registered by the user works
the same way.
"""

from kerascope.callbacks.base import ExplanationCallback


class MethodCallback(ExplanationCallback):
    """Explain ``validation_data`` with ``method`` after epochs (tag: the method's name).

    Args:
        validation_data: ``(images, labels)``; labels are ignored.
        method: a registered name, a ``Method`` class or instance.
        class_index: target class(es); None explains the predicted class.
        output_dir: parent folder of the run (default ``./logs/<method name>``).
        colormap, image_weight: overlay rendering of map families drawn over the image.
        every_n_epochs, max_images, strict, batch_size: as ``ExplanationCallback``.
        **method_options: options of the method (when ``method`` is a name or class).
    """

    def __init__(self, validation_data, method, class_index=None, output_dir=None, *,
                 colormap="viridis", image_weight=0.7, every_n_epochs=1, max_images=None,
                 strict=False, batch_size="auto", **method_options):
        from kerascope.compat.tf_explain.core.method_explainer import MethodExplainer

        self.explainer = MethodExplainer(method, **method_options)
        self.method = self.explainer.method
        self.method_dir = self.tag = type(self.method).name
        super().__init__(validation_data, class_index, output_dir, every_n_epochs=every_n_epochs,
                         max_images=max_images, strict=strict, batch_size=batch_size)
        self.colormap = colormap
        self.image_weight = image_weight

    def explain_grid(self, images, model, class_index):
        return self.explainer.explain((images, None), model, class_index, self.colormap,
                                      self.image_weight, batch_size=self.batch_size)
