"""Layer-wise Relevance Propagation (Bach et al. 2015, PLOS ONE; Montavon et al.
2019, "Layer-wise relevance propagation: an overview"; zennit, Anders et al. 2021,
arXiv:2106.13200).

The relevance ``R`` flows backward as the gradient of a pass whose layers' backwards
are replaced by the composite's rules (``kerascope.engine.rules.LayerRule``), applied
during the pass only. The output relevance is the target's score before softmax:
the pass starts at 1 on the target and, every rule being linear in the relevance,
the map is multiplied by the score. ``extras["conservation"]``: per sample,
``sum(R_input) - score`` (0 for LRP-epsilon on bias-free networks, epsilon -> 0).

Transformers (the ``transformer`` composite, AttnLRP, arXiv:2402.05602): the attention
layers' computation is replaced during the pass (``view.AttentionRuleView``). Token
ids have no gradient: on a model with integer inputs the relevance is read at the
output of its first ``Embedding`` (or of ``layer=``) and summed over the embedding
axis, one value per token ``(N, T)`` (the maps of the attention methods).
"""

import weakref

import keras
import numpy as np

from kerascope import backend
from kerascope.engine import keras_internals, surgery
from kerascope.engine.rules import ActivationRule, LayerRule
from kerascope.engine.runner import PassRunner
from kerascope.inputs import arrays as data
from kerascope.methods import layer_attribution
from kerascope.methods.base import Method
from kerascope.methods.lrp import canonizers
from kerascope.methods.lrp import composites as composites_lib
from kerascope.methods.lrp import layers as layers_lib
from kerascope.methods.lrp import rules as rules_lib
from kerascope.methods.lrp import view as view_lib

_ACTIVATION_NAMES = (
    "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "tanh",
    "sigmoid", "softplus", "softsign", "hard_sigmoid", "hard_silu", "mish", "celu",
    "exponential", "softmax", "log_softmax", "sparse_plus", "squareplus", "tanh_shrink",
)


def _activation_rules():
    """One pass rule per Keras activation: fused activations pass relevance through."""
    found = {}
    for name in _ACTIVATION_NAMES:
        fn = getattr(keras.activations, name, None)
        if callable(fn) and fn.__name__ not in found:
            found[fn.__name__] = ActivationRule(fn.__name__, rules_lib.pass_backward(fn),
                                                name=f"lrp_pass_{fn.__name__}")
    return tuple(found.values())


_ACTIVATION_RULES = []


class Binding:
    """The engine rules of one composite: one ``LayerRule`` dispatching on the layers
    planned by ``bind(model)`` (kept weakly, by layer), plus activation pass rules."""

    def __init__(self, composite):
        if not _ACTIVATION_RULES:
            _ACTIVATION_RULES.extend(_activation_rules())
        self.composite = composite
        self.table = weakref.WeakKeyDictionary()
        self.attention = weakref.WeakKeyDictionary()  # model -> ((layer, rule), ...)
        self.adds = weakref.WeakKeyDictionary()  # model -> functional x + y operations
        self._layer_rule = LayerRule(self._match, self._replace, name=f"lrp_{composite.name}")
        self._extra = {}  # activation name -> pass rule, for activations not listed
        self.rules = (self._layer_rule, *_ACTIVATION_RULES)
        self.nonnegative = weakref.WeakKeyDictionary()
        self.bound = weakref.WeakKeyDictionary()  # model -> its sublayers when planned

    def bind(self, model):
        """Plan the rules of ``model``'s layers (errors for uncovered layers); planned
        again only when the model's layers changed since the last call."""
        signature = tuple(map(id, keras_internals.sublayers(model)))
        if self.bound.get(model) == signature:
            return
        attention = []
        for layer, entry in self.composite.plan(model).items():
            self.table[layer] = entry
            if entry[0].linear:
                self.nonnegative[layer] = layers_lib.nonnegative_input(layer)
            if getattr(entry[0], "whole_layer", False):
                attention.append((layer, entry[0]))
        self.attention[model] = tuple(attention)
        self.adds[model] = (tuple(keras_internals.add_operations(model))
                            if self.composite.rules_operations else ())
        self._pass_other_activations(model)
        self.bound[model] = signature

    def _pass_other_activations(self, model):
        """Pass rules for fused activations no listed name covers (keras-hub's
        ``gelu_approximate``): every activation passes relevance."""
        known = {rule.match for rule in _ACTIVATION_RULES} | set(self._extra)
        added = False
        for layer in surgery.iter_layers(model):
            fn = getattr(layer, "activation", None)
            name = getattr(fn, "__name__", None)
            if callable(fn) and name and name != "linear" and name not in known:
                self._extra[name] = ActivationRule(name, rules_lib.pass_backward(fn),
                                                   name=f"lrp_pass_{name}")
                known.add(name)
                added = True
        if added:
            self.rules = (self._layer_rule, *_ACTIVATION_RULES, *self._extra.values())

    def _match(self, layer):
        entry = self.table.get(layer)
        return (entry is not None and not isinstance(entry[0], rules_lib.Gradient)
                and not getattr(entry[0], "whole_layer", False))

    def _replace(self, layer, call):
        rule, bn = self.table[layer]
        layer_call = getattr(rule, "layer_call", None)
        if layer_call is not None:
            return layer_call(layer, call)
        if isinstance(rule, rules_lib.Pass):
            return rules_lib.pass_backward(call)
        if isinstance(rule, rules_lib.Norm):
            return _norm_call(call)
        return _linear_call(layer, call, rule, bn, self.nonnegative.get(layer, False))


