"""TensorFlow passes: ``tf.function`` around a ``GradientTape``.

Captured layer outputs are watched by the tape, so their gradients come from the
same backward pass as the input gradient. ``x`` may be one tensor or a
list/tuple/dict of tensors (several inputs; the input gradient has the same
structure); ``values`` replace captured layers' outputs (layer attribution). The
compiled functions take flat tensors, one function per input structure.

Several devices: under a ``tf.distribute`` strategy (given, the one the model was
built under, or the one whose ``scope()`` is active; e.g. ``MirroredStrategy``), each
call's rows are cut into one equal slice per replica, placed on that replica's
device, and the pass runs once per replica through ``strategy.run`` inside one
``tf.function`` (as Keras's own ``predict_step`` does); the slices' results are
concatenated back in order.
"""

import collections
import dataclasses

import tensorflow as tf

from kerascope.backend.common import (
    Passes,
    forward_view,
    fused_scores,
    note_trace,
    replace_outputs,
    run_fused,
    run_view,
    summarize,
    captured_count,
)


class Placement:
    """A ``tf.distribute`` strategy applied to passes: one slice of rows per replica."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.replicas = int(strategy.num_replicas_in_sync)
        self.key = ("tf.distribute", id(strategy))
        self.last_rows_per_device = collections.Counter()

    def rows(self, *arrays):
        """Distributed values: replica ``i`` gets the ``i``-th slice of each array."""
        per = len(arrays[0]) // self.replicas

        devices = self.strategy.extended.worker_devices

        def slices(array):
            def value(context):
                i = context.replica_id_in_sync_group
                with tf.device(devices[i]):
                    return tf.identity(array[i * per:(i + 1) * per])

            return self.strategy.experimental_distribute_values_from_function(value)

        distributed = tuple(map(slices, arrays))
        counts = collections.Counter()
        for part in self.strategy.experimental_local_results(distributed[0]):
            counts[_device(part)] += int(part.shape[0])
        self.last_rows_per_device = counts
        return distributed

    def gather(self, values):
        """Per-replica results (a flat tuple) concatenated in replica order."""
        local = [self.strategy.experimental_local_results(v) for v in values]
        if any(len(parts) != self.replicas for parts in local):
            raise RuntimeError("tf.distribute returned a result per replica count other "
                               f"than {self.replicas}.")
        return [tf.concat(parts, axis=0) for parts in local]


def _device(tensor):
    name = tensor.device.rsplit("device:", 1)[-1].lower()
    return name if ":" in name else f"{name}:0"


def placement(strategy, model):
    """A ``Placement`` for ``strategy`` (None: the model's or the active one, if any)."""
    if strategy is None:
        if tf.distribute.has_strategy():
            strategy = tf.distribute.get_strategy()
        else:
            strategy = getattr(model, "distribute_strategy", None)
            if strategy is None or strategy is tf.distribute.get_strategy():
                return None  # the default strategy: one device
    if not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(
            f"distribution: expected a tf.distribute.Strategy (e.g. "
            f"tf.distribute.MirroredStrategy()) on the TensorFlow backend, got "
            f"{type(strategy).__name__}."
        )
    entry = _PLACEMENTS.get(id(strategy))
    if entry is None or entry[0] is not strategy:
        entry = _PLACEMENTS[id(strategy)] = (strategy, Placement(strategy))
        while len(_PLACEMENTS) > 8:
            _PLACEMENTS.popitem(last=False)
    return entry[1]


_PLACEMENTS = collections.OrderedDict()


def _forward(view, score, x, targets, values):
    note_trace("forward")
    outputs, scores, units, captured = forward_view(view, score, x, targets, values)
    return (outputs, scores, units) + captured


def _backprop(view, score, wrt_inputs, x, targets, values):
    note_trace("backprop")
    leaves = tf.nest.flatten(x) if wrt_inputs else []
    with tf.GradientTape() as tape:
        for leaf in leaves:
            tape.watch(leaf)

        def watch(index, output):
            tape.watch(output)
            return output

        outputs, scores, units, captured = run_view(view, score, x, targets,
                                                    replace_outputs(values, watch))
    sources = leaves + list(captured)
    grads = tape.gradient(scores, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    captured, layer_grads = summarize(view, captured, grads[len(leaves):])
    return (outputs, scores, units) + captured + tuple(grads[:len(leaves)]) + layer_grads


def _structured(placement, body):
    """``call(x, targets, values) -> (flat results, number of input leaves)``.

    ``body(x, targets, values)`` is compiled (``_compile``) once per structure of
    ``x`` and per set of given ``values``, over flat tensor arguments: the rows of
    every argument are sliced alike across replicas under a placement.
    """
    compiled = {}

    def call(x, targets, values=None):
        leaves = tf.nest.flatten(x)
        template = tf.nest.map_structure(lambda _: None, x)
        present = None if values is None else tuple(v is not None for v in values)
        key = (repr(template), present)
        run = compiled.get(key)
        if run is None:
            run = compiled[key] = _compile(placement, _flat(body, template, present,
                                                            len(leaves)))
        extra = [] if values is None else [v for v in values if v is not None]
        return run(*leaves, targets, *extra), template, len(leaves)

    return call


def _flat(body, template, present, count):
    """``body(x, targets, values)`` over flat tensors: ``count`` input leaves packed
    as ``template``, the targets, then the given ``values`` (``present`` says which)."""

    def flat_body(*args):
        xs = tf.nest.pack_sequence_as(template, list(args[:count]))
        given = iter(args[count + 1:])
        values = None if present is None else [next(given) if p else None for p in present]
        return body(xs, args[count], values)

    return flat_body


def _compile(placement, body):
    """``body(*tensors) -> flat tuple`` as one ``tf.function``, run once per replica
    under ``placement``; returns ``call(*tensors) -> flat list``."""
    if placement is None:
        run = _concrete(tf.function(body, autograph=False, reduce_retracing=True))
        return lambda *args: list(run(*args))

    strategy = placement.strategy

    @tf.function(autograph=False, reduce_retracing=True)
    def replicated(*args):
        return strategy.run(body, args=args)

    def call(*args):
        values = replicated(*placement.rows(*args))
        values = values if isinstance(values, (tuple, list)) else (values,)
        return placement.gather(tuple(values))

    return call


def _concrete(fn):
    """``fn`` (a ``tf.function``) called through its concrete function for the
    arguments' shapes and dtypes, found once per signature, with the flat tensors
    that signature takes: each call skips ``tf.function``'s dispatch (cache lookup)
    and the concrete function's binding of structured arguments (~0.1 ms each a
    call, as much as a small pass's last layers)."""
    functions = {}

    def call(*args):
        flat = tf.nest.flatten(args)
        key = tuple((tuple(t.shape), t.dtype) for t in flat)
        run = functions.get(key)
        if run is None:
            run = functions[key] = _flat_call(fn.get_concrete_function(*args))
        return run(args, flat)

    return call


def _flat_call(concrete):
    """``run(args, flat) -> outputs`` of a concrete function: its flat call
    (``ConcreteFunction._call_flat``, which still records on an active tape), or the
    structured call where this TensorFlow has none."""
    flat_call = getattr(concrete, "_call_flat", None)
    if flat_call is None:
        return lambda args, flat: concrete(*args)
    return lambda args, flat: flat_call(flat, concrete.captured_inputs)


def make_forward(view, score, placement=None):
    run = _structured(placement, lambda x, targets, values: _forward(
        view, score, x, targets, values))

    def call(x, targets, values=None):
        (outputs, scores, units, *captured), _, _ = run(x, targets, values)
        return Passes(outputs, scores, units, None, tuple(captured), ())

    return call


def make_backprop(view, score, wrt_inputs=True, placement=None):
    run = _structured(placement, lambda x, targets, values: _backprop(
        view, score, wrt_inputs, x, targets, values))
    layers = captured_count(view)

    def call(x, targets, values=None):
        (outputs, scores, units, *rest), template, count = run(x, targets, values)
        captured, grads = rest[:layers], rest[layers:]
        input_grads = None
        if wrt_inputs:
            input_grads = tf.nest.pack_sequence_as(template, list(grads[:count]))
            grads = grads[count:]
        return Passes(outputs, scores, units, input_grads, tuple(captured), tuple(grads))

    return call


def make_fused(view, score, row_score, expansion):
    """``call(chunk, targets, resolve) -> (sums, first)``: ``expansion``'s rows made,
    differentiated (or scored at ``row_score``) and reduced in one ``tf.function``
    (``common.run_fused``); only the chunk's arrays go in. One trace per chunk shape
    (the runner keeps them few)."""

    def gradient(rows, targets):
        with tf.GradientTape() as tape:
            tape.watch(rows)
            scores = fused_scores(view, row_score, rows, targets)
        return tape.gradient(scores, rows, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def body(x, targets, samples, index, inputs, constants, resolve):
        note_trace("fused")
        chunk = dataclasses.replace(template[0], x=x, samples=samples, index=index,
                                    inputs=inputs, constants=constants)
        return run_fused(view, score, row_score, expansion, chunk, targets, resolve, gradient)

    def resolving(flag):
        return lambda *args: body(*args, flag)

    compiled = {flag: _concrete(tf.function(resolving(flag), autograph=False))
                for flag in (False, True)}
    template = [None]

    def call(chunk, targets, resolve):
        template[0] = chunk
        return compiled[bool(resolve)](chunk.x, targets, chunk.samples, chunk.index,
                                       tuple(chunk.inputs), tuple(chunk.constants))

    return call
