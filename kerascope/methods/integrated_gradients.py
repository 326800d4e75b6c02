"""Integrated Gradients (Sundararajan, Taly & Yan 2017, arXiv:1703.01365).

``IG_i(x) = (x_i - x'_i) * integral_0^1 dS_c/dx_i (x' + a (x - x')) da``, approximated
by a quadrature ``sum_k w_k g(a_k)`` with one of the rules below. Completeness:
``sum_i IG_i(x) = S_c(x) - S_c(x')``; the residual of that identity is the
*convergence delta* (``return_convergence_delta=True``).

Rules, for ``n_steps = n``:

* ``riemann_left``: ``a_k = k/n``, k = 0..n-1; ``riemann_right``: k = 1..n;
  ``riemann_middle``: ``a_k = (k + 1/2)/n``; all with ``w_k = 1/n``;
* ``riemann_trapezoid``: ``a_k = k/(n-1)``, k = 0..n-1, end points weighted 1/2
  (exact for integrands linear in ``a``, e.g. ``S = sum x_i^2``);
* ``gausslegendre``: Gauss-Legendre nodes and weights on [0, 1].

Baselines: ``"zeros"`` (default), a number (constant image), ``"blur"`` (the input
blurred by a Gaussian of ``blur_sigma`` pixels), ``"uniform"`` (uniform noise in each
input's value range), an array broadcastable to one input, or an array of the
input's rank with one row per sample, ``(N, ...)`` (row ``i`` is sample ``i``'s
baseline). Several inputs: one baseline for all, or a list/tuple/dict of them (one
per input, a dict by input name, missing names taking ``"zeros"``); the path moves
every input at once, so completeness holds for the sum over all inputs' maps.

Layer Integrated Gradients (``layer=``, Captum's LayerIntegratedGradients): the path
interpolates the layer's output ``A`` between its baseline value ``A'`` and its
value at the input, ``A' + a (A - A')``, the rest of the model running on the
input; ``IG = (A - A') * integral dS_c/dA``, and completeness holds at the layer:
``sum IG = S_c(A) - S_c(A')``. ``A'`` is the layer's output at the baseline inputs
(e.g. ``baseline=0`` on token ids: the embedding of token 0, padding), or zeros
(``layer_baseline="zeros"``), or a given array (``layer_baseline=array``).

Expected Gradients (Erion et al. 2019, arXiv:1906.10670) / GradientSHAP (Lundberg &
Lee 2017, arXiv:1705.07874): IG averaged over baselines drawn from a reference set,
one random point per draw: ``EG(x) = E_{x'~D, a~U(0,1)} [(x - x') * dS_c/dx (x' +
a (x - x'))]``, estimated with ``num_samples`` draws per input (the ``a`` of one
input stratified: one uniform draw in each ``[k/s, (k+1)/s)``, shuffled against the
baselines, an unbiased estimate of lower variance); ``noise > 0`` first
adds Gaussian noise to the input (``sigma = noise * (max(x) - min(x))``), as
GradientSHAP's SmoothGrad-style noise. In expectation ``sum EG = S_c(x) - E[S_c(x')]``.
"""

import numpy as np

import keras

from kerascope.inputs import arrays as data

from kerascope.engine import noise as noise_lib
from kerascope.engine.expansion import Expansion, value_range, weighted_sum
from kerascope.methods.base import Method, reduce_channels
from kerascope.methods.layer_attribution import LayerOption, check_layer
from kerascope.engine.numeric import blur_matrix, gaussian_blur, spatial_axes
from kerascope.engine.validation import check_choice, check_positive_int

BASELINES = ("zeros", "blur", "uniform")

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def quadrature(n_steps, rule):
    """``(alphas, weights)`` of ``rule`` with ``n_steps`` nodes on [0, 1]."""
    n = check_positive_int(n_steps, "n_steps")
    check_choice(rule, "method", RULES)
    if rule == "riemann_left":
        return np.arange(n) / n, np.full(n, 1.0 / n)
    if rule == "riemann_right":
        return np.arange(1, n + 1) / n, np.full(n, 1.0 / n)
    if rule == "riemann_middle":
        return (np.arange(n) + 0.5) / n, np.full(n, 1.0 / n)
    if rule == "riemann_trapezoid":
        if n < 2:
            raise ValueError("n_steps: the trapezoid rule needs n_steps >= 2.")
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] *= 0.5
        return np.linspace(0.0, 1.0, n), weights
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1) / 2, weights / 2


