"""Layer-wise Relevance Propagation: rules, canonizers, composites and the method.

``kerascope.explain("lrp", model, x, targets, composite="epsilon_plus_flat")``;
zennit's separation of concepts (Anders et al. 2021, arXiv:2106.13200): ``rules``
(what a layer passes back), ``canonizers`` (BatchNormalization merged into its
Dense/Conv), ``composites`` (which rule each layer gets), ``method`` (the pass);
``attention`` and ``view``: AttnLRP (arXiv:2402.05602), the ``transformer`` composite's
rules for attention, softmax and LayerNormalization.
"""

from kerascope.methods.lrp.attention import AttentionRule, LayerNormRule
from kerascope.methods.lrp.composites import NAMES, Composite, named
from kerascope.methods.lrp.method import LRP
from kerascope.methods.lrp.rules import (
    AlphaBeta,
    Epsilon,
    Flat,
    Gamma,
    Gradient,
    Norm,
    Pass,
    Rule,
    WSquare,
    ZBox,
    ZPlus,
    get_rule,
)

__all__ = [
    "LRP", "Composite", "named", "NAMES", "Rule", "Epsilon", "ZPlus", "AlphaBeta", "Gamma",
    "ZBox", "Flat", "WSquare", "Pass", "Norm", "Gradient", "get_rule", "AttentionRule",
    "LayerNormRule",
]
