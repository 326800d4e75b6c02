"""The base of attribution methods: the ``Method`` interface and channel reductions.

A method is a small class holding its *options* (never per-call state) and
implementing ``attribute(ctx, x, row_targets)``: given the call's ``Context``, rows
of inputs (one row per input and target) and their targets, it returns one map per
row. Defining ``name`` on a subclass registers it (``kerascope.methods.registry``);
the driver (``kerascope.methods.driver``) does everything else alike for every
method: it walks arrays or streams of batches, bounds the rows sent to the device
by ``batch_size``, resolves and validates targets once, builds the context, and
returns ``(outputs, maps)``.
"""

import numpy as np

from kerascope.inputs import arrays as data
from kerascope.methods import driver, registry

CHANNEL_REDUCTIONS = ("sum", "mean", "abs_sum", "abs_mean", "max_abs", "square_sum", None)


def reduce_channels(maps, how, axis, ops=np):
    """Reduce the channel ``axis`` of input-space ``maps`` (None keeps it); ``ops``:
    numpy for arrays, ``keras.ops`` for tensors on the device."""
    if how is None:
        return maps
    if ops is np and how in _ELEMENTWISE and 1 < maps.shape[axis] <= 4:
        return _reduce_few_channels(maps, how, axis)
    if how == "sum":
        return ops.sum(maps, axis=axis)
    if how == "mean":
        return ops.mean(maps, axis=axis)
    if how == "abs_sum":
        return ops.sum(ops.abs(maps), axis=axis)
    if how == "abs_mean":
        return ops.mean(ops.abs(maps), axis=axis)
    if how == "max_abs":
        return ops.max(ops.abs(maps), axis=axis)
    if how == "square_sum":
        return ops.sum(ops.square(maps), axis=axis)
    raise ValueError(
        f"channel_reduction: expected one of {CHANNEL_REDUCTIONS}, got {how!r}."
    )


_ELEMENTWISE = {
    "sum": (None, np.add),
    "abs_sum": (np.abs, np.add),
    "max_abs": (np.abs, np.maximum),
    "square_sum": (np.square, np.add),
}


def _reduce_few_channels(maps, how, axis):
    """``reduce_channels`` of a short channel axis (RGB) on numpy, channel by channel:
    numpy's reductions over a short innermost axis are ~10x slower than elementwise
    passes, and ``((c0 + c1) + c2)`` is the order ``np.sum`` adds so few values in."""
    each, join = _ELEMENTWISE[how]
    axis = axis % maps.ndim
    channels = [maps[(slice(None),) * axis + (i,)] for i in range(maps.shape[axis])]
    if each is not None:
        channels = [each(c) for c in channels]
    out = channels[0].copy()
    for c in channels[1:]:
        join(out, c, out=out)
    return out


class Method:
    """Base class of attribution methods.

    Class attributes (the registry and ``kerascope methods`` read them):

    * ``name``: registry name (a Python identifier); defining it registers the class.
    * ``aliases``: other accepted names.
    * ``family``, ``summary`` (one line), ``paper`` (authors, year, arXiv id).
    * ``signed``: the maps carry a sign (drawn with a diverging colormap).
    * ``channel_reduction``: default reduction of input-space maps.
    * ``evaluates_inputs``: True when ``attribute`` differentiates the input rows
      themselves, so rank targets (``"predicted"``, top-k) resolve inside that pass;
      False (perturbation methods) gets explicit unit targets after a forward pass.
    * ``default_use_logits``: explain the score before a final softmax/sigmoid.
    * ``multi_input``: ``attribute`` handles models with several inputs, whose rows
      are ``kerascope.inputs.arrays.Inputs`` (one array per input) and whose maps come back
      one per input (``data.per_input`` applies array code input by input). The
      driver refuses such models, clearly, for a method that does not.

    Hooks: ``rows_per_input()``, ``layers(model, sample)`` (layers to capture,
    resolved once per call), ``rules(model)`` (``kerascope.engine.rules`` applied
    during the pass: a tuple of rules, or a ``RuleSet`` choosing layers of
    ``model``), ``attribute(ctx, x, row_targets)`` and ``postprocess(maps, x, ctx)``.
    """

    name = None
    aliases = ()
    family = "other"
    summary = ""
    paper = ""
    signed = False
    channel_reduction = None
    evaluates_inputs = False
    default_use_logits = True
    multi_input = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and cls.__dict__["name"] is not None:
            registry.register(cls)

    def rows_per_input(self):
        """How many model rows one (input, target) pair expands into."""
        return 1

    def layers(self, model, sample):
        """Layers whose outputs (and gradients) the passes capture; ``sample`` is one
        validated input (batch of one), for methods that find a layer by running it."""
        return ()

    def rules(self, model):
        """Layer rules (``kerascope.engine.rules``) applied while this method's passes
        run on ``model``: a tuple of rules, or a ``RuleSet`` (layers chosen with the
        model in hand: the first layer, layers by name or type)."""
        return ()

    def attribute(self, ctx, x, row_targets):
        """Maps for rows ``x`` (one per input and target) and their int32 targets.

        Returns the maps, or ``(maps, passes)`` where ``passes`` holds the outputs of
        ``x`` itself when the method evaluated it.
        """
        raise NotImplementedError

    def postprocess(self, maps, x, ctx):
        """Turn per-row maps into the maps returned (channel reduction, input by
        input for several inputs)."""

        def reduce(m, xi):
            if m.ndim == xi.ndim and m.ndim >= 3:
                return reduce_channels(m, self.channel_reduction, ctx.channel_axis)
            return m

        if isinstance(x, data.Inputs) and not isinstance(maps, data.Inputs):
            return maps  # one map for several inputs (a layer's, a CAM's): as it is
        return data.per_input(reduce, maps, x)

    #: Options ``kerascope explain`` sets for this method (see :meth:`cli_defaults`).
    cli_options = {}
    #: A report line of ``kerascope explain``, formatted with the run's parameters.
    cli_note = ""

    @classmethod
    def cli_defaults(cls, accepted, black, image_size):
        """Options ``kerascope explain`` sets (those not in ``accepted`` are dropped):
        ``seed=0`` so that runs repeat, then ``cli_options``. ``black``: black after
        preprocessing, per channel; ``image_size``: ``(height, width)``."""
        return {**({"seed": 0} if "seed" in accepted else {}), **cls.cli_options}

    @classmethod
    def cli_notes(cls, parameters):
        """``kerascope explain``'s report lines about a run with these ``parameters``."""
        try:
            return [cls.cli_note.format(**parameters)] if cls.cli_note else []
        except (KeyError, ValueError, TypeError):
            return []

    def explain(self, model, x, targets=None, batch_size="auto", output_index=0, use_logits=None):
        """Run this method through the driver; see ``kerascope.explain``."""
        return driver.run(self, model, x, targets, batch_size=batch_size,
                   output_index=output_index, use_logits=use_logits)

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({options})"
