"""CAM: class activation mapping (Zhou et al. 2016, arXiv:1512.04150).

For a network ending in global average pooling and a dense layer,
``S_c = sum_k w_k^c (1/Z) sum_ij A_ij^k + b_c`` (``A``: the ``K`` feature maps the
pooling averages, ``Z`` positions, ``w``: the dense kernel). The class activation map
is ``M_c(i, j) = sum_k w_k^c A_ij^k``, so ``S_c = mean_ij M_c + b_c``: the map spreads
the class score over the positions. It needs one forward pass and no gradient; it
equals Grad-CAM's pre-ReLU map times ``Z`` on such a head, Grad-CAM's gradient being
``w_k^c / Z`` at every position.

The map is signed, as in the paper (``relu=True`` keeps its positive part), computed at
the feature maps' resolution and (``upsample=True``) bilinearly resized to the input.
"""

import keras
import numpy as np

from kerascope.engine import keras_internals, surgery
from kerascope.methods.cam.base import CAM

_POOLING = ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D")


def _is_global_average(layer):
    return type(layer).__name__ in _POOLING


def producer(tensor):
    """The layer whose output is the symbolic ``tensor`` (None when unknown)."""
    found = keras_internals.producer(tensor)
    return None if found is None else found[0]


def gap_head(model, sample, records=None):
    """``(pooling, feature_layer)``: the last global average pooling layer run on
    ``sample`` and the layer whose output it averages (None, None without one).
    ``records``: ``surgery.describe(model, sample)`` when already known."""
    records = surgery.describe(model, sample) if records is None else records
    leaves = [layer for layer, _ in records]
    pooled = [i for i, layer in enumerate(leaves) if _is_global_average(layer)]
    if not pooled:
        return None, None
    index = pooled[-1]
    pooling = leaves[index]
    try:
        feature = producer(pooling.input)
    except (AttributeError, ValueError):
        feature = None
    if feature is None or not any(feature is layer for layer in surgery.iter_layers(model)):
        if index == 0:
            return pooling, None
        feature = leaves[index - 1]  # subclassed model: the layer run just before
    return pooling, feature


class ClassActivationMap(CAM):
    """CAM of a global-average-pooling -> dense head.

    Args:
        layer_name: the layer whose output is pooled (default: the input of the last
            global average pooling layer).
        dense_layer: the dense layer after the pooling (default: the first layer run
            after it with a kernel of ``K`` rows, ``K`` the feature maps' channels).
        upsample: resize the maps to the input's spatial size.
        relu: keep the positive part only (the paper's map is signed).
    """

    name = "cam"
    aliases = ("class_activation_map", "class_activation_mapping")
    summary = "Feature maps weighted by the dense weights of a GAP -> Dense head (no gradient)."
    paper = "Zhou et al. 2016, arXiv:1512.04150"
    signed = True
    uses_gradients = False
    multi_input = False  # finds its GAP head by running one input

    def __init__(self, layer_name=None, dense_layer=None, upsample=True, relu=False):
        super().__init__(layer_name, upsample, relu)
        if isinstance(self.layer_name, list) and len(self.layer_name) != 1:
            raise ValueError(
                f"layer_name: CAM explains one layer (the input of the pooling), got "
                f"{len(self.layer_name)}."
            )
        self.dense_layer = dense_layer

    def layers(self, model, sample):
        records = surgery.describe(model, sample)
        pooling, feature = gap_head(model, sample, records)
        if self.layer_name is not None:
            feature = surgery.find_layer(model, self.layer_name[0])
        if feature is None:
            raise ValueError(
                f"layer_name: model {model.name!r} has no global average pooling layer; "
                f"CAM needs a GAP -> Dense head (pass layer_name and dense_layer, or use "
                f"grad_cam, which needs no such head)."
            )
        dense = self._dense(model, records, feature, pooling)
        return [feature, dense]

    def _dense(self, model, records, feature, pooling):
        if self.dense_layer is not None:
            dense = surgery.find_layer(model, self.dense_layer)
            if getattr(dense, "kernel", None) is None:
                raise ValueError(
                    f"dense_layer: layer {dense.name!r} has no kernel; expected the Dense "
                    f"layer after the global average pooling."
                )
            return dense
        leaves = [layer for layer, _ in records]
        shapes = {id(layer): shape for layer, shape in records}
        channels = _channels(model, feature, shapes)
        start = pooling if pooling is not None else feature
        after = False
        for layer in leaves:
            if layer is start:
                after = True
                continue
            kernel = getattr(layer, "kernel", None)
            if after and kernel is not None and len(kernel.shape) == 2 and (
                    channels is None or kernel.shape[0] == channels):
                return layer
        raise ValueError(
            f"dense_layer: found no dense layer with {channels} input units after layer "
            f"{start.name!r}; pass dense_layer."
        )

    def attribute(self, ctx, x, row_targets):
        passes = ctx.forward(x, row_targets)
        a = self._spatial(passes.layer_outputs[0], 0, x, ctx)
        kernel = keras.ops.convert_to_numpy(ctx.layers[1].kernel).astype(np.float64)
        if kernel.shape[0] != a.shape[-1]:
            raise ValueError(
                f"dense_layer: layer {ctx.layers[1].name!r} has {kernel.shape[0]} input "
                f"units, the feature maps of {ctx.layers[0].name!r} {a.shape[-1]} channels."
            )
        units = np.asarray(passes.units, dtype=np.int64)
        if units.max(initial=0) >= kernel.shape[1]:
            raise ValueError(
                f"dense_layer: class {int(units.max())} is not one of the "
                f"{kernel.shape[1]} units of layer {ctx.layers[1].name!r}."
            )
        weights = kernel[:, units].T  # (rows, K)
        weights = weights.reshape((len(a),) + (1,) * (a.ndim - 2) + (a.shape[-1],))
        cam = (np.asarray(a, dtype=np.float64) * weights).sum(axis=-1)
        if self.relu:
            cam = np.maximum(cam, 0.0)
        return self._merge([cam.astype(np.float32)], x, ctx), passes


def _channels(model, layer, shapes):
    shape = shapes.get(id(layer))
    if shape is None or len(shape) < 3:
        return None
    return shape[1] if surgery.channel_axis(model) == 1 else shape[-1]


__all__ = ["ClassActivationMap", "gap_head", "producer"]
