"""Layer rules and rule sets: change what chosen layers compute, and so their backward, for one pass.

Many attribution methods are "the gradient, with some layers' backward replaced":
guided backpropagation and Deconvnet change the ReLU backward, LRP rules change
Dense/Conv (and BatchNorm, pooling, Add) backwards, DeepLIFT's rescale rule the
nonlinearities. A rule names the layers it applies to and gives a replacement
forward, usually with its own backward (``kerascope.backend.custom_gradient``).
``ModelView(model, rules=...)`` applies the rules to the layer instances only
while its pass runs (the user's model is never left changed), to every layer of
nested models and skip-connection graphs alike.

Two kinds of rules:

* ``LayerRule(match, replace)``: ``replace(layer, call) -> new_call`` replaces the
  computation of each matching layer. ``call(*inputs)`` is the layer's own
  forward, one argument per input tensor (``Add``/``Concatenate`` get one per
  branch), with the layer's call options (``training``, ``mask``) bound. For layers
  with a fused activation (``Dense(..., activation="relu")``, Conv, Depthwise and
  Separable convolutions, ``EinsumDense``), ``call`` is the layer *without* its
  activation; the activation is applied after ``new_call`` as its own step, itself
  subject to activation rules.
* ``ActivationRule(match, replace)``: ``replace(x) -> y`` replaces a named
  activation (``"relu"``) wherever it runs as one: a default ``keras.layers.ReLU``,
  a ``keras.layers.Activation``, or the fused activation of a layer.

Rules see the leaf layers (layers without sub-layers, the ones that compute); a
nested model is reached through its layers. Operations written inside a
subclassed ``call`` (``keras.ops.relu(x)``) are not layers and are not seen. For
each layer the first matching layer rule wins; a layer rule on a ReLU or
Activation layer takes precedence over activation rules. The final softmax or
sigmoid that ``use_logits`` strips is never ruled.

Rule sets are tuples; keep them as module-level objects (as the stock
``GUIDED_BACKPROP_RULES`` and ``DECONVNET_RULES`` of ``rules.relu``) so that
compiled passes, cached on the rules' identity, are reused across calls.

Rules chosen with the model in hand: a ``RuleSet`` pairs layer *selectors*
(``first_layer()``, ``named(...)``, ``of_type(T, except_last=True)``) with rules;
``RuleSet.for_model(model)`` gives ``{layer: rule}`` and ``rules_for(ruleset,
model)`` the tuple of rules ``ModelView`` applies (the same tuple for the same
model, so compiled passes are reused). ``Method.rules(model)`` may return either.
"""


import weakref

import keras

from kerascope import backend
from kerascope.engine import keras_internals

def _is_types(match):
    if isinstance(match, type):
        return True
    return (
        isinstance(match, tuple) and bool(match) and all(isinstance(m, type) for m in match)
    )


def _is_names(match):
    if isinstance(match, str):
        return True
    return isinstance(match, tuple) and bool(match) and all(isinstance(m, str) for m in match)


def _names(match):
    return (match,) if isinstance(match, str) else match


class LayerRule:
    """Replace the forward (hence the backward) of every matching layer.

    Args:
        match: which layers: a Layer class or a tuple of classes (``isinstance``),
            a layer name or a tuple of names, or a function ``layer -> bool``.
        replace: ``replace(layer, call) -> new_call``, called each time a matching
            layer runs (once per trace on compiled backends); ``new_call(*inputs)``
            returns the layer's output (one tensor). ``call(*inputs)`` is the layer's own forward
            (fused activation excluded, see the module docstring). See
            ``backward_rule`` for the common case of a new backward only.
        name: a label for ``repr``.
    """

    def __init__(self, match, replace, name=None):
        if not (_is_types(match) or _is_names(match) or callable(match)):
            raise ValueError(
                f"match: expected a Layer class, a tuple of classes, a layer name, a "
                f"tuple of names or a function layer -> bool, got {match!r}."
            )
        if not callable(replace):
            raise ValueError(
                f"replace: expected a function (layer, call) -> new_call, got {replace!r}."
            )
        self.match = match
        self.replace = replace
        self.name = name or getattr(replace, "__name__", "rule")

    def matches(self, layer):
        """Whether this rule applies to ``layer``."""
        if _is_types(self.match):
            return isinstance(layer, self.match)
        if _is_names(self.match):
            return layer.name in _names(self.match)
        return bool(self.match(layer))

    def __repr__(self):
        return f"LayerRule({self.match!r}, {self.name})"


