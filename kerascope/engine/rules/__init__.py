"""Layer rules: what chosen layers compute, and so their backward, during one
pass. ``base`` holds ``LayerRule``/``ActivationRule``, the helpers that build
rules, and rule sets chosen with the model in hand (selectors ``first_layer()``,
``named(...)``, ``of_type(...)``, ``RuleSet``); ``relu`` the guided
backpropagation and Deconvnet rule sets (LRP rules will sit beside them). Its
modules import from ``kerascope.backend`` and ``kerascope.engine`` (keras
internals) only; this ``__init__`` re-exports their names for users, and modules
import from the defining module.
"""

from kerascope.engine.rules.base import (
    ActivationRule,
    LayerRule,
    RuleSet,
    Selector,
    autodiff_backward,
    backward_rule,
    check_rules,
    first_layer,
    leaf_layers,
    named,
    of_type,
    rules_for,
    same_backward,
)
from kerascope.engine.rules.relu import (
    DECONVNET_RULES,
    GUIDED_BACKPROP_RULES,
    deconvnet_relu,
    guided_relu,
)

__all__ = [
    "ActivationRule", "LayerRule", "RuleSet", "Selector", "autodiff_backward",
    "backward_rule", "check_rules", "first_layer", "leaf_layers", "named", "of_type",
    "rules_for", "same_backward", "DECONVNET_RULES", "GUIDED_BACKPROP_RULES",
    "deconvnet_relu", "guided_relu",
]
