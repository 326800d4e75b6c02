"""Integrated Gradients (Sundararajan, Taly & Yan 2017, arXiv:1703.01365).

``IG_i(x) = (x_i - x'_i) * integral_0^1 dS_c/dx_i (x' + a (x - x')) da``, approximated
by a quadrature ``sum_k w_k g(a_k)`` with one of the rules below. Completeness:
``sum_i IG_i(x) = S_c(x) - S_c(x')``; the residual of that identity is the
*convergence delta* (``return_convergence_delta=True``).

Rules, for ``n_steps = n``:

* ``riemann_left``: ``a_k = k/n``, k = 0..n-1; ``riemann_right``: k = 1..n;
  ``riemann_middle``: ``a_k = (k + 1/2)/n``; all with ``w_k = 1/n``;
* ``riemann_trapezoid``: ``a_k = k/(n-1)``, k = 0..n-1, end points weighted 1/2
  (exact for integrands linear in ``a``, e.g. ``S = sum x_i^2``);
* ``gausslegendre``: Gauss-Legendre nodes and weights on [0, 1].

Baselines: ``"zeros"`` (default), a number (constant image), ``"blur"`` (the input
blurred by a Gaussian of ``blur_sigma`` pixels), ``"uniform"`` (uniform noise in each
input's value range), or an array broadcastable to one input.
"""

import numpy as np

from kerascope.methods.base import Method
from kerascope.numeric import gaussian_blur
from kerascope.validation import check_choice, check_positive_int

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def quadrature(n_steps, rule):
    """``(alphas, weights)`` of ``rule`` with ``n_steps`` nodes on [0, 1]."""
    n = check_positive_int(n_steps, "n_steps")
    check_choice(rule, "method", RULES)
    if rule == "riemann_left":
        return np.arange(n) / n, np.full(n, 1.0 / n)
    if rule == "riemann_right":
        return np.arange(1, n + 1) / n, np.full(n, 1.0 / n)
    if rule == "riemann_middle":
        return (np.arange(n) + 0.5) / n, np.full(n, 1.0 / n)
    if rule == "riemann_trapezoid":
        if n < 2:
            raise ValueError("n_steps: the trapezoid rule needs n_steps >= 2.")
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] *= 0.5
        return np.linspace(0.0, 1.0, n), weights
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1) / 2, weights / 2


class IntegratedGradients(Method):
    """Path-integrated gradients from a baseline to the input.

    Args:
        n_steps: number of gradient evaluations along the path.
        baseline: "zeros", a number, "blur", "uniform" or an array.
        method: quadrature rule (see module docstring).
        channel_reduction: "sum" (default, keeps completeness), None for raw maps.
        blur_sigma: Gaussian sigma in pixels for ``baseline="blur"``.
        seed: seed of the ``"uniform"`` baseline.
        return_convergence_delta: return ``sum(IG) - (S(x) - S(x'))`` per map as
            ``extras["convergence_delta"]`` of the ``Explanation``.
    """

    name = "integrated_gradients"
    aliases = ("ig",)
    family = "gradients"
    summary = "Gradients integrated along a path from a baseline to the input (completeness)."
    paper = "Sundararajan, Taly & Yan 2017, arXiv:1703.01365"
    signed = True

    def __init__(self, n_steps=50, baseline="zeros", method="riemann_trapezoid",
                 channel_reduction="sum", blur_sigma=5.0, seed=None,
                 return_convergence_delta=False):
        self.n_steps = check_positive_int(n_steps, "n_steps")
        self.method = check_choice(method, "method", RULES)
        self.alphas, self.weights = quadrature(self.n_steps, method)
        if isinstance(baseline, str):
            check_choice(baseline, "baseline", ("zeros", "blur", "uniform"))
        elif not np.all(np.isfinite(np.asarray(baseline, dtype=np.float64))):
            raise ValueError("baseline: contains NaN or infinite values.")
        self.baseline = baseline
        self.channel_reduction = channel_reduction
        self.blur_sigma = float(blur_sigma)
        self.seed = seed
        self.return_convergence_delta = return_convergence_delta

    def rows_per_input(self):
        return self.n_steps

    def baselines(self, x, ctx):
        """The baseline of each row of ``x``."""
        if isinstance(self.baseline, str):
            if self.baseline == "zeros":
                return np.zeros_like(x)
            if self.baseline == "blur":
                return gaussian_blur(x, self.blur_sigma, ctx.channel_axis)
            axes = tuple(range(1, x.ndim))
            low, high = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
            noise = ctx.rng(self.seed).random(x.shape)
            return (low + (high - low) * noise).astype(np.float32)
        baseline = np.asarray(self.baseline, dtype=np.float32)
        try:
            return np.broadcast_to(baseline, x.shape[1:])[None].repeat(len(x), axis=0)
        except ValueError:
            raise ValueError(
                f"baseline: shape {baseline.shape} does not broadcast to one input of "
                f"shape {x.shape[1:]}."
            ) from None

    def attribute(self, ctx, x, row_targets):
        base = self.baselines(x, ctx)
        alphas = self.alphas.astype(np.float32).reshape((1, -1) + (1,) * (x.ndim - 1))
        path = base[:, None] + alphas * (x - base)[:, None]
        path = path.reshape((-1,) + x.shape[1:])
        grads = ctx.backprop(path, np.repeat(row_targets, self.n_steps)).input_grads
        grads = grads.reshape((len(x), self.n_steps) + x.shape[1:])
        weights = self.weights.reshape((1, -1) + (1,) * (x.ndim - 1))
        attributions = (x - base) * (grads * weights).sum(axis=1)
        if self.return_convergence_delta:
            ends = ctx.forward(np.concatenate([x, base]), np.concatenate([row_targets] * 2))
            gain = ends.scores[: len(x)] - ends.scores[len(x):]
            total = attributions.reshape(len(x), -1).sum(axis=1)
            ctx.record("convergence_delta", total - gain)
        return attributions.astype(np.float32)
