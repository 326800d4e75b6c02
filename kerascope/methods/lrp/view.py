"""The model view of an LRP pass through attention layers (AttnLRP, arXiv:2402.05602).

``AttentionRuleView`` is a ``surgery.ModelView`` that, while its pass runs (only then:
the user's model is never left changed), also replaces the attention computation of
the ruled ``MultiHeadAttention`` layers by ``attention.attention_call`` (the layers
themselves have sub-layers, which the view's leaf rules reach: the projections),
and gives the ``x + y`` operations of functional graphs (residuals written between
layers, not an ``Add`` layer) the norm rule, epsilon over the sum as an ``Add`` layer
gets it (their gradient would hand the whole relevance to both summands).
"""

import contextlib

import keras

from kerascope import backend
from kerascope.engine import keras_internals, surgery
from kerascope.methods.lrp import attention as attention_lib
from kerascope.methods.lrp import rules as rules_lib


class AttentionRuleView(surgery.ModelView):
    """A ``ModelView`` whose ``attention`` layers (``[(layer, AttentionRule)]``) compute
    their attention with the rule's backward during the pass, and whose ``adds``
    (functional ``x + y`` operations) take the norm rule."""

    def __init__(self, model, attention, adds=(), output_index=0, use_logits=True,
                 layers=(), rules=()):
        self.attention = tuple(attention)
        self.adds = tuple(adds)
        super().__init__(model, output_index=output_index, use_logits=use_logits,
                         layers=layers, rules=rules)

    @property
    def key(self):
        return (("lrp_attention",)
                + tuple((id(layer), id(rule)) for layer, rule in self.attention)
                + tuple(id(add) for add in self.adds) + super().key)

    @contextlib.contextmanager
    def patched(self, on_layer_output=None, constant_weights=False):
        with super().patched(on_layer_output, constant_weights) as view:  # holds the patch lock
            undos = []
            try:
                for layer, rule in self.attention:
                    compute = attention_lib.attention_call(layer, rule)
                    undos.append(keras_internals.replace_compute_attention(layer, compute))
                for add in self.adds:
                    undos.append(keras_internals.set_attribute(add, "call", _norm_add(add.call)))
                yield view
            finally:
                for undo in reversed(undos):
                    undo()


def _norm_add(original):
    """``original(x1, x2)`` (an addition) with the norm rule as its backward, when both
    arguments are float tensors (a constant or integer operand: the addition as it is)."""

    def forward(x1, x2):
        return original(x1, x2), lambda r: rules_lib.norm_backward(original, (x1, x2), r)

    ruled = backend.custom_gradient(forward)

    def call(x1, x2, *args, **kwargs):
        if args or kwargs or not (_float_tensor(x1) and _float_tensor(x2)):
            return original(x1, x2, *args, **kwargs)
        return ruled(x1, x2)

    return call


def _float_tensor(value):
    return (keras.ops.is_tensor(value)
            and keras.backend.standardize_dtype(value.dtype).startswith(("float", "bfloat")))
