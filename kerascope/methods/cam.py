"""Class activation maps: Grad-CAM and its family.

Notation: ``A`` is the output of a spatial layer, ``(batch, *spatial, K)`` channels
last (channels_first layers and transformer tokens are brought to that layout),
``g = dS_c/dA`` the gradient of the class score there (the logit by default),
``Z`` the number of spatial positions. Every map is computed at the layer's
resolution, then (``upsample=True``, default) bilinearly resized to the input's
spatial size (half-pixel centres, as ``keras.ops.image.resize``); ``upsample=False``
returns the raw low-resolution map. ``relu=False`` keeps the signed map.

* Grad-CAM (Selvaraju et al. 2017, arXiv:1610.02391):
  ``w_k = (1/Z) sum_ij g_ij^k``, ``L = ReLU(sum_k w_k A^k)``. ``guided_grads=True``
  first replaces ``g`` by ``g * (A > 0) * (g > 0)`` (tf-explain's default).
* Grad-CAM++ (Chattopadhay et al. 2018, arXiv:1710.11063, Eq. 19): with the
  exponential-score trick, ``a_ij^k = g^2 / (2 g^2 + sum_ab A_ab^k g^3)`` (0 where
  the denominator is 0), ``w_k = sum_ij a_ij^k ReLU(g_ij^k)``, ``L = ReLU(sum_k w_k A^k)``.
  The paper's spatial *sums* are used (xplique uses means); the factor ``exp(S_c)``
  of ``dY/dA = exp(S_c) g`` is one positive constant per map and is left out, as in
  pytorch-grad-cam (it overflows for large logits and cancels on normalisation).
* XGrad-CAM (Fu et al. 2020, arXiv:2008.02312):
  ``w_k = sum_ij g_ij A_ij / (sum_ij A_ij + 1e-7)``, ``L = ReLU(sum_k w_k A^k)``.
* HiResCAM (Draelos & Carin 2020, arXiv:2011.08891): ``L = ReLU(sum_k g^k * A^k)``
  (element-wise; the paper's map is the signed sum, ReLU'd here as every CAM is,
  ``relu=False`` for the signed one).
* Layer-CAM (Jiang et al. 2021, IEEE TIP 30): ``L = ReLU(sum_k ReLU(g^k) * A^k)``.
* Eigen-CAM (Muhammad & Yeasin 2020, arXiv:2008.00299): the activations as a
  ``(Z, K)`` matrix ``M``, ``M = U S V^T``, ``L = M v_1`` (projection on the first
  right singular vector); ``center=True`` subtracts the per-channel mean first
  (PCA, as pytorch-grad-cam). The SVD sign is arbitrary: it is fixed so that
  ``sum L >= 0``, or, centred (where ``sum L = 0``), so that ``L`` correlates
  positively with the activation energy ``sum_k A^k``. Class independent.
* Score-CAM (Wang et al. 2020, arXiv:1910.01279): each channel ``A^k`` upsampled
  to the input and min-max normalised to ``[0, 1]`` (``H^k``, 0 for a constant
  channel) masks the input; ``s_k = S_c(x * H^k)``, ``L = ReLU(sum_k w_k A^k)`` with
  ``w = softmax_k(s)`` (``score_normalization="channels"``, default: Algorithm 1 of
  the paper, as pytorch-grad-cam; the paper's baseline score ``S_c(x_b)`` cancels in
  that softmax), ``"classes"``: ``w_k = softmax over classes of the masked
  prediction, at c`` (tf-keras-vis), or None: the raw scores (keras-explainable).
  Masked inputs go through the model ``batch_size`` rows at a time.
  ``max_channels=N`` keeps the N channels of highest spatial variance *per input*
  (Faster Score-CAM). tf-keras-vis's ``max_N`` differs: it keeps one channel set for
  the whole batch, so an image's map there depends on the other images of its batch;
  here it does not.

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
``f(array) -> (batch, h, w, dim)`` does it all.
"""

import math

import keras
import numpy as np

from kerascope.inputs import arrays as data

from kerascope.engine import surgery, targets as targets_lib
from kerascope.methods.base import Method
from kerascope.engine.numeric import upsample
from kerascope.engine.validation import check_choice, check_positive_int

