"""AttnLRP's relevance rules for the parts of an attention block (Achtibat et al.
2024, arXiv:2402.05602), as functions ``relevance_out -> relevance_in``.

* :func:`softmax_relevance`: ``R_x = x * (R - s * sum(R))`` with ``s = softmax(x)``
  (the paper's softmax proposition; the bias-like rest is absorbed).
* :func:`bilinear_relevance`: the uniform rule of a product of two factors
  (``Q K^T``, ``A V``): ``R_a = 1/2 a * vjp_a(R / stab(z))``, the same for ``b``;
  ``z`` bilinear, so ``sum R_a + sum R_b = sum R``.
* :func:`layer_norm_relevance`: the LN rule: the division by the standard deviation
  is a constant, the identity rule goes through it and epsilon through the
  centering: ``R_x = x * vjp_center(R / stab(x - mean x))``.

Not yet wired into a composite (the ``transformer`` composite is still to build).
"""

from keras import ops

from kerascope import backend
from kerascope.methods.lrp.rules import stabilize

__all__ = ["softmax_relevance", "bilinear_relevance", "layer_norm_relevance"]


def softmax_relevance(x, relevance, axis=-1):
    """``R_x = x * (R - softmax(x) * sum(R))`` along ``axis``."""
    s = ops.softmax(x, axis=axis)
    return x * (relevance - s * ops.sum(relevance, axis=axis, keepdims=True))


def bilinear_relevance(fn, a, b, relevance, epsilon=1e-6):
    """The uniform rule of ``z = fn(a, b)``, bilinear: each factor half of ``R``."""
    s = relevance / stabilize(fn(a, b), epsilon)
    grad_a, grad_b = backend.vjp(fn, (a, b), s)
    return 0.5 * a * grad_a, 0.5 * b * grad_b


def _center(x):
    return x - ops.mean(x, axis=-1, keepdims=True)


def layer_norm_relevance(x, relevance, epsilon=1e-6):
    """LN rule over the last axis: identity through the scaling, epsilon through the
    centering (a ``beta`` offset takes no relevance)."""
    (grad,) = backend.vjp(_center, (x,), relevance / stabilize(_center(x), epsilon))
    return x * grad
