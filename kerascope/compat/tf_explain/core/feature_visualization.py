"""tf-explain style filter visualization: what each filter of a layer responds to.

``FilterVisualization().explain(None, model, "conv_2")`` runs the seed article's
"Kernel Inspection" (gradient ascent on the mean activation of each filter, the
gradient divided by its RMS, 100 steps from noise) for every filter of the layer as
one batch, and tiles the images, each min-max scaled to 0..255, into a uint8 grid.
"""

import numpy as np

from kerascope.compat.tf_explain.core.base import Explainer, validation_images
from kerascope.feature_visualization import objectives as obj
from kerascope.feature_visualization.optimize import layer_output_shapes, input_image_shape, visualize
from kerascope.feature_visualization.parametrizations import PixelImage
from kerascope.engine.surgery import ModelView, channel_axis, find_layer
from kerascope.compat.tf_explain.utils.display import grid_display


class FilterVisualization(Explainer):
    """Grid of the inputs that maximize the filters of ``layer_name``."""

    def explain(self, validation_data, model, layer_name, filters=None, steps=100,
                learning_rate=None, value_range=(0.0, 1.0), seed=0, **options):
        """uint8 grid of the visualized filters (channels) of ``layer_name``.

        Args:
            validation_data: ``None`` or ``(images, labels)``; only the image shape is
                used (models without a fixed input shape need one).
            model: the Keras model.
            layer_name: name (or object) of the layer, nested models included.
            filters: channel indices (default: all channels of the layer).
            steps: ascent steps (the article: 100).
            learning_rate: step size of the RMS-normalized gradient; default
                ``0.04 * (high - low)`` (~10 grey levels of 255 per step).
            value_range: valid input range; images are clipped to it.
            seed: seed of the starting noise.
            **options: passed to ``feature_visualization.visualize`` (e.g.
                ``transforms``, ``regularizers``, ``parametrization``).
        """
        image_shape = options.pop("image_shape", None)
        if validation_data is not None:
            image_shape = np.asarray(validation_images(validation_data)).shape[1:]
        layer = find_layer(model, layer_name)
        axis = channel_axis(model)
        shape = input_image_shape(model, image_shape, axis)
        view = ModelView(model, layers=[layer])
        out_shape = layer_output_shapes(view, shape, axis)[id(layer)]
        channels = out_shape[axis] if len(out_shape) > 2 else out_shape[-1]
        if filters is None:
            filters = list(range(channels))
        filters = [filters] if isinstance(filters, (int, np.integer)) else list(filters)
        if not filters:
            raise ValueError("filters: expected at least one channel index.")
        for index in filters:
            if not isinstance(index, (int, np.integer)) or not 0 <= index < channels:
                raise ValueError(
                    f"filters: channel index {index!r} is out of range for layer "
                    f"{layer.name!r} with {channels} channels."
                )
        if learning_rate is None:
            width = 2.0 if value_range is None else value_range[1] - value_range[0]
            learning_rate = 0.04 * width
        settings = dict(
            optimizer="sgd", normalize_gradients="rms", transforms=[], regularizers=[],
            parametrization=PixelImage(), progress=None,
        )
        settings.update(options)
        images = visualize(
            model, [obj.channel(layer, int(i)) for i in filters], steps=steps,
            learning_rate=learning_rate, value_range=value_range, seed=seed,
            image_shape=shape if axis == -1 else (shape[2], shape[0], shape[1]),
            **settings,
        )
        if axis == 1:
            images = np.transpose(images, (0, 2, 3, 1))
        return grid_display(_to_uint8_each(images))


def _to_uint8_each(images):
    """Min-max scale every image to 0..255 (a flat image gives zeros)."""
    flat = images.reshape(len(images), -1)
    low = flat.min(axis=1)[:, None]
    span = flat.max(axis=1)[:, None] - low
    scaled = np.where(span > 0, (flat - low) / np.where(span > 0, span, 1.0), 0.0)
    out = np.round(scaled * 255.0).astype(np.uint8).reshape(images.shape)
    if out.shape[-1] == 1:
        out = out[..., 0]
    return out
