"""Class activation maps: the map formulas, pure numpy functions.

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

Vision transformers: ``tokens_to_grid`` turns a ``(batch, tokens, dim)`` layer output
into its ``(batch, h, w, dim)`` patch grid: leading class tokens are dropped
(``class_token="auto"``: one when ``tokens - 1`` is a perfect square and ``tokens``
is not; or True/False/an int count), ``grid=(h, w)`` gives the grid.
"""

import math

import numpy as np

from kerascope.engine.numeric import upsample

__all__ = [
    "grad_cam_map", "tf_explain_grad_cam", "guided_gradients",
    "grad_cam_plus_plus_map", "xgrad_cam_map", "hires_cam_map", "layer_cam_map",
    "eigen_cam_map", "score_cam_masks", "score_cam_weights", "score_cam_map",
    "tokens_to_grid", "upsample",
]


# ---------------------------------------------------------------------------
# Pure combining functions: A, g are (batch, *spatial, K) numpy arrays.


def _per_position(a):
    """``a`` as ``(batch, positions, channels)`` (a view where possible)."""
    return a.reshape(len(a), -1, a.shape[-1])


# The maps are computed in the passes' precision, float32 for a model's float32
# passes (as pytorch-grad-cam and Captum compute them; float64 arrays stay float64),
# the contractions as batched BLAS products. Large temporaries cost more than the
# arithmetic here (each is fresh memory, and evicts the model from the caches before
# the next pass).


def _weighted_channels(a, weights):
    """``sum_k w_k A^k`` for per-sample channel weights ``(batch, K)`` (a batched
    matrix-vector product)."""
    weights = np.asarray(weights).astype(a.dtype, copy=False)
    cam = np.matmul(_per_position(a), weights[:, :, None])[..., 0]
    return cam.reshape(a.shape[:-1])


def _channel_products(a, g):
    """``sum_k g^k A^k`` at every position (HiResCAM, Layer-CAM)."""
    cam = np.einsum("npk,npk->np", _per_position(a), _per_position(g), optimize=False)
    return cam.reshape(a.shape[:-1])


def _positive(x):
    """``max(x, 0)`` (as ``x * (x > 0)``: numpy's ``maximum`` and ``where`` take 2-40x
    longer on large float32 arrays)."""
    return x * (x > 0)


def _finish(cam, relu):
    cam = np.maximum(cam, 0.0) if relu else cam
    return cam.astype(np.float32, copy=False)


def _pair(activations, grads):
    """The activations and gradients as float arrays of equal shape and dtype
    (float32 when both are)."""
    a, g = _floats(activations), _floats(grads)
    if a.shape != g.shape or a.ndim < 3:
        raise ValueError(
            f"activations, grads: expected equal shapes (batch, *spatial, channels), got "
            f"{a.shape} and {g.shape}."
        )
    dtype = np.result_type(a, g)
    return a.astype(dtype, copy=False), g.astype(dtype, copy=False)


def _floats(array):
    array = np.asarray(array)
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


def guided_gradients(activations, grads):
    """tf-explain's guided gradients ``g * (A > 0) * (g > 0)``."""
    a, g = _pair(activations, grads)
    return g * ((a > 0) & (g > 0))


def grad_cam_map(activations, grads, relu=True):
    """Grad-CAM: ``ReLU(sum_k mean_ij(g^k) A^k)``."""
    a, g = _pair(activations, grads)
    return _finish(_weighted_channels(a, _per_position(g).mean(axis=1)), relu)


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
    sums = _per_position(a).sum(axis=1, keepdims=True)
    positive = _positive(_per_position(g))
    denominator = np.multiply(sums, positive)
    denominator += 2.0
    if (sums < 0).any():  # only a negative sum can make the denominator 0
        undefined = denominator == 0
        positive[undefined] = 0.0
        denominator[undefined] = 1.0
    positive /= denominator
    return _finish(_weighted_channels(a, positive.sum(axis=1)), relu)


