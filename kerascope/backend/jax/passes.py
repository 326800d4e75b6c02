"""JAX passes: ``jax.jit`` over the model's ``stateless_call``.

Variables are arguments, not constants, so a model whose weights change between
calls (a callback during ``fit``) is explained with its current weights without
recompiling. Gradients with respect to layer outputs are taken through zero probes
added to those outputs. ``x`` may be one tensor or a list/tuple/dict of tensors
(models with several inputs); the input gradient has the same structure.
"""

import jax
import jax.numpy as jnp

from kerascope.backend.common import Passes, note_trace, replace_outputs, run_view


def _variables(model):
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )


def _run(view, score, variables, x, targets, probes, values=None):
    add_probe = None if probes is None else (lambda index, output: output + probes[index])
    transform = replace_outputs(values, add_probe)
    outputs, scores, units, captured = run_view(view, score, x, targets, transform, variables)
    return scores, (outputs, scores, units, captured)


def make_forward(view, score):
    @jax.jit
    def forward(variables, x, targets, values):
        note_trace("forward")
        _, (outputs, scores, units, captured) = _run(
            view, score, variables, x, targets, None, values
        )
        return outputs, scores, units, captured

    def call(x, targets, values=None):
        outputs, scores, units, captured = forward(_variables(view.model), x, targets, values)
        return Passes(outputs, scores, units, None, tuple(captured), ())

    return call


def make_backprop(view, score, wrt_inputs=True):
    def total(x, probes, variables, targets, values):
        scores, aux = _run(view, score, variables, x, targets, probes, values)
        return jnp.sum(scores), aux

    argnums = (0, 1) if wrt_inputs else (1,)
    grad = jax.grad(total, argnums=argnums, has_aux=True)

    @jax.jit
    def backprop(variables, x, targets, values):
        note_trace("backprop")
        shapes = jax.eval_shape(
            lambda v, xs, t, vs: _run(view, score, v, xs, t, None, vs)[1][3],
            variables, x, targets, values,
        )
        probes = [jnp.zeros(s.shape, s.dtype) for s in shapes]
        grads, (outputs, scores, units, captured) = grad(x, probes, variables, targets, values)
        input_grads = grads[0] if wrt_inputs else None
        return outputs, scores, units, input_grads, captured, grads[-1]

    def call(x, targets, values=None):
        outputs, scores, units, gx, captured, gl = backprop(
            _variables(view.model), x, targets, values
        )
        return Passes(outputs, scores, units, gx, tuple(captured), tuple(gl))

    return call
