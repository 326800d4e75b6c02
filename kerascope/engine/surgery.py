"""Model surgery: everything kerascope needs to see inside a user's model.

The user's model is never rebuilt, recompiled or left changed. Explanations need
three things a plain ``model(x)`` does not give:

* the class score before a final softmax/sigmoid (the papers' unnormalized score);
* the output of chosen intermediate layers, also inside nested models;
* layers whose forward, hence backward, is replaced by rules
  (``kerascope.engine.rules``: guided backpropagation, Deconvnet, LRP).

``ModelView`` provides them by wrapping the ``call`` (or ``activation``) of the few
layers involved *only while a forward pass runs* (``with view.patched(hook)``), on
the layer instances themselves, so Sequential, Functional, nested and subclassed
models, skip connections included, all work the same way. Every attribute is
restored in a ``finally`` block; a lock serializes patched passes. Compiled
backends (``tf.function``, ``jax.jit``) trace the patched pass once and later calls
never touch the layers again. Private Keras attributes are read only through
``kerascope.engine.keras_internals``.
"""

import contextlib
import difflib
import inspect
import threading

import keras
import numpy as np

from kerascope import backend
from kerascope.inputs.spec import channels_first
from kerascope.engine import keras_internals
from kerascope.engine import layers as layer_groups
from kerascope.engine.rules import base as rules_lib

_PATCH_LOCK = threading.RLock()
_STRIPPABLE = ("softmax", "sigmoid")


def iter_layers(model):
    """All sub-layers of ``model``, nested models' layers included (depth first)."""
    return keras_internals.sublayers(model, recursive=True)


def find_layer(model, layer):
    """The layer named ``layer`` anywhere in ``model`` (nested models included).

    A ``keras.layers.Layer`` instance is returned as is if it belongs to ``model``.
    Raises ValueError naming close matches when no layer has that name.
    """
    layers = list(iter_layers(model))
    if isinstance(layer, keras.layers.Layer):
        if any(candidate is layer for candidate in layers):
            return layer
        raise ValueError(
            f"layer_name: the layer object {layer.name!r} is not part of model "
            f"{model.name!r}."
        )
    if not isinstance(layer, str):
        raise ValueError(
            f"layer_name: expected a layer name (str) or a keras Layer, got "
            f"{type(layer).__name__}."
        )
    for candidate in layers:
        if candidate.name == layer:
            return candidate
    names = [candidate.name for candidate in layers]
    close = difflib.get_close_matches(layer, names, n=5, cutoff=0.4)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"layer_name: no layer named {layer!r} in model {model.name!r}.{hint} "
        f"Available layers: {', '.join(names)}."
    )


def _activation_name(fn):
    return getattr(fn, "__name__", "") if fn is not None else ""


def check_output_index(model, output_index):
    """A ValueError naming ``output_index`` when ``model`` has no such output position."""
    integer = isinstance(output_index, (int, np.integer))
    if isinstance(output_index, (bool, np.bool_)) or not integer:
        return  # keys and None: checked by select_output at call time
    try:
        count = len(keras.tree.flatten(model.outputs))
    except (AttributeError, ValueError, TypeError):
        return  # a subclassed model without known outputs
    if count and not 0 <= int(output_index) < count:
        raise ValueError(
            f"output_index: expected an int in [0, {count}) for a model with {count} "
            f"output{'s' if count > 1 else ''}, got {int(output_index)}."
        )


def _final_operation(model, output_index):
    """The leaf layer that produces output ``output_index`` of ``model`` (or None)."""
    layer = model
    index = output_index
    while isinstance(layer, keras.Model):
        outputs = None
        try:
            outputs = keras.tree.flatten(layer.outputs)
        except (AttributeError, ValueError):
            outputs = None
        if outputs:
            tensor = _output_tensor(layer, outputs, index)
            if tensor is None:
                return None
            made_by = keras_internals.producer(tensor)
            if made_by is None:
                return None
            layer, index = made_by
            continue
        # Subclassed model: the last layer it tracks is the best guess.
        children = keras_internals.sublayers(layer, recursive=False)
        if not children:
            return None
        layer = children[-1]
        index = 0
    return layer


def _output_tensor(model, outputs, index):
    """Output ``index`` (a position, or a key of a dict-output model) among the
    flattened symbolic ``outputs`` of ``model``; None when it names none."""
    if index is None or isinstance(index, (int, np.integer)):
        index = int(index or 0)
        return outputs[index] if 0 <= index < len(outputs) else None
    try:
        structure = model.output
    except (AttributeError, ValueError):
        return None
    return structure.get(index) if isinstance(structure, dict) else None


