"""Attention probabilities captured during a pass, with their gradients.

Transformer explanations (attention rollout, Chefer et al.'s generic attention)
read each attention layer's probabilities ``A = softmax(Q K^T / sqrt(d))`` and the
gradient of the target score with respect to them. ``keras.layers.MultiHeadAttention``
(and the keras-hub layers built on it) computes ``A`` inside its ``call`` and, unless
asked for the scores, through a fused kernel that never materializes it.

``AttentionView`` is a ``surgery.ModelView`` whose captured layers are the attention
layers' ``Softmax`` sub-layers: while its pass runs (only then: the user's model
is never left changed) each attention layer takes its explicit path, so ``A``
flows through that sub-layer, where the backend captures it and takes its
gradient as for any captured layer (a zero probe on JAX, a watched tensor on
TensorFlow and PyTorch). Dropout is inactive (``training=False``). The layers come
in forward (call) order, found once per model by a recording pass.
"""

import contextlib
import weakref

import keras
import numpy as np

from kerascope.engine import keras_internals, surgery

ATTENTION_LAYERS = (keras.layers.MultiHeadAttention,)
_ORDERS = weakref.WeakKeyDictionary()  # model -> {layer ids: forward order}


def is_attention(layer):
    """Whether ``layer`` is an attention layer kerascope can open (MultiHeadAttention
    and its subclasses, keras-hub's included)."""
    return isinstance(layer, ATTENTION_LAYERS)


def find_attention_layers(model, layers=None):
    """The attention layers of ``model`` (nested models included), or those named
    by ``layers`` (names or layer objects); ValueError when there are none."""
    if layers is not None:
        layers = [layers] if isinstance(layers, (str, keras.layers.Layer)) else list(layers)
        found = [surgery.find_layer(model, layer) for layer in layers]
        wrong = [layer.name for layer in found if not is_attention(layer)]
        if wrong:
            raise ValueError(
                f"layers: {', '.join(map(repr, wrong))} are not attention layers "
                f"(keras.layers.MultiHeadAttention); attention layers of model "
                f"{model.name!r}: {_names(model)}."
            )
        return found
    found = [layer for layer in surgery.iter_layers(model) if is_attention(layer)]
    if not found:
        raise ValueError(
            f"model: {model.name!r} has no attention layer "
            f"(keras.layers.MultiHeadAttention or a subclass); attention methods "
            f"explain transformers."
        )
    return found


def _names(model):
    names = [layer.name for layer in surgery.iter_layers(model) if is_attention(layer)]
    return ", ".join(map(repr, names)) or "none"


@contextlib.contextmanager
def explicit(layers):
    """Inside the block, ``layers`` compute their probabilities explicitly, through
    their ``Softmax`` sub-layers (yielded, in the order of ``layers``)."""
    undos = []
    try:
        softmaxes = []
        for layer in layers:
            softmax, undo = keras_internals.explicit_attention(layer)
            softmaxes.append(softmax)
            undos.append(undo)
        yield softmaxes
    finally:
        for undo in reversed(undos):
            undo()


def forward_order(model, layers, sample):
    """``layers`` sorted in the order a forward pass of ``sample`` calls them (a
    recording pass, once per model and set of layers; ``sample`` as the model takes
    it). ValueError for a layer the pass never calls."""
    key = tuple(sorted(id(layer) for layer in layers))
    cache = _ORDERS.setdefault(model, {})
    if key in cache:
        order = cache[key]
        by_id = {id(layer): layer for layer in layers}
        return [by_id[i] for i in order]
    seen = []
    with surgery._PATCH_LOCK, explicit(layers):
        undos = []
        try:
            for layer in layers:
                undos.append(_record(layer, seen))
            model(sample, training=False)
        finally:
            for undo in reversed(undos):
                undo()
    called = [layer for layer in dict.fromkeys(seen) if any(layer is l for l in layers)]
    missing = [layer.name for layer in layers if not any(layer is c for c in called)]
    if missing:
        raise ValueError(
            f"layers: attention layers {', '.join(map(repr, missing))} are not called "
            f"by a forward pass of model {model.name!r}."
        )
    cache[key] = [id(layer) for layer in called]
    return called


def _record(layer, seen):
    original = layer.call

    def call(*args, **kwargs):
        seen.append(layer)
        return original(*args, **kwargs)

    return keras_internals.set_attribute(layer, "call", call)


class AttentionView(surgery.ModelView):
    """A ``ModelView`` capturing the attention probabilities ``A`` of ``attention``
    (attention layers, in forward order): ``layer_outputs[i]`` is layer ``i``'s ``A``,
    ``(N, heads, T, S)``, and ``layer_grads[i]`` the score's gradient there (the full
    gradient, through every later layer). ``summary`` (optional): reduces those
    inside the compiled pass (``kerascope.backend.common.summarize``); it has a
    ``key``, a ``count`` of results, which then replace ``layer_outputs``, and
    ``layer(index, output)``: what a forward pass keeps of each layer's ``A``."""

    def __init__(self, model, attention, output_index=0, use_logits=True, summary=None):
        self.attention = tuple(attention)
        self.summary = summary
        with explicit(self.attention) as softmaxes:
            pass
        super().__init__(model, output_index=output_index, use_logits=use_logits,
                         layers=softmaxes)

    @property
    def key(self):
        summary = None if self.summary is None else self.summary.key
        return ("attention", tuple(map(id, self.attention)), summary) + super().key

    @contextlib.contextmanager
    def patched(self, on_layer_output=None, constant_weights=False):
        with surgery._PATCH_LOCK, explicit(self.attention):
            with super().patched(on_layer_output, constant_weights) as view:
                yield view


def model_sample(x):
    """The first row of rows ``x`` (an array or ``kerascope.inputs.arrays.Inputs``)
    as the model takes it, for a recording pass."""
    first = x[:1]
    if hasattr(first, "pack"):
        return first.pack([_row(a) for a in first.arrays])
    return _row(first)


def _row(array):
    array = np.asarray(array)
    return array.astype(np.int32 if np.issubdtype(array.dtype, np.integer) else np.float32)
