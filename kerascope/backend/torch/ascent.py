"""PyTorch feature-visualization step: eager autograd, built once, never retraced.

``torch.autograd.grad`` differentiates with respect to the image parameters only,
so no model parameter's ``.grad`` is touched; the update runs under ``no_grad``.
"""

import torch

from kerascope.backend.common import note_trace


def make_step(view, loss_fn, update_fn, finish_fn):
    note_trace("ascent")

    def call(params, state, args):
        with torch.enable_grad():
            leaves = [p.detach().requires_grad_(True) for p in params]
            total, scores = loss_fn(leaves, args, None)
            grads = torch.autograd.grad(total, leaves, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(leaves, grads)]
        with torch.no_grad():
            new_params, new_state = update_fn(
                [p.detach() for p in leaves], grads, state, args
            )
        return list(new_params), list(new_state), scores.detach()

    def finish(params, values):
        with torch.no_grad():
            return finish_fn(params, values, None)

    return call, finish
