"""Shared pieces of the backend layer (no framework imports)."""

import collections
import dataclasses

_TRACES = collections.Counter()


def note_trace(kind):
    """Record one trace (compilation) of a pass of ``kind``; called at trace time."""
    _TRACES[kind] += 1


def trace_count(kind=None):
    """How many times passes were traced (all kinds, or ``kind`` only)."""
    if kind is None:
        return sum(_TRACES.values())
    return _TRACES[kind]


@dataclasses.dataclass
class Passes:
    """What one batched pass returns (backend tensors or, after ``numpy()``, arrays).

    outputs: the model outputs (after any final activation), scores: the per-sample
    target scores (before it, unless ``use_logits=False``), units: the target unit
    of each row, input_grads: d scores / d inputs, layer_outputs / layer_grads: the
    captured layers' outputs and d scores / d those outputs.
    """

    outputs: object = None
    scores: object = None
    units: object = None
    input_grads: object = None
    layer_outputs: tuple = ()
    layer_grads: tuple = ()


def replace_outputs(values, then=None):
    """A ``transform`` for ``run_view``: captured layer ``i``'s output becomes
    ``values[i]`` (where ``values`` gives one; None entries keep the layer's own),
    then ``then(i, output)`` sees it. Layer attribution runs the model with a layer's
    output set to a given tensor (a point of an integration path, a noisy copy)."""
    import keras

    def transform(index, output):
        if values is not None and values[index] is not None:
            output = keras.ops.cast(values[index], output.dtype)
        return then(index, output) if then is not None else output

    return transform


def run_view(view, score, x, targets, transform=None, variables=None, keep=None,
             constant_weights=False):
    """One forward pass of ``view``: ``(outputs, scores, units, captured)``.

    ``transform(index, output) -> output`` sees each captured layer output first (a
    zero probe is added there, or the tensor is watched); ``captured`` holds what
    flowed on, or ``keep(index, output)`` of it, taken as the layer runs.
    ``constant_weights``: see ``ModelView.forward``.
    """
    captured = [None] * len(view.layers)

    def on_layer_output(index, output):
        if transform is not None:
            output = transform(index, output)
        captured[index] = output if keep is None else keep(index, output)
        return output

    outputs, logits = view.forward(x, on_layer_output, variables=variables,
                                   constant_weights=constant_weights)
    scores, units = score(logits, targets)
    return outputs, scores, units, captured


def forward_view(view, score, x, targets, values=None, variables=None):
    """A forward pass of ``view`` (``run_view``, ``replace_outputs(values)``):
    ``(outputs, scores, units, layer_outputs)``. With a summary, each captured
    output is reduced by ``summary.layer(index, output)`` as its layer runs (an
    eager pass frees the full tensor at once: keeping every attention layer's
    probabilities to the end costs PyTorch fresh memory, page faults, each pass),
    then by the summary (``summarize``)."""
    keep = None if view.summary is None else view.summary.layer
    outputs, scores, units, captured = run_view(view, score, x, targets,
                                                replace_outputs(values), variables, keep)
    return outputs, scores, units, summarize(view, captured)[0]


def summarize(view, captured, grads=None):
    """``(layer_outputs, layer_grads)`` of a pass, reduced by ``view.summary`` inside the
    compiled pass when the view has one (``summary(captured, grads) -> tensors``, e.g.
    attention rollout's product: a small result instead of every layer's tensors);
    otherwise both as they are."""
    if view.summary is None:
        return tuple(captured), tuple(grads or ())
    return tuple(view.summary(tuple(captured), None if grads is None else tuple(grads))), ()


def captured_count(view):
    """How many layer outputs a pass of ``view`` returns (see ``summarize``)."""
    return len(view.layers) if view.summary is None else view.summary.count


def as_gradients(grads, count):
    """A gradient function's result as a tuple of ``count`` input gradients."""
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != count:
        raise ValueError(
            f"custom_gradient: the gradient function returned {len(grads)} gradients "
            f"for {count} inputs; expected one per input."
        )
    return tuple(grads)


def fused_scores(view, score, rows, targets, variables=None, constant_weights=False):
    """Per-row scores of ``rows`` at unit ``targets`` (a fused expansion's pass)."""
    return run_view(view, score, rows, targets, variables=variables,
                    constant_weights=constant_weights)[1]


def run_fused(view, score, row_score, expansion, chunk, targets, resolve, gradient,
              variables=None, joint=None):
    """One chunk of a fused expansion, traced inside a backend's compiled function:
    ``(partial sums, first)``.

    With ``resolve``, the inputs ``chunk.x`` are passed first with ``score`` and
    ``first`` is their ``(outputs, scores, units)``; the rows then explain those
    units (forward-only expansions pass the inputs and the rows as one batch).
    ``gradient(rows, row_targets)`` is the backend's input gradient of the rows'
    ``row_score`` (used when ``expansion.gradients``). ``joint(x, rows, targets, m)
    -> (first, gradients)``, where a backend gives one, passes the inputs and their
    rows as one batch when resolving (one forward and one backward, not two model
    calls: eager PyTorch, where each op of the inputs' own small pass costs as
    much as a large one on busy cores)."""
    import keras

    first = ()
    if (resolve and joint is not None and expansion.gradients and not expansion.input_scores
            and not view.layers):
        rows = expansion.expand(chunk)
        first, values = joint(chunk.x, rows, targets, chunk.index.shape[0])
        chunk.input_scores = first[1]
        return tuple(expansion.reduce(values, chunk)), first
    if resolve and not expansion.gradients and not view.layers:
        # forward only: the inputs and their rows in one batch, units picked after
        n = chunk.x.shape[0]
        rows = expansion.expand(chunk)
        outputs, logits = view.forward(keras.ops.concatenate([chunk.x, rows], axis=0),
                                       variables=variables)
        scores, targets = score(logits[:n], targets)
        chunk.input_scores = scores
        row_targets = keras.ops.repeat(targets, chunk.index.shape[0], axis=0)
        values = row_score(logits[n:], row_targets)[0]
        return tuple(expansion.reduce(values, chunk)), (outputs[:n], scores, targets)
    if resolve:
        outputs, scores, targets, _ = run_view(view, score, chunk.x, targets,
                                               variables=variables)
        chunk.input_scores = scores
        first = (outputs, scores, targets)
    elif expansion.input_scores:
        chunk.input_scores = fused_scores(view, row_score, chunk.x, targets, variables)
    rows = expansion.expand(chunk)
    row_targets = keras.ops.repeat(targets, chunk.index.shape[0], axis=0)
    if expansion.gradients:
        values = gradient(rows, row_targets)
    else:
        values = fused_scores(view, row_score, rows, row_targets, variables)
    return tuple(expansion.reduce(values, chunk)), first
