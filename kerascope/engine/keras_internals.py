"""The only module that reads private Keras attributes.

kerascope looks inside models in ways Keras has no public API for: the layers of
nested models, the layer that produced a functional model's output, whether a
layer holds sub-layers. Each such read is one small function here, and
``tests/test_keras_internals.py`` checks every one of them on the installed Keras,
so a Keras release that renames one fails there with the attribute's name rather
than deep inside an explanation.

Private attributes read: ``Layer._flatten_layers``, ``Layer._layers``,
``KerasTensor._keras_history`` (``.operation``, ``.tensor_index``), and the parts of
``MultiHeadAttention`` (``_softmax``, ``_compute_attention``, ``_flash_attention``,
``_dot_product_equation``, ``_combine_equation``, ``_inverse_sqrt_key_dim``,
``_attention_axes``, ``_compute_causal_mask``); the classes of functional-graph
operations (``keras.src.ops.numpy.Add``: ``x + y`` written between layers).

Running a model on given variable values (JAX passes variables as jit arguments)
uses the public ``keras.StatelessScope`` with the layer's own ``__call__``, so no
private ``stateless_call`` detail (``_call_has_training_arg``) is needed.
"""

import keras


class KerasInternalsError(RuntimeError):
    """A private Keras attribute kerascope relies on is missing."""


def _missing(owner, attribute, reader):
    return KerasInternalsError(
        f"kerascope.engine.keras_internals.{reader}: Keras {keras.__version__} has no "
        f"{owner}.{attribute}, which kerascope reads to look inside models. This "
        f"Keras release changed a private attribute; update "
        f"kerascope/keras_internals.py (or install a Keras version kerascope supports)."
    )


def sublayers(layer, recursive=True):
    """The layers tracked by ``layer`` (not itself), nested models' layers included
    when ``recursive`` (depth first). Reads ``Layer._flatten_layers``."""
    try:
        flatten = layer._flatten_layers
    except AttributeError:
        raise _missing("Layer", "_flatten_layers", "sublayers") from None
    return list(flatten(include_self=False, recursive=recursive))


def is_leaf(layer):
    """True when ``layer`` tracks no sub-layers (it computes by itself).
    Reads ``Layer._layers``."""
    try:
        children = layer._layers
    except AttributeError:
        raise _missing("Layer", "_layers", "is_leaf") from None
    return not children


def inbound_nodes(layer):
    """The graph calls ("nodes") of ``layer`` in functional models, oldest first; each
    has ``input_tensors`` and ``output_tensors``. Reads ``Layer._inbound_nodes``."""
    try:
        return list(layer._inbound_nodes)
    except AttributeError:
        raise _missing("Layer", "_inbound_nodes", "inbound_nodes") from None


def outbound_nodes(layer):
    """The graph calls that take ``layer``'s outputs; each node's ``operation`` is the
    layer called. Reads ``Layer._outbound_nodes``."""
    try:
        return list(layer._outbound_nodes)
    except AttributeError:
        raise _missing("Layer", "_outbound_nodes", "outbound_nodes") from None


