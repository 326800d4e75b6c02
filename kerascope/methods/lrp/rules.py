"""LRP rules: the relevance a layer passes back to its inputs.

The value flowing backward is the relevance. For a linear part ``z = W x + b`` a
rule is one or more modified forwards ``z_k = W_k x_k + b_k`` (modified inputs and
parameters) and ``R_in = sum_k x_k * W_k^T s_k`` with ``s_k = R_out / stab(...)``
(zennit's ``BasicHook``, Anders et al. 2021, arXiv:2106.13200). Overview: Montavon
et al. 2019, "Layer-wise relevance propagation: an overview"; Bach et al. 2015.
``stab(v) = v + eps * sign(v)`` with ``sign(0) = 1``.

Modified forwards run the layer's own ``call`` with modified weights in a
``keras.StatelessScope`` (the variables are never assigned), ``W_k^T s`` is the
layer's vector-Jacobian product there. The terms of one ``z`` run as one function
of their inputs, linearized once (``backend.linearize``: its forward gives ``z``,
its pullback every ``W_k^T s``). When the input is known to be non-negative (a
ReLU-family output, ``layers.nonnegative_input``), ``x- = 0`` and the ``x- W`` terms,
exactly zero, are left out.
"""

import keras
from keras import ops

from kerascope import backend

STABILIZER = 1e-6


def stabilize(value, epsilon=STABILIZER):
    """``v + eps * sign(v)``, ``sign(0) = 1`` (zennit's stabilizer)."""
    return value + ops.where(value >= 0, epsilon, -epsilon)


def _pos(t):  # max(t, 0); relu has the least per-call overhead on eager PyTorch
    return None if t is None else ops.relu(t)


def _neg(t):  # min(t, 0), exactly
    return None if t is None else t - ops.relu(t)


class Linear:
    """A linear part ``z = run(x, kernel, bias)`` of a layer, with its weights.

    ``kernel``/``bias`` are the values used for the pass (after canonizers: a
    merged BatchNormalization); ``run`` evaluates the part with other values.
    ``output``: ``run(x, kernel, bias)`` when already known; ``nonnegative``: the
    input is known to be ``>= 0``.
    """

    def __init__(self, run, kernel, bias, output=None, axis=-1, nonnegative=False):
        self.run = run
        self.axis = axis
        self.kernel = kernel
        self.bias = bias
        self.output = output
        self.nonnegative = nonnegative
        self.transpose = None  # (s, kernel) -> kernel^T s, where known without a forward

    def forward(self, x, kernel=None, bias=None):
        return self.run(x, self.kernel if kernel is None else kernel, bias)

    def z(self, x):
        if self.output is None:
            self.output = self.run(x, self.kernel, self.bias)
        return self.output

    def back(self, kernel, s, x):
        """``kernel^T s``: the vjp of the part (any bias) with respect to its input."""
        if self.transpose is not None:
            return self.transpose(s, kernel)
        return backend.vjp(lambda t: self.run(t, kernel, None), (x,), s)[0]

    def linearize(self, fn, *xs):
        """``(fn(*xs), pullback)`` (``backend.linearize``)."""
        return backend.linearize(fn, xs)

    def split(self, x):
        """``(x+, x-)``; ``x- = None`` when the input is known non-negative."""
        if self.nonnegative:
            return x, None
        xp = _pos(x)
        return xp, x - xp

    def terms(self, xp, xn, w_p, w_n, bias, relevance):
        """``x+ W_p^T s + x- W_n^T s``, ``s = R / stab(W_p x+ + W_n x- + b)`` (one
        linearized forward; ``xn = None``: the ``x-`` term is zero)."""
        if self.transpose is not None:  # kernel^T s known without a forward
            z = self.run(xp, w_p, bias)
            if xn is not None:
                z = z + self.run(xn, w_n, None)
            s = relevance / stabilize(z)
            out = xp * self.transpose(s, w_p)
            return out if xn is None else out + xn * self.transpose(s, w_n)
        if xn is None:
            z, back = self.linearize(lambda a: self.run(a, w_p, bias), xp)
            return xp * back(relevance / stabilize(z))[0]
        z, back = self.linearize(
            lambda a, b: self.run(a, w_p, bias) + self.run(b, w_n, None), xp, xn)
        gp, gn = back(relevance / stabilize(z))
        return xp * gp + xn * gn


