"""The shared base of attribution methods and the batched driver that runs them.

A method is a small class holding its options and implementing ``attribute``:
given a ``PassRunner``, rows of inputs (one row per input and target) and their
targets, it returns one map per row. ``Method.explain`` does the rest for every
method alike: it walks arrays or streams of batches, bounds the rows sent to the
device by ``batch_size`` (SmoothGrad's noisy copies and IG's path points included),
resolves targets, validates input, and returns ``(outputs, maps)``.
"""

import numpy as np

from kerascope import data, surgery, targets as targets_lib
from kerascope.runner import PassRunner
from kerascope.validation import check_inputs, check_positive_int

CHANNEL_REDUCTIONS = ("sum", "mean", "abs_sum", "abs_mean", "max_abs", "square_sum", None)


def reduce_channels(maps, how, axis):
    """Reduce the channel ``axis`` of input-space ``maps`` (None keeps it)."""
    if how is None:
        return maps
    if how == "sum":
        return maps.sum(axis=axis)
    if how == "mean":
        return maps.mean(axis=axis)
    if how == "abs_sum":
        return np.abs(maps).sum(axis=axis)
    if how == "abs_mean":
        return np.abs(maps).mean(axis=axis)
    if how == "max_abs":
        return np.abs(maps).max(axis=axis)
    if how == "square_sum":
        return np.square(maps).sum(axis=axis)
    raise ValueError(
        f"channel_reduction: expected one of {CHANNEL_REDUCTIONS}, got {how!r}."
    )


class Method:
    """Base class of attribution methods.

    Subclasses set ``name``, ``channel_reduction`` (the default reduction of their
    input-space maps), ``evaluates_inputs`` (True when the rows they differentiate
    are the inputs themselves, so targets such as ``"predicted"`` resolve inside
    the same pass) and implement ``attribute`` and ``rows_per_input``.
    """

    name = "method"
    channel_reduction = None
    evaluates_inputs = False
    captured_layers = ()
    default_use_logits = True

    def rows_per_input(self):
        """How many model rows one (input, target) pair expands into."""
        return 1

    def attribute(self, runner, x, row_targets):
        """Maps for rows ``x`` (one per input and target) and their targets.

        Returns ``(maps, passes)`` where ``passes`` holds the outputs/scores/units
        of ``x`` itself when the method evaluated it, else None.
        """
        raise NotImplementedError

    def rules(self):
        """Layer rules applied during the pass (``kerascope.rules``), e.g. guided ReLUs."""
        return ()

    def postprocess(self, maps, x, model):
        """Turn per-row method maps into the maps returned (channel reduction)."""
        if maps.ndim == x.ndim and maps.ndim >= 3:
            return reduce_channels(maps, self.channel_reduction, surgery.channel_axis(model))
        return maps

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({options})"

    def explain(self, model, x, targets=None, batch_size=32, output_index=0,
                use_logits=None):
        """Run this method over ``x``; return ``(outputs, maps)`` as float32 arrays.

        ``use_logits``: score before a final softmax/sigmoid; None means the
        method's ``default_use_logits`` (True for gradients, False for occlusion).

        ``outputs``: the model's outputs for each input, shape ``(N, ...)``.
        ``maps``: ``(N, ...)`` for one target per input, ``(N, K, ...)`` for K.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        if use_logits is None:
            use_logits = self.default_use_logits
        n_total = data.num_samples(x)
        resolved = targets_lib.resolve(targets, n_total, _known_units(model, output_index))
        per_input = resolved.per_input
        # Inputs per attribute() call, so that its expanded rows fit in batch_size;
        # methods that need a separate forward pass (outputs, target units) run it
        # over up to batch_size rows at once, then attribute sub-chunks of it.
        chunk = max(1, batch_size // (per_input * self.rows_per_input()))
        outer = chunk if self.evaluates_inputs else max(chunk, batch_size // per_input)
        rules = self.rules()
        main = PassRunner.for_model(
            model, resolved.score(), batch_size=batch_size, output_index=output_index,
            use_logits=use_logits, layers=self.captured_layers, rules=rules,
        )
        by_unit = None
        outputs, maps = [], []
        seen = 0
        for batch in data.iterate(x, outer):
            batch = check_inputs(batch, model)
            n = len(batch)
            rows = np.repeat(batch, per_input, axis=0) if per_input > 1 else batch
            row_targets = resolved.rows(seen, seen + n)
            if self.evaluates_inputs:
                batch_maps, passes = self.attribute(main, rows, row_targets)
            else:
                passes = main.forward(rows, row_targets)
                if by_unit is None:
                    by_unit = PassRunner(
                        surgery.ModelView(model, output_index=output_index,
                                          use_logits=use_logits,
                                          layers=self.captured_layers,
                                          rules=rules),
                        passes_score(resolved), batch_size=batch_size,
                    )
                units = passes.units.astype(np.int32)
                step = chunk * per_input
                batch_maps = np.concatenate([
                    self.attribute(by_unit, rows[i:i + step], units[i:i + step])[0]
                    for i in range(0, len(rows), step)
                ])
            _check_units(resolved, passes.outputs)
            seen += n
            outputs.append(passes.outputs[::per_input])
            maps.append(self.postprocess(np.asarray(batch_maps, dtype=np.float32), rows, model))
        if not maps:
            raise ValueError("x: empty input; expected at least one sample.")
        maps = np.concatenate(maps).astype(np.float32, copy=False)
        if resolved.stacked:
            maps = maps.reshape((-1, per_input) + maps.shape[1:])
        return np.concatenate(outputs).astype(np.float32, copy=False), maps


def passes_score(resolved):
    """Score used after targets were resolved to units by a first forward pass."""
    if resolved.kind == "callable":
        return resolved.score()
    return targets_lib.UnitScore(rank=False)


def _known_units(model, output_index):
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return None
    if not outputs:
        return None
    try:
        shape = outputs[output_index if isinstance(output_index, int) else 0].shape
    except (IndexError, TypeError):
        return None
    units = shape[-1] if len(shape) > 1 else 1
    return int(units) if units is not None else None


def _check_units(resolved, outputs):
    """Range-check explicit class indices once the output width is known."""
    if resolved.kind != "index" or outputs is None:
        return
    units = outputs.shape[-1] if outputs.ndim > 1 else 1
    values = [resolved.constant] if resolved.constant is not None else resolved.values
    top = int(np.max(values))
    if top >= units:
        raise ValueError(
            f"class_index: {top} is out of range for a model output with {units} units "
            f"(valid: 0..{units - 1})."
        )