_UNIFORM_STREAM = 11  # kerascope.engine.noise stream of the "uniform" baseline


class PathExpansion(Expansion):
    """Integrated Gradients' rows on the device: the path points ``x' + a_k (x - x')``
    in, ``(x - x') * sum_k w_k g(a_k)`` out (channels reduced by ``reduction``).

    The baseline ``x'`` is made on the device from ``x`` (``"zeros"``, a number,
    ``"blur"`` with the blur matrices, ``"uniform"`` keyed by the seed), given once
    (``"array"``: one input's baseline) or sent as per-input rows (``"rows"``).
    Constants: the nodes ``a``, the weights ``w``, the seed, then the blur matrices
    or the baseline array."""

    def __init__(self, n_steps, baseline, reduction, channel_axis):
        self.rows = n_steps
        self.baseline_kind = baseline
        self.reduction = reduction
        self.channel_axis = channel_axis

    @property
    def key(self):
        return ("path", self.rows, self.baseline_kind, self.reduction, self.channel_axis)

    def baseline(self, chunk):
        x = chunk.x
        kind = self.baseline_kind
        if kind == "rows":
            return keras.ops.cast(chunk.inputs[0], x.dtype)
        if kind == "array":
            return keras.ops.zeros_like(x) + chunk.constants[3]
        if kind == "blur":
            out = x
            axes = spatial_axes(len(x.shape), self.channel_axis)
            for axis, matrix in zip(axes, chunk.constants[3:]):
                moved = keras.ops.moveaxis(out, axis, -1)
                out = keras.ops.moveaxis(keras.ops.einsum("...i,oi->...o", moved, matrix),
                                         -1, axis)
            return out
        if kind == "uniform":
            low, high = value_range(x)
            keys = noise_lib.keys(chunk.constants[2], _UNIFORM_STREAM, chunk.samples)
            return low + (high - low) * noise_lib.uniform(keys, tuple(x.shape[1:]))
        return keras.ops.zeros_like(x) + float(kind)

    def _at(self, table, chunk):
        """``table[index]`` for the chunk's rows (padding rows read the last entry)."""
        return keras.ops.take(table, keras.ops.minimum(chunk.index, self.rows - 1), axis=0)

    def expand(self, chunk):
        x = chunk.x
        base = chunk.baseline = self.baseline(chunk)
        alphas = self._at(chunk.constants[0], chunk)
        shape = (1, -1) + (1,) * (len(x.shape) - 1)
        rows = keras.ops.expand_dims(base, 1) + keras.ops.reshape(alphas, shape) * \
            keras.ops.expand_dims(x - base, 1)
        return keras.ops.reshape(rows, (-1,) + tuple(x.shape[1:]))

    def reduce(self, values, chunk):
        # (x - x') times this chunk's share of the quadrature: linear, so chunks add
        weights = self._at(chunk.constants[1], chunk) * chunk.valid
        path = weighted_sum(values, weights, int(chunk.index.shape[0]))
        return ((chunk.x - chunk.baseline) * path,)

    def finish(self, sums, chunk):
        maps = sums[0]
        if self.reduction is not None and len(maps.shape) >= 3:
            maps = reduce_channels(maps, self.reduction, self.channel_axis, keras.ops)
        return maps


def _check_baseline(baseline, name="baseline"):
    """``baseline`` if it is a valid baseline spec (or a structure of them)."""
    if isinstance(baseline, dict):
        for key, value in baseline.items():
            _check_baseline(value, f"{name}[{key!r}]")
        return baseline
    if isinstance(baseline, str):
        check_choice(baseline, name, BASELINES)
        return baseline
    if isinstance(baseline, (list, tuple)) and (
        any(isinstance(item, (str, dict)) for item in baseline)
        or len({np.shape(item) for item in baseline}) > 1
    ):
        for i, item in enumerate(baseline):
            _check_baseline(item, f"{name}[{i}]")
        return baseline
    try:
        values = np.asarray(baseline, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: expected 'zeros', 'blur', 'uniform', a number or an array, got "
            f"{type(baseline).__name__}."
        ) from None
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: contains NaN or infinite values.")
    return baseline


