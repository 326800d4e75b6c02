"""Transformer explanations from the attention probabilities.

* Attention rollout (Abnar & Zuidema 2020, arXiv:2005.00928): per attention layer,
  ``A`` fused over heads (mean, max or min), optionally its lowest ``discard_ratio``
  weights set to 0 (as vit-explain), ``Â = 0.5 A + 0.5 I`` with rows renormalized
  to 1; ``rollout = Â_L ... Â_1``. Class-agnostic: every target gets the same map.
* Generic attention (Chefer, Gur & Wolf 2021, arXiv:2103.15679, self-attention
  rule): ``R = I``; for each layer in forward order ``Ā = mean_h ReLU(∇A ⊙ A)``,
  ``R <- R + Ā R``, with ``∇A`` the gradient of the target score (before softmax)
  with respect to the layer's probabilities, through everything after them.

The map is row ``token`` of the product (0: the class token) or, with
``token="mean"``, the mean over rows (models without a class token), returned as
computed (not rescaled). Text models give token maps ``(N, T)`` (``drop_token=True``:
the ``T - 1`` other positions); image models (a ViT) give the patch-grid map, the
class token dropped and the grid taken from the sequence length, upsampled to the
image ``(N, H, W)``. Probabilities are captured by ``kerascope.engine.attention``
from ``keras.layers.MultiHeadAttention`` layers (keras-hub's included), found
automatically or chosen with ``layers=``.
"""

import numpy as np
from keras import ops

from kerascope.engine import attention as attention_lib
from kerascope.engine.runner import PassRunner
from kerascope.inputs import arrays as data
from kerascope.methods.base import Method

HEAD_FUSIONS = ("mean", "max", "min")


def fuse_heads(probabilities, how="mean"):
    """``(N, heads, T, S)`` probabilities fused over heads: ``(N, T, S)``."""
    if how == "mean":
        return probabilities.mean(axis=1)
    if how == "max":
        return probabilities.max(axis=1)
    if how == "min":
        return probabilities.min(axis=1)
    raise ValueError(f"head_fusion: expected one of {HEAD_FUSIONS}, got {how!r}.")


def discard_lowest(fused, ratio):
    """``fused`` ``(N, T, S)`` with each sample's lowest ``ratio`` of weights set to
    0, the ``(0, 0)`` entry (class token to itself) kept (vit-explain)."""
    if not ratio:
        return fused
    n = fused.shape[0]
    flat = fused.reshape(n, -1).copy()
    count = int(flat.shape[1] * ratio)
    if count:
        lowest = np.argpartition(flat, count - 1, axis=1)[:, :count]
        keep = flat[:, 0].copy()
        np.put_along_axis(flat, lowest, 0.0, axis=1)
        flat[:, 0] = keep
    return flat.reshape(fused.shape)


def rollout(probabilities, head_fusion="mean", discard_ratio=0.0):
    """``Â_L ... Â_1`` ``(N, T, T)`` from per-layer ``(N, heads, T, T)`` probabilities
    in forward order (Abnar & Zuidema 2020, arXiv:2005.00928)."""
    result = None
    for a in probabilities:
        a = np.asarray(fuse_heads(np.asarray(a), head_fusion), np.float64)
        a = discard_lowest(a, discard_ratio)
        eye = np.eye(a.shape[-1])
        a = 0.5 * a + 0.5 * eye
        a = a / a.sum(axis=-1, keepdims=True)
        result = a if result is None else a @ result
    return result


def generic_relevance(probabilities, gradients):
    """``R`` ``(N, T, T)``: ``R = I``, then ``R <- R + mean_h ReLU(∇A ⊙ A) R`` per layer
    in forward order (Chefer, Gur & Wolf 2021, arXiv:2103.15679)."""
    relevance = None
    for a, g in zip(probabilities, gradients):
        cam = np.maximum(np.asarray(g) * np.asarray(a), 0.0).mean(axis=1, dtype=np.float64)
        if relevance is None:
            relevance = np.broadcast_to(np.eye(cam.shape[-1]), cam.shape)
        relevance = relevance + cam @ relevance
    return relevance


_FUSE_OPS = {"mean": ops.mean, "max": ops.max, "min": ops.min}


