"""AttnLRP: LRP through attention, layer normalization and elementwise activations
(Achtibat et al. 2024, "AttnLRP: Attention-Aware Layer-Wise Relevance Propagation for
Transformers", arXiv:2402.05602), wired into the ``transformer`` composite.

Rule functions, ``relevance_out -> relevance_in``:

* :func:`softmax_relevance`: ``R_x = x * (R - s * sum(R))`` with ``s = softmax(x)``
  (the paper's softmax proposition, a Taylor decomposition at ``x``; its bias-like
  rest is absorbed, so the softmax does not conserve relevance exactly).
* :func:`bilinear_relevance`: the uniform rule of a product of two factors
  (``Q K^T``, ``A V``): epsilon over the sum of products, each product's share split
  equally between its factors: ``R_a = 1/2 a * vjp_a(R / stab(z))``, the same for
  ``b``; ``z`` bilinear, so ``sum R_a + sum R_b = sum R``.
* :func:`layer_norm_relevance`: the LN rule: the division by the standard deviation
  is a constant (identity rule through it) and epsilon goes through the centering:
  ``R_x = x * vjp_center(R / stab(x - mean x))``.

Rules a composite maps layers to:

* :class:`AttentionRule` (``keras.layers.MultiHeadAttention`` and subclasses, keras-hub's
  included): during the pass, the layer's ``_compute_attention`` is replaced by an
  explicit one (``attention_call``) from the layer's own parts, whose backward
  applies the rules: ``scores = Q K^T / sqrt(d)`` by the uniform bilinear rule, the
  (masked) softmax by the softmax rule, ``A V`` by the uniform bilinear rule
  (``mode="attnlrp"``, the paper's rules), or ``A`` held constant, all relevance to
  ``V`` by epsilon (``mode="cp"``: CP-LRP, Ali et al. 2022, arXiv:2202.07304, the
  paper's baseline; it conserves relevance). The projections (``EinsumDense``) are
  ruled as layers of their own (epsilon); masks (``attention_mask``,
  ``use_causal_mask``, Keras masks) are applied as the layer applies them; dropout is
  inactive (the passes run with ``training=False``).
* :class:`LayerNormRule` (``keras.layers.LayerNormalization``): epsilon over the
  layer with its statistics held constant: ``y = gamma (x - mean x) / sigma + beta``
  is linear in ``x`` with ``sigma`` (and the mean's weights) fixed, so
  ``R_x = x * J^T (R / stab(y))``; ``beta`` takes its share like a bias
  (``center=False``: none, the rule conserves). RMS scaling: no centering.
"""

import keras
from keras import ops

from kerascope import backend
from kerascope.engine import keras_internals
from kerascope.methods.lrp import layers as layers_lib
from kerascope.methods.lrp import rules as rules_lib
from kerascope.methods.lrp.rules import stabilize

__all__ = ["softmax_relevance", "bilinear_relevance", "layer_norm_relevance",
           "AttentionRule", "LayerNormRule", "attention_call", "ATTENTION_MODES"]

ATTENTION_MODES = ("attnlrp", "cp")


def softmax_relevance(x, relevance, axis=-1, probabilities=None):
    """``R_x = x * (R - s * sum(R))`` along ``axis`` (an int or a tuple), ``s =
    softmax(x)`` or the given ``probabilities`` (a masked softmax's)."""
    s = ops.softmax(x, axis=axis) if probabilities is None else probabilities
    return x * (relevance - s * ops.sum(relevance, axis=axis, keepdims=True))


def bilinear_relevance(fn, a, b, relevance, epsilon=1e-6, output=None):
    """The uniform rule of ``z = fn(a, b)``, bilinear: each factor half of ``R``
    (``output``: ``fn(a, b)`` when already known)."""
    z = fn(a, b) if output is None else output
    s = relevance / stabilize(z, epsilon)
    grad_a, grad_b = backend.vjp(fn, (a, b), s)
    return 0.5 * a * grad_a, 0.5 * b * grad_b


def _center(x):
    return x - ops.mean(x, axis=-1, keepdims=True)


def layer_norm_relevance(x, relevance, epsilon=1e-6):
    """LN rule over the last axis: identity through the scaling, epsilon through the
    centering (a ``beta`` offset takes no relevance)."""
    (grad,) = backend.vjp(_center, (x,), relevance / stabilize(_center(x), epsilon))
    return x * grad


