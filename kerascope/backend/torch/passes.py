"""PyTorch passes: eager autograd, nothing rebuilt per batch.

``torch.autograd.grad`` returns the gradients without touching any parameter's
``.grad``, so the user's model keeps no trace of an explanation.
"""

import torch

from kerascope.backend.common import Passes, note_trace, run_view


def make_forward(view, score):
    note_trace("forward")

    def call(x, targets):
        with torch.no_grad():
            outputs, scores, units, captured = run_view(view, score, x, targets)
        return Passes(outputs, scores, units, None, tuple(captured), ())

    return call


def make_backprop(view, score, wrt_inputs=True):
    note_trace("backprop")

    def call(x, targets):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            outputs, scores, units, captured = run_view(view, score, x, targets)
            sources = ([x] if wrt_inputs else []) + list(captured)
            grads = torch.autograd.grad(scores.sum(), sources, allow_unused=True)
        grads = [
            torch.zeros_like(source) if grad is None else grad
            for source, grad in zip(sources, grads)
        ]
        input_grads = grads[0] if wrt_inputs else None
        layer_grads = grads[1:] if wrt_inputs else grads
        detach = lambda t: t.detach()  # noqa: E731
        return Passes(
            detach(outputs),
            detach(scores),
            units.detach(),
            input_grads,
            tuple(map(detach, captured)),
            tuple(layer_grads),
        )

    return call
