"""Options ``kerascope evaluate`` sets for the metrics that are slow with the Python API's
defaults (those of Quantus), so that ``--metric all`` finishes in a few minutes on a CPU.

The per-feature metrics of Quantus remove one feature at a time by default (one forward
pass per pixel and input: 4096 per 64x64 image, x100 noise draws for monotonicity
correlation); the command groups the pixels into about :data:`GROUPS` groups instead.
``--metric-option METRIC.KEY=VALUE`` overrides any of these; the options used are
written to ``metrics.json`` and shown in ``report.html``.
"""

from __future__ import annotations

import math

#: Groups of pixels (map order) the per-feature metrics remove, about.
GROUPS = 64
#: Noise draws per group of monotonicity correlation (Quantus: 100).
MONOTONICITY_SAMPLES = 10
#: Noisy copies of the input per model of smooth MPRT (Quantus: 50).
SMOOTH_MPRT_SAMPLES = 10


def metric_defaults(num_features):
    """``{metric: {option: value}}`` the command uses for ``num_features`` pixels per map."""
    step = max(1, math.ceil(int(num_features) / GROUPS))
    return {
        "faithfulness_estimate": {"features_in_step": step},
        "monotonicity_correlation": {"features_in_step": step,
                                     "nr_samples": MONOTONICITY_SAMPLES},
        "sensitivity_n": {"features_in_step": step},
        "smooth_mprt": {"nr_samples": SMOOTH_MPRT_SAMPLES},
    }


def effective_options(names, user_options, num_features, aliases):
    """The options each metric of ``names`` runs with: the command's defaults, then the
    user's ``--metric-option`` values (keyed by name or alias) over them."""
    defaults = metric_defaults(num_features)
    options = {}
    for name in names:
        merged = dict(defaults.get(name, {}))
        for key, values in user_options.items():
            if key == name or aliases.get(key) == name:
                merged.update(values)
        if merged:
            options[name] = merged
    return options
