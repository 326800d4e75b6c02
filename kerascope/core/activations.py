"""tf-explain's ``ExtractActivations`` (alias ``ActivationsVisualization``) on kerascope.

``explain(validation_data, model, layers_name)`` returns a uint8 grid of every channel
of the named layers' outputs for every image (min-max scaled over the whole grid, as
tf-explain). Layers are found by name anywhere in the model, nested models included,
and captured during a forward pass of the model itself (no sub-model is built).
Several layers: their channels are shown one after the other (smaller maps padded
with zeros to the largest size).
"""

import numpy as np

from kerascope import surgery
from kerascope.activations import activations
from kerascope.core.base import Explainer, validation_images
from kerascope.utils.display import filter_display


class ExtractActivations(Explainer):
    """Grid of the activations of ``layers_name``.

    Args:
        batch_size: images per forward pass (None: 32, as Keras' predict).
    """

    def __init__(self, batch_size=None):
        self.batch_size = 32 if batch_size is None else batch_size

    def explain(self, validation_data, model, layers_name):
        """uint8 grid of every channel of every image for the layers ``layers_name``."""
        images = validation_images(validation_data)
        names = [layers_name] if isinstance(layers_name, str) else list(layers_name)
        outputs = activations(model, images, names, batch_size=self.batch_size)
        channels_first = surgery.channel_axis(model) == 1
        maps = []
        for name, output in zip(names, outputs):
            if output.ndim != 4:
                raise ValueError(
                    f"layers_name: layer {name!r} has outputs of shape {output.shape}; "
                    f"the activations grid needs spatial outputs (N, H, W, C)."
                )
            maps.append(np.moveaxis(output, 1, -1) if channels_first else output)
        height = max(m.shape[1] for m in maps)
        width = max(m.shape[2] for m in maps)
        padded = [
            np.pad(m, ((0, 0), (0, height - m.shape[1]), (0, width - m.shape[2]), (0, 0)))
            for m in maps
        ]
        return filter_display(np.concatenate(padded, axis=-1))


ActivationsVisualization = ExtractActivations
