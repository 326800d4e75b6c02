"""Layer rules: change what chosen layers compute, and so their backward, for one pass.

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
``GUIDED_BACKPROP_RULES`` and ``DECONVNET_RULES`` below) so that compiled passes,
cached on the rules' identity, are reused across calls.
"""

import keras

from kerascope import backend

# Layers that apply their ``activation`` as the last step of ``call``: a layer rule
# replaces the part before it, the activation stays a step of its own.
FUSED_ACTIVATION_LAYERS = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
)


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


def guided_relu(x):
    """ReLU whose gradient is ``g * [x > 0] * [g > 0]`` (guided backpropagation,
    Springenberg et al. 2015, arXiv:1412.6806)."""

    def grad(g):
        return keras.ops.where(x > 0, keras.ops.relu(g), 0.0)  # three elementwise ops

    return keras.ops.relu(x), grad


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
