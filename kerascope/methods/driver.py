"""The one driver every method runs through.

``run(method, model, x, targets, batch_size, ...)`` validates ``batch_size`` and the
targets once, walks arrays or streams of batches so that the rows a method expands
into (noisy copies, path points, masked images) fit in ``batch_size``, builds the
per-call ``Context``, calls ``method.attribute`` and returns an ``Explanation``:
``(outputs, maps)`` plus the call's ``extras``.
"""

import itertools

import numpy as np

from kerascope import data
from kerascope import targets as targets_lib
from kerascope.methods import registry
from kerascope.methods.base import Context, passes_score
from kerascope.validation import check_inputs, check_model, check_positive_int


class Explanation(tuple):
    """``(outputs, maps)``, with ``extras``: per-call results besides the maps,
    e.g. ``extras["convergence_delta"]`` of Integrated Gradients."""

    def __new__(cls, outputs, maps, extras=None):
        self = super().__new__(cls, (outputs, maps))
        self.extras = dict(extras or {})
        return self

    @property
    def outputs(self):
        return self[0]

    @property
    def maps(self):
        return self[1]


def known_units(model, output_index):
    """Width of the explained output's last axis when the model declares it, else None."""
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


def run(method, model, x, targets=None, batch_size=32, output_index=0, use_logits=None,
        distribution=None):
    """Explain ``model`` on ``x`` with ``method`` (anything ``registry.get`` takes).

    Returns an ``Explanation``: float32 ``outputs`` per input and float32 ``maps``,
    ``(N, ...)`` for one target per input or ``(N, K, ...)`` for K.
    """
    method = registry.get(method)
    model = check_model(model)
    batch_size = check_positive_int(batch_size, "batch_size")
    if use_logits is None:
        use_logits = method.default_use_logits
    units = known_units(model, output_index)
    resolved = targets_lib.resolve(targets, data.num_samples(x), units)
    per_input = resolved.per_input
    # Inputs per attribute() call, so that its expanded rows fit in batch_size;
    # methods that need a separate forward pass (outputs, target units) run it
    # over up to batch_size rows at once, then attribute sub-chunks of it.
    chunk = max(1, batch_size // (per_input * method.rows_per_input()))
    outer = chunk if method.evaluates_inputs else max(chunk, batch_size // per_input)
    batches = data.iterate(x, outer)
    first = next(batches, None)
    if first is None:
        raise ValueError("x: empty input; expected at least one sample.")
    first = check_inputs(first, model)
    batches = itertools.chain([first], batches)

    score = resolved.score() if method.evaluates_inputs else passes_score(resolved)
    ctx = Context(model, resolved, score, batch_size=batch_size, output_index=output_index,
                  use_logits=use_logits, layers=method.layers(model, first[:1]),
                  rules=method.rules(), distribution=distribution)
    resolver = None if method.evaluates_inputs else ctx.runner(score=resolved.score())
    outputs, maps = [], []
    seen = 0
    for batch in batches:
        batch = check_inputs(batch, model) if seen else batch
        n = len(batch)
        rows = np.repeat(batch, per_input, axis=0) if per_input > 1 else batch
        row_targets = resolved.rows(seen, seen + n)
        if method.evaluates_inputs:
            batch_maps, passes = _split(method.attribute(ctx, rows, row_targets))
            if passes is None or passes.outputs is None:
                passes = ctx.forward(rows, row_targets)
        else:
            passes = resolver.forward(rows, row_targets)
            row_units = passes.units.astype(np.int32)
            step = chunk * per_input
            batch_maps = np.concatenate([
                _split(method.attribute(ctx, rows[i:i + step], row_units[i:i + step]))[0]
                for i in range(0, len(rows), step)
            ])
        if seen == 0 and units is None:
            _check_units(resolved, passes.outputs)
        seen += n
        outputs.append(passes.outputs[::per_input])
        maps.append(method.postprocess(np.asarray(batch_maps, dtype=np.float32), rows, ctx))
    maps = np.concatenate(maps).astype(np.float32, copy=False)
    if resolved.stacked:
        maps = maps.reshape((-1, per_input) + maps.shape[1:])
    extras = {key: np.concatenate(values) for key, values in ctx.extras.items()}
    if resolved.stacked:
        extras = {key: value.reshape((-1, per_input) + value.shape[1:])
                  for key, value in extras.items()}
    return Explanation(np.concatenate(outputs).astype(np.float32, copy=False), maps, extras)


def _split(result):
    if isinstance(result, tuple):
        return result
    return result, None


def _check_units(resolved, outputs):
    """Range-check explicit class indices once the output width is known (models that
    do not declare it: subclassed models)."""
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
