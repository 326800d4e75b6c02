"""LRP composites: which rule each layer of a model gets (zennit's names and defaults).

A composite maps layers to rules: ``(match, rule)`` pairs, where ``match`` is a
layer class (or tuple), a group name of ``layers.GROUPS`` (``"convolution"``,
``"dense"``, ...), a layer name (or tuple of names) or a predicate
``layer -> bool``; the first pair that matches wins. ``first`` pairs apply to the
first Dense/Conv of the model (in layer order) instead. Every composite passes
relevance through activations, applies the norm rule to ``Add``/``Average`` and
average pooling, and merges BatchNormalization into the preceding Dense/Conv.

Named composites (Anders et al. 2021, arXiv:2106.13200; Montavon et al. 2019):

* ``epsilon``: epsilon on every Dense/Conv;
* ``epsilon_plus``: z+ on Conv, epsilon on Dense;
* ``epsilon_plus_flat``: as ``epsilon_plus``, flat on the first Dense/Conv;
* ``epsilon_gamma_box``: gamma on Conv, epsilon on Dense, z^B (low, high) on the first Conv;
* ``epsilon_alpha2_beta1``: alpha2-beta1 on Conv, epsilon on Dense;
* ``epsilon_alpha2_beta1_flat``: as ``epsilon_alpha2_beta1``, flat on the first Dense/Conv;
* ``transformer``: AttnLRP (Achtibat et al. 2024, arXiv:2402.05602): epsilon on every
  Dense/EinsumDense/Conv, the attention rules inside ``MultiHeadAttention`` (uniform
  rule on ``Q K^T`` and ``A V``, softmax rule; ``attention="cp"``: probabilities held
  constant), the LN rule on ``LayerNormalization``, activations (GELU...) pass,
  residual ``Add`` layers and ``x + y`` between layers of a functional model epsilon
  over the sum (the norm rule); embedding layers
  (``Embedding``, keras-hub's position and patch embeddings) keep their gradient (the
  map is read at their output) and layers holding only sub-layers (keras-hub's
  transformer blocks) differentiate their own operations as they are: a residual
  written ``x + y`` inside a ``call`` passes the relevance to both summands, an
  ``Add`` layer splits it (``kerascope.methods.lrp.attention``).
"""

import keras

from kerascope.engine import keras_internals
from kerascope.engine import layers as groups
from kerascope.methods.lrp import attention as attention_lib
from kerascope.methods.lrp import canonizers
from kerascope.methods.lrp import layers as layers_lib
from kerascope.methods.lrp import rules as rules_lib

BASE = (
    ("activation", rules_lib.Pass()),
    ("sum", rules_lib.Norm()),
    ("average_pooling", rules_lib.Norm()),
)


def _matches(match, layer):
    if isinstance(match, str) and match in layers_lib.GROUPS:
        return isinstance(layer, layers_lib.GROUPS[match])
    if isinstance(match, type) or (
        isinstance(match, tuple) and match and all(isinstance(m, type) for m in match)
    ):
        return isinstance(layer, match)
    if isinstance(match, str):
        return layer.name == match
    if isinstance(match, tuple) and all(isinstance(m, str) for m in match):
        return layer.name in match
    return bool(match(layer))


def _check_match(match):
    names = isinstance(match, tuple) and match and all(isinstance(m, (str, type)) for m in match)
    if not (isinstance(match, (str, type)) or names or callable(match)):
        raise ValueError(
            f"composite: a match must be a layer class (or tuple), a group name "
            f"({', '.join(layers_lib.GROUPS)}), a layer name (or tuple) or a function "
            f"layer -> bool, got {match!r}."
        )


