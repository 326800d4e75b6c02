"""JAX passes: ``jax.jit`` over the model's ``stateless_call``.

Variables are arguments, not constants, so a model whose weights change between
calls (a callback during ``fit``) is explained with its current weights without
recompiling. Gradients with respect to layer outputs are taken through zero probes
added to those outputs. ``x`` may be one tensor or a list/tuple/dict of tensors
(models with several inputs); the input gradient has the same structure.

Several devices: under a ``keras.distribution`` distribution (``DataParallel``; the
layouts of ``ModelParallel`` are honoured too), each call's rows are placed with the
distribution's data layout (split along the batch axis of its device mesh) and the
variables with their variable layouts (replicated for ``DataParallel``), and
``jax.jit`` partitions the pass accordingly: same program, same results.
"""

import collections
import dataclasses

import jax
import jax.numpy as jnp
import keras

from kerascope.backend.common import (
    Passes,
    forward_view,
    fused_scores,
    note_trace,
    replace_outputs,
    run_fused,
    run_view,
    summarize,
)


def _variables(model):
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )


class Placement:
    """A ``keras.distribution`` distribution applied to one model's passes."""

    def __init__(self, distribution, model):
        mesh = distribution.device_mesh
        axis = distribution.batch_dim_name
        self.distribution = distribution
        self.replicas = int(mesh.shape[list(mesh.axis_names).index(axis)]) if axis else 1
        self.key = ("keras.distribution", id(distribution))
        self.last_rows_per_device = collections.Counter()
        self._shardings = tuple(
            [distribution.get_variable_layout(v).backend_layout for v in variables]
            for variables in (model.trainable_variables, model.non_trainable_variables)
        )
        self._placed = (None, None)

    def variables(self, model):
        """The model's current variable values, laid out once per new value."""
        values = _variables(model)
        flat = values[0] + values[1]
        cached, placed = self._placed
        if cached is None or len(cached) != len(flat) or any(
                a is not b for a, b in zip(cached, flat)):
            placed = jax.device_put(values, self._shardings)
            self._placed = (flat, placed)
        return placed

    def rows(self, x, targets, values=None):
        """Numpy rows (one array or a structure of them), targets and layer values,
        split across the devices by the data layout."""
        def put(a):
            return jax.device_put(a, self.distribution.get_data_layout(a.shape).backend_layout)

        place = lambda tree: jax.tree_util.tree_map(put, tree)  # noqa: E731
        return place(x), put(targets), (None if values is None else place(values))

    def note(self, value):
        """Record which device computed how many rows of ``value`` (a pass result)."""
        counts = collections.Counter()
        if value.sharding.is_fully_replicated:
            device = min(value.sharding.device_set, key=lambda d: d.id)
            counts[f"{device.platform}:{device.id}"] = value.shape[0]
        else:
            for shard in value.addressable_shards:
                if shard.replica_id == 0:
                    counts[f"{shard.device.platform}:{shard.device.id}"] += shard.data.shape[0]
        self.last_rows_per_device = counts


def placement(distribution, model):
    """A ``Placement`` for ``distribution`` (None: the global one, if any)."""
    if distribution is None:
        distribution = keras.distribution.distribution()
        if distribution is None:
            return None
    if not all(hasattr(distribution, name) for name in
               ("device_mesh", "batch_dim_name", "get_data_layout", "get_variable_layout")):
        raise ValueError(
            f"distribution: expected a keras.distribution distribution (e.g. "
            f"keras.distribution.DataParallel()) on the JAX backend, got "
            f"{type(distribution).__name__}."
        )
    if jax.process_count() > 1:
        raise ValueError(
            "distribution: kerascope splits passes over the devices of one process; "
            "for several hosts use kerascope.ray."
        )
    key = (id(distribution), id(model))
    entry = _PLACEMENTS.get(key)
    if entry is None or entry[0] is not distribution or entry[1] is not model:
        entry = _PLACEMENTS[key] = (distribution, model, Placement(distribution, model))
        while len(_PLACEMENTS) > 8:
            _PLACEMENTS.popitem(last=False)
    return entry[2]


_PLACEMENTS = collections.OrderedDict()


def _run(view, score, variables, x, targets, probes, values=None):
    add_probe = None if probes is None else (lambda index, output: output + probes[index])
    transform = replace_outputs(values, add_probe)
    outputs, scores, units, captured = run_view(view, score, x, targets, transform, variables)
    return scores, (outputs, scores, units, captured)


def _arguments(view, placement, x, targets, values):
    if placement is None:
        return _variables(view.model), x, targets, values
    return (placement.variables(view.model),) + placement.rows(x, targets, values)


def make_forward(view, score, placement=None):
    @jax.jit
    def forward(variables, x, targets, values):
        note_trace("forward")
        return forward_view(view, score, x, targets, values, variables)

    def call(x, targets, values=None):
        outputs, scores, units, captured = forward(
            *_arguments(view, placement, x, targets, values))
        if placement is not None:
            placement.note(outputs)
        return Passes(outputs, scores, units, None, tuple(captured), ())

    return call


def make_backprop(view, score, wrt_inputs=True, placement=None):
    def total(x, probes, variables, targets, values):
        scores, aux = _run(view, score, variables, x, targets, probes, values)
        return jnp.sum(scores), aux

    argnums = (0, 1) if wrt_inputs else (1,)
    grad = jax.grad(total, argnums=argnums, has_aux=True)

    @jax.jit
    def backprop(variables, x, targets, values):
        note_trace("backprop")
        shapes = jax.eval_shape(
            lambda v, xs, t, vs: _run(view, score, v, xs, t, None, vs)[1][3],
            variables, x, targets, values,
        )
        probes = [jnp.zeros(s.shape, s.dtype) for s in shapes]
        grads, (outputs, scores, units, captured) = grad(x, probes, variables, targets, values)
        input_grads = grads[0] if wrt_inputs else None
        captured, layer_grads = summarize(view, captured, grads[-1])
        return outputs, scores, units, input_grads, captured, layer_grads

    def call(x, targets, values=None):
        outputs, scores, units, gx, captured, gl = backprop(
            *_arguments(view, placement, x, targets, values))
        if placement is not None:
            placement.note(outputs if gx is None else jax.tree_util.tree_leaves(gx)[0])
        return Passes(outputs, scores, units, gx, tuple(captured), tuple(gl))

    return call


def make_fused(view, score, row_score, expansion):
    """``call(chunk, targets, resolve) -> (sums, first)``: ``expansion``'s rows made,
    differentiated (or scored at ``row_score``) and reduced in one ``jax.jit``
    program (``common.run_fused``); only the chunk's arrays go in."""

    def total(rows, variables, targets):
        return jnp.sum(fused_scores(view, row_score, rows, targets, variables))

    gradient = jax.grad(total)

    def fused(variables, x, targets, samples, index, inputs, constants, resolve):
        note_trace("fused")
        chunk = dataclasses.replace(template[0], x=x, samples=samples, index=index,
                                    inputs=inputs, constants=constants)
        return run_fused(view, score, row_score, expansion, chunk, targets, resolve,
                         lambda rows, t: gradient(rows, variables, t), variables)

    compiled = jax.jit(fused, static_argnames=("resolve",))
    template = [None]

    def call(chunk, targets, resolve):
        template[0] = chunk
        return compiled(_variables(view.model), chunk.x, targets, chunk.samples, chunk.index,
                        tuple(chunk.inputs), tuple(chunk.constants), resolve=resolve)

    return call