class ActivationRule:
    """Replace an activation wherever it runs as one (see the module docstring).

    Args:
        match: the activation's name (``"relu"``, compared with the function's
            ``__name__``), a tuple of names, or a function ``activation_fn -> bool``.
        replace: ``replace(x) -> y``, e.g. a ``kerascope.backend.custom_gradient``
            function with the same forward and another backward.
        name: a label for ``repr``.
    """

    def __init__(self, match, replace, name=None):
        if not (_is_names(match) or (callable(match) and not isinstance(match, type))):
            raise ValueError(
                f"match: expected an activation name (str), a tuple of names or a "
                f"function activation -> bool, got {match!r}."
            )
        if not callable(replace):
            raise ValueError(f"replace: expected a function x -> y, got {replace!r}.")
        self.match = match
        self.replace = replace
        self.name = name or getattr(replace, "__name__", "rule")

    def matches(self, activation):
        """Whether this rule applies to the activation function ``activation``."""
        if _is_names(self.match):
            return getattr(activation, "__name__", None) in _names(self.match)
        return bool(self.match(activation))

    def __repr__(self):
        return f"ActivationRule({self.match!r}, {self.name})"


def check_rules(rules):
    """``rules`` (None, one rule, or a list/tuple of rules) as a tuple."""
    if rules is None:
        return ()
    if isinstance(rules, (LayerRule, ActivationRule)):
        return (rules,)
    if isinstance(rules, (list, tuple)) and all(
        isinstance(rule, (LayerRule, ActivationRule)) for rule in rules
    ):
        return tuple(rules)
    raise ValueError(
        f"rules: expected LayerRule/ActivationRule objects (one, or a list or tuple "
        f"of them), got {rules!r}."
    )


def backward_rule(backward):
    """A ``LayerRule`` ``replace`` that keeps the forward and sets the backward.

    ``backward(layer, call, inputs, output, upstream)`` returns the gradient with
    respect to each input (a tuple, or one tensor for one input); ``inputs`` are
    the layer's input tensors, ``output = call(*inputs)`` and ``upstream`` the
    gradient arriving at the output. ``kerascope.backend.vjp(call, inputs, g)``
    gives the layer's own backward for any ``g`` (``autodiff_backward``).
    """

    def replace(layer, call):
        def forward(*inputs):
            output = call(*inputs)

            def grad(upstream):
                return backward(layer, call, inputs, output, upstream)

            return output, grad

        return backend.custom_gradient(forward)

    replace.__name__ = getattr(backward, "__name__", "backward_rule")
    return replace


def autodiff_backward(layer, call, inputs, output, upstream):
    """The layer's own backward: the vector-Jacobian product of its forward."""
    return backend.vjp(call, inputs, upstream)


#: ``replace`` giving a layer a custom-gradient copy of itself: the same forward
#: and, through ``vjp``, the same backward (a template for modified backwards).
same_backward = backward_rule(autodiff_backward)


# ---------------------------------------------------------------------------
# Rule sets chosen with the model in hand.