class Composite:
    """Rules by layer: ``layer_map`` and ``first`` are lists of ``(match, rule)``.

    Args:
        layer_map: pairs tried in order (before the base pairs: activations pass,
            sums and average pooling norm).
        first: pairs for the first Dense/Conv of the model (None: none).
        name: a label (errors, ``repr``).
        merge_batch_norm: merge BatchNormalization into the preceding Dense/Conv.
        rules_operations: the ``x + y`` operations of functional graphs (residuals
            written between layers) take the norm rule, as ``Add`` layers do.
    """

    def __init__(self, layer_map=(), first=(), name="custom", merge_batch_norm=True,
                 rules_operations=False):
        self.layer_map = [(m, rules_lib.get_rule(r)) for m, r in layer_map]
        self.first = [(m, rules_lib.get_rule(r)) for m, r in (first or ())]
        for match, _ in self.layer_map + self.first:
            _check_match(match)
        self.name = name
        self.merge_batch_norm = merge_batch_norm
        self.rules_operations = rules_operations

    def with_rules(self, layer_map=(), first=()):
        """A composite with ``layer_map``/``first`` pairs tried before this one's."""
        return Composite(list(layer_map) + self.layer_map, list(first) + self.first,
                         name=self.name, merge_batch_norm=self.merge_batch_norm,
                         rules_operations=self.rules_operations)

    def rule_for(self, layer, first_layer):
        """The rule of ``layer`` (None: none maps it)."""
        if layer is first_layer:
            for match, rule in self.first:
                if _matches(match, layer):
                    return rule
        for match, rule in self.layer_map + list(BASE):
            if _matches(match, layer):
                return rule
        return None

    def plan(self, model):
        """``{layer: (rule, merged BatchNormalization or None)}`` for ``model``.

        Raises ValueError naming a layer with weights (or sub-layers) that no pair
        maps; BatchNormalization layers merged into their Dense/Conv pass relevance.
        """
        everything = keras_internals.sublayers(model, recursive=True)
        leaves = [layer for layer in everything if keras_internals.is_leaf(layer)]
        pairs = canonizers.batch_norm_pairs(leaves) if self.merge_batch_norm else {}
        merged = {id(bn) for bn in pairs.values()}
        first = next((layer for layer in leaves
                      if any(_matches(m, layer) for m, _ in self.first)), None)
        plan = {}
        for layer in everything:
            if isinstance(layer, keras.Model):
                continue
            rule = self.rule_for(layer, first)
            if rule is None and id(layer) in merged:
                rule = rules_lib.Pass()
            if not keras_internals.is_leaf(layer):
                if getattr(rule, "whole_layer", False):
                    plan[layer] = (rule, None)
                elif layer.weights and rule is None:
                    raise self._uncovered(layer, "its computation around its sub-layers")
                continue
            if rule is None:
                if layer.weights:
                    raise self._uncovered(layer, "its weights")
                continue
            if rule.linear and not isinstance(layer, groups.AFFINE):
                raise ValueError(
                    f"composite {self.name!r}: rule {rule!r} needs a Dense/Conv layer, "
                    f"but layer {layer.name!r} is a {type(layer).__name__}."
                )
            plan[layer] = (rule, pairs.get(layer))
        return plan

    def _uncovered(self, layer, what):
        transformer = (isinstance(layer, layers_lib.GROUPS["attention"]
                                  + layers_lib.GROUPS["layer_norm"]) or embedding_like(layer))
        hint = (" For a transformer (attention, LayerNormalization, embeddings), pass "
                "composite='transformer' (AttnLRP)." if transformer and self.name != "transformer"
                else "")
        return ValueError(
            f"composite {self.name!r}: no LRP rule covers layer {layer.name!r} "
            f"({type(layer).__name__}, {what}). Map it to a rule, e.g. "
            f"composite=kerascope.methods.lrp.named({self.name!r}).with_rules("
            f"[({layer.name!r}, 'epsilon')]) or LRP(layer_rules=[({layer.name!r}, "
            f"'epsilon')]).{hint}"
        )

    def __repr__(self):
        return f"Composite({self.name!r})"


def _own_weights(layer):
    inner = {id(v) for sub in keras_internals.sublayers(layer) for v in sub.weights}
    return [v for v in layer.weights if id(v) not in inner]


def embedding_like(layer):
    """An embedding: a ``keras.layers.Embedding`` or a layer whose class is named so
    (keras-hub's ``PositionEmbedding``, ``ViTPatchingAndEmbedding``...)."""
    return isinstance(layer, keras.layers.Embedding) or "Embedding" in type(layer).__name__


def container(layer):
    """A layer with sub-layers and no weights of its own (a transformer block)."""
    return not keras_internals.is_leaf(layer) and not _own_weights(layer)


def named(name, epsilon=1e-6, gamma=0.25, low=None, high=None, attention="attnlrp"):
    """The composite called ``name`` with its options (see the module docstring);
    ``attention``: the ``transformer`` composite's attention mode (``"attnlrp"`` or
    ``"cp"``)."""
    eps = rules_lib.Epsilon(epsilon)
    flat = [("linear", rules_lib.Flat())]
    box = [("convolution", rules_lib.ZBox(low, high))]
    table = {
        "epsilon": ([("linear", eps)], ()),
        "epsilon_plus": ([("convolution", rules_lib.ZPlus()), ("dense", eps)], ()),
        "epsilon_plus_flat": ([("convolution", rules_lib.ZPlus()), ("dense", eps)], flat),
        "epsilon_gamma_box": ([("convolution", rules_lib.Gamma(gamma)), ("dense", eps)], box),
        "epsilon_alpha2_beta1": (
            [("convolution", rules_lib.AlphaBeta(2, 1)), ("dense", eps)], ()),
        "epsilon_alpha2_beta1_flat": (
            [("convolution", rules_lib.AlphaBeta(2, 1)), ("dense", eps)], flat),
        "transformer": ([
            ("linear", eps),
            ("attention", attention_lib.AttentionRule(attention, epsilon)),
            ("layer_norm", attention_lib.LayerNormRule(epsilon)),
            (embedding_like, rules_lib.Gradient()),
            (container, rules_lib.Gradient()),
        ], ()),
    }
    if name not in table:
        raise ValueError(
            f"composite: unknown composite {name!r}; expected one of {', '.join(table)} "
            f"or a kerascope.methods.lrp.Composite."
        )
    layer_map, first = table[name]
    return Composite(layer_map, first, name=name, rules_operations=name == "transformer")


NAMES = ("epsilon", "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box",
         "epsilon_alpha2_beta1", "epsilon_alpha2_beta1_flat", "transformer")
