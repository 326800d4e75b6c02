"""ReLU rule sets: guided backpropagation (Springenberg et al. 2015,
arXiv:1412.6806) and Deconvnet (Zeiler & Fergus 2014, arXiv:1311.2901)."""

import keras

from kerascope import backend
from kerascope.engine.rules.base import ActivationRule


def guided_relu(x):
    """ReLU whose gradient is ``g * [x > 0] * [g > 0]`` (guided backpropagation,
    Springenberg et al. 2015, arXiv:1412.6806)."""

    y = keras.ops.relu(x)

    def grad(g):
        return backend.relu_backward(keras.ops.relu(g), y)  # two elementwise kernels

    return y, grad


def deconvnet_relu(x):
    """ReLU whose gradient is ``g * [g > 0]`` (Deconvnet, Zeiler & Fergus 2014,
    arXiv:1311.2901: the ReLU is applied to the backward signal)."""

    def grad(g):
        return keras.ops.relu(g)

    return keras.ops.relu(x), grad


guided_relu = backend.custom_gradient(guided_relu)
deconvnet_relu = backend.custom_gradient(deconvnet_relu)

#: Guided backpropagation: every ReLU passes ``g * [x > 0] * [g > 0]`` back.
GUIDED_BACKPROP_RULES = (ActivationRule("relu", guided_relu, name="guided_relu"),)
#: Deconvnet: every ReLU passes ``g * [g > 0]`` back.
DECONVNET_RULES = (ActivationRule("relu", deconvnet_relu, name="deconvnet_relu"),)