class AttentionRule(rules_lib.Rule):
    """AttnLRP inside a ``MultiHeadAttention`` layer (see the module docstring).

    Args:
        mode: ``"attnlrp"`` (uniform rule on both products, softmax rule) or
            ``"cp"`` (attention probabilities held constant).
        epsilon: the stabilizer of the products' epsilon.
    """

    linear = False
    name = "attention"
    #: ruled as a whole (a layer with sub-layers), not as a leaf layer
    whole_layer = True

    def __init__(self, mode="attnlrp", epsilon=1e-6):
        if mode not in ATTENTION_MODES:
            raise ValueError(f"attention: expected one of {ATTENTION_MODES}, got {mode!r}.")
        self.mode = mode
        self.epsilon = float(epsilon)


class LayerNormRule(rules_lib.Rule):
    """Epsilon over a ``LayerNormalization`` with its statistics held constant."""

    linear = False
    name = "layer_norm"

    def __init__(self, epsilon=1e-6):
        self.epsilon = float(epsilon)

    def layer_call(self, layer, call):
        """``call`` with this rule as its backward."""

        def forward(x):
            y = call(x)
            gamma = layers_lib.read([layer.gamma])[0] if layer.gamma is not None else None

            def grad(relevance):
                frozen = _frozen_layer_norm(layer, x, gamma)
                s = relevance / stabilize(y, self.epsilon)
                (g,) = backend.vjp(frozen, (x,), s)
                return x * g

            return y, grad

        return backend.custom_gradient(forward)


def _frozen_layer_norm(layer, x, gamma):
    """``t -> gamma * (t - mean t) / sigma(x)`` (RMS scaling: ``gamma * t / rms(x)``),
    ``sigma`` computed at ``x`` and held constant; ``beta`` left out."""
    ndim = len(x.shape)
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    axes = tuple(a % ndim for a in axis)
    x32 = ops.cast(x, "float32")
    if layer.rms_scaling:
        variance = ops.mean(ops.square(x32), axis=axes, keepdims=True)
    else:
        variance = ops.var(x32, axis=axes, keepdims=True)
    inv = ops.stop_gradient(ops.rsqrt(variance + layer.epsilon))
    if gamma is not None:
        shape = [1] * ndim
        for a in axes:
            shape[a] = x.shape[a]
        inv = inv * ops.reshape(ops.cast(gamma, "float32"), shape)

    def frozen(t):
        t = ops.cast(t, "float32")
        if not layer.rms_scaling:
            t = t - ops.mean(t, axis=axes, keepdims=True)
        return ops.cast(t * inv, x.dtype)

    return frozen


def attention_call(layer, rule):
    """A ``_compute_attention`` for the ``MultiHeadAttention`` ``layer`` computing what
    the layer's explicit path computes, with ``rule``'s backward."""
    parts = keras_internals.attention_parts(layer)
    axes = tuple(range(-len(parts.attention_axes), 0))
    cp = rule.mode == "cp"
    eps = rule.epsilon

    def dot(key, query):
        return parts.scores(query, key)

    combine = parts.combine

    def scores_forward(key, query):
        z = dot(key, query)

        def grad(relevance):
            if cp:
                return ops.zeros_like(key), ops.zeros_like(query)
            return bilinear_relevance(dot, key, query, relevance, eps, output=z)

        return z, grad

    def combine_forward(probabilities, value):
        z = combine(probabilities, value)

        def grad(relevance):
            if not cp:
                return bilinear_relevance(combine, probabilities, value, relevance, eps,
                                          output=z)
            s = relevance / stabilize(z, eps)
            (g,) = backend.vjp(lambda v: combine(probabilities, v), (value,), s)
            return ops.zeros_like(probabilities), value * g

        return z, grad

    def softmax_op(mask):
        def forward(scores):
            probabilities = parts.softmax(scores, mask=mask)

            def grad(relevance):
                if cp:
                    return ops.zeros_like(scores)
                r = softmax_relevance(scores, relevance, axis=axes,
                                      probabilities=probabilities)
                if mask is not None:
                    r = ops.where(ops.cast(mask, "bool"), r, ops.zeros_like(r))
                return r

            return probabilities, grad

        return backend.custom_gradient(forward)

    product = backend.custom_gradient(scores_forward)
    mix = backend.custom_gradient(combine_forward)

    def compute(query, key, value, attention_mask=None, training=None,
                return_attention_scores=False, use_causal_mask=False):
        scores = product(key, query)
        attention_mask = parts.mask(query, value, attention_mask, use_causal_mask,
                                    len(scores.shape))
        probabilities = softmax_op(attention_mask)(scores)
        output = mix(probabilities, value)
        return output, (probabilities if return_attention_scores else None)

    return compute


def is_attention(layer):
    """Whether ``layer`` is a ``keras.layers.MultiHeadAttention`` (or a subclass)."""
    return isinstance(layer, keras.layers.MultiHeadAttention)
