"""TensorFlow passes: ``tf.function`` around a ``GradientTape``.

Captured layer outputs are watched by the tape, so their gradients come from the
same backward pass as the input gradient. ``x`` may be one tensor or a
list/tuple/dict of tensors; the input gradient has the same structure.
"""

import tensorflow as tf

from kerascope.backend.common import Passes, note_trace, replace_outputs, run_view


def make_forward(view, score):
    @tf.function(autograph=False, reduce_retracing=True)
    def forward(x, targets, values):
        note_trace("forward")
        return run_view(view, score, x, targets, replace_outputs(values))

    def call(x, targets, values=None):
        outputs, scores, units, captured = forward(x, targets, values)
        return Passes(outputs, scores, units, None, tuple(captured), ())

    return call


def make_backprop(view, score, wrt_inputs=True):
    @tf.function(autograph=False, reduce_retracing=True)
    def backprop(x, targets, values):
        note_trace("backprop")
        with tf.GradientTape() as tape:
            if wrt_inputs:
                tape.watch(x)

            def watch(index, output):
                tape.watch(output)
                return output

            outputs, scores, units, captured = run_view(
                view, score, x, targets, replace_outputs(values, watch)
            )
        sources = ([x] if wrt_inputs else []) + list(captured)
        grads = tape.gradient(scores, sources,
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        input_grads = grads[0] if wrt_inputs else None
        layer_grads = grads[1:] if wrt_inputs else grads
        return outputs, scores, units, input_grads, captured, layer_grads

    def call(x, targets, values=None):
        outputs, scores, units, gx, captured, gl = backprop(x, targets, values)
        return Passes(outputs, scores, units, gx, tuple(captured), tuple(gl))

    return call
