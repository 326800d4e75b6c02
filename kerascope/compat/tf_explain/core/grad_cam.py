"""tf-explain's ``GradCAM`` (Selvaraju et al. 2017, arXiv:1610.02391) on kerascope.

tf-explain's variant, kept for compatibility: ``g = dp_c/dA`` of the model *output*
(after its softmax, tf-explain differentiates ``predictions[:, c]``), guided by
default (``g * (A > 0) * (g > 0)``), ``w_k = mean_ij g^k``, ``cam = sum_k w_k A^k``
without ReLU; each map is resized to its image, min-max scaled, coloured and blended
over the image (``image_weight``), and the overlays tiled in a grid. Without
``layer_name`` the layer is tf-explain's: the last top-level layer with a 4-D output
(``infer_grad_cam_target_layer``; a final pooling layer when there is one). The
paper's Grad-CAM (logits, ReLU, last convolution) is ``kerascope.grad_cam``.

Both call forms run::

    GradCAM().explain((images, None), model, class_index, layer_name=None)   # tf-explain 0.3
    GradCAM().explain(([img], None), model, "block5_conv3", class_index)     # tf-explain 0.1
"""

import numpy as np

from kerascope.engine import surgery
from kerascope.compat.tf_explain.core.base import Explainer, validation_images
from kerascope.methods import cam
from kerascope.methods.base import Method
from kerascope.compat.tf_explain.utils.display import COLORMAP_VIRIDIS, grid_display, heatmap_display
from kerascope.compat.tf_explain.utils.image import as_numpy, tensor_result


class _LayerGradients(Method):
    """Output of one layer and the gradient of the class score there (not registered:
    no ``name``); the outputs come back as ``extras["activations"]``."""

    evaluates_inputs = True

    def __init__(self, layer):
        self.layer = layer

    def layers(self, model, sample):
        return [surgery.find_layer(model, self.layer)]

    def attribute(self, ctx, x, row_targets):
        passes = ctx.backprop(x, row_targets, wrt_inputs=False)
        ctx.record("activations", passes.layer_outputs[0])
        return passes.layer_grads[0], passes

    def postprocess(self, maps, x, ctx):
        return maps


class GradCAM(Explainer):
    """Grid of Grad-CAM heatmaps blended over their images (tf-explain's variant)."""

    def explain(self, validation_data, model, class_index, layer_name=None,
                use_guided_grads=True, colormap=COLORMAP_VIRIDIS, image_weight=0.7,
                batch_size="auto"):
        """uint8 RGB grid of the Grad-CAM of ``class_index`` over each image.

        ``layer_name``: the layer to explain (nested models too); None: tf-explain's
        choice, ``infer_grad_cam_target_layer``. tf-explain 0.1's order
        ``explain(data, model, layer_name, class_index)`` is accepted too.
        ``colormap``: an OpenCV colormap code (``cv2.COLORMAP_*``) or a matplotlib name.
        """
        if isinstance(class_index, str):
            if layer_name is None or isinstance(layer_name, str):
                raise ValueError(
                    f"class_index: got the string {class_index!r}; the old call is "
                    f"explain(validation_data, model, layer_name, class_index) with an "
                    f"int class index as fourth argument."
                )
            class_index, layer_name = layer_name, class_index
        images = validation_images(validation_data)
        if layer_name is None:
            layer_name = _default_layer(model, images)
        outputs, grads = self.get_gradients_and_filters(
            model, images, layer_name, class_index, use_guided_grads, batch_size=batch_size)
        cams = self.generate_ponderated_output(outputs, grads)
        overlays = np.stack([
            heatmap_display(as_numpy(heat), image, colormap, image_weight)
            for heat, image in zip(cams, images)
        ])
        return grid_display(overlays)

    @staticmethod
    def infer_grad_cam_target_layer(model):
        """Name of tf-explain's default layer: the last top-level layer of ``model``
        whose output is 4-D ``(batch, h, w, channels)`` (a pooling layer when it comes
        last, a nested base model as a whole). ValueError when there is none."""
        for layer in reversed(getattr(model, "layers", []) or []):
            try:
                shape = layer.output.shape
            except (AttributeError, ValueError):
                continue
            if len(shape) == 4:
                return layer.name
        raise ValueError(
            f"layer_name: model {getattr(model, 'name', model)!r} has no top-level layer "
            f"with a 4-D output (batch, height, width, channels); Grad CAM cannot be "
            f"applied. Pass layer_name."
        )

    @staticmethod
    def get_gradients_and_filters(model, images, layer_name, class_index, use_guided_grads,
                                  batch_size="auto"):
        """``(A, g)``: the outputs ``A`` of ``layer_name`` for ``images`` and the gradients
        ``g = dp_c/dA`` of the model output (probability) of ``class_index``, guided
        (``g * (A > 0) * (g > 0)``) when ``use_guided_grads``.

        Batched kerascope passes on any backend; the layer may sit in a nested model.
        Returns ``tf.Tensor``s on TensorFlow, else numpy arrays with ``.numpy()``.
        """
        explanation = _LayerGradients(layer_name).explain(
            model, as_numpy(images), class_index, batch_size=batch_size, use_logits=False)
        outputs = explanation.extras["activations"].astype(np.float32)
        grads = explanation.maps
        if use_guided_grads:
            grads = (grads * (outputs > 0) * (grads > 0)).astype(np.float32)
        return tensor_result(outputs), tensor_result(grads)

    @staticmethod
    def generate_ponderated_output(outputs, grads):
        """tf-explain's combination for each sample: a list of
        ``ponderate_output(output, grad)`` maps."""
        return [GradCAM.ponderate_output(output, grad) for output, grad in zip(outputs, grads)]

    @staticmethod
    def ponderate_output(output, grad):
        """``sum_k mean_ij(grad^k) output^k``: one sample's ``(h, w)`` map from its layer
        output and gradients ``(h, w, K)`` (no ReLU, as tf-explain)."""
        a, g = as_numpy(output), as_numpy(grad)
        if a.ndim < 2 or a.shape != g.shape:
            raise ValueError(
                f"output, grad: expected equal shapes (*spatial, channels), got {a.shape} "
                f"and {g.shape}."
            )
        batched = cam.tf_explain_grad_cam(a[None], g[None], use_guided_grads=False)
        return tensor_result(batched[0])


def _default_layer(model, images):
    """tf-explain's layer; for a model without symbolic outputs (subclassed), the last
    layer with a spatial output found by running one image."""
    try:
        return GradCAM.infer_grad_cam_target_layer(model)
    except ValueError:
        try:
            symbolic = bool(model.outputs)
        except (AttributeError, ValueError):
            symbolic = False
        if symbolic:
            raise
        return surgery.last_spatial_layer(model, images[:1])
