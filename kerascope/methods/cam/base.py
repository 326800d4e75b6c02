"""The base of the CAM methods: layer choice, layout, upsampling and merging.

The map formulas are in ``kerascope.methods.cam.maps``; this class captures the
layer(s), brings their outputs to ``(batch, *spatial, K)`` and hands them to
``combine``.

Models with several inputs: a CAM is one map, upsampled to one input's spatial
size. The input is the only one of rank >= 3 (an image or a sequence), or the one
named by ``input=`` (a name or position); when several inputs could be meant, the
method asks for ``input=``. Score-CAM masks that input only.

Several layers (``layer_name=[...]``) give one map each, upsampled, divided by
its per-sample maximum ``|L|`` and averaged. Without ``layer_name`` the last layer
with a spatial output is used (nested base models included).

Vision transformers: ``reshape=True`` turns a ``(batch, tokens, dim)`` layer output
into its ``(batch, h, w, dim)`` patch grid: leading class tokens are dropped
(``class_token="auto"``: one when ``tokens - 1`` is a perfect square and ``tokens``
is not; or True/False/an int count), ``reshape=(h, w)`` gives the grid, a callable
``f(array) -> (batch, h, w, dim)`` does it all (``maps.tokens_to_grid``).
"""

import keras
import numpy as np

from kerascope.inputs import arrays as data
from kerascope.engine import surgery, targets as targets_lib
from kerascope.engine.numeric import upsample
from kerascope.methods.base import Method
from kerascope.methods.cam.maps import tokens_to_grid


class _ProbabilityScore:
    """Softmax over classes of the logits, at the row's unit (Score-CAM "classes")."""

    key = ("probability",)

    def __call__(self, logits, row_targets):
        per_unit = targets_lib._class_axis_scores(logits)
        probs = keras.ops.softmax(per_unit, axis=-1)
        mask = keras.ops.one_hot(row_targets, per_unit.shape[-1], dtype=probs.dtype)
        return keras.ops.sum(probs * mask, axis=-1), keras.ops.cast(row_targets, "int32")


PROBABILITY_SCORE = _ProbabilityScore()


def _layer_list(layer_name):
    if layer_name is None:
        return None
    if isinstance(layer_name, (list, tuple)):
        if not layer_name:
            raise ValueError("layer_name: expected at least one layer, got an empty list.")
        return list(layer_name)
    return [layer_name]


