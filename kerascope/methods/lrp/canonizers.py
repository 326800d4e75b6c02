"""Canonizers: rewrite parts of a model into forms LRP rules apply to, for one pass.

``merge_batch_norm``: a BatchNormalization right after a Dense/Conv (no activation
between) is merged into it for the pass, ``W' = W * s``, ``b' = b * s + t`` with
``(s, t)`` the BatchNormalization's affine form (``engine.layers``); the linear layer's rule uses the merged
weights and the BatchNormalization passes relevance through (zennit's
``SequentialMergeBatchNorm``, Anders et al. 2021, arXiv:2106.13200). Nothing is
assigned: the merged values exist only inside the pass. The residual ``Add`` needs
no canonizer here: it is a layer, ruled by the norm rule.
"""

import keras

from kerascope.engine import keras_internals
from kerascope.engine import layers as groups
from kerascope.methods.lrp import layers as layers_lib

MERGEABLE = tuple(cls for cls in groups.AFFINE if cls.__name__ != "EinsumDense")


def _single_input_producer(layer):
    """The layer whose output is ``layer``'s only input in every call of it (a loaded
    model may hold several identical calls), or None."""
    found = set()
    for node in keras_internals.inbound_nodes(layer):
        tensors = keras.tree.flatten(node.input_tensors)
        origin = keras_internals.producer(tensors[0]) if len(tensors) == 1 else None
        if origin is None:
            return None
        found.add(origin[0])
    return found.pop() if len(found) == 1 else None


def _only_consumer(layer):
    """The one layer that takes ``layer``'s outputs, or None."""
    found = {getattr(node, "operation", None) for node in keras_internals.outbound_nodes(layer)}
    return found.pop() if len(found) == 1 else None


def _activation_is_linear(layer):
    fn = layer.__dict__.get("activation")
    return fn is None or fn is keras.activations.linear


def batch_norm_pairs(layers):
    """``{linear layer: BatchNormalization}`` for each BatchNormalization whose only
    input is a Dense/Conv without activation that feeds nothing else."""
    pairs = {}
    for bn in layers:
        if not isinstance(bn, keras.layers.BatchNormalization):
            continue
        linear = _single_input_producer(bn)
        if not isinstance(linear, MERGEABLE) or not _activation_is_linear(linear):
            continue
        if _only_consumer(linear) is not bn or linear in pairs:
            continue
        rank = len(bn.input.shape) if hasattr(bn, "input") else None
        axis = bn.axis if not isinstance(bn.axis, (list, tuple)) else bn.axis[0]
        if rank is not None and axis % rank != layers_lib.channel_axis(linear) % rank:
            continue
        pairs[linear] = bn
    return pairs


def batch_norm_variables(bn):
    """The variables a merge reads: gamma, beta (or None), mean, variance."""
    return [bn.gamma if bn.scale else None, bn.beta if bn.center else None,
            bn.moving_mean, bn.moving_variance]


def merge(layer, values, bn, bn_values):
    """``(kernel, bias)`` of ``layer`` with ``bn`` merged (values read in the forward)."""
    gamma, beta, mean, variance = bn_values
    scale, shift = groups.affine_of_batch_norm(mean, variance, bn.epsilon, gamma, beta)
    weights = {id(v): value for v, value in zip(layer.weights, values)}
    if isinstance(layer, groups.SEPARABLE_CONV):
        kernel = weights[id(layer.pointwise_kernel)]
    else:
        kernel = weights[id(layers_lib.kernel_variable(layer))]
    bias_var = layers_lib.bias_variable(layer)
    bias = shift if bias_var is None else weights[id(bias_var)] * scale + shift
    return layers_lib.pointwise_kernel_scale(layer, kernel, scale), bias