def producer(tensor):
    """``(operation, output_index)`` of the layer that produced the symbolic
    ``tensor`` of a functional model, or None for a tensor with no history.
    Reads ``KerasTensor._keras_history``."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        if isinstance(tensor, keras.KerasTensor):
            raise _missing("KerasTensor", "_keras_history", "producer")
        return None
    try:
        return history.operation, history.tensor_index
    except AttributeError:
        raise _missing(
            "KerasTensor._keras_history", "operation/.tensor_index", "producer"
        ) from None


def call_with_variables(model, variables, x):
    """``model(x, training=False)`` with its variables bound to ``variables``.

    ``variables = (trainable_values, non_trainable_values)`` in the order of
    ``model.trainable_variables`` and ``model.non_trainable_variables``. What
    ``Model.stateless_call`` does, through the model's ``__call__`` (which passes
    ``training`` only to a ``call`` that accepts it) rather than ``call``. Any
    state the call would update is discarded (inference only).
    """
    trainable, non_trainable = variables
    mapping = list(zip(model.trainable_variables, trainable))
    mapping += list(zip(model.non_trainable_variables, non_trainable))
    with keras.StatelessScope(state_mapping=mapping):
        return model(x, training=False)


def explicit_attention(layer):
    """Make the ``keras.layers.MultiHeadAttention`` ``layer`` compute its attention
    probabilities through its ``Softmax`` sub-layer (not the fused/flash kernel)
    until the returned ``undo()``; returns ``(softmax_layer, undo)``.

    Sets, on the instance only, ``_flash_attention = False`` and a
    ``_compute_attention``: for a layer whose class keeps Keras's own, the explicit
    path written from ``attention_parts`` (``AttentionParts.attend``, no dropout:
    passes run with ``training=False``); for a subclass with its own, that one asked
    for the scores (``return_attention_scores=True``; ``call`` still returns only
    its output)."""
    try:
        softmax = layer._softmax
        original = layer._compute_attention
        had_flash = "_flash_attention" in layer.__dict__
        flash = layer.__dict__.get("_flash_attention")
    except AttributeError:
        raise _missing("MultiHeadAttention", "_softmax/_compute_attention",
                       "explicit_attention") from None
    stock = getattr(type(layer), "_compute_attention", None) is getattr(
        keras.layers.MultiHeadAttention, "_compute_attention", None)

    if stock:
        parts = attention_parts(layer)

        def compute(query, key, value, attention_mask=None, training=None,
                    return_attention_scores=False, use_causal_mask=False):
            return parts.attend(query, key, value, attention_mask, use_causal_mask)
    else:
        def compute(*args, **kwargs):
            if len(args) > 5:
                args = args[:5] + (True,) + args[6:]
            else:
                kwargs["return_attention_scores"] = True
            return original(*args, **kwargs)

    object.__setattr__(layer, "_compute_attention", compute)
    object.__setattr__(layer, "_flash_attention", False)

    def undo():
        object.__delattr__(layer, "_compute_attention")
        if had_flash:
            object.__setattr__(layer, "_flash_attention", flash)
        else:
            object.__delattr__(layer, "_flash_attention")

    return softmax, undo


class AttentionParts:
    """What ``MultiHeadAttention._compute_attention`` computes with (see
    ``attention_parts``): ``scores = einsum(dot_product_equation, key, query *
    inverse_sqrt_key_dim)``, ``probabilities = softmax(scores, mask)`` over the last
    ``len(attention_axes)`` axes, ``output = einsum(combine_equation, probabilities,
    value)``; ``causal_mask(query, value)`` the ``use_causal_mask`` mask."""

    def __init__(self, layer):
        try:
            self.dot_product_equation = layer._dot_product_equation
            self.combine_equation = layer._combine_equation
            self.inverse_sqrt_key_dim = layer._inverse_sqrt_key_dim
            self.attention_axes = tuple(layer._attention_axes)
            self.softmax = layer._softmax
            self.causal_mask = layer._compute_causal_mask
        except AttributeError:
            raise _missing("MultiHeadAttention", "_dot_product_equation/_combine_equation/"
                           "_inverse_sqrt_key_dim/_attention_axes/_softmax/"
                           "_compute_causal_mask", "attention_parts") from None
        inputs, product = self.dot_product_equation.split("->")
        key, query = inputs.split(",")
        self._query_first = f"{query},{key}->{product}"

    def scores(self, query, key):
        """``einsum(dot_product_equation, key, query * inverse_sqrt_key_dim)``, written
        query first (as the fused path orders it: TensorFlow's key-first einsum
        transposes its product)."""
        return keras.ops.einsum(self._query_first, query * self.inverse_sqrt_key_dim, key)

    def combine(self, probabilities, value):
        """``einsum(combine_equation, probabilities, value)``."""
        return keras.ops.einsum(self.combine_equation, probabilities, value)

    def mask(self, query, value, attention_mask, use_causal_mask, rank):
        """The mask applied to scores of rank ``rank``: ``attention_mask`` and the causal
        mask (``use_causal_mask``) joined, expanded over the heads axis; or None."""
        if use_causal_mask:
            causal = self.causal_mask(query, value)
            attention_mask = causal if attention_mask is None else keras.ops.logical_and(
                keras.ops.cast(attention_mask, "bool"), causal)
        if attention_mask is not None:
            expansion = -len(self.attention_axes) * 2 - 1
            for _ in range(rank - len(attention_mask.shape)):
                attention_mask = keras.ops.expand_dims(attention_mask, axis=expansion)
        return attention_mask

    def attend(self, query, key, value, attention_mask=None, use_causal_mask=False):
        """``(output, probabilities)`` of the layer's explicit path, without dropout. The
        ``Softmax`` sub-layer's ``call`` is called directly (its ``__call__`` costs
        PyTorch 0.3 ms a layer in Python, for nothing: the scores are in its dtype)."""
        scores = self.scores(query, key)
        mask = self.mask(query, value, attention_mask, use_causal_mask, len(scores.shape))
        probabilities = self.softmax.call(scores, mask=mask)
        return self.combine(probabilities, value), probabilities


def attention_parts(layer):
    """The parts of the built ``keras.layers.MultiHeadAttention`` ``layer`` its
    attention is computed from (an ``AttentionParts``)."""
    return AttentionParts(layer)


def replace_compute_attention(layer, compute):
    """Until the returned ``undo()``, the ``MultiHeadAttention`` ``layer`` computes its
    attention with ``compute(query, key, value, attention_mask=None, training=None,
    return_attention_scores=False, use_causal_mask=False) -> (output, scores)``
    (projected tensors in, the combined heads out, before the output projection)
    instead of its ``_compute_attention``; set on the instance only (keras-hub's
    attention layers call ``_compute_attention`` too)."""
    if not hasattr(layer, "_compute_attention"):
        raise _missing("MultiHeadAttention", "_compute_attention", "replace_compute_attention")
    return set_attribute(layer, "_compute_attention", compute)


def set_attribute(obj, name, value):
    """Set ``obj.name = value`` on the instance (past Keras's attribute tracking);
    return ``undo()``, which restores what the instance had (or removes it)."""
    had_own = name in obj.__dict__
    old = obj.__dict__.get(name)
    object.__setattr__(obj, name, value)

    def undo():
        if had_own:
            object.__setattr__(obj, name, old)
        else:
            object.__delattr__(obj, name)

    return undo


def add_operations(model):
    """The ``x + y`` operations of the functional graph of ``model`` and of its nested
    functional models: nodes that are not layers (``keras.src.ops.numpy.Add``, from
    ``Model.operations``), whose ``call(x1, x2)`` adds two tensors."""
    models = [model] + [layer for layer in sublayers(model) if isinstance(layer, keras.Model)]
    found = []
    for each in models:
        try:
            operations = list(each.operations)
        except (AttributeError, ValueError):
            continue
        for operation in operations:
            kind = type(operation)
            if (not isinstance(operation, keras.layers.Layer) and kind.__name__ == "Add"
                    and kind.__module__.startswith("keras.src.ops")):
                found.append(operation)
    return found