def xgrad_cam_map(activations, grads, relu=True, eps=1e-7):
    """XGrad-CAM: ``w_k = sum(g A) / (sum A + eps)``."""
    a, g = _pair(activations, grads)
    flat_a, flat_g = _per_position(a), _per_position(g)
    weights = (np.einsum("npk,npk->nk", flat_g, flat_a, optimize=False)
               / (flat_a.sum(axis=1) + eps))
    return _finish(_weighted_channels(a, weights), relu)


def hires_cam_map(activations, grads, relu=True):
    """HiResCAM: ``sum_k g^k * A^k`` (element-wise)."""
    a, g = _pair(activations, grads)
    return _finish(_channel_products(a, g), relu)


def layer_cam_map(activations, grads, relu=True):
    """Layer-CAM: ``ReLU(sum_k ReLU(g^k) * A^k)``."""
    a, g = _pair(activations, grads)
    return _finish(_channel_products(a, _positive(g)), relu)


def eigen_cam_map(activations, relu=True, center=False):
    """Eigen-CAM of ``(batch, *spatial, channels)`` activations, computed in float32
    for float32 activations (a model's), else in float64."""
    a = np.asarray(activations)
    single = a.dtype in (np.float16, np.float32)
    a = a.astype(np.float32 if single else np.float64, copy=False)
    if a.ndim < 3:
        raise ValueError(
            f"activations: expected (batch, *spatial, channels), got shape {a.shape}."
        )
    matrix = a.reshape(len(a), -1, a.shape[-1])
    if center:
        matrix = matrix - matrix.mean(axis=1, keepdims=True)
    u = _start(matrix, center)
    nonzero = u.any(axis=1)
    if not nonzero.all():  # a start that vanished: G 1 = 0, or squares that underflow
        rest = ~nonzero
        u[rest] = _row_norms(matrix[rest])
        nonzero[rest] = matrix[rest].any(axis=(1, 2))
    u, top = _top_left_singular(matrix, u, nonzero, 1e-6 if single else 1e-9)
    strength = np.sqrt(np.maximum(top, 0.0)).astype(u.dtype, copy=False)  # sigma_1
    energy = a.sum(axis=-1) if center else None
    return _finish(_oriented(u * strength[:, None], energy, nonzero, a.shape[:-1]), relu)


def _times_gram(matrix, v):
    """``G v`` for ``G = M M^T`` of each matrix of a batch, as ``M (M^T v)`` (``G`` is
    not formed)."""
    return np.matmul(matrix, np.matmul(v[:, None, :], matrix).transpose(0, 2, 1))[..., 0]


def _row_norms(matrix):
    return np.sqrt(np.einsum("bzk,bzk->bz", matrix, matrix, optimize=False))


def _start(matrix, center):
    """The power iteration's start ``(B, Z)``: ``G 1 = M (M^T 1)``, one step from the
    ones vector (a channel's activations mostly share a sign); for a centred ``M``,
    whose column sums are 0, the rows' norms (non-negative, like the top eigenvector
    of a non-negative ``G``, and not orthogonal to a centred ``M``'s columns)."""
    if center:
        return _row_norms(matrix)
    return _times_gram(matrix, np.ones(matrix.shape[:2], dtype=matrix.dtype))


def _oriented(projection, energy, nonzero, shape):
    """``projection`` ``(B, Z)`` signed (see the module docstring), reshaped to ``shape``."""
    if energy is not None:
        # a centred projection sums to zero by construction, so its sum cannot fix the
        # sign: orient it along the per-position activation energy instead
        energy = energy.reshape(len(energy), -1)
        orientation = (projection * (energy - energy.mean(axis=1, keepdims=True))).sum(axis=1)
    else:
        orientation = projection.sum(axis=1)
    projection *= (np.where(orientation < 0, -1, 1) * nonzero).astype(projection.dtype)[:, None]
    return projection.reshape(shape)