def _norm_call(call):
    def forward(*inputs):
        return call(*inputs), lambda upstream: rules_lib.norm_backward(call, inputs, upstream)

    return backend.custom_gradient(forward)


def _linear_call(layer, call, rule, bn, nonnegative=False):
    bn_vars = canonizers.batch_norm_variables(bn) if bn is not None else ()

    def forward(*inputs):
        output = call(*inputs)
        values = layers_lib.read(layer.weights)
        bn_values = [None if v is None else layers_lib.read([v])[0] for v in bn_vars]

        def grad(relevance):
            merged = canonizers.merge(layer, values, bn, bn_values) if bn is not None else None
            parts = layers_lib.linear_parts(layer, call, inputs, values, merged, nonnegative)
            if merged is None and len(parts) == 1:
                parts[0][0].output = output
            for part, x in parts:
                relevance = rule.relevance(part, x, relevance)
            return relevance

        return output, grad

    return backend.custom_gradient(forward)


_BINDINGS = {}


def binding(composite):
    """The (cached) ``Binding`` of a composite, so compiled passes are reused."""
    key = id(composite)
    found = _BINDINGS.get(key)
    if found is None or found.composite is not composite:
        found = _BINDINGS[key] = Binding(composite)
    return found


def _hashable(value):
    if value is None or isinstance(value, (int, float, str)):
        return value
    array = np.asarray(value, dtype="float32")
    return (array.shape, tuple(array.ravel().tolist()))


_NAMED = {}


def named_composite(name, **options):
    """``composites.named(name, **options)``, one object per distinct options."""
    key = (name,) + tuple((k, _hashable(v)) for k, v in sorted(options.items()))
    if key not in _NAMED:
        _NAMED[key] = composites_lib.named(name, **options)
    return _NAMED[key]


def _integer(sample):
    arrays = sample.arrays if isinstance(sample, data.Inputs) else [sample]
    return any(np.issubdtype(np.asarray(a).dtype, np.integer) for a in arrays)