def final_activation(model, output_index=0):
    """``(layer, kind)`` of a final softmax/sigmoid that can be stripped, or None.

    ``kind`` is ``"attribute"`` for a layer with an ``activation`` attribute (Dense,
    Conv, Activation) and ``"softmax_layer"`` for ``keras.layers.Softmax``.
    """
    with _PATCH_LOCK:  # not while another thread's pass has the activation stripped
        layer = _final_operation(model, output_index)
        if layer is None:
            return None
        if isinstance(layer, keras.layers.Softmax):
            return layer, "softmax_layer"
        if _activation_name(getattr(layer, "activation", None)) in _STRIPPABLE:
            return layer, "attribute"
        return None


def _activation_of(layer):
    """``(kind, fn)``: how ``layer`` applies an activation, if it does.

    ``"relu_layer"``: a ``keras.layers.ReLU`` with default parameters (plain ReLU);
    ``"fused"``: the last step of a Dense/Conv-like ``call``; ``"attribute"``: a
    layer whose ``call`` applies ``self.activation`` (``keras.layers.Activation``,
    custom layers). ``(None, None)`` when there is none (or it is linear).
    """
    if isinstance(layer, keras.layers.ReLU):
        default = (
            layer.negative_slope == 0
            and layer.threshold == 0
            and layer.max_value is None
        )
        return ("relu_layer", keras.activations.relu) if default else (None, None)
    fn = layer.__dict__.get("activation")
    if not callable(fn) or fn is keras.activations.linear:
        return None, None
    if isinstance(layer, layer_groups.FUSED_ACTIVATION):
        return "fused", fn
    return "attribute", fn


def _first(rules, test):
    return next((rule for rule in rules if test(rule)), None)


def _plan_rules(model, rules, stripped_layer):
    """``[(layer, how, payload)]``: what ``ModelView.patched`` does to apply ``rules``.

    ``how`` is ``"call"`` (payload: ``(layer_rule, activation, fused)``, the layer's
    call is replaced), ``"relu_call"`` (payload: the ReLU replacement) or
    ``"activation"`` (payload: the new ``activation`` attribute).
    """
    if not rules:
        return []
    layer_rules = [rule for rule in rules if isinstance(rule, rules_lib.LayerRule)]
    activation_rules = [rule for rule in rules if isinstance(rule, rules_lib.ActivationRule)]
    plan = []
    for layer in iter_layers(model):
        if not keras_internals.is_leaf(layer):
            continue
        kind, fn = _activation_of(layer)
        fused = kind == "fused"
        if layer is stripped_layer:
            # the stripped softmax/sigmoid is not part of the explained function
            if not fused:
                continue
            kind, fn = None, None
        layer_rule = _first(layer_rules, lambda rule: rule.matches(layer))
        activation_rule = (
            _first(activation_rules, lambda rule: rule.matches(fn)) if fn is not None else None
        )
        if layer_rule is not None:
            if fused:
                activation = activation_rule.replace if activation_rule else fn
                plan.append((layer, "call", (layer_rule, activation, True)))
            else:
                plan.append((layer, "call", (layer_rule, None, False)))
        elif activation_rule is not None:
            if kind == "relu_layer":
                plan.append((layer, "relu_call", activation_rule.replace))
            else:
                plan.append((layer, "activation", activation_rule.replace))
    return plan


@contextlib.contextmanager
def _linear_activation(layer):
    """``layer.activation`` is linear inside the block (its own lock-held patch)."""
    with _PATCH_LOCK:
        undo = _set(layer, "activation", keras.activations.linear)
        try:
            yield
        finally:
            undo()


def _ruled_call(layer, original, rule, activation, fused):
    """A ``call`` for ``layer`` that runs ``rule.replace(layer, call)`` on its inputs.

    The tensors of the first argument (one, or a list for Add/Concatenate) become
    the positional inputs of the replacement; other arguments (``training``,
    ``mask``) are bound into ``call``. For a fused activation, ``call`` runs the
    layer with a linear activation (at any time: a backward may run it again after
    the pass) and ``activation`` is applied to the replacement's output.
    """

    def call(*args, **kwargs):
        if args:
            structure, rest = args[0], args[1:]
        else:  # inputs passed by keyword: the call's first parameter
            first = next(iter(inspect.signature(original).parameters))
            structure, rest = kwargs.pop(first), ()
        inputs = keras.tree.flatten(structure)

        def forward(*tensors):
            packed = keras.tree.pack_sequence_as(structure, list(tensors))
            if fused:
                with _linear_activation(layer):
                    return original(packed, *rest, **kwargs)
            return original(packed, *rest, **kwargs)

        output = rule.replace(layer, forward)(*inputs)
        return activation(output) if activation is not None else output

    return call


