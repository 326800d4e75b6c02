"""What a model takes: one declared input (``InputSpec``), and the one rule for
its channel order (``channels_first``)."""

import dataclasses

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One declared model input: ``name``, ``shape`` (None for the batch axis and
    any free size), ``dtype``, whether it feeds an ``Embedding`` directly (token ids,
    whatever its dtype) and, for an image input ``(batch, H, W, C)``, whether its
    channels come first. ``height``/``width``/``channels``/``size`` read an image
    input's shape (``size`` is None when any size is accepted)."""

    name: str = "x"
    shape: tuple = ()
    dtype: str = "float32"
    feeds_embedding: bool = False
    channels_first: bool = False

    @property
    def integer(self):
        return self.feeds_embedding or _is_integer_dtype(self.dtype)

    @property
    def channels(self):
        return self.shape[1] if self.channels_first else self.shape[-1]

    @property
    def height(self):
        return self.shape[2] if self.channels_first else self.shape[1]

    @property
    def width(self):
        return self.shape[3] if self.channels_first else self.shape[2]

    @property
    def size(self):
        return None if self.height is None or self.width is None else (self.height, self.width)


def _is_integer_dtype(dtype):
    try:
        return np.issubdtype(np.dtype(dtype), np.integer)
    except TypeError:
        return False


def _layers_depth_first(model):
    for layer in getattr(model, "layers", None) or ():
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers_depth_first(layer)


def channels_first(model, shape=None):
    """Whether ``model`` takes channels first: the ``data_format`` of its first
    layer that declares one (nested models included, depth first); without one,
    for an image ``shape`` ``(batch, H, W, C)``, channels last when the last axis
    is 1 to 4 wide, first when the second is 1, 3 or 4; else Keras's
    ``image_data_format``."""
    for layer in _layers_depth_first(model):
        if isinstance(layer, keras.layers.InputLayer):
            continue  # no data_format (a missed getattr is slow on a torch Module)
        data_format = getattr(layer, "data_format", None)
        if data_format in ("channels_first", "channels_last"):
            return data_format == "channels_first"
    if shape is not None and len(shape) == 4:
        if shape[-1] in (1, 2, 3, 4):
            return False
        if shape[1] in (1, 3, 4):
            return True
        return False
    return keras.config.image_data_format() == "channels_first"
