"""PyTorch custom gradients and vector-Jacobian products.

Keras runs the forward of a custom gradient inside ``torch.autograd.Function``
(no graph is recorded there) and passes the upstream gradient as a keyword; the
wrapper below gives the rule a plain ``grad(upstream)``. ``vjp`` re-runs ``fn`` on
detached copies of its inputs under ``enable_grad``, so it also works inside a
backward pass. ``linearize`` keeps the graph of its one forward for its pullback.
"""

import keras
import torch

from kerascope.backend.common import as_gradients


def custom_gradient(fn):
    def forward(*inputs):
        output, grad = fn(*inputs)

        def backward(*saved, upstream=None):
            return as_gradients(grad(upstream), len(inputs))

        return output, backward

    return keras.ops.custom_gradient(forward)


def vjp(fn, inputs, upstream):
    with torch.enable_grad():
        leaves = [x.detach().requires_grad_(True) for x in inputs]
        output = fn(*leaves)
        if not output.requires_grad:
            return tuple(torch.zeros_like(x) for x in leaves)
        grads = torch.autograd.grad(output, leaves, grad_outputs=upstream, allow_unused=True)
    return tuple(
        torch.zeros_like(x) if g is None else g.detach() for x, g in zip(leaves, grads)
    )


def linearize(fn, inputs):
    with torch.enable_grad():
        leaves = [x.detach().requires_grad_(True) for x in inputs]
        output = fn(*leaves)

    def pullback(upstream):
        if not output.requires_grad:
            return tuple(torch.zeros_like(x) for x in leaves)
        grads = torch.autograd.grad(output, leaves, grad_outputs=upstream, allow_unused=True)
        return tuple(torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads))

    return output.detach(), pullback


def relu_backward(upstream, output):
    return torch.ops.aten.threshold_backward(upstream, output, 0)