class Rule:
    """Base of rules; ``linear`` rules need a layer's weights (Dense/Conv)."""

    linear = True
    name = "rule"

    def relevance(self, part, x, relevance):
        """Input relevance of linear ``part`` (a ``Linear``) at input ``x``."""
        raise NotImplementedError

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({options})"


class Epsilon(Rule):
    """LRP-epsilon: ``R_i = x_i sum_j w_ij R_j / stab(z_j)`` (epsilon=0: LRP-0)."""

    name = "epsilon"

    def __init__(self, epsilon=1e-6):
        self.epsilon = float(epsilon)

    def relevance(self, part, x, relevance):
        s = relevance / stabilize(part.z(x), self.epsilon)
        return x * part.back(part.kernel, s, x)


class ZPlus(Rule):
    """z+ (= alpha1-beta0): positive contributions ``x+ W+ + x- W-`` only."""

    name = "zplus"

    def relevance(self, part, x, relevance):
        xp, xn = part.split(x)
        wn = None if xn is None else _neg(part.kernel)
        return part.terms(xp, xn, _pos(part.kernel), wn, _pos(part.bias), relevance)


class AlphaBeta(Rule):
    """alpha-beta (``alpha - beta = 1``): ``alpha R+ - beta R-`` of the positive and
    negative contributions, each normalized by its own sum."""

    name = "alpha_beta"

    def __init__(self, alpha=2.0, beta=1.0):
        if alpha < 0 or beta < 0 or alpha - beta != 1:
            raise ValueError(
                f"alpha, beta: expected alpha, beta >= 0 with alpha - beta = 1, got "
                f"alpha={alpha!r}, beta={beta!r}."
            )
        self.alpha = float(alpha)
        self.beta = float(beta)

    def relevance(self, part, x, relevance):
        xp, xn = part.split(x)
        wp, wn = _pos(part.kernel), _neg(part.kernel)
        out = self.alpha * part.terms(xp, xn, wp, wn, _pos(part.bias), relevance)
        if self.beta:
            out = out - self.beta * part.terms(xp, xn, wn, wp, _neg(part.bias), relevance)
        return out


class Gamma(Rule):
    """Generalized gamma (zennit): with ``W_g+ = W + gamma W+``, ``W_g- = W + gamma W-``,
    positive outputs take ``x+ W_g+ + x- W_g-``, negative ones ``x+ W_g- + x- W_g+``."""

    name = "gamma"

    def __init__(self, gamma=0.25):
        self.gamma = float(gamma)

    def _up(self, t, clamp):
        return None if t is None else t + self.gamma * clamp(t)

    def relevance(self, part, x, relevance):
        xp, xn = part.split(x)
        w, b = part.kernel, part.bias
        wup, wdown = self._up(w, _pos), self._up(w, _neg)
        z = part.z(x)
        rp, rn = ops.where(z > 0, relevance, 0.0), ops.where(z < 0, relevance, 0.0)
        return (part.terms(xp, xn, wup, wdown, self._up(b, _pos), rp)
                + part.terms(xp, xn, wdown, wup, self._up(b, _neg), rn))


