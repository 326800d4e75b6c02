"""PyTorch passes: eager autograd, nothing rebuilt per batch.

``torch.autograd.grad`` returns the gradients without touching any parameter's
``.grad``, so the user's model keeps no trace of an explanation. ``x`` may be one tensor or a
list/tuple/dict of tensors; the input gradient has the same structure.
"""

import keras
import torch

from kerascope.backend.common import (
    Passes,
    forward_view,
    fused_scores,
    note_trace,
    replace_outputs,
    run_fused,
    run_view,
    summarize,
)
from kerascope.backend.torch.noise import one_thread


def make_forward(view, score):
    note_trace("forward")

    def call(x, targets, values=None):
        with torch.no_grad():
            outputs, scores, units, captured = forward_view(view, score, x, targets, values)
        return Passes(outputs, scores, units, None, captured, ())

    return call


def _leaf(tensor):
    return None if tensor is None else tensor.detach().requires_grad_(True)


def make_backprop(view, score, wrt_inputs=True):
    note_trace("backprop")

    def call(x, targets, values=None):
        with torch.enable_grad():
            leaves = keras.tree.flatten(x)
            if wrt_inputs:
                leaves = [_leaf(leaf) for leaf in leaves]
                x = keras.tree.pack_sequence_as(x, leaves)
            if values is not None:
                values = [_leaf(value) for value in values]
            # input gradients only: the weights are constants (fewer saved tensors)
            outputs, scores, units, captured = run_view(
                view, score, x, targets, replace_outputs(values),
                constant_weights=wrt_inputs and not view.layers,
            )
            sources = (leaves if wrt_inputs else []) + list(captured)
            grads = torch.autograd.grad(scores.sum(), sources, allow_unused=True)
        grads = [
            torch.zeros_like(source) if grad is None else grad
            for source, grad in zip(sources, grads)
        ]
        count = len(leaves) if wrt_inputs else 0
        input_grads = keras.tree.pack_sequence_as(x, grads[:count]) if wrt_inputs else None
        detach = lambda t: t.detach()  # noqa: E731
        with torch.no_grad():
            captured, layer_grads = summarize(view, tuple(map(detach, captured)),
                                              grads[count:])
        return Passes(
            detach(outputs),
            detach(scores),
            units.detach(),
            input_grads,
            captured,
            layer_grads,
        )

    return call


def make_fused(view, score, row_score, expansion):
    """``call(chunk, targets, resolve) -> (sums, first)``: ``expansion``'s rows made,
    differentiated (or scored at ``row_score``) and reduced where the tensors live,
    eagerly (``common.run_fused``); only the chunk's arrays go in."""
    note_trace("fused")

    def gradient(rows, targets):
        with torch.enable_grad():
            rows = rows.detach().requires_grad_(True)
            scores = fused_scores(view, row_score, rows, targets,
                                  constant_weights=not view.layers)
            (grads,) = torch.autograd.grad(scores.sum(), [rows], allow_unused=True)
        return torch.zeros_like(rows) if grads is None else grads

    def joint(x, rows, targets, m):
        n = x.shape[0]
        with torch.enable_grad():
            rows = rows.detach().requires_grad_(True)
            outputs, logits = view.forward(torch.cat([x.to(rows.dtype), rows]),
                                           constant_weights=True)
            scores, units = score(logits[:n], targets)
            row_scores = row_score(logits[n:], torch.repeat_interleave(units, m, dim=0))[0]
            (grads,) = torch.autograd.grad(row_scores.sum(), [rows], allow_unused=True)
        grads = torch.zeros_like(rows) if grads is None else grads
        return (outputs[:n].detach(), scores.detach(), units.detach()), grads

    serial = _Serial(expansion)

    def call(chunk, targets, resolve):
        with torch.no_grad():
            return run_fused(view, score, row_score, serial, chunk, targets, resolve,
                             gradient, joint=joint if _joins(chunk.x) else None)

    return call


def _joins(x):
    """Whether inputs ``x`` can share a batch with their rows (float rows of one input)."""
    return isinstance(x, torch.Tensor) and x.is_floating_point()


class _Serial:
    """``expansion`` with its row-making and reduction on the calling thread only
    (``one_thread``): elementwise passes, where a second thread costs a wait per op
    on busy cores; the model's passes keep every thread."""

    def __init__(self, expansion):
        self._expansion = expansion

    def __getattr__(self, name):
        return getattr(self._expansion, name)

    def expand(self, chunk):
        with one_thread():
            return self._expansion.expand(chunk)

    def reduce(self, values, chunk):
        with one_thread():
            return self._expansion.reduce(values, chunk)