SCORE_NORMALIZATIONS = ("channels", "classes", None)

__all__ = [
    "GradCAM", "GradCAMPlusPlus", "XGradCAM", "HiResCAM", "LayerCAM", "EigenCAM",
    "ScoreCAM", "grad_cam_map", "tf_explain_grad_cam", "guided_gradients",
    "grad_cam_plus_plus_map", "xgrad_cam_map", "hires_cam_map", "layer_cam_map",
    "eigen_cam_map", "score_cam_masks", "score_cam_weights", "score_cam_map",
    "tokens_to_grid", "upsample",
]


# ---------------------------------------------------------------------------
# Pure combining functions: A, g are (batch, *spatial, K) numpy arrays.


def _per_position(a):
    """``a`` as ``(batch, positions, channels)`` (a view where possible)."""
    return a.reshape(len(a), -1, a.shape[-1])


# The maps are computed in float64 from the float32 passes without float64 copies of
# them: reductions and contractions take ``dtype=np.float64`` (each element is
# widened as it is read). Large temporaries cost more than the arithmetic here (each
# is fresh memory: page faults, then unmapping).


def _weighted_channels(a, weights):
    """``sum_k w_k A^k`` for per-sample channel weights ``(batch, K)`` (one einsum
    contraction; no BLAS threads)."""
    cam = np.einsum("npk,nk->np", _per_position(a), weights, dtype=np.float64,
                    optimize=False)
    return cam.reshape(a.shape[:-1])


def _channel_products(a, g):
    """``sum_k g^k A^k`` at every position (HiResCAM, Layer-CAM)."""
    cam = np.einsum("npk,npk->np", _per_position(a), _per_position(g), dtype=np.float64,
                    optimize=False)
    return cam.reshape(a.shape[:-1])


def _finish(cam, relu):
    cam = np.maximum(cam, 0.0) if relu else cam
    return cam.astype(np.float32)


def _pair(activations, grads):
    """The activations and gradients as float arrays of equal shape (float32 stays
    float32; see above)."""
    a, g = _floats(activations), _floats(grads)
    if a.shape != g.shape or a.ndim < 3:
        raise ValueError(
            f"activations, grads: expected equal shapes (batch, *spatial, channels), got "
            f"{a.shape} and {g.shape}."
        )
    return a, g


def _floats(array):
    array = np.asarray(array)
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


def guided_gradients(activations, grads):
    """tf-explain's guided gradients ``g * (A > 0) * (g > 0)``."""
    a, g = _pair(activations, grads)
    return np.where((a > 0) & (g > 0), g.astype(np.float64), 0.0)


def grad_cam_map(activations, grads, relu=True):
    """Grad-CAM: ``ReLU(sum_k mean_ij(g^k) A^k)``."""
    a, g = _pair(activations, grads)
    weights = _per_position(g).mean(axis=1, dtype=np.float64)
    return _finish(_weighted_channels(a, weights), relu)


def tf_explain_grad_cam(activations, grads, use_guided_grads=True):
    """tf-explain 0.3's Grad-CAM: mean-of-gradients weights, channel sum, no ReLU."""
    a, g = _pair(activations, grads)
    if use_guided_grads:
        g = guided_gradients(a, g)
    return grad_cam_map(a, g, relu=False)


def grad_cam_plus_plus_map(activations, grads, relu=True):
    """Grad-CAM++ (Eq. 19, spatial sums; see the module docstring).

    ``a_ij ReLU(g_ij) = g^2 ReLU(g) / (2 g^2 + (sum_ab A) g^3)`` is computed as
    ``ReLU(g) / (2 + (sum_ab A) ReLU(g))`` (the ``g^2`` cancels; 0 where ``g <= 0``,
    and where the denominator is 0, as the paper's formula is taken there).
    """
    a, g = _pair(activations, grads)
    flat_a = _per_position(a)
    positive = np.maximum(_per_position(g), 0.0, dtype=np.float64)
    denominator = flat_a.sum(axis=1, keepdims=True, dtype=np.float64) * positive
    denominator += 2.0
    undefined = denominator == 0
    if undefined.any():
        positive[undefined] = 0.0
        denominator[undefined] = 1.0
    positive /= denominator
    return _finish(_weighted_channels(a, positive.sum(axis=1)), relu)