class ZBox(Rule):
    """z^B (box): ``R_i = (x_i w_ij - l_i w+_ij - h_i w-_ij) / z^B_j * R_j`` for inputs in
    ``[low, high]`` (scalars, per-channel values or arrays; None: each sample's own
    minimum and maximum)."""

    name = "zbox"

    def __init__(self, low=None, high=None):
        self.low = low
        self.high = high

    def _bound(self, value, x, reduce, axis):
        if value is None:
            axes = tuple(range(1, len(x.shape)))
            return ops.ones_like(x) * reduce(x, axis=axes, keepdims=True)
        value = ops.cast(ops.convert_to_tensor(value), x.dtype)
        if len(value.shape) == 1 and len(x.shape) > 2:
            shape = [1] * len(x.shape)
            shape[axis] = value.shape[0]
            value = ops.reshape(value, shape)
        return ops.ones_like(x) * value

    def relevance(self, part, x, relevance):
        low = self._bound(self.low, x, ops.min, part.axis)
        high = self._bound(self.high, x, ops.max, part.axis)
        w, b = part.kernel, part.bias
        wp, wn = _pos(w), _neg(w)
        z, back = part.linearize(
            lambda a, lo, hi: (part.run(a, w, b) - part.run(lo, wp, _pos(b))
                               - part.run(hi, wn, _neg(b))), x, low, high)
        g, g_low, g_high = back(relevance / stabilize(z))
        return x * g + low * g_low + high * g_high


class Flat(Rule):
    """flat: relevance spread uniformly over the receptive field (weights 1, no bias,
    inputs 1; Lapuschkin et al. 2019, arXiv:1902.10178)."""

    name = "flat"

    def relevance(self, part, x, relevance):
        ones = ops.ones_like(x)
        w = ops.ones_like(part.kernel)
        z = part.run(ones[:1], w, None)  # receptive-field sizes, the same for every sample
        return part.back(w, relevance / stabilize(z), ones)


class WSquare(Rule):
    """w^2: ``R_i = sum_j w_ij^2 / sum_i' w_i'j^2 R_j`` (inputs 1; bias squared, as zennit)."""

    name = "w_square"

    def relevance(self, part, x, relevance):
        ones = ops.ones_like(x)
        w = ops.square(part.kernel)
        b = None if part.bias is None else ops.square(part.bias)
        z = part.run(ones[:1], w, b)  # the same for every sample
        return part.back(w, relevance / stabilize(z), ones)


class Pass(Rule):
    """pass: the relevance goes through unchanged (activations, merged BatchNorm)."""

    linear = False
    name = "pass"


class Norm(Rule):
    """norm: LRP-0 over a sum (``Add``, average pooling): ``R_i = x_i R / stab(z)``."""

    linear = False
    name = "norm"


class Gradient(Rule):
    """gradient: the layer's own backward (max pooling: winner takes all; reshapes)."""

    linear = False
    name = "gradient"


RULES = {
    "epsilon": Epsilon, "lrp0": lambda: Epsilon(0.0), "zero": lambda: Epsilon(0.0),
    "zplus": ZPlus, "z_plus": ZPlus, "alpha_beta": AlphaBeta,
    "alpha2_beta1": lambda: AlphaBeta(2.0, 1.0), "alpha1_beta0": lambda: AlphaBeta(1.0, 0.0),
    "gamma": Gamma, "zbox": ZBox, "z_box": ZBox, "flat": Flat, "w_square": WSquare,
    "wsquare": WSquare, "pass": Pass, "norm": Norm, "gradient": Gradient,
}


def get_rule(rule):
    """A ``Rule`` from an instance or a name (``RULES``)."""
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, str) and rule in RULES:
        return RULES[rule]()
    raise ValueError(
        f"rule: expected an LRP rule (kerascope.methods.lrp.rules) or one of "
        f"{sorted(RULES)}, got {rule!r}."
    )


def pass_backward(fn):
    """``fn`` with the identity as its backward (the pass rule for activations)."""

    def forward(x):
        return fn(x), lambda upstream: upstream

    return backend.custom_gradient(forward)


def norm_backward(call, inputs, relevance):
    """The norm rule: ``R_i = x_i * vjp(call, inputs, R / stab(z))_i``."""
    s = relevance / stabilize(call(*inputs))
    grads = backend.vjp(call, inputs, s)
    return tuple(x * g for x, g in zip(inputs, grads))


def stateless(layer, call, mapping):
    """``call`` run with the layer's variables replaced (``(variable, value)`` pairs)."""

    def run(*inputs):
        with keras.StatelessScope(state_mapping=mapping):
            return call(*inputs)

    return run