def _top_left_singular(matrix, u, nonzero, tol, plain_steps=12, steps=200):
    """``(u_1, lambda_1)``: the first left singular vector of each ``(Z, K)`` matrix
    ``M`` of a batch and the top eigenvalue of ``G = M M^T`` (``sigma_1^2``), from the
    start ``u`` ``(B, Z)``; ``tol``: the largest error of an iterate deemed converged.

    Batched power iteration, first as ``M (M^T u)`` for the whole batch (a few steps
    converge for most activations), then, for the matrices not converged after
    ``plain_steps``, on their ``G`` itself, and ``eigh`` where that stalls.
    ``lambda_1`` is the norm of the last step's ``G u`` (its error is the square of
    the iterate's), so ``sigma_1`` costs no product of its own."""
    u = u / _norms(u)[:, None]
    top = np.zeros(len(u), dtype=u.dtype)
    done = np.zeros(len(u), dtype=bool)
    change = np.full(len(u), np.inf)
    for _ in range(plain_steps):  # the whole batch at once; a converged iterate is kept
        nxt = _times_gram(matrix, u)
        norms = _norms(nxt)
        nxt /= norms[:, None]
        change, previous = np.abs(nxt - u).max(axis=1), change
        if done.any():
            nxt[done], norms[done] = u[done], top[done]
        u, top = nxt, norms
        if (change < 10 * tol).any():  # the full test only once some change is small
            done |= _settled(change, previous, tol)
            if done.all():
                break
    # an iterate that vanished (a start orthogonal to M's columns) is redone by eigh
    todo = np.flatnonzero(~done | ((np.einsum("bz,bz->b", u, u) < 0.25) & nonzero))
    if len(todo):
        sub = matrix[todo]
        gram = sub @ np.swapaxes(sub, 1, 2)
        v, lam = u[todo], top[todo]
        converged = np.zeros(len(todo), dtype=bool)
        change = np.full(len(todo), np.inf)
        for _ in range(steps):
            nxt = np.einsum("bpq,bq->bp", gram, v, optimize=False)
            lam = _norms(nxt)
            nxt /= lam[:, None]
            change, previous = np.abs(nxt - v).max(axis=1), change
            converged = _settled(change, previous, tol) & (np.linalg.norm(nxt, axis=1) > 0.5)
            v = nxt
            if converged.all():
                break
        for i in np.flatnonzero(~converged):
            values, vectors = np.linalg.eigh(gram[i])
            v[i], lam[i] = vectors[:, -1], values[-1]
        u[todo], top[todo] = v, lam
    return u, top


def _norms(vectors, floor=1e-30):
    """The Euclidean norm of each row of ``(B, n)`` ``vectors``, at least ``floor``."""
    return np.maximum(np.sqrt(np.einsum("bz,bz->b", vectors, vectors, optimize=False)), floor)


def _settled(change, previous, tol):
    """Whether a power iteration is within ``tol`` of its limit: the error left after
    its last ``change``, ``change * r / (1 - r)`` for the observed rate
    ``r = change / previous`` (geometric convergence), is below ``tol``, and the
    change itself below ``10 tol`` (a rate read from two steps is trusted only near
    the limit)."""
    rate = np.minimum(change / np.maximum(previous, 1e-30), 0.999)
    return (change < 10 * tol) & (change * rate < tol * (1.0 - rate))


def score_cam_masks(activations, size):
    """Score-CAM masks ``(batch, K, *size)``: each channel upsampled, min-max to [0, 1]."""
    a = np.asarray(activations, dtype=np.float32)
    maps = upsample(np.moveaxis(a, -1, 1).reshape((-1,) + a.shape[1:-1]), size)
    axes = tuple(range(1, maps.ndim))
    low, high = maps.min(axis=axes, keepdims=True), maps.max(axis=axes, keepdims=True)
    spread = high - low
    # a constant map is 0 after the shift, whatever its scale
    scale = np.divide(1.0, spread, out=np.zeros_like(spread), where=spread > 0)
    masks = maps - low
    masks *= scale
    return masks.reshape((len(a), a.shape[-1]) + tuple(size)).astype(np.float32, copy=False)


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
    w = np.asarray(weights).reshape(len(a), -1)
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