def xgrad_cam_map(activations, grads, relu=True, eps=1e-7):
    """XGrad-CAM: ``w_k = sum(g A) / (sum A + eps)``."""
    a, g = _pair(activations, grads)
    flat_a, flat_g = _per_position(a), _per_position(g)
    weights = (np.einsum("npk,npk->nk", flat_g, flat_a, dtype=np.float64, optimize=False)
               / (flat_a.sum(axis=1, dtype=np.float64) + eps))
    return _finish(_weighted_channels(a, weights), relu)


def hires_cam_map(activations, grads, relu=True):
    """HiResCAM: ``sum_k g^k * A^k`` (element-wise)."""
    a, g = _pair(activations, grads)
    return _finish(_channel_products(a, g), relu)


def layer_cam_map(activations, grads, relu=True):
    """Layer-CAM: ``ReLU(sum_k ReLU(g^k) * A^k)``."""
    a, g = _pair(activations, grads)
    return _finish(_channel_products(a, np.maximum(g, 0)), relu)


def eigen_cam_map(activations, relu=True, center=False):
    """Eigen-CAM: projection of the activations on their first right singular vector."""
    a = np.asarray(activations, dtype=np.float64)
    if a.ndim < 3:
        raise ValueError(
            f"activations: expected (batch, *spatial, channels), got shape {a.shape}."
        )
    matrix = a.reshape(len(a), -1, a.shape[-1])
    if center:
        matrix = matrix - matrix.mean(axis=1, keepdims=True)
    u, strength = _top_left_singular(matrix)
    projection = u * strength[:, None]
    if center:
        # A centred projection sums to zero by construction, so its sum cannot fix
        # the sign: orient it along the per-position activation energy instead.
        energy = a.reshape(len(a), -1, a.shape[-1]).sum(axis=2)
        orientation = (projection * (energy - energy.mean(axis=1, keepdims=True))).sum(axis=1)
    else:
        orientation = projection.sum(axis=1)
    sign = np.where(orientation[:, None] < 0, -1.0, 1.0)
    cams = np.where(np.any(matrix, axis=(1, 2))[:, None], projection * sign, 0.0)
    return _finish(cams.reshape(a.shape[:-1]), relu)


def _top_left_singular(matrix, plain_steps=12, steps=200, tol=1e-9):
    """``(u, s)``: the first left singular vector and value of each ``(Z, K)`` matrix
    ``M`` of a batch (``M v = s u``, ``v`` the first right singular vector).

    Batched power iteration on ``G = M M^T`` from the rows' norms (non-negative,
    like the top eigenvector of a non-negative ``G``, and, unlike the mean
    direction, not orthogonal to a centred ``M``'s columns): first as ``M (M^T u)``
    without forming ``G`` (a few steps converge for most activations), then, for
    the matrices not yet converged, on ``G`` itself, and ``eigh`` where that stalls.
    """
    n, z = matrix.shape[:2]
    u = np.linalg.norm(matrix, axis=2)
    u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-30)
    todo = np.arange(n)
    for _ in range(plain_steps):
        sub = matrix[todo] if len(todo) < n else matrix
        nxt = np.matmul(sub, np.matmul(u[todo][:, None, :], sub).transpose(0, 2, 1))[..., 0]
        nxt /= np.maximum(np.linalg.norm(nxt, axis=1, keepdims=True), 1e-30)
        converged = np.abs(nxt - u[todo]).max(axis=1) < tol
        u[todo] = nxt
        todo = todo[~converged]
        if not len(todo):
            break
    # an iterate that vanished (a start orthogonal to M's columns) is redone by eigh
    lost = (np.linalg.norm(u, axis=1) < 0.5) & np.any(matrix, axis=(1, 2))
    todo = np.union1d(todo, np.flatnonzero(lost)).astype(int)
    if len(todo):
        sub = matrix[todo]
        gram = sub @ np.swapaxes(sub, 1, 2)
        v = u[todo]
        converged = np.zeros(len(todo), dtype=bool)
        for _ in range(steps):
            nxt = np.einsum("bpq,bq->bp", gram, v, optimize=False)
            nxt /= np.maximum(np.linalg.norm(nxt, axis=1, keepdims=True), 1e-30)
            converged = (np.abs(nxt - v).max(axis=1) < tol) & (np.linalg.norm(nxt, axis=1) > 0.5)
            v = nxt
            if converged.all():
                break
        for i in np.flatnonzero(~converged):
            v[i] = np.linalg.eigh(gram[i])[1][:, -1]
        u[todo] = v
    strength = np.linalg.norm(np.matmul(u[:, None, :], matrix)[:, 0], axis=1)
    return u, strength


