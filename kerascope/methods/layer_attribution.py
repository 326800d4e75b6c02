"""Attribution at a layer: the ``layer=`` option of the gradient family.

With ``layer=`` (a layer name or object, nested models included) a method
attributes the score to that layer's output ``A`` instead of the input (Captum's
``Layer*`` methods): vanilla gradients give ``dS_c/dA``, gradient x input gives
``A * dS_c/dA`` (Captum's LayerGradientXActivation), SmoothGrad averages
``dS_c/dA`` over noisy copies of ``A``, and Integrated Gradients integrates along a
path of layer outputs (``kerascope.methods.integrated_gradients``). The passes run
the whole model on the input rows with the layer's output *replaced* by the given
tensor, and read the gradient there (``Context.backprop(..., layer_values=...)``).

This is how models on integer inputs (token ids into an ``Embedding``) are
explained: token ids have no gradient, their embeddings do. Maps have the layer's
output shape, then channels are reduced with the method's ``channel_reduction``:
over the embedding axis for an ``Embedding`` (one score per token), over the
channel axis for an output of rank >= 3 (per position), not at all for a
``(batch, units)`` output. A layer called several times in one pass (shared
weights) is captured at its last call.
"""

import keras

from kerascope.engine import surgery
from kerascope.methods.base import reduce_channels


def find(model, layer):
    """The layer ``layer`` (name or object) of ``model``; ValueError naming ``layer``."""
    try:
        return surgery.find_layer(model, layer)
    except ValueError as error:
        message = str(error)
        if message.startswith("layer_name:"):
            message = "layer:" + message[len("layer_name:"):]
        raise ValueError(message) from None


def check_layer(layer):
    """``layer`` if it is None, a name or a Layer object; ValueError otherwise."""
    if layer is None or isinstance(layer, (str, keras.layers.Layer)):
        return layer
    raise ValueError(
        f"layer: expected a layer name (str) or a keras Layer, got {type(layer).__name__}."
    )


def reduce_layer_map(maps, how, layer, channel_axis):
    """Channel reduction of maps of ``layer``'s output (see the module docstring)."""
    if maps.ndim < 3:
        return maps
    axis = -1 if isinstance(layer, keras.layers.Embedding) else channel_axis
    return reduce_channels(maps, how, axis)


class LayerOption:
    """Mixin of the ``layer=`` option: captures the layer and reduces its maps.

    A class using it stores ``self.layer`` (None: attribute to the inputs) and reads
    ``ctx.layers[0]`` in ``attribute`` when it is set.
    """

    layer = None

    def layers(self, model, sample):
        if self.layer is None:
            return ()
        return (find(model, self.layer),)

    def postprocess(self, maps, x, ctx):
        if self.layer is None:
            return super().postprocess(maps, x, ctx)
        return reduce_layer_map(maps, self.channel_reduction, ctx.layers[0], ctx.channel_axis)
