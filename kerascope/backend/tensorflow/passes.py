"""TensorFlow passes: ``tf.function`` around a ``GradientTape``.

Captured layer outputs are watched by the tape, so their gradients come from the
same backward pass as the input gradient.

Several devices: under a ``tf.distribute`` strategy (given, the one the model was
built under, or the one whose ``scope()`` is active; e.g. ``MirroredStrategy``), each
call's rows are cut into one equal slice per replica, placed on that replica's
device, and the pass runs once per replica through ``strategy.run`` inside one
``tf.function`` (as Keras's own ``predict_step`` does); the slices' results are
concatenated back in order.
"""

import collections

import tensorflow as tf

from kerascope.backend.common import Passes, note_trace, run_view


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


def _forward(view, score, x, targets):
    note_trace("forward")
    outputs, scores, units, captured = run_view(view, score, x, targets)
    return (outputs, scores, units) + tuple(captured)


def _backprop(view, score, wrt_inputs, x, targets):
    note_trace("backprop")
    with tf.GradientTape() as tape:
        tape.watch(x)

        def watch(index, output):
            tape.watch(output)
            return output

        outputs, scores, units, captured = run_view(view, score, x, targets, watch)
    sources = ([x] if wrt_inputs else []) + list(captured)
    grads = tape.gradient(scores, sources)
    return (outputs, scores, units) + tuple(captured) + tuple(grads)


def _compile(placement, body):
    """``body(x, targets) -> flat tuple`` as one ``tf.function``, run once per replica
    under ``placement``; returns ``call(x, targets) -> flat list``."""
    if placement is None:
        fn = tf.function(body, autograph=False, reduce_retracing=True)
        return lambda x, targets: list(fn(x, targets))

    strategy = placement.strategy

    @tf.function(autograph=False, reduce_retracing=True)
    def replicated(x, targets):
        return strategy.run(body, args=(x, targets))

    def call(x, targets):
        values = replicated(*placement.rows(x, targets))
        values = values if isinstance(values, (tuple, list)) else (values,)
        return placement.gather(tuple(values))

    return call


def make_forward(view, score, placement=None):
    run = _compile(placement, lambda x, targets: _forward(view, score, x, targets))

    def call(x, targets):
        outputs, scores, units, *captured = run(x, targets)
        return Passes(outputs, scores, units, None, tuple(captured), ())

    return call


def make_backprop(view, score, wrt_inputs=True, placement=None):
    run = _compile(placement,
                   lambda x, targets: _backprop(view, score, wrt_inputs, x, targets))
    layers = len(view.layers)

    def call(x, targets):
        outputs, scores, units, *rest = run(x, targets)
        captured, grads = rest[:layers], rest[layers:]
        input_grads = grads[0] if wrt_inputs else None
        layer_grads = grads[1:] if wrt_inputs else grads
        return Passes(outputs, scores, units, input_grads, tuple(captured), tuple(layer_grads))

    return call
