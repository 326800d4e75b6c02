"""The one driver every method runs through.

``run(method, model, x, targets, batch_size, ...)`` validates ``batch_size`` (default
``"auto"``: ``memory.auto_rows``) and the targets once, walks arrays or streams of
batches so that the rows a method expands into (noisy copies, path points, masked
images) fit in ``batch_size``, builds the
per-call ``Context``, calls ``method.attribute`` and returns an ``Explanation``:
``(outputs, maps)`` plus the call's ``extras``. Models with several inputs get
their rows as ``kerascope.inputs.arrays.Inputs`` and their maps in the structure ``x`` came
in (list, tuple or dict), one per input.
"""

import itertools

import numpy as np

from kerascope.inputs import arrays as data
from kerascope.engine import memory, targets as targets_lib
from kerascope.engine.rules.base import rules_for
from kerascope.methods import registry
from kerascope.methods.context import Context, passes_score
from kerascope.engine.validation import (
    ModelInputs,
    check_inputs,
    check_model,
    integer_inputs,
)


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


def run(method, model, x, targets=None, batch_size="auto", output_index=0, use_logits=None,
        distribution=None):
    """Explain ``model`` on ``x`` with ``method`` (anything ``registry.get`` takes).

    Returns an ``Explanation``: float32 ``outputs`` per input and float32 ``maps``,
    ``(N, ...)`` for one target per input or ``(N, K, ...)`` for K. For a model with
    several inputs (``x`` a list, tuple or dict of arrays, or batches of them) the
    maps come back in that structure, one per input (None for an input the method
    was told to leave alone). The batches of :func:`start`, joined.
    """
    return join(start(method, model, x, targets, batch_size=batch_size,
                      output_index=output_index, use_logits=use_logits,
                      distribution=distribution))


def join(parts):
    """One ``Explanation`` of the batches ``parts`` (from :func:`start`), joined in order."""
    outputs, maps, extras = [], [], {}
    for part in parts:
        outputs.append(part.outputs)
        maps.append(part.maps)
        for key, value in part.extras.items():
            extras.setdefault(key, []).append(value)
    maps = data.concat_rows(maps) if len(maps) > 1 else maps[0]
    if isinstance(maps, data.Inputs):
        maps = maps.pack()
    extras = {key: np.concatenate(values) for key, values in extras.items()}
    return Explanation(np.concatenate(outputs), maps, extras)


def batches(method, model, x, targets=None, batch_size="auto", output_index=0, use_logits=None,
            distribution=None):
    """The ``Explanation`` of each batch of ``x``, in input order: what :func:`run`
    returns, a batch at a time (maps in the structure ``x`` came in). Arguments are
    checked, and the first batch read, when this is called."""
    parts = start(method, model, x, targets, batch_size=batch_size,
                  output_index=output_index, use_logits=use_logits,
                  distribution=distribution)
    return _streamed(parts)


def _streamed(parts):
    """``parts`` as the user gets them, the C heap's free pages handed back after each
    (``memory.release``: a long stream's peak stays that of a short one). Not done
    for joined calls: the next call would fault the pages in again (JAX vanilla
    gradients of 16 images: +15% CPU time)."""
    for part in parts:
        yield Explanation(part.outputs,
                          part.maps.pack() if isinstance(part.maps, data.Inputs) else part.maps,
                          part.extras)
        memory.release()