def score_cam_masks(activations, size):
    """Score-CAM masks ``(batch, K, *size)``: each channel upsampled, min-max to [0, 1]."""
    a = np.asarray(activations, dtype=np.float32)
    maps = upsample(np.moveaxis(a, -1, 1).reshape((-1,) + a.shape[1:-1]), size)
    axes = tuple(range(1, maps.ndim))
    low, high = maps.min(axis=axes, keepdims=True), maps.max(axis=axes, keepdims=True)
    spread = high - low
    masks = np.where(spread > 0, (maps - low) / np.where(spread > 0, spread, 1.0), 0.0)
    return masks.reshape((len(a), a.shape[-1]) + tuple(size)).astype(np.float32)


def score_cam_weights(scores, normalization="channels"):
    """Channel weights from the scores ``(batch, K)`` of the masked inputs.

    ``"channels"``: softmax over the channels (the paper's Algorithm 1); ``"classes"``
    and None: the scores as given (already class probabilities, or raw).
    """
    s = np.asarray(scores, dtype=np.float64)
    if normalization == "channels":
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return s


def score_cam_map(activations, weights, relu=True):
    """``ReLU(sum_k w_k A^k)`` for per-sample channel weights ``(batch, K)``."""
    a = _floats(activations)
    w = np.asarray(weights, dtype=np.float64).reshape(len(a), -1)
    return _finish(_weighted_channels(a, w), relu)


# ---------------------------------------------------------------------------
# Layout helpers.


def _is_square(n):
    return n > 0 and math.isqrt(n) ** 2 == n


def tokens_to_grid(tokens, grid=None, class_token="auto"):
    """``(batch, T, D)`` tokens -> ``(batch, h, w, D)`` patch grid (see module docstring)."""
    t = np.asarray(tokens)
    if t.ndim != 3:
        raise ValueError(
            f"reshape: expected a token sequence (batch, tokens, dim), got shape {t.shape}."
        )
    count = t.shape[1]
    if class_token == "auto":
        if grid is not None:
            drop = count - int(grid[0]) * int(grid[1])
        elif _is_square(count):
            drop = 0
        elif _is_square(count - 1):
            drop = 1
        else:
            raise ValueError(
                f"reshape: {count} tokens are neither a square grid nor a square grid plus "
                f"a class token; pass reshape=(h, w) and class_token=<number of leading "
                f"tokens to drop>."
            )
    elif isinstance(class_token, (bool, np.bool_)):
        drop = int(class_token)
    elif isinstance(class_token, (int, np.integer)) and class_token >= 0:
        drop = int(class_token)
    else:
        raise ValueError(
            f"class_token: expected 'auto', True, False or a number of leading tokens, "
            f"got {class_token!r}."
        )
    rest = count - drop
    if grid is None:
        if not _is_square(rest):
            raise ValueError(
                f"reshape: {rest} patch tokens (of {count}, {drop} dropped) do not form a "
                f"square grid; pass reshape=(h, w)."
            )
        grid = (math.isqrt(rest), math.isqrt(rest))
    h, w = int(grid[0]), int(grid[1])
    if drop < 0 or h * w != rest:
        raise ValueError(
            f"reshape: a {h}x{w} grid does not match {count} tokens with {drop} leading "
            f"class token(s) dropped."
        )
    return t[:, drop:].reshape(len(t), h, w, t.shape[2])


# ---------------------------------------------------------------------------
# Methods.


