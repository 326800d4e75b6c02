"""PyTorch passes: eager autograd, nothing rebuilt per batch.

``torch.autograd.grad`` returns the gradients without touching any parameter's
``.grad``, so the user's model keeps no trace of an explanation. ``x`` may be one tensor or a
list/tuple/dict of tensors; the input gradient has the same structure.
"""

import keras
import torch

from kerascope.backend.common import (
    Passes,
    fused_scores,
    fused_targets,
    note_trace,
    replace_outputs,
    run_view,
)


def make_forward(view, score):
    note_trace("forward")

    def call(x, targets, values=None):
        with torch.no_grad():
            outputs, scores, units, captured = run_view(
                view, score, x, targets, replace_outputs(values)
            )
        return Passes(outputs, scores, units, None, tuple(captured), ())

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
            outputs, scores, units, captured = run_view(
                view, score, x, targets, replace_outputs(values)
            )
            sources = (leaves if wrt_inputs else []) + list(captured)
            grads = torch.autograd.grad(scores.sum(), sources, allow_unused=True)
        grads = [
            torch.zeros_like(source) if grad is None else grad
            for source, grad in zip(sources, grads)
        ]
        count = len(leaves) if wrt_inputs else 0
        input_grads = keras.tree.pack_sequence_as(x, grads[:count]) if wrt_inputs else None
        layer_grads = grads[count:]
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


def make_fused(view, score, row_score, expansion):
    """``call(chunk, targets, resolve) -> (sums, first)``: ``expansion``'s rows made,
    differentiated (or scored at ``row_score``) and reduced where the tensors live
    (eagerly); only the chunk's arrays go in (see the JAX backend for ``resolve``)."""
    note_trace("fused")

    def call(chunk, targets, resolve):
        first = ()
        with torch.no_grad():
            if resolve:
                outputs, scores, targets, _ = run_view(view, score, chunk.x, targets)
                chunk.input_scores = scores
                first = (outputs, scores, targets)
            elif expansion.input_scores:
                chunk.input_scores = fused_scores(view, row_score, chunk.x, targets)
            rows = expansion.expand(chunk)
            row_targets = fused_targets(targets, chunk.index.shape[0])
        if expansion.gradients:
            with torch.enable_grad():
                rows = rows.detach().requires_grad_(True)
                scores = fused_scores(view, row_score, rows, row_targets)
                (values,) = torch.autograd.grad(scores.sum(), [rows], allow_unused=True)
            if values is None:
                values = torch.zeros_like(rows)
        else:
            with torch.no_grad():
                values = fused_scores(view, row_score, rows, row_targets)
        with torch.no_grad():
            return tuple(expansion.reduce(values, chunk)), first

    return call