class DeviceProduct:
    """Row ``token`` (or the rows' mean) of rollout's product (``gradients=False``) or
    of generic attention's ``R``, computed from the captured probabilities (and
    gradients) inside the compiled pass, in their dtype: one ``(N, T)`` map leaves the
    device instead of every layer's ``(N, heads, T, T)`` tensors (a summary of
    ``AttentionView``). The row is carried through the layers last to first, a
    vector-matrix product per layer: ``Â = (0.5 F + 0.5 I) / rowsum = (F + I) / (rowsum(F)
    + 1)`` (``F`` the fused heads), so ``v Â = w F + w`` with ``w = v / (rowsum(F) + 1)``;
    ``v (I + C) = v + v C`` (``C = mean_h ReLU(∇A ⊙ A)``)."""

    count = 1

    def __init__(self, layers, gradients, head_fusion="mean", token=0):
        self.layers = tuple(layers)
        self.gradients = gradients
        self.head_fusion = head_fusion
        self.token = token

    @property
    def key(self):
        return ("attention_product", self.gradients, self.head_fusion, self.token)

    def layer(self, index, probabilities):
        """What a forward pass keeps of layer ``index``'s ``(N, heads, T, T)``
        probabilities as it runs: rollout's fused heads ``(N, T, T)`` (generic
        attention's backward pass takes them whole)."""
        _check_square([probabilities], self.layers[index:index + 1])
        if self.gradients:
            return probabilities
        return _FUSE_OPS[self.head_fusion](probabilities, axis=1)

    def __call__(self, captured, gradients):
        """``(row,)`` ``(N, T)`` from the kept ``captured`` (rollout: fused heads;
        generic attention: probabilities and ``gradients``), in forward order."""
        if self.gradients:
            _check_square(captured, self.layers)
        size, dtype = captured[0].shape[-1], captured[0].dtype
        if self.token == "mean":
            row = ops.full((1, 1, size), 1.0 / size, dtype=dtype)
        else:
            _check_token(self.token, size)
            position = self.token % size
            row = ops.eye(size, dtype=dtype)[None, position:position + 1]
        # operators, not keras.ops, where they do: each keras.ops call costs eager
        # PyTorch tens of microseconds in Python
        if self.gradients:
            for a, g in zip(reversed(captured), reversed(gradients)):
                row = row + row @ ops.mean(ops.relu(g * a), axis=1)
        else:
            for fused in reversed(captured):
                row = row / (ops.sum(fused, axis=-1)[:, None, :] + 1.0)
                row = row @ fused + row
        return (row[:, 0, :],)