def per_input_options(value, x, name, default):
    """``value`` split into one entry per input of ``Inputs`` rows ``x``: a dict by
    input name (missing names get ``default``), a list/tuple with one entry per
    input, or one value for every input."""
    if isinstance(value, dict):
        unknown = [key for key in value if key not in x.names]
        if unknown:
            raise ValueError(
                f"{name}: {unknown[0]!r} is not a model input; the inputs are "
                f"{', '.join(map(repr, x.names))}."
            )
        return [value.get(key, default) for key in x.names]
    if isinstance(value, (list, tuple)) and len(value) == len(x.arrays):
        return list(value)
    return [value] * len(x.arrays)


def rows_for(array, x, ctx, name):
    """``array`` for rows ``x``: per sample when it has ``x``'s rank and more than one
    row (row ``i`` for sample ``i``, through ``ctx.row_samples``), else broadcast to
    one input and repeated. ValueError naming ``name`` when it fits neither way."""
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == x.ndim and array.shape[1:] == x.shape[1:] and len(array) > 1:
        samples = ctx.row_samples
        if samples is None:
            raise ValueError(f"{name}: per-sample values need the driver's row indices.")
        if samples.max() >= len(array):
            raise ValueError(
                f"{name}: {len(array)} per-sample rows of shape {array.shape[1:]}, but x "
                f"has at least {samples.max() + 1} samples; expected one row per sample."
            )
        return array[samples]
    try:
        return np.broadcast_to(array, x.shape[1:])[None].repeat(len(x), axis=0)
    except ValueError:
        raise ValueError(
            f"{name}: shape {array.shape} does not broadcast to one input of shape "
            f"{x.shape[1:]}, and is not one row per sample of shape (N,) + "
            f"{x.shape[1:]}."
        ) from None


