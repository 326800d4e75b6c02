"""JAX custom gradients and vector-Jacobian products.

``jax.custom_gradient`` traces the gradient function during the forward pass (its
first call under ``jax.grad``), while the model's variables are still bound to the
values of the current call (``StatelessScope`` inside ``jax.jit``), so a gradient
function may close over a layer and call it again. Closed-over values must not be
differentiated (the passes differentiate inputs and probes, which are arguments).
"""

import jax

from kerascope.backend.common import as_gradients


def custom_gradient(fn):
    @jax.custom_gradient
    def wrapped(*inputs):
        output, grad = fn(*inputs)
        return output, lambda upstream: as_gradients(grad(upstream), len(inputs))

    return wrapped


def vjp(fn, inputs, upstream):
    _, pullback = jax.vjp(fn, *inputs)
    return tuple(pullback(upstream))


def linearize(fn, inputs):
    output, pullback = jax.vjp(fn, *inputs)
    return output, lambda upstream: tuple(pullback(upstream))


def relu_backward(upstream, output):
    return jax.numpy.where(output > 0, upstream, 0)