def start(method, model, x, targets=None, batch_size="auto", output_index=0, use_logits=None,
          distribution=None):
    """Check the arguments, read the first batch and return a generator of one
    ``Explanation`` per batch of at most ``batch_size`` inputs (a whole number of
    the method's device calls; a batch of an iterable ``x`` is never joined with the
    next): float32 outputs, float32 maps (``data.Inputs`` for several inputs) and
    the batch's extras. The one loop of :func:`run` and :func:`batches`."""
    if not registry.is_method(method):
        method = registry.get(method)
    model = check_model(model)
    batch_size = memory.resolve(batch_size, model)
    if use_logits is None:
        use_logits = method.default_use_logits
    model_inputs = ModelInputs(model)
    names = model_inputs.names
    units = known_units(model, output_index)
    resolved = targets_lib.resolve(targets, data.num_samples(x, names), units)
    per_input = resolved.per_input
    # Inputs per attribute() call, so that its expanded rows fit in batch_size;
    # methods that need a separate forward pass (outputs, target units) run it
    # over up to batch_size rows at once, then attribute sub-chunks of it.
    chunk = max(1, batch_size // (per_input * method.rows_per_input()))
    outer = chunk if method.evaluates_inputs else max(chunk, batch_size // per_input)
    # Inputs per yielded batch: whole device calls, up to batch_size inputs.
    group = outer * max(1, batch_size // outer)
    groups = data.iterate(x, group, names)
    first = next(groups, None)
    if first is None:
        raise ValueError("x: empty input; expected at least one sample.")
    raw_first = first
    first = check_inputs(first, model, inputs=model_inputs)
    unwrap = _unwrap(method, first, model, model_inputs)
    if unwrap:
        first = first.arrays[0]
    multi = isinstance(first, data.Inputs)
    if multi:
        input_names = first.names
    else:
        input_names = (names[0],) if names else ("x",)

    score = resolved.score() if method.evaluates_inputs else passes_score(resolved)
    ctx = Context(model, resolved, score, batch_size=batch_size, output_index=output_index,
                  use_logits=use_logits, layers=method.layers(model, first[:1]),
                  rules=rules_for(method.rules(model), model), distribution=distribution,
                  model_inputs=model_inputs,
                  input_names=input_names,
                  integer_inputs=integer_inputs(first, raw_first, model_inputs),
                  method_name=method.name)
    resolver = None if method.evaluates_inputs else ctx.runner(score=resolved.score())

    def explain_groups():
        seen = 0
        for checked, part in enumerate(itertools.chain([first], groups)):
            if checked:
                part = check_inputs(part, model, inputs=model_inputs)
                if unwrap:
                    part = part.arrays[0]
            outputs, maps = [], []
            for begin in range(0, len(part), outer):
                batch = part[begin:begin + outer]
                n = len(batch)
                rows = data.repeat_rows(batch, per_input) if per_input > 1 else batch
                samples = np.repeat(np.arange(seen, seen + n), per_input)
                row_targets = resolved.rows(seen, seen + n)
                if method.evaluates_inputs:
                    ctx.row_samples = samples
                    batch_maps, passes = _split(method.attribute(ctx, rows, row_targets))
                    if passes is None or passes.outputs is None:
                        passes = ctx.forward(rows, row_targets)
                else:
                    passes = resolver.forward(rows, row_targets)
                    row_units = passes.units.astype(np.int32)
                    step = chunk * per_input
                    pieces = []
                    for i in range(0, len(rows), step):
                        ctx.row_samples = samples[i:i + step]
                        pieces.append(_split(
                            method.attribute(ctx, rows[i:i + step], row_units[i:i + step]))[0])
                    batch_maps = data.concat_rows(pieces) if len(pieces) > 1 else pieces[0]
                if seen == 0 and units is None:
                    check_units(resolved, passes.outputs)
                seen += n
                outputs.append(passes.outputs[::per_input])
                batch_maps = data.per_input(lambda m: np.asarray(m, dtype=np.float32),
                                            batch_maps)
                maps.append(method.postprocess(batch_maps, rows, ctx))
            maps = data.concat_rows(maps) if len(maps) > 1 else maps[0]
            maps = data.per_input(lambda m: m.astype(np.float32, copy=False), maps)
            if resolved.stacked:
                maps = data.per_input(lambda m: m.reshape((-1, per_input) + m.shape[1:]), maps)
            # This batch's extras; taken out of the context so that none accumulate.
            extras = {key: np.concatenate(ctx.extras.pop(key)) for key in list(ctx.extras)}
            if resolved.stacked:
                extras = {key: value.reshape((-1, per_input) + value.shape[1:])
                          for key, value in extras.items()}
            outputs = np.concatenate(outputs) if len(outputs) > 1 else np.asarray(outputs[0])
            yield Explanation(outputs.astype(np.float32, copy=False), maps, extras)

    return explain_groups()


def _unwrap(method, first, model, model_inputs):
    """Whether rows of one input given in a structure (``{"image": x}``) go to a
    one-input method as a plain array; ValueError for a method that cannot explain
    several inputs."""
    if not isinstance(first, data.Inputs) or method.multi_input:
        return False
    if len(first.arrays) == 1:
        return True
    capable = [name for name in registry.names() if registry.lookup(name).multi_input]
    raise ValueError(
        f"x: method {method.name!r} explains models with one input; model "
        f"{model.name!r} has {len(first.arrays)} inputs "
        f"({', '.join(map(repr, first.names))}). Methods that explain several inputs: "
        f"{', '.join(capable)}."
    )


def _split(result):
    if isinstance(result, tuple):
        return result
    return result, None


def check_units(resolved, outputs):
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