class IntegratedGradients(LayerOption, Method):
    """Path-integrated gradients from a baseline to the input.

    Args:
        n_steps: number of gradient evaluations along the path.
        baseline: "zeros", a number, "blur", "uniform", an array (one input's shape,
            or ``(N, ...)`` one per sample), or one per input (list/tuple/dict) for
            several inputs.
        method: quadrature rule (see module docstring).
        channel_reduction: "sum" (default, keeps completeness), None for raw maps.
        blur_sigma: Gaussian sigma in pixels for ``baseline="blur"``.
        seed: seed of the ``"uniform"`` baseline.
        return_convergence_delta: return ``sum(IG) - (S(x) - S(x'))`` per map as
            ``extras["convergence_delta"]`` of the ``Explanation``.
        layer: integrate along the output of this layer (name or object) instead of
            the input (Layer Integrated Gradients).
        layer_baseline: with ``layer``: None (the layer's output at ``baseline``),
            ``"zeros"``, or an array of the layer's output shape (per sample or not).
    """

    name = "integrated_gradients"
    aliases = ("ig",)
    family = "gradients"
    summary = "Gradients integrated along a path from a baseline to the input (completeness)."
    paper = "Sundararajan, Taly & Yan 2017, arXiv:1703.01365"
    signed = True
    multi_input = True
    evaluates_inputs = True  # the fused pass resolves the targets at the inputs

    cli_note = ("integrated_gradients starts from a black image (baseline {baseline!r} after "
                "preprocessing)")

    @classmethod
    def cli_defaults(cls, accepted, black, image_size):
        """64 steps from a black image; no seed (uniform baselines draw none)."""
        black = np.asarray(black, dtype=np.float64).ravel()
        uniform = bool(np.allclose(black, black[0]))
        return {"n_steps": 64, "baseline": float(black[0]) if uniform else black.tolist()}

    def __init__(self, n_steps=50, baseline="zeros", method="riemann_trapezoid",
                 channel_reduction="sum", blur_sigma=5.0, seed=None,
                 return_convergence_delta=False, layer=None, layer_baseline=None):
        self.n_steps = check_positive_int(n_steps, "n_steps")
        self.method = check_choice(method, "method", RULES)
        self.alphas, self.weights = quadrature(self.n_steps, method)
        self.baseline = _check_baseline(baseline)
        self.channel_reduction = channel_reduction
        self.blur_sigma = float(blur_sigma)
        self.seed = seed
        self.return_convergence_delta = return_convergence_delta
        self.layer = check_layer(layer)
        if isinstance(layer_baseline, str):
            check_choice(layer_baseline, "layer_baseline", ("zeros",))
        elif layer_baseline is not None:
            _check_baseline(layer_baseline, "layer_baseline")
        if layer_baseline is not None and layer is None:
            raise ValueError("layer_baseline: only used with layer=; pass a layer too.")
        self.layer_baseline = layer_baseline

    def rows_per_input(self):
        return self.n_steps

    def baselines(self, x, ctx):
        """The baseline of each row of ``x`` (one array, or ``Inputs``)."""
        if isinstance(x, data.Inputs):
            specs = per_input_options(self.baseline, x, "baseline", "zeros")
            return x.with_arrays(
                self._baseline(spec, a, ctx, f"baseline[{name!r}]")
                for spec, a, name in zip(specs, x.arrays, x.names)
            )
        return self._baseline(self.baseline, x, ctx, "baseline")

    def _baseline(self, spec, x, ctx, name):
        if isinstance(spec, str):
            spec = check_choice(spec, name, BASELINES)
            if spec == "zeros":
                return np.zeros_like(x)
            if spec == "blur":
                return gaussian_blur(x, self.blur_sigma, ctx.channel_axis)
            axes = tuple(range(1, x.ndim))
            low, high = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
            samples = ctx.row_samples if ctx.row_samples is not None and len(
                ctx.row_samples) == len(x) else np.arange(len(x))
            keys = noise_lib.keys(ctx.seed(self.seed), _UNIFORM_STREAM,
                              np.asarray(samples, dtype=np.int32))
            draws = keras.ops.convert_to_numpy(noise_lib.uniform(keys, x.shape[1:]))
            return (low + (high - low) * draws).astype(np.float32)
        rows = rows_for(spec, x, ctx, name)
        if np.issubdtype(x.dtype, np.integer):
            return np.round(rows).astype(x.dtype)
        return rows

    def expansion(self, x, ctx):
        """``(PathExpansion, inputs, constants)`` for one-array rows ``x``."""
        spec, inputs = self.baseline, ()
        if isinstance(spec, str) and spec in ("zeros", "blur", "uniform"):
            kind = "0.0" if spec == "zeros" else spec
        elif np.ndim(spec) == 0:
            kind = repr(float(spec))
        else:
            array = np.asarray(spec, dtype=np.float32)
            per_sample = array.ndim == x.ndim and array.shape[1:] == x.shape[1:] and len(array) > 1
            kind = "rows" if per_sample else "array"
            if per_sample:
                inputs = (rows_for(spec, x, ctx, "baseline"),)
        constants = [self.alphas.astype(np.float32), self.weights.astype(np.float32),
                     np.asarray(ctx.seed(self.seed), dtype=np.int32)]
        if kind == "array":
            constants.append(rows_for(spec, x[:1], ctx, "baseline"))
        if kind == "blur":
            constants += [blur_matrix(x.shape[axis], self.blur_sigma).astype(np.float32)
                          for axis in spatial_axes(x.ndim, ctx.channel_axis)]
        expansion = PathExpansion(self.n_steps, kind, ctx.reduction(self.channel_reduction),
                                  ctx.channel_axis)
        return expansion, inputs, constants

    def attribute(self, ctx, x, row_targets):
        if self.layer is not None:
            return self._attribute_layer(ctx, x, row_targets)
        ctx.check_differentiable()
        if not isinstance(x, data.Inputs) and not np.issubdtype(x.dtype, np.integer):
            expansion, inputs, constants = self.expansion(x, ctx)
            attributions, passes = ctx.expanded(expansion, x, row_targets, inputs, constants)
            if self.return_convergence_delta:
                units = passes.units.astype(np.int32)
                base = self.baselines(x, ctx)
                ends = ctx.forward(data.concat_rows([x, base]), np.concatenate([units] * 2),
                                   units=True)
                self._record_delta(ctx, attributions, ends.scores, len(x))
            return attributions, passes
        passes, units = ctx.resolve_units(x, row_targets)
        base = self.baselines(x, ctx)
        path = data.per_input(self._path, x, base)
        grads = ctx.backprop(path, np.repeat(units, self.n_steps), units=True).input_grads
        attributions = data.per_input(self._integrate, x, base, grads)
        if self.return_convergence_delta:
            ends = ctx.forward(data.concat_rows([x, base]), np.concatenate([units] * 2),
                               units=True)
            self._record_delta(ctx, attributions, ends.scores, len(x))
        return attributions, passes

    def _path(self, x, base):
        alphas = self.alphas.astype(np.float32).reshape((1, -1) + (1,) * (x.ndim - 1))
        path = base[:, None] + alphas * (x - base)[:, None]
        return path.reshape((-1,) + x.shape[1:]).astype(np.float32)

    def _integrate(self, x, base, grads):
        grads = grads.reshape((len(x), self.n_steps) + x.shape[1:])
        weights = self.weights.reshape((1, -1) + (1,) * (x.ndim - 1))
        return ((x - base) * (grads * weights).sum(axis=1)).astype(np.float32)

    def _record_delta(self, ctx, attributions, end_scores, n):
        gain = end_scores[:n] - end_scores[n:]
        total = sum(a.reshape(n, -1).sum(axis=1) for a in data.arrays(attributions)
                    if a is not None)
        ctx.record("convergence_delta", total - gain)

    def _attribute_layer(self, ctx, x, row_targets):
        passes, units = ctx.resolve_units(x, row_targets)
        if passes is None:
            passes = ctx.forward(x, units, units=True)
        actual = passes.layer_outputs[0]
        if isinstance(self.layer_baseline, str):
            base = np.zeros_like(actual)
        elif self.layer_baseline is not None:
            base = rows_for(self.layer_baseline, actual, ctx, "layer_baseline")
        else:
            base = ctx.forward(self.baselines(x, ctx), units, units=True).layer_outputs[0]
        path = self._path(actual, base)
        rows = data.repeat_rows(x, self.n_steps)
        grads = ctx.backprop(rows, np.repeat(units, self.n_steps), wrt_inputs=False,
                             layer_values=[path], units=True).layer_grads[0]
        attributions = self._integrate(actual, base, grads)
        if self.return_convergence_delta:
            ends = ctx.forward(data.concat_rows([x, x]), np.concatenate([units] * 2),
                               layer_values=[np.concatenate([actual, base])], units=True)
            self._record_delta(ctx, attributions, ends.scores, len(x))
        return attributions, passes