def leaf_layers(model):
    """The layers of ``model`` that compute (no sub-layers; nested models' layers
    included in place, input layers left out), in the model's order (a functional
    model's ``layers`` are in graph order)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            found.extend(leaf_layers(layer))
        elif keras_internals.is_leaf(layer):
            found.append(layer)
        else:
            found.extend(sub for sub in keras_internals.sublayers(layer)
                         if keras_internals.is_leaf(sub))
    return found


class Selector:
    """Picks layers of a model: ``select(model) -> [layer]`` (in the model's order).

    Args:
        pick: ``pick(layers) -> [layer]`` over ``leaf_layers(model)``.
        label: a label for ``repr``.
    """

    def __init__(self, pick, label):
        self.pick = pick
        self.label = label

    def select(self, model):
        return list(self.pick(leaf_layers(model)))

    def __repr__(self):
        return self.label


def first_layer():
    """The first layer that computes (the one reading the input)."""
    return Selector(lambda layers: layers[:1], "first_layer()")


def named(*names):
    """The layers with these names; a name no layer has is a ValueError."""

    def pick(layers):
        found = [layer for layer in layers if layer.name in names]
        missing = sorted(set(names) - {layer.name for layer in found})
        if missing:
            raise ValueError(
                f"named: no layer {missing[0]!r} in the model; its layers are "
                f"{', '.join(layer.name for layer in layers)}."
            )
        return found

    return Selector(pick, f"named{names!r}")


def of_type(types, except_last=False, except_first=False):
    """The layers that are instances of ``types`` (a class or a tuple of classes),
    leaving out the last (``except_last``) or the first (``except_first``) of them."""

    def pick(layers):
        found = [layer for layer in layers if isinstance(layer, types)]
        if except_first:
            found = found[1:]
        if except_last:
            found = found[:-1]
        return found

    label = getattr(types, "__name__", repr(types))
    return Selector(pick, f"of_type({label}, except_last={except_last}, "
                          f"except_first={except_first})")


class RuleSet:
    """Rules given with the layers they apply to, chosen once the model is known.

    Args:
        *entries: ``(selector, replace)`` pairs (``replace(layer, call) ->
            new_call``, as ``LayerRule``'s; the earlier entry wins for a layer two
            select) and rules applied as they match (``LayerRule``,
            ``ActivationRule``, after the selected ones).
        name: a label for ``repr``.
    """

    def __init__(self, *entries, name=None):
        self.selected, self.general = [], []
        for entry in entries:
            if isinstance(entry, (LayerRule, ActivationRule)):
                self.general.append(entry)
            elif (isinstance(entry, tuple) and len(entry) == 2
                  and isinstance(entry[0], Selector) and callable(entry[1])):
                self.selected.append(entry)
            else:
                raise ValueError(
                    f"entries: expected (selector, replace) pairs or LayerRule/"
                    f"ActivationRule objects, got {entry!r}."
                )
        self.name = name or "RuleSet"
        self._cache = weakref.WeakKeyDictionary()

    def for_model(self, model):
        """``{layer: LayerRule}`` of the selected layers of ``model``."""
        chosen = {}
        for selector, replace in self.selected:
            for layer in selector.select(model):
                if layer not in chosen:
                    chosen[layer] = LayerRule(_LayerIs(layer), replace,
                                              name=getattr(replace, "__name__", None))
        return chosen

    def rules(self, model):
        """The rules ``ModelView`` applies for ``model`` (one tuple per model, kept
        while the model lives, so that compiled passes are reused)."""
        found = self._cache.get(model)
        if found is None:
            found = self._cache[model] = (
                tuple(self.for_model(model).values()) + tuple(self.general))
        return found

    def __repr__(self):
        return f"RuleSet({self.name})"


class _LayerIs:
    """Matches one layer instance."""

    def __init__(self, layer):
        self.layer = weakref.ref(layer)

    def __call__(self, layer):
        return layer is self.layer()

    def __repr__(self):
        layer = self.layer()
        return f"<layer {getattr(layer, 'name', None)!r}>"


def rules_for(rules, model):
    """The rules a method gives (a ``RuleSet``, one rule or a tuple of rules) for
    ``model``, as a tuple."""
    if isinstance(rules, RuleSet):
        return rules.rules(model)
    return check_rules(rules)
