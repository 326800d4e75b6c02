"""``GradCAMCallback``: tf-explain's Grad-CAM overlays (Selvaraju et al. 2017) in TensorBoard."""

from kerascope.callbacks.base import ExplanationCallback


class GradCAMCallback(ExplanationCallback):
    """Write the ``kerascope.compat.tf_explain.core.GradCAM`` grid after epochs (tag ``Grad CAM``).

    Both call forms work::

        GradCAMCallback(validation_data, class_index, layer_name=None,
                        output_dir=..., use_guided_grads=True)          # tf-explain 0.3
        GradCAMCallback(validation_data, "target_layer", class_index=0)  # tf-explain slides

    A string second argument is the layer name; ``class_index`` then comes by keyword.
    ``layer_name=None`` explains the last layer with a spatial output. ``colormap`` and
    ``image_weight`` go to the overlay; the other options as in
    :class:`~kerascope.callbacks.base.ExplanationCallback`.
    """

    method_dir = "grad_cam"
    tag = "Grad CAM"

    def __init__(self, validation_data, class_index_or_layer=None, layer_name=None,
                 output_dir=None, use_guided_grads=True, *, class_index=None,
                 colormap="viridis", image_weight=0.7, every_n_epochs=1, max_images=None,
                 strict=False, batch_size="auto"):
        if isinstance(class_index_or_layer, str):
            if layer_name is not None:
                raise ValueError(
                    f"layer_name: given twice ({class_index_or_layer!r} as second argument "
                    f"and layer_name={layer_name!r})."
                )
            layer_name = class_index_or_layer
        elif class_index_or_layer is not None:
            if class_index is not None:
                raise ValueError(
                    f"class_index: given twice ({class_index_or_layer!r} as second argument "
                    f"and class_index={class_index!r})."
                )
            class_index = class_index_or_layer
        if class_index is None:
            raise ValueError(
                "class_index: required, e.g. GradCAMCallback(validation_data, class_index=0) "
                "or GradCAMCallback(validation_data, 'layer_name', class_index=0)."
            )
        if layer_name is not None and not isinstance(layer_name, str):
            raise ValueError(f"layer_name: expected a layer name (str) or None, got {layer_name!r}.")
        super().__init__(validation_data, class_index, output_dir, every_n_epochs=every_n_epochs,
                         max_images=max_images, strict=strict, batch_size=batch_size)
        self.layer_name = layer_name
        self.use_guided_grads = bool(use_guided_grads)
        self.colormap = colormap
        self.image_weight = image_weight

    def explain_grid(self, images, model, class_index):
        from kerascope.compat.tf_explain.core.grad_cam import GradCAM

        return GradCAM().explain((images, None), model, class_index, layer_name=self.layer_name,
                                 use_guided_grads=self.use_guided_grads, colormap=self.colormap,
                                 image_weight=self.image_weight, batch_size=self.batch_size)