class LRP(Method):
    """Layer-wise Relevance Propagation with a composite of rules.

    Args:
        composite: a composite name (``composites.NAMES``; default
            ``"epsilon_plus_flat"``) or a ``Composite``.
        epsilon, gamma: options of the epsilon and gamma rules.
        low, high: the input box of the z^B rule (``epsilon_gamma_box``): scalars,
            per-channel values or arrays; None: each sample's own min and max.
        layer_rules: ``[(match, rule)]`` tried before the composite's (a layer
            class, group, name or predicate -> a rule or rule name).
        channel_reduction: how input channels are reduced (default ``"sum"``; None
            keeps the relevance per channel).
        attention: the ``transformer`` composite's attention rules: ``"attnlrp"``
            (arXiv:2402.05602) or ``"cp"`` (probabilities held constant).
        layer: read the relevance at this layer's output (name or object; its
            channels reduced as ``layer=`` of the gradient methods); None: at the
            inputs or, for integer inputs (token ids), at the first ``Embedding``.
    """

    name = "lrp"
    aliases = ("layerwise_relevance_propagation", "layer_wise_relevance_propagation")
    family = "lrp"
    summary = "Layer-wise relevance propagation of the target score with a composite of rules."
    paper = ("Bach et al. 2015, PLOS ONE; Montavon et al. 2019, \"Layer-wise relevance "
             "propagation: an overview\"; zennit: Anders et al. 2021, arXiv:2106.13200; "
             "transformer composite (AttnLRP): Achtibat et al. 2024, arXiv:2402.05602")
    signed = True
    evaluates_inputs = True
    multi_input = True

    def __init__(self, composite="epsilon_plus_flat", epsilon=1e-6, gamma=0.25, low=None,
                 high=None, layer_rules=None, channel_reduction="sum", attention="attnlrp",
                 layer=None):
        self.composite = composite
        self.attention = attention
        self.layer = layer_attribution.check_layer(layer)
        self.epsilon = epsilon
        self.gamma = gamma
        self.low = low
        self.high = high
        self.layer_rules = layer_rules
        self.channel_reduction = channel_reduction
        self._composite = self._build()
        self._binding = binding(self._composite)

    def _build(self):
        if isinstance(self.composite, composites_lib.Composite):
            composite = self.composite
        elif isinstance(self.composite, str):
            composite = named_composite(self.composite, epsilon=self.epsilon, gamma=self.gamma,
                                        low=self.low, high=self.high,
                                        attention=self.attention)
        else:
            raise ValueError(
                f"composite: expected a composite name ({', '.join(composites_lib.NAMES)}) "
                f"or a kerascope.methods.lrp.Composite, got {self.composite!r}."
            )
        if self.layer_rules:
            composite = composite.with_rules(self.layer_rules)
        return composite

    def rules(self, model):
        self._binding.bind(model)
        return self._binding.rules

    def layers(self, model, sample):
        if self.layer is not None:
            return (layer_attribution.find(model, self.layer),)
        if _integer(sample):
            found = [layer for layer in surgery.iter_layers(model)
                     if isinstance(layer, keras.layers.Embedding)]
            return tuple(found[:1])
        return ()

    def _passes(self, ctx, x, row_targets):
        at_layer = bool(ctx.layers)
        attention = self._binding.attention.get(ctx.model, ())
        adds = self._binding.adds.get(ctx.model, ())
        if not attention and not adds:
            return ctx.backprop(x, row_targets, wrt_inputs=not at_layer)
        if not at_layer:
            ctx.check_differentiable()
        runner = ctx.state.get("lrp_runner")
        if runner is None:
            view = view_lib.AttentionRuleView(
                ctx.model, attention, adds, output_index=ctx.output_index,
                use_logits=ctx.use_logits, layers=ctx.layers, rules=ctx.rules)
            runner = ctx.state["lrp_runner"] = PassRunner(
                view, ctx.score, batch_size=ctx.batch_size, distribution=ctx.distribution)
        return runner.backprop(x, row_targets, wrt_inputs=not at_layer)

    def attribute(self, ctx, x, row_targets):
        passes = self._passes(ctx, x, row_targets)
        scores = np.asarray(passes.scores, dtype=np.float64)
        if ctx.layers:
            relevance = np.asarray(passes.layer_grads[0])
            shape = (-1,) + (1,) * (relevance.ndim - 1)
            maps = (relevance * scores.reshape(shape)).astype(relevance.dtype)
            total = np.sum(np.asarray(maps, np.float64).reshape(len(scores), -1), axis=1)
            ctx.record("conservation", total - scores)
            return maps, passes

        def scale(relevance, xi):
            shape = (-1,) + (1,) * (np.ndim(relevance) - 1)
            return (relevance * scores.reshape(shape)).astype(relevance.dtype)

        maps = data.per_input(scale, passes.input_grads, x)
        parts = maps.arrays if isinstance(maps, data.Inputs) else [maps]
        total = sum(np.sum(np.asarray(m, np.float64).reshape(len(scores), -1), axis=1)
                    for m in parts if m is not None)
        ctx.record("conservation", total - scores)
        return maps, passes

    def postprocess(self, maps, x, ctx):
        if ctx.layers:
            return layer_attribution.reduce_layer_map(maps, self.channel_reduction,
                                                      ctx.layers[0], ctx.channel_axis)
        return super().postprocess(maps, x, ctx)