class ExpectedGradients(Method):
    """Expected Gradients / GradientSHAP: IG averaged over reference baselines.

    Args:
        references: the reference set the baselines are drawn from, ``(M, ...)``
            (one array per input for several inputs: list/tuple/dict), e.g. a
            sample of the training data.
        num_samples: draws (baseline, point on the path) per input.
        noise: GradientSHAP's input noise, as a fraction of each input's range
            (0: Expected Gradients).
        seed: seed of the draws (numpy Generator); None draws fresh ones.
        channel_reduction: "sum" (default), None for raw maps.
        return_convergence_delta: ``extras["convergence_delta"]``:
            ``sum(EG) - (S(x) - mean_j S(x'_j))`` over the drawn baselines.
    """

    name = "expected_gradients"
    aliases = ("gradient_shap", "gradientshap", "expectedgradients")
    family = "gradients"
    summary = "Integrated gradients averaged over baselines drawn from a reference set."
    paper = "Erion et al. 2019, arXiv:1906.10670; Lundberg & Lee 2017, arXiv:1705.07874"
    signed = True
    multi_input = True

    def __init__(self, references=None, num_samples=64, noise=0.0, seed=None,
                 channel_reduction="sum", return_convergence_delta=False):
        if references is None:
            raise ValueError(
                "references: Expected Gradients draws its baselines from a reference set; "
                "pass references=<array (M, ...) of inputs>, e.g. training samples."
            )
        self.references = reference_sets(references)
        self.num_samples = check_positive_int(num_samples, "num_samples")
        if not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise: expected a finite value >= 0, got {noise!r}.")
        self.noise = float(noise)
        self.seed = seed
        self.channel_reduction = channel_reduction
        self.return_convergence_delta = return_convergence_delta

    def rows_per_input(self):
        return self.num_samples

    def reference_rows(self, x):
        """The reference set matched to rows ``x``: one array, or ``Inputs``."""
        return match_references(self.references, x, "references")

    def attribute(self, ctx, x, row_targets):
        ctx.check_differentiable()
        passes, units = ctx.resolve_units(x, row_targets)
        refs = self.reference_rows(x)
        n, s = len(x), self.num_samples
        rng = ctx.rng(self.seed)
        pick = rng.integers(0, len(refs), size=n * s)
        # one point in each of the s strata of [0, 1] per input, in random order:
        # still uniform draws, with far less variance than independent ones
        strata = np.argsort(rng.random((n, s)), axis=1)
        alphas = ((strata + rng.random((n, s))) / s).reshape(-1).astype(np.float32)
        base = refs[pick]
        rows = data.repeat_rows(x, s)
        if self.noise > 0:
            rows = data.per_input(lambda a: self._noisy(a, rng), rows)

        def point(a, b):
            shaped = alphas.reshape((-1,) + (1,) * (a.ndim - 1))
            return (b + shaped * (a - b)).astype(np.float32)

        grads = ctx.backprop(data.per_input(point, rows, base), np.repeat(units, s),
                             units=True).input_grads

        def average(a, b, g):
            return ((a - b) * g).reshape((n, s) + a.shape[1:]).mean(axis=1)

        attributions = data.per_input(average, rows, base, grads)
        if self.return_convergence_delta:
            scores = ctx.forward(data.concat_rows([x, base]),
                                 np.concatenate([units, np.repeat(units, s)]),
                                 units=True).scores
            gain = scores[:n] - scores[n:].reshape(n, s).mean(axis=1)
            total = sum(a.reshape(n, -1).sum(axis=1) for a in data.arrays(attributions))
            ctx.record("convergence_delta", total - gain)
        return attributions, passes

    def _noisy(self, a, rng):
        axes = tuple(range(1, a.ndim))
        spread = a.max(axis=axes, keepdims=True) - a.min(axis=axes, keepdims=True)
        return (a + self.noise * spread * rng.standard_normal(a.shape)).astype(np.float32)


