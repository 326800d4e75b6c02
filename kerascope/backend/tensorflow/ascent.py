"""TensorFlow feature-visualization step: one ``tf.function`` around a tape.

The step takes the image parameters, optimizer state and the step's inputs (unit
indices, weights, transform draws, learning rate) as tensors, so it is traced once
per shape and structure.
"""

import tensorflow as tf

from kerascope.backend.common import note_trace


def make_step(view, loss_fn, update_fn, finish_fn):
    @tf.function(autograph=False, reduce_retracing=True)
    def step(params, state, args):
        note_trace("ascent")
        with tf.GradientTape() as tape:
            tape.watch(params)
            _, scores = loss_fn(params, args, None)
            total = tf.reduce_sum(scores)
        grads = tape.gradient(total, params)
        grads = [tf.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
        new_params, new_state = update_fn(params, grads, state, args)
        return list(new_params), list(new_state), scores

    @tf.function(autograph=False, reduce_retracing=True)
    def finish(params, values):
        note_trace("ascent_finish")
        return finish_fn(params, values, None)

    return step, finish