class ModelView:
    """A read-only view of ``model`` for explanation.

    Args:
        model: the user's Keras model (never changed).
        output_index: which model output to explain (multi-output models).
        use_logits: take scores before a final softmax/sigmoid.
        layers: layers (names or objects) whose outputs are captured, e.g. for
            Grad-CAM, in the order given.
        rules: ``kerascope.engine.rules.LayerRule`` / ``ActivationRule`` objects (one, or a
            tuple) applied to the layers during the pass, e.g.
            ``kerascope.engine.rules.GUIDED_BACKPROP_RULES``. A captured layer's output is
            taken after its rule.
    """

    summary = None  # reduces captured outputs inside the pass (backend.common.summarize)

    def __init__(self, model, output_index=0, use_logits=True, layers=(), rules=()):
        if not isinstance(model, keras.Model):
            raise ValueError(
                f"model: expected a keras.Model, got {type(model).__name__}."
            )
        check_output_index(model, output_index)
        self.model = model
        self.output_index = output_index
        self.layers = tuple(find_layer(model, layer) for layer in layers)
        self.rules = rules_lib.check_rules(rules)
        # the layers are read while no other thread's pass has them patched
        with _PATCH_LOCK:
            found = final_activation(model, output_index) if use_logits else None
            self.stripped_layer, self.stripped_kind = found if found else (None, None)
            if self.stripped_kind == "softmax_layer":
                axis = self.stripped_layer.axis
                self._final_activation = lambda logits: keras.ops.softmax(logits, axis=axis)
            elif self.stripped_kind == "attribute":
                self._final_activation = self.stripped_layer.activation
            else:
                self._final_activation = None
            # [(layer, how, payload)] for the layers the rules replace (see _plan_rules)
            self.ruled_layers = _plan_rules(model, self.rules, self.stripped_layer)
            # [(layer, attribute, function)]: the backend's identical, faster layer ops
            self.native_ops = backend.native_layer_ops(  # read only on PyTorch
                layer for layer in iter_layers(model) if keras_internals.is_leaf(layer))
        self._hold_weights = None  # backend.weight_holder(model), made on first use

    @property
    def key(self):
        """Hashable identity of what this view computes (for compile caches)."""
        return (
            self.output_index,
            self.stripped_layer is not None,
            tuple(id(layer) for layer in self.layers),
            tuple(id(rule) for rule in self.rules),
        )

    @contextlib.contextmanager
    def patched(self, on_layer_output=None, constant_weights=False):
        """Patch the view's layers for one forward pass.

        ``on_layer_output(i, tensor) -> tensor`` is called with the output of
        ``self.layers[i]`` each time that layer runs; what it returns flows on
        (a backend adds a zero probe there, or watches the tensor).
        ``constant_weights``: see ``forward``.
        """
        with _PATCH_LOCK:
            restore = []
            try:
                if constant_weights:
                    if self._hold_weights is None:
                        self._hold_weights = backend.weight_holder(self.model)
                    restore.append(self._hold_weights())
                # first: rules and captured outputs wrap whatever these leave
                for layer, name, function in self.native_ops:
                    restore.append(_set(layer, name, function))
                if self.stripped_layer is not None:
                    if self.stripped_kind == "softmax_layer":
                        restore.append(
                            _set(self.stripped_layer, "call", lambda x, *a, **k: x)
                        )
                    else:
                        restore.append(
                            _set(self.stripped_layer, "activation", keras.activations.linear)
                        )
                for layer, how, payload in self.ruled_layers:
                    if how == "call":
                        call = _ruled_call(layer, layer.call, *payload)
                        restore.append(_set(layer, "call", call))
                    elif how == "relu_call":
                        restore.append(
                            _set(layer, "call", lambda x, *a, _r=payload, **k: _r(x))
                        )
                    else:
                        restore.append(_set(layer, "activation", payload))
                # captured outputs are taken last: after stripping and rules
                for index, layer in enumerate(self.layers):
                    restore.append(self._wrap_call(layer, index, on_layer_output))
                yield self
            finally:
                for undo in reversed(restore):
                    undo()

    def _wrap_call(self, layer, index, hook):
        original = layer.call

        def call(*args, **kwargs):
            output = original(*args, **kwargs)
            return hook(index, output) if hook is not None else output

        return _set(layer, "call", call)

    def forward(self, x, on_layer_output=None, variables=None, constant_weights=False):
        """``(outputs, logits)`` of the chosen model output for input batch ``x``.

        ``variables``: ``(trainable, non_trainable)`` values to run the model on
        (a backend that passes variables as arguments, e.g. under ``jax.jit``);
        otherwise the model's own variables are read. ``constant_weights``: the
        pass is differentiated with respect to its inputs only, so autograd may
        treat the weights as constants (PyTorch: ``requires_grad`` off while the
        forward is recorded, restored before it returns; BatchNorm's in-place
        multiply then saves no copy of its input).
        """
        with self.patched(on_layer_output, constant_weights):
            if variables is None:
                raw = self.model(x, training=False)
            else:
                raw = keras_internals.call_with_variables(self.model, variables, x)
        logits = select_output(raw, self.output_index)
        if self._final_activation is None:
            return logits, logits
        return self._final_activation(logits), logits