class _ProbabilityScore:
    """Softmax over classes of the logits, at the row's unit (Score-CAM "classes")."""

    key = ("probability",)

    def __call__(self, logits, row_targets):
        per_unit = targets_lib._class_axis_scores(logits)
        probs = keras.ops.softmax(per_unit, axis=-1)
        mask = keras.ops.one_hot(row_targets, per_unit.shape[-1], dtype=probs.dtype)
        return keras.ops.sum(probs * mask, axis=-1), keras.ops.cast(row_targets, "int32")


_PROBABILITY_SCORE = _ProbabilityScore()


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

    def combine(self, activations, grads):
        raise NotImplementedError

    def attribute(self, ctx, x, row_targets):
        if self.uses_gradients:
            passes = ctx.backprop(x, row_targets, wrt_inputs=False)
            grads = passes.layer_grads
        else:
            passes = ctx.forward(x, row_targets)
            grads = [None] * len(passes.layer_outputs)
        image = self.spatial_input(x)
        cams = []
        for index, (a, g) in enumerate(zip(passes.layer_outputs, grads)):
            a = self._spatial(a, index, image, ctx)
            g = self._spatial(g, index, image, ctx) if g is not None else None
            cams.append(self.combine(a, g))
        return self._merge(cams, image, ctx), passes


class GradCAM(CAM):
    """Grad-CAM; ``guided_grads=True, relu=False`` is tf-explain's variant."""

    name = "grad_cam"
    aliases = ("gradcam",)
    summary = "Channel activations weighted by their mean gradient, ReLU."
    paper = "Selvaraju et al. 2017, arXiv:1610.02391"

    def __init__(self, layer_name=None, upsample=True, relu=True, guided_grads=False,
                 reshape=None, class_token="auto", input=None):
        super().__init__(layer_name, upsample, relu, reshape, class_token, input)
        self.guided_grads = bool(guided_grads)

    def combine(self, activations, grads):
        if self.guided_grads:
            grads = guided_gradients(activations, grads)
        return grad_cam_map(activations, grads, self.relu)


class GradCAMPlusPlus(CAM):
    """Grad-CAM++ (paper's Eq. 19 with spatial sums)."""

    name = "grad_cam_plus_plus"
    aliases = ("gradcam++", "gradcampp", "gradcam_plus_plus")
    summary = "Grad-CAM with higher-order pixel weights of positive gradients (Eq. 19)."
    paper = "Chattopadhay et al. 2018, arXiv:1710.11063"

    def combine(self, activations, grads):
        return grad_cam_plus_plus_map(activations, grads, self.relu)


class XGradCAM(CAM):
    """XGrad-CAM: activation-weighted gradient weights."""

    name = "xgrad_cam"
    aliases = ("xgradcam",)
    summary = "Channel weights from activation-weighted gradients (axiom-based)."
    paper = "Fu et al. 2020, arXiv:2008.02312"

    def combine(self, activations, grads):
        return xgrad_cam_map(activations, grads, self.relu)


class HiResCAM(CAM):
    """HiResCAM: element-wise gradient times activation, summed over channels."""

    name = "hires_cam"
    aliases = ("hirescam",)
    summary = "Element-wise gradient times activation, summed over channels."
    paper = "Draelos & Carin 2020, arXiv:2011.08891"

    def combine(self, activations, grads):
        return hires_cam_map(activations, grads, self.relu)


class LayerCAM(CAM):
    """Layer-CAM: element-wise positive gradient times activation."""

    name = "layer_cam"
    aliases = ("layercam",)
    summary = "Element-wise positive gradient times activation."
    paper = "Jiang et al. 2021, IEEE TIP 30"

    def combine(self, activations, grads):
        return layer_cam_map(activations, grads, self.relu)


class EigenCAM(CAM):
    """Eigen-CAM: first principal direction of the activations (class independent)."""

    name = "eigen_cam"
    aliases = ("eigencam",)
    summary = "First principal component of the activations (class independent)."
    paper = "Muhammad & Yeasin 2020, arXiv:2008.00299"
    uses_gradients = False

    def __init__(self, layer_name=None, upsample=True, relu=True, center=False,
                 reshape=None, class_token="auto", input=None):
        super().__init__(layer_name, upsample, relu, reshape, class_token, input)
        self.center = bool(center)

    def combine(self, activations, grads):
        return eigen_cam_map(activations, self.relu, self.center)