def reference_sets(references):
    """A reference set as float32 arrays (one, or a list/tuple/dict of them)."""
    if isinstance(references, dict):
        return {key: _reference_array(value, f"references[{key!r}]")
                for key, value in references.items()}
    if isinstance(references, (list, tuple)) and references and all(
        isinstance(r, np.ndarray) or hasattr(r, "shape") for r in references
    ):
        return type(references)(
            _reference_array(r, f"references[{i}]") for i, r in enumerate(references)
        )
    return _reference_array(references, "references")


def _reference_array(value, name):
    array = np.asarray(data.to_numpy(value), dtype=np.float32)
    if array.ndim < 2 or len(array) == 0:
        raise ValueError(
            f"{name}: expected a reference set of shape (M, ...) with M >= 1 samples, "
            f"got shape {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or infinite values.")
    return array


def match_references(references, x, name):
    """``references`` (as ``reference_sets`` stores them) checked against rows ``x``."""
    if isinstance(x, data.Inputs):
        if isinstance(references, dict):
            missing = [key for key in x.names if key not in references]
            if missing:
                raise ValueError(
                    f"{name}: no reference set for input {missing[0]!r}; expected one per "
                    f"input ({', '.join(map(repr, x.names))})."
                )
            arrays = [references[key] for key in x.names]
        elif isinstance(references, (list, tuple)) and len(references) == len(x.arrays):
            arrays = list(references)
        else:
            raise ValueError(
                f"{name}: the model has {len(x.arrays)} inputs; expected a list, tuple or "
                f"dict of reference sets, one per input."
            )
        for label, ref, a in zip(x.names, arrays, x.arrays):
            _check_reference_shape(ref, a, f"{name}[{label!r}]")
        sizes = {len(ref) for ref in arrays}
        if len(sizes) > 1:
            raise ValueError(f"{name}: every input's reference set needs the same length.")
        return x.with_arrays(arrays)
    if isinstance(references, (dict, list, tuple)):
        raise ValueError(f"{name}: the model has one input; expected one array (M, ...).")
    _check_reference_shape(references, x, name)
    return references


def _check_reference_shape(ref, x, name):
    if ref.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"{name}: reference samples of shape {ref.shape[1:]} do not match inputs of "
            f"shape {x.shape[1:]}."
        )