_set = keras_internals.set_attribute


def select_output(raw, output_index):
    """Output ``output_index`` (int position or dict key) of a model's raw outputs."""
    if isinstance(raw, dict):
        if output_index in raw:
            return raw[output_index]
        keys = list(raw)
        if isinstance(output_index, int) and 0 <= output_index < len(keys):
            return raw[keys[output_index]]
        raise ValueError(
            f"output_index: {output_index!r} is not one of the model outputs {keys}."
        )
    if isinstance(raw, (list, tuple)):
        if not isinstance(output_index, int) or not 0 <= output_index < len(raw):
            raise ValueError(
                f"output_index: expected an int in [0, {len(raw)}) for a model with "
                f"{len(raw)} outputs, got {output_index!r}."
            )
        return raw[output_index]
    if output_index not in (0, None):
        raise ValueError(
            f"output_index: the model has a single output, got {output_index!r}."
        )
    return raw


def describe(model, sample):
    """Call order and output shapes of every leaf layer for one input ``sample``.

    Runs the model once eagerly on ``sample`` (a batch of one) with every leaf layer
    patched to record ``(layer, output_shape)``. Returns a list in call order.
    """
    records = []
    leaves = [layer for layer in iter_layers(model) if keras_internals.is_leaf(layer)]
    with _PATCH_LOCK:
        restore = []
        try:
            for layer in leaves:
                original = layer.call

                def call(*args, _layer=layer, _original=original, **kwargs):
                    output = _original(*args, **kwargs)
                    first = keras.tree.flatten(output)[0]
                    records.append((_layer, tuple(first.shape)))
                    return output

                restore.append(_set(layer, "call", call))
            model(sample, training=False)
        finally:
            for undo in reversed(restore):
                undo()
    return records


def last_spatial_layer(model, sample, rank=None):
    """The last layer (in call order) with a spatial output, pooling excluded.

    Spatial means an output of the same rank as the image input (e.g. 4 for
    ``(batch, height, width, channels)``). tf-explain takes the last such layer; a
    final pooling or dropout layer is skipped here, so VGG16 gives ``block5_conv3``
    (the paper's choice) rather than ``block5_pool``, and a ResNet its last block
    output. Raises ValueError when the model has none. ``rank``: the image's rank,
    for a ``sample`` of several inputs (a list or dict, as the model takes it).
    """
    rank = np.ndim(sample) if rank is None else rank
    spatial = [
        layer for layer, shape in describe(model, sample) if len(shape) == rank and rank >= 3
    ]
    if not spatial:
        raise ValueError(
            f"layer_name: model {model.name!r} has no layer with a spatial output of "
            f"rank {rank}; pass layer_name explicitly."
        )
    skip = ("Pooling", "Dropout")
    preferred = [layer for layer in spatial if not any(s in type(layer).__name__ for s in skip)]
    return (preferred or spatial)[-1]


def channel_axis(model):
    """-1 for channels_last models, 1 for channels_first (``inputs.spec.channels_first``:
    their conv layers' ``data_format``, else Keras's ``image_data_format``)."""
    return 1 if channels_first(model) else -1