def patch_grid(maps, image_shape):
    """Token maps ``(N, 1 + g*g)`` (class token first) as ``(N, H, W)`` image maps:
    the class token dropped, the ``g x g`` patch grid upsampled to ``image_shape``
    ``(H, W)`` (each patch's value over its pixels; bilinear when they do not divide)."""
    maps = np.asarray(maps)[:, 1:]
    grid = int(round(np.sqrt(maps.shape[1])))
    if grid * grid != maps.shape[1]:
        raise ValueError(
            f"x: a ViT map needs a class token and a square grid of patches; the "
            f"sequence has {maps.shape[1] + 1} positions ({maps.shape[1]} is not a "
            f"square). Pass image_map=False for the token map."
        )
    maps = maps.reshape(-1, grid, grid)
    height, width = image_shape
    if height % grid == 0 and width % grid == 0:
        return np.repeat(np.repeat(maps, height // grid, axis=1), width // grid, axis=2)
    from scipy import ndimage

    zoom = (1, height / grid, width / grid)
    return ndimage.zoom(maps, zoom, order=1, grid_mode=True, mode="nearest")


class AttentionRollout(Method):
    """Attention rollout: the attention flow from the inputs to ``token``'s position.

    Args:
        head_fusion: "mean", "max" or "min" over heads.
        discard_ratio: fraction of each layer's lowest fused weights set to 0.
        token: the row read (0: the class token), or "mean" over rows.
        drop_token: token maps without position ``token`` (``T - 1`` positions).
        layers: attention layers (names or objects) to use; all by default.
        image_map: for an image model (a ViT), the patch grid upsampled to the image
            (None: when the input is an image; False: token maps).
    """

    name = "attention_rollout"
    aliases = ("rollout",)
    family = "attention"
    summary = "Attention probabilities (with identity) multiplied over layers; class-agnostic."
    paper = "Abnar & Zuidema 2020, arXiv:2005.00928"
    evaluates_inputs = True
    multi_input = True
    gradients = False

    def __init__(self, head_fusion="mean", discard_ratio=0.0, token=0, drop_token=False,
                 layers=None, image_map=None):
        if head_fusion not in HEAD_FUSIONS:
            raise ValueError(f"head_fusion: expected one of {HEAD_FUSIONS}, got {head_fusion!r}.")
        if not 0.0 <= float(discard_ratio) < 1.0:
            raise ValueError(f"discard_ratio: expected a value in [0, 1), got {discard_ratio!r}.")
        if token != "mean" and not isinstance(token, (int, np.integer)):
            raise ValueError(f"token: expected a position (int) or 'mean', got {token!r}.")
        if drop_token and token == "mean":
            raise ValueError("drop_token: token='mean' reads no single position to drop.")
        self.head_fusion = head_fusion
        self.discard_ratio = float(discard_ratio)
        self.token = token
        self.drop_token = bool(drop_token)
        self.layers_option = layers
        self.image_map = image_map

    def runner(self, ctx, x):
        """The call's ``PassRunner`` over an ``AttentionView`` (built once per call)."""
        runner = ctx.state.get("attention_runner")
        if runner is None:
            layers = attention_lib.find_attention_layers(ctx.model, self.layers_option)
            layers = attention_lib.forward_order(ctx.model, layers,
                                                 attention_lib.model_sample(x))
            summary = None
            if not self.discard_ratio:  # discarding sorts each layer's weights: on the host
                summary = DeviceProduct(layers, self.gradients, self.head_fusion, self.token)
            view = attention_lib.AttentionView(ctx.model, layers, ctx.output_index,
                                               ctx.use_logits, summary=summary)
            runner = ctx.state["attention_runner"] = PassRunner(
                view, ctx.score, batch_size=ctx.batch_size, distribution=ctx.distribution)
        return runner

    def attribute(self, ctx, x, row_targets):
        runner = self.runner(ctx, x)
        if self.gradients:
            passes = runner.backprop(x, row_targets, wrt_inputs=False)
        else:
            passes = runner.forward(x, row_targets)
        if runner.view.summary is not None:
            maps = np.asarray(passes.layer_outputs[0], np.float64)
        else:
            _check_square(passes.layer_outputs, runner.view.attention)
            product = self.combine(passes)
            _check_token(self.token, product.shape[-1])
            maps = product.mean(axis=1) if self.token == "mean" else product[:, self.token]
        return self.read(maps, x, ctx), passes

    def combine(self, passes):
        return rollout(passes.layer_outputs, self.head_fusion, self.discard_ratio)

    def read(self, maps, x, ctx):
        """Row ``token`` of the product ``(N, T)`` (or the rows' mean) as users read it."""
        image = _image_shape(x, ctx) if self.image_map is not False else None
        if self.image_map and image is None:
            raise ValueError("image_map: the model's input is not an image (N, H, W, C).")
        if image is not None:
            return patch_grid(maps, image).astype(np.float32)
        if self.drop_token:
            maps = np.delete(maps, self.token, axis=1)
        return maps.astype(np.float32)


class GenericAttention(AttentionRollout):
    """Chefer et al.'s generic attention explainability (self-attention rule): the
    class-specific relevance ``R`` of gradient-weighted attention.

    Args:
        token, drop_token, layers, image_map: as for ``attention_rollout``.
    """

    name = "generic_attention"
    aliases = ("chefer", "attention_gradients")
    summary = "Relevance R <- R + mean_h ReLU(grad A * A) R over layers (class-specific)."
    paper = "Chefer, Gur & Wolf 2021, arXiv:2103.15679"
    gradients = True

    def __init__(self, token=0, drop_token=False, layers=None, image_map=None):
        super().__init__(token=token, drop_token=drop_token, layers=layers,
                         image_map=image_map)

    def combine(self, passes):
        return generic_relevance(passes.layer_outputs, passes.layer_grads)


def _check_square(probabilities, layers):
    for a, layer in zip(probabilities, layers):
        if len(a.shape) != 4 or a.shape[-1] != a.shape[-2]:
            raise ValueError(
                f"layers: attention layer {layer.name!r} gives probabilities of shape "
                f"{tuple(a.shape)}; rollout and generic attention need self-attention "
                f"over one sequence axis (N, heads, T, T)."
            )


def _check_token(token, size):
    if token != "mean" and not -size <= token < size:
        raise ValueError(f"token: position {token} is outside the sequence of {size} "
                         f"positions.")


def _image_shape(x, ctx):
    """``(H, W)`` of an image input (rank 4), else None."""
    if isinstance(x, data.Inputs):
        return None
    shape = np.shape(x)
    if len(shape) != 4 or np.issubdtype(np.asarray(x[:0]).dtype, np.integer):
        return None
    return shape[2:4] if ctx.channel_axis == 1 else shape[1:3]
