"""The per-call ``Context`` handed to ``Method.attribute``, and the score of units.

One ``Context`` per explanation call holds the model, the resolved targets, the
``surgery.ModelView`` of the method's passes and its ``PassRunner``; methods run
their passes through it (``backprop``, ``forward``, ``expanded``) and compose
other methods with ``run``.
"""

import numpy as np

from kerascope.inputs import arrays as data
from kerascope.engine import noise, surgery
from kerascope.engine import targets as targets_lib
from kerascope.engine.rules.base import rules_for
from kerascope.engine.runner import PassRunner
from kerascope.methods import registry


class Context:
    """Everything one explanation call knows, handed to ``Method.attribute``.

    Attributes:
        model: the user's Keras model (never changed).
        view: the ``surgery.ModelView`` of this method's passes.
        targets: the resolved ``kerascope.engine.targets.Targets``.
        score: the ``Score`` the row targets are read with (a rank score when the
            method evaluates its inputs, explicit units otherwise).
        channel_axis: -1 (channels last) or 1.
        layers: the captured ``Layer`` objects, in the order of the method's ``layers``.
        batch_size: rows per device call.
        distribution: how passes spread over devices (``kerascope.explain``'s argument).
        output_index, use_logits: which output, and whether scores are pre-activation.
        state: a dict for the method's per-call scratch values.
        extras: per-call results besides the maps (e.g. IG's convergence delta),
            returned as ``Explanation.extras``.
        model_inputs: the model's declared inputs (``validation.ModelInputs``).
        input_names: the names of the model's inputs (one per array of ``Inputs``
            rows; one name for a single-input model).
        integer_inputs: ``[(name, dtype)]`` of the inputs holding integer ids (token
            ids): they have no gradient, and ``backprop`` with respect to the inputs
            refuses them, pointing at ``layer=``.
        row_samples: for the rows of the current ``attribute`` call, the index of
            the sample each one belongs to (in the whole call), so that per-sample
            options (an ``(N, ...)`` baseline, a per-sample feature mask) find their row.

    Methods: ``backprop`` and ``forward`` (batched passes of ``view``), ``runner``
    (passes of another view of the same model: other score, layers or rules),
    ``run`` (another registered method on the same rows and targets), ``unit_score``
    and ``rng``.
    """

    def __init__(self, model, targets, score, *, batch_size, output_index, use_logits,
                 layers=(), rules=(), channel_axis=None, distribution=None,
                 model_inputs=None, input_names=None, integer_inputs=(), method_name=None):
        self.model = model
        self.model_inputs = model_inputs
        self.input_names = tuple(input_names) if input_names is not None else ("x",)
        self.integer_inputs = list(integer_inputs)
        self.method_name = method_name
        self.row_samples = None
        self.targets = targets
        self.score = score
        self.batch_size = batch_size
        self.output_index = output_index
        self.use_logits = use_logits
        self.rules = tuple(rules)
        self.distribution = distribution
        self.channel_axis = surgery.channel_axis(model) if channel_axis is None else channel_axis
        self.view = surgery.ModelView(model, output_index=output_index, use_logits=use_logits,
                                      layers=layers, rules=self.rules)
        self.layers = self.view.layers
        self.state = {}
        self.extras = {}
        self.postprocesses = True
        self._runner = PassRunner(self.view, score, batch_size=batch_size,
                                  distribution=distribution)
        self._runners = {}
        self._children = {}

    # -- passes ---------------------------------------------------------------------
    def backprop(self, x, row_targets, wrt_inputs=True, layer_values=None, units=False,
                 layer_views=False):
        """Outputs, scores, units and gradients for rows ``x`` (numpy ``Passes``).

        ``layer_values``: one array (or None) per captured layer, row-aligned with
        ``x``: that layer's output is replaced by it during the pass, and
        ``layer_grads`` are taken there (layer attribution). With ``wrt_inputs``,
        inputs of integer ids are refused (they have no gradient). ``units=True``:
        ``row_targets`` are explicit output units (from ``resolve_units``), not the
        call's targets. ``layer_views=True``: the captured layers' arrays come back
        read-only, uncopied (``PassRunner.backprop``)."""
        if wrt_inputs:
            self.check_differentiable()
        runner = self._unit_runner() if units else self._runner
        return runner.backprop(x, row_targets, wrt_inputs=wrt_inputs, layer_values=layer_values,
                               layer_views=layer_views)

    def forward(self, x, row_targets=None, layer_values=None, units=False, layer_views=False):
        """Outputs, scores, units and captured layer outputs for rows ``x``, no gradients
        (``layer_values``, ``units`` and ``layer_views`` as for ``backprop``)."""
        runner = self._unit_runner() if units else self._runner
        return runner.forward(x, row_targets, layer_values=layer_values, layer_views=layer_views)

    def resolve_units(self, x, row_targets):
        """``(passes, units)``: the output units the targets pick at rows ``x``
        (``"predicted"``, top-k: at ``x`` itself) and the forward pass that found
        them (None when ``row_targets`` already are units: a method that does not
        evaluate its inputs gets them so from the driver).

        Rows derived from ``x`` (path points, noisy copies, baselines) are then
        scored with ``units=True`` at those units, so that they explain the class
        chosen at ``x``, not their own best class."""
        if not getattr(self.score, "rank", False):
            return None, np.asarray(row_targets, dtype=np.int32)
        passes = self.forward(x, row_targets)
        return passes, passes.units.astype(np.int32)

    def expanded(self, expansion, x, row_targets, inputs=(), constants=()):
        """``(maps, passes)`` of rows ``x`` from a ``kerascope.engine.expansion.Expansion``:
        its rows made, passed and reduced on the device, the inputs themselves passed
        in the same program (their outputs and target units come back as
        ``passes``), so that only ``x`` (and the per-row ``inputs``) go in and the
        maps come out (``PassRunner.expanded``). Random draws are keyed by
        ``row_samples``. Under a distribution, or inside
        ``expansion.host_reductions()``, the same expansion runs unfused."""
        samples = self.row_samples
        if samples is None or len(samples) != len(x):
            samples = np.arange(len(x))
        if self._runner.fuses:
            return self._runner.expanded(expansion, x, row_targets, samples, inputs,
                                         constants, row_score=self.unit_score)
        passes, units = self.resolve_units(x, row_targets)
        if passes is None:
            passes = self.forward(x, units)
        maps = self._unit_runner().expanded_on_host(expansion, x, units, samples, inputs,
                                                    constants)
        return maps, passes

    def reduction(self, how):
        """The channel reduction a device-side ``finish`` applies: ``how``, or None
        when the caller asked for maps before post-processing (``run(...,
        postprocess=False)``)."""
        return how if self.postprocesses else None

    def _unit_runner(self):
        if not getattr(self.score, "rank", False):
            return self._runner
        return self.runner(score=self.unit_score, layers=self.layers, rules=self.rules)

    def check_differentiable(self):
        """ValueError naming the first input of integer ids: its gradient would be
        exact zeros, silently; ``layer=`` attributes at a layer's output instead."""
        if not self.integer_inputs:
            return
        name, dtype = self.integer_inputs[0]
        method = f"method {self.method_name!r}" if self.method_name else "this method"
        embeddings = getattr(self.model_inputs, "embedding_names", ())
        example = f" (e.g. layer={embeddings[0]!r}, its Embedding)" if embeddings else ""
        raise ValueError(
            f"x: input {name!r} has dtype {dtype}: integer inputs (token ids) have no "
            f"gradient, so {method} would return maps of exact zeros. Pass "
            f"layer=<layer name or object>{example} to attribute to that layer's output "
            f"instead."
        )

    def runner(self, score=None, use_logits=None, layers=(), rules=()):
        """A ``PassRunner`` over another view of the same model (cached for the call)."""
        score = self.score if score is None else score
        use_logits = self.use_logits if use_logits is None else use_logits
        key = (score.key, use_logits, tuple(map(id, layers)), tuple(map(id, rules)))
        runner = self._runners.get(key)
        if runner is None:
            view = surgery.ModelView(self.model, output_index=self.output_index,
                                     use_logits=use_logits, layers=layers, rules=rules)
            runner = self._runners[key] = PassRunner(view, score, batch_size=self.batch_size,
                                                     distribution=self.distribution)
        return runner

    @property
    def unit_score(self):
        """The score of explicit units (what rank targets become after a forward pass)."""
        return passes_score(self.targets)

    # -- composition ------------------------------------------------------------------
    def run(self, method, x, row_targets, postprocess=True, with_passes=False):
        """Maps of another method (name, class or instance) on the same rows and targets.

        Nothing is resolved again: the sub-method gets a context over the same model,
        targets, score and batch size, with its own captured layers and rules. With
        ``postprocess=False`` its per-row maps come back before channel reduction;
        ``with_passes=True`` returns ``(maps, passes)`` (passes may be None).
        """
        method = registry.get(method)
        child = self._children.get(id(method))
        if child is None:
            score = self.score
            if not method.evaluates_inputs:
                score = self.unit_score
            child = Context(
                self.model, self.targets, score, batch_size=self.batch_size,
                output_index=self.output_index, use_logits=self.use_logits,
                layers=method.layers(self.model, x[:1]),
                rules=rules_for(method.rules(self.model), self.model),
                channel_axis=self.channel_axis, distribution=self.distribution,
                model_inputs=self.model_inputs, input_names=self.input_names,
                integer_inputs=self.integer_inputs, method_name=method.name,
            )
            self._children[id(method)] = (method, child)
        else:
            child = child[1]
        if not method.evaluates_inputs and child.score is not self.score:
            row_targets = self.forward(x, row_targets).units.astype(np.int32)
        child.row_samples = self.row_samples
        child.postprocesses = postprocess
        result = method.attribute(child, x, row_targets)
        maps, passes = result if isinstance(result, tuple) else (result, None)
        maps = data.per_input(lambda m: np.asarray(m, dtype=np.float32), maps)
        if postprocess:
            maps = method.postprocess(maps, x, child)
        return (maps, passes) if with_passes else maps

    # -- per-call helpers -------------------------------------------------------------
    def rng(self, seed):
        """This call's numpy Generator for ``seed`` (the same seed gives the same draws
        on every call; None draws fresh entropy)."""
        key = ("rng", seed)
        if key not in self.state:
            self.state[key] = np.random.default_rng(seed)
        return self.state[key]

    def seed(self, seed):
        """This call's int32 seed for ``kerascope.engine.noise`` draws: ``seed`` itself, or
        for None one fresh value per call."""
        key = ("seed", seed)
        if key not in self.state:
            self.state[key] = noise.seed_value(seed)
        return self.state[key]

    def record(self, key, values):
        """Append per-row ``values`` to ``extras[key]`` (concatenated by the driver)."""
        self.extras.setdefault(key, []).append(np.asarray(values))


def passes_score(resolved):
    """Score used after targets were resolved to units by a first forward pass."""
    if resolved.kind == "callable":
        return resolved.score()
    return targets_lib.UnitScore(rank=False)
