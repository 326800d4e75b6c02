"""TensorFlow custom gradients and vector-Jacobian products.

``tf.custom_gradient`` asks a gradient function to take ``variables`` and return
their gradients when the forward reads variables (a layer's weights): these rules
differentiate inputs only, so variables get no gradient (None).
"""

import tensorflow as tf

from kerascope.backend.common import as_gradients


def custom_gradient(fn):
    @tf.custom_gradient
    def wrapped(*inputs):
        output, grad = fn(*inputs)

        def backward(upstream, **kwargs):
            grads = as_gradients(grad(upstream), len(inputs))
            variables = kwargs.get("variables")
            if variables:
                return grads, [None] * len(variables)
            return grads

        return output, backward

    return wrapped


def vjp(fn, inputs, upstream):
    inputs = [tf.convert_to_tensor(x) for x in inputs]
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        for x in inputs:
            tape.watch(x)
        output = fn(*inputs)
    grads = tape.gradient(
        output, inputs, output_gradients=upstream,
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )
    return tuple(grads)


def linearize(fn, inputs):
    inputs = [tf.convert_to_tensor(x) for x in inputs]
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        for x in inputs:
            tape.watch(x)
        output = fn(*inputs)

    def pullback(upstream):
        return tuple(tape.gradient(output, inputs, output_gradients=upstream,
                                   unconnected_gradients=tf.UnconnectedGradients.ZERO))

    return output, pullback


def relu_backward(upstream, output):
    return tf.raw_ops.ReluGrad(gradients=upstream, features=output)
