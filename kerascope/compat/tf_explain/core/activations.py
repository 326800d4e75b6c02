"""tf-explain's ``ExtractActivations`` (alias ``ActivationsVisualization``) on kerascope.

``explain(validation_data, model, layers_name)`` returns a uint8 grid of every channel
of the named layers' outputs for every image: ``filter_display`` tiles them, then the
whole grid is min-max scaled to 0..255 (truncated to uint8, as tf-explain). Layers are
found by name anywhere in the model, nested models included, and captured during a
forward pass of the model itself (no sub-model is built). Several layers: their
channels are shown one after the other (smaller maps padded with zeros to the largest
size). ``generate_activations_graph`` still builds tf-explain's sub-model for callers
that want it.
"""

import keras
import numpy as np

from kerascope.engine import surgery
from kerascope.engine.activations import activations
from kerascope.compat.tf_explain.core.base import Explainer, validation_images
from kerascope.compat.tf_explain.utils.display import filter_display


def _names(layers_name):
    names = [layers_name] if isinstance(layers_name, str) else list(layers_name)
    if not names:
        raise ValueError("layers_name: expected at least one layer name, got none.")
    return names


class ExtractActivations(Explainer):
    """Grid of the activations of ``layers_name``.

    Args:
        batch_size: images per forward pass (None: 32, as Keras' predict).
    """

    def __init__(self, batch_size=None):
        self.batch_size = batch_size

    def explain(self, validation_data, model, layers_name):
        """uint8 grid of every channel of every image for the layers ``layers_name``."""
        images = validation_images(validation_data)
        names = _names(layers_name)
        batch_size = 32 if self.batch_size is None else self.batch_size
        outputs = activations(model, images, names, batch_size=batch_size)
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
        grid = np.asarray(filter_display(np.concatenate(padded, axis=-1)), dtype=np.float64)
        low, span = grid.min(), grid.max() - grid.min()
        scaled = (grid - low) / span if span > 0 else np.zeros_like(grid)
        return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)

    @staticmethod
    def generate_activations_graph(model, layers_name):
        """tf-explain's sub-model from ``model``'s inputs to the outputs of the top-level
        layers named in ``layers_name`` (one output per layer, in the model's order).

        ``explain`` does not need it (it captures the layers during a forward pass of
        the model itself, nested layers included).
        """
        names = _names(layers_name)
        chosen = [layer for layer in model.layers if layer.name in names]
        if not chosen:
            known = ", ".join(layer.name for layer in model.layers)
            raise ValueError(
                f"layers_name: no top-level layer of model {model.name!r} is named "
                f"{', '.join(map(repr, names))}; its layers: {known}."
            )
        outputs = [layer.output for layer in chosen]
        return keras.Model(inputs=model.inputs, outputs=outputs[0] if len(outputs) == 1
                           else outputs)


ActivationsVisualization = ExtractActivations
