"""JAX feature-visualization step: ``jax.jit`` over the model's ``stateless_call``.

Model variables are arguments (current weights, no recompilation); the gradient
with respect to the image parameters comes from ``jax.value_and_grad``.
"""

import jax

from kerascope.backend.common import note_trace


def _variables(model):
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )


def make_step(view, loss_fn, update_fn, finish_fn):
    grad = jax.value_and_grad(loss_fn, has_aux=True)

    @jax.jit
    def step(variables, params, state, args):
        note_trace("ascent")
        (_, scores), grads = grad(params, args, variables)
        new_params, new_state = update_fn(params, grads, state, args)
        return list(new_params), list(new_state), scores

    @jax.jit
    def finish(variables, params, values):
        note_trace("ascent_finish")
        return finish_fn(params, values, variables)

    def call(params, state, args):
        return step(_variables(view.model), params, state, args)

    def call_finish(params, values):
        return finish(_variables(view.model), params, values)

    return call, call_finish
