"""tf-explain's ``VanillaGradients`` (Simonyan et al. 2013, arXiv:1312.6034) on kerascope.

``M = |dS_c/dx|`` summed over channels, rendered as tf-explain's grayscale grid.
``S_c`` is the class score before a final softmax/sigmoid: tf-explain strips a final
activation *layer* (``get_score_model``) and warns otherwise; kerascope also takes
the score before an activation fused into the last layer (``Dense(activation=
"softmax")``), without building a sub-model, and warns only when the last layer's
activation is one it cannot undo.
"""

from warnings import warn

import keras

from kerascope.engine import surgery
from kerascope.compat.tf_explain.core.base import GrayscaleGradientExplainer, class_scores, validation_images
from kerascope.methods import gradients as methods
from kerascope.compat.tf_explain.utils.image import tensor_result

UNSUPPORTED_ARCHITECTURE_WARNING = (
    "Unsupported model architecture for VanillaGradients. The last two layers of "
    "the model should be: a layer which computes class scores with no activation, "
    "followed by an activation layer."
)

#: The layer classes tf-explain treats as a separate final activation (Keras 3 has
#: no ``ThresholdedReLU``).
ACTIVATION_LAYER_CLASSES = tuple(
    getattr(keras.layers, name)
    for name in ("Activation", "LeakyReLU", "PReLU", "ReLU", "Softmax", "ThresholdedReLU")
    if hasattr(keras.layers, name)
)


class VanillaGradients(GrayscaleGradientExplainer):
    """Saliency grid: ``|dS_c/dx|`` of the score before the final softmax."""

    def method(self):
        return methods.VanillaGradients(channel_reduction="abs_sum")

    def explain(self, validation_data, model, class_index, batch_size="auto"):
        """uint8 grayscale grid of the saliency of ``class_index`` for each image.

        The same as ``explain_score_model(validation_data, get_score_model(model),
        class_index)``; the final softmax/sigmoid is skipped during the pass itself.
        """
        return self.explain_score_model(validation_data, model, class_index, batch_size)

    def get_score_model(self, model):
        """``model`` without its final activation layer (tf-explain's score model).

        A last layer of ``ACTIVATION_LAYER_CLASSES`` is cut off (a new functional model
        over the same layers; the user's model is untouched). Otherwise the model is
        returned as it is: kerascope's passes already score the logits of a final
        softmax/sigmoid fused into the last layer; a ``UserWarning``
        (``UNSUPPORTED_ARCHITECTURE_WARNING``) is issued only when the last layer ends
        in another non-linear activation.
        """
        layers = getattr(model, "layers", None) or []
        last = layers[-1] if layers else None
        if isinstance(last, ACTIVATION_LAYER_CLASSES):
            try:
                return keras.Model(inputs=model.inputs, outputs=last.input)
            except (AttributeError, ValueError, TypeError):
                pass  # subclassed model: kerascope strips a final softmax/sigmoid itself
        if _final_activation_is_unsupported(model):
            warn(UNSUPPORTED_ARCHITECTURE_WARNING, stacklevel=3)
        return model

    def explain_score_model(self, validation_data, score_model, class_index, batch_size="auto"):
        """uint8 grayscale grid of the gradients of ``score_model``'s ``class_index``."""
        images = validation_images(validation_data)
        _, maps = self.method().explain(score_model, images, class_index, batch_size=batch_size)
        return self.render(maps)

    @staticmethod
    def compute_gradients(images, model, class_index):
        """``dS_c/dx`` for a batch ``images`` ``(N, H, W, C)``, channels kept.

        Batched kerascope passes on any backend; ``S_c`` is the score before a final
        softmax/sigmoid. Returns a ``tf.Tensor`` on TensorFlow (as tf-explain), else a
        numpy array with ``.numpy()``.
        """
        return tensor_result(class_scores(model, images, class_index, use_logits=True))


def _final_activation_is_unsupported(model):
    """True when the last layer ends in a non-linear activation kerascope cannot skip."""
    if surgery.final_activation(model) is not None:
        return False
    layers = getattr(model, "layers", None) or []
    if not layers:
        return False
    layer = layers[-1]
    if isinstance(layer, ACTIVATION_LAYER_CLASSES):
        return True
    name = getattr(getattr(layer, "activation", None), "__name__", "linear")
    return name not in ("linear", "identity")


__all__ = ["VanillaGradients", "UNSUPPORTED_ARCHITECTURE_WARNING", "ACTIVATION_LAYER_CLASSES"]