class ScoreCAM(CAM):
    """Score-CAM: channels weighted by the class score of the input they mask.

    Args (besides ``CAM``'s):
        score_normalization: "channels" (softmax over channels, the paper),
            "classes" (class probability of each masked input) or None (raw score).
        max_channels: keep only the N channels of highest spatial variance per input
            (Faster Score-CAM); None uses all.
    """

    name = "score_cam"
    aliases = ("scorecam",)
    summary = "Channels weighted by the class score of the input each one masks."
    paper = "Wang et al. 2020, arXiv:1910.01279"
    uses_gradients = False

    def __init__(self, layer_name=None, upsample=True, relu=True,
                 score_normalization="channels", max_channels=None, reshape=None,
                 class_token="auto", input=None):
        super().__init__(layer_name, upsample, relu, reshape, class_token, input)
        self.score_normalization = check_choice(
            score_normalization, "score_normalization", SCORE_NORMALIZATIONS
        )
        self.max_channels = (
            None if max_channels is None else check_positive_int(max_channels, "max_channels")
        )

    def _masked_runner(self, ctx):
        """Passes scoring masked inputs at the units resolved on the unmasked ones."""
        if self.score_normalization == "classes":
            if ctx.targets.kind == "callable":
                raise ValueError(
                    "score_normalization: 'classes' needs class-index targets, not a "
                    "score callable; use 'channels' or None."
                )
            return ctx.runner(score=_PROBABILITY_SCORE, use_logits=True)
        return ctx.runner(score=ctx.unit_score)

    def attribute(self, ctx, x, row_targets):
        passes = ctx.forward(x, row_targets)
        units = np.asarray(passes.units, dtype=np.int32)
        masked = self._masked_runner(ctx)
        image = self.spatial_input(x)
        cams = []
        for index, a in enumerate(passes.layer_outputs):
            a = self._spatial(a, index, image, ctx)
            size = self._input_size(image, a.ndim - 2, ctx)
            channels = np.broadcast_to(np.arange(a.shape[-1]), (len(a), a.shape[-1]))
            if self.max_channels is not None and self.max_channels < a.shape[-1]:
                variance = a.reshape(len(a), -1, a.shape[-1]).var(axis=1)
                channels = np.argsort(-variance, axis=1, kind="stable")[:, : self.max_channels]
            selected = np.take_along_axis(
                a.reshape(len(a), -1, a.shape[-1]), channels[:, None, :], axis=2
            ).reshape(a.shape[:-1] + (channels.shape[1],))
            scores = self._masked_scores(masked, x, selected, size, units, ctx)
            weights = score_cam_weights(scores, self.score_normalization)
            cams.append(score_cam_map(selected, weights, self.relu))
        return self._merge(cams, image, ctx), passes

    def _masked_scores(self, runner, x, activations, size, units, ctx):
        """Scores of every (input, channel) masked input, ``batch_size`` rows at a time."""
        n, k = len(activations), activations.shape[-1]
        flat = np.moveaxis(activations, -1, 1).reshape((n * k,) + activations.shape[1:-1])
        scores = np.empty(n * k, dtype=np.float64)
        step = ctx.batch_size
        for start in range(0, n * k, step):
            rows = np.arange(start, min(start + step, n * k))
            masks = score_cam_masks(flat[rows][..., None], size)[:, 0]
            owners = rows // k
            image = self.spatial_input(x)
            if image.ndim != masks.ndim:
                masks = masks[:, None] if ctx.channel_axis == 1 else masks[..., None]
            if isinstance(x, data.Inputs):
                chosen = self.spatial_index(x)
                masked = x[owners]
                masked = masked.with_arrays(
                    a * masks if j == chosen else a for j, a in enumerate(masked.arrays)
                )
            else:
                masked = x[owners] * masks
            scores[rows] = runner.forward(masked, units[owners]).scores
        return scores.reshape(n, k)