class CAM(Method):
    """Base of the CAM methods: layer choice, layout, upsampling and merging.

    Args:
        layer_name: a layer name or Layer (nested models too), a list of them (maps
            merged), or None for the last spatial layer.
        upsample: resize the maps to the input's spatial size (else the raw map).
        relu: apply the final ReLU.
        reshape: None, True, ``(h, w)`` or a callable: token sequence to grid.
        class_token: leading tokens dropped by ``reshape`` ("auto", bool or int).
        input: for a model with several inputs, the input (name or position) the
            map belongs to; None: the only input of rank >= 3.
    """

    family = "cam"
    evaluates_inputs = True
    uses_gradients = True
    multi_input = True

    def __init__(self, layer_name=None, upsample=True, relu=True, reshape=None,
                 class_token="auto", input=None):
        self.layer_name = _layer_list(layer_name)
        self.upsample = bool(upsample)
        self.relu = bool(relu)
        if not (reshape is None or isinstance(reshape, bool) or callable(reshape)
                or (isinstance(reshape, (tuple, list)) and len(reshape) == 2)):
            raise ValueError(
                f"reshape: expected None, True, a grid (h, w) or a callable, got {reshape!r}."
            )
        self.reshape = reshape
        self.class_token = class_token
        self.input = input

    def spatial_input(self, x):
        """The array of rows ``x`` the map belongs to (``x`` itself for one input)."""
        if not isinstance(x, data.Inputs):
            return x
        return x.arrays[self.spatial_index(x)]

    def spatial_index(self, x):
        """Position of the input the map belongs to among ``Inputs`` rows ``x``."""
        if self.input is not None:
            return x.index(self.input)
        spatial = [k for k, a in enumerate(x.arrays) if a.ndim >= 3]
        if len(spatial) == 1:
            return spatial[0]
        listed = ", ".join(f"{name!r} {a.shape[1:]}" for name, a in zip(x.names, x.arrays))
        which = "several of them are" if spatial else "none of them is"
        raise ValueError(
            f"input: {self.name} gives one map, upsampled to one input's size; the model "
            f"has {len(x.arrays)} inputs ({listed}) and {which} an image or a sequence. "
            f"Pass input=<name or position> to choose the input the map belongs to."
        )

    def layers(self, model, sample):
        image = self.spatial_input(sample)
        if self.layer_name is not None:
            return [surgery.find_layer(model, layer) for layer in self.layer_name]
        if self.reshape not in (None, False):
            raise ValueError(
                "layer_name: pass the name of the token layer to explain when using "
                "reshape (e.g. the normalization before the last attention block)."
            )
        if isinstance(sample, data.Inputs):
            return [surgery.last_spatial_layer(model, sample.pack(), rank=image.ndim)]
        return [surgery.last_spatial_layer(model, sample)]

    def postprocess(self, maps, x, ctx):
        return maps

    # -- layout -------------------------------------------------------------------

    def _spatial(self, array, index, x, ctx):
        """Layer output ``index`` as ``(batch, *spatial, K)``; ValueError if impossible."""
        label = ctx.layers[index].name
        a = np.asarray(array)
        if self.reshape not in (None, False):
            if callable(self.reshape):
                grid = np.asarray(self.reshape(a))
                if grid.ndim < 3 or len(grid) != len(a):
                    raise ValueError(
                        f"reshape: the callable returned shape {grid.shape} for layer "
                        f"{label!r}; expected (batch, h, w, channels)."
                    )
                return grid
            if a.ndim != 3:
                raise ValueError(
                    f"layer_name: layer {label!r} has output shape {a.shape[1:]} per "
                    f"sample; reshape expects a token sequence (tokens, dim)."
                )
            grid = None if self.reshape is True else tuple(self.reshape)
            return tokens_to_grid(a, grid, self.class_token)
        if a.ndim < 3 or a.ndim not in (x.ndim, x.ndim + 1):
            raise ValueError(
                f"layer_name: layer {label!r} has output shape {a.shape[1:]} per sample; a "
                f"CAM needs a spatial feature map like the input's (height, width, "
                f"channels), i.e. rank {x.ndim - 1} per sample (a convolution or pooling "
                f"layer). For a transformer's (tokens, dim) output pass reshape=True."
            )
        if ctx.channel_axis == 1:
            a = np.moveaxis(a, 1, -1)
        return a

    def _input_size(self, x, n_spatial, ctx):
        if x.ndim == n_spatial + 1:
            size = x.shape[1:]
        elif ctx.channel_axis == 1:
            size = x.shape[2:2 + n_spatial]
        else:
            size = x.shape[1:1 + n_spatial]
        if len(size) != n_spatial:
            raise ValueError(
                f"upsample: a map with {n_spatial} spatial axes cannot be resized to "
                f"inputs of shape {x.shape[1:]}; pass upsample=False."
            )
        return tuple(size)

    def _merge(self, cams, x, ctx):
        if self.upsample:
            cams = [upsample(cam, self._input_size(x, cam.ndim - 1, ctx)) for cam in cams]
        if len(cams) == 1:
            return cams[0]
        shapes = {cam.shape for cam in cams}
        if len(shapes) != 1:
            raise ValueError(
                f"upsample: maps of several layers have different shapes {sorted(shapes)}; "
                f"merging them needs upsample=True."
            )
        merged = []
        for cam in cams:
            axes = tuple(range(1, cam.ndim))
            peak = np.abs(cam).max(axis=axes, keepdims=True)
            merged.append(cam / np.where(peak > 0, peak, 1.0))
        return np.mean(merged, axis=0).astype(np.float32)

    # -- attribution ----------------------------------------------------------------

    #: ``formula(activations, grads, relu) -> map`` (``maps``), for the CAMs that
    #: are one formula of the layer's activations and gradients.
    formula = None

    def combine(self, activations, grads):
        """The map of one layer's ``(batch, *spatial, K)`` activations and gradients."""
        if self.formula is None:
            raise NotImplementedError
        return type(self).formula(activations, grads, self.relu)

    def attribute(self, ctx, x, row_targets):
        # the layer's arrays are read once, by the formula: read-only, uncopied
        if self.uses_gradients:
            passes = ctx.backprop(x, row_targets, wrt_inputs=False, layer_views=True)
            grads = passes.layer_grads
        else:
            passes = ctx.forward(x, row_targets, layer_views=True)
            grads = [None] * len(passes.layer_outputs)
        image = self.spatial_input(x)
        cams = []
        for index, (a, g) in enumerate(zip(passes.layer_outputs, grads)):
            a = self._spatial(a, index, image, ctx)
            g = self._spatial(g, index, image, ctx) if g is not None else None
            cams.append(self.combine(a, g))
        return self._merge(cams, image, ctx), passes
