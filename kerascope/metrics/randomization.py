"""Sanity checks for saliency maps (Adebayo et al. 2018, arXiv:1810.03292).

A map that does not change when the model's parameters or its training labels
are randomized explains the input, not the model. Every check here compares maps
of the same inputs and classes before and after a randomization:

* :func:`cascading_randomization`: re-initialize the layers of a *copy* of the
  model from the output down, one more layer at each step (the paper's Fig. 2-4);
* :func:`independent_randomization`: re-initialize one layer at a time, the
  others keeping their trained weights;
* :func:`data_randomization`: the same architecture trained on permuted labels
  (Sec. 5), by ``fit`` on a copy or by a user ``builder``;
* :func:`random_logit`: the map of the target class against the map of a random
  other class (xplique's RandomLogitMetric).

The user's model is never changed: randomizations happen on
``keras.models.clone_model(model)`` with the trained weights copied in
(``set_weights``). Re-initialization redraws every trainable weight, biases
included, from a truncated normal with Glorot scale (the paper randomizes "network
weights and other trainable variables"); ``randomization="initializer"`` uses the
layers' own Keras initializers instead (zero biases stay zero). Draws are seeded.

Similarity of two maps, per input (the paper's measures, Sec. 4):

* ``spearman_abs``: Spearman rank correlation of the absolute maps;
* ``spearman``: Spearman rank correlation of the signed maps;
* ``ssim``: structural similarity (scikit-image, Wang et al. 2004) of the absolute
  maps, each scaled to [0, 1] by its maximum;
* ``hog``: Pearson correlation of the histograms of oriented gradients (Dalal &
  Triggs 2005) of those scaled absolute maps.

SSIM and HOG need 2-D maps (images); for other inputs they are left out.
Two identical maps have similarity exactly 1.

Each check returns a :class:`SanityResult`: a table (one row per step, the mean
and std of each measure), the maps of every step, the paper's figure (similarity
per randomized layer) and the map strip per step, as matplotlib figures or PNG.
"""

from __future__ import annotations

import dataclasses
import numpy as np

import keras

from kerascope.engine import surgery
from kerascope.metrics.base import Layout, explain_maps, method_label, prepare
from kerascope.metrics.similarity import MEASURES, similarity
from kerascope.rendering import trust as trust_figures
from kerascope.rendering.figures import png_to_array
from kerascope.engine.validation import check_inputs

__all__ = [
    "SanityResult", "MEASURES", "similarity", "cascading_randomization",
    "independent_randomization", "data_randomization", "random_logit", "edge_map",
    "randomizable_layers", "random_weights", "clone_with_weights", "select_layers",
    "check_measures", "RANDOMIZATIONS",
]

# ------------------------------------------------------------------------------ result
@dataclasses.dataclass
class SanityResult:
    """The outcome of one sanity check.

    Attributes:
        kind: ``"cascading"``, ``"independent"``, ``"data"`` or ``"random_logit"``.
        method: the method's label.
        steps: step labels; ``steps[0]`` is the reference (``"original"``).
        layers: for model randomization, the layer randomized at each step (None
            at the reference).
        maps: ``(len(steps), N, *features)`` float32 maps of every step.
        scores: ``{measure: (len(steps), N)}`` similarity to the reference maps.
        x: the inputs; units: their classes (the classes explained at every step).
        details: check-specific extras (the random classes, the random-label model...).
    """

    kind: str
    method: str
    steps: list
    layers: list
    maps: np.ndarray
    scores: dict
    x: np.ndarray
    units: np.ndarray
    model_name: str = "model"
    details: dict = dataclasses.field(default_factory=dict)

    @property
    def measures(self):
        return [m for m in self.scores if np.isfinite(self.scores[m]).any()]

    def rows(self):
        """The table: one dict per step with ``step``, ``label``, ``layer`` and the
        mean and std of each measure (``<measure>`` and ``<measure>_std``)."""
        table = []
        for index, label in enumerate(self.steps):
            row = {"step": index, "label": label, "layer": self.layers[index]}
            for measure in self.measures:
                values = self.scores[measure][index]
                values = values[np.isfinite(values)]
                row[measure] = float(values.mean()) if values.size else float("nan")
                row[f"{measure}_std"] = float(values.std()) if values.size else float("nan")
            table.append(row)
        return table

    @property
    def table(self):
        return self.rows()

    def final(self, measure="spearman_abs"):
        """Mean similarity at the last step (every layer randomized, for cascading)."""
        return self.rows()[-1][measure]

    def format_table(self, digits=3) -> str:
        """The table as aligned text."""
        header = ["step", "randomized"] + self.measures
        lines = [header]
        for row in self.rows():
            lines.append([str(row["step"]), str(row["label"])]
                         + [f"{row[m]:.{digits}f}" for m in self.measures])
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                         for line in lines)

    def figure(self):
        """The paper's figure: mean similarity (± std band) per step, one line per measure."""
        return trust_figures.sanity_figure(self)

    def strip(self, num_inputs=3):
        """The map strip: one row per input (the input, then its map at each step)."""
        return trust_figures.sanity_strip(self, num_inputs)

    def figure_png(self) -> bytes:
        return trust_figures.png(self.figure())

    def strip_png(self, num_inputs=3) -> bytes:
        return trust_figures.png(self.strip(num_inputs))

    def figure_array(self) -> np.ndarray:
        """The figure as a uint8 RGB array (for TensorBoard)."""
        return png_to_array(self.figure_png())

    def strip_array(self, num_inputs=3) -> np.ndarray:
        return png_to_array(self.strip_png(num_inputs))


# ------------------------------------------------------------------------ randomizing
def randomizable_layers(model):
    """Layers with weights (nested models' layers included, containers excluded),
    in the model's order, input side first."""
    return [layer for layer in surgery.iter_layers(model)
            if layer.weights and not isinstance(layer, keras.Model)]


def clone_with_weights(model, sample):
    """A copy of ``model`` with the same weights (the user's model is not touched)."""
    try:
        copy = keras.models.clone_model(model)
        if not copy.built or len(copy.weights) != len(model.weights):
            copy(sample[:1])
        copy.set_weights(model.get_weights())
    except Exception as error:  # noqa: BLE001 - reported as a ValueError
        raise ValueError(
            f"model: sanity checks randomize a copy of the model made with "
            f"keras.models.clone_model, which failed for {model.name!r} "
            f"({type(error).__name__}: {error}). Give the model a get_config/from_config, "
            "or use data_randomization(builder=...)."
        ) from error
    return copy


def _initializer_for(layer, variable):
    name = variable.path.split("/")[-1] if hasattr(variable, "path") else variable.name
    name = name.split(":")[0]
    for attribute in (f"{name}_initializer", f"{name.replace('_kernel', '')}_initializer"):
        init = getattr(layer, attribute, None)
        if isinstance(init, keras.initializers.Initializer):
            return init
    return None


RANDOMIZATIONS = ("normal", "initializer")


def _fans(shape):
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


def random_weights(layer, seed, randomization="normal"):
    """Fresh values for every weight of ``layer``.

    ``randomization="normal"`` (the paper's "network weights and other trainable
    variables" re-initialized from a truncated normal): every trainable weight is
    drawn from ``N(0, s^2)`` truncated at ``2 s``, with ``s = sqrt(2 / (fan_in +
    fan_out))`` (Glorot) for kernels and ``s = 1 / sqrt(fan_in)`` of the layer's
    kernel for vectors (biases, scales; PyTorch's bias scale), so biases become
    random too. Non-trainable weights (batch-norm statistics) go back to their
    initializers.

    ``randomization="initializer"``: every weight from its layer's own Keras
    initializer with a fixed seed (a zero-initialized bias becomes zero again, as
    at the start of training).
    """
    if randomization not in RANDOMIZATIONS:
        raise ValueError(f"randomization: expected one of {RANDOMIZATIONS}, got {randomization!r}.")
    trainable = {id(v) for v in layer.trainable_weights}
    kernels = [tuple(int(d) for d in v.shape) for v in layer.weights if len(v.shape) >= 2]
    vector_std = 1.0 / np.sqrt(_fans(kernels[0])[0]) if kernels else 0.05
    values = []
    for index, variable in enumerate(layer.weights):
        shape = tuple(int(d) for d in variable.shape)
        dtype = keras.backend.standardize_dtype(variable.dtype)
        init = _initializer_for(layer, variable)
        if randomization == "normal" and id(variable) in trainable or init is None:
            rng = np.random.default_rng([int(seed), index])
            if len(shape) >= 2:
                fan_in, fan_out = _fans(shape)
                std = np.sqrt(2.0 / max(1, fan_in + fan_out))
            else:
                std = vector_std
            value = _truncated_normal(rng, shape) * std
        else:
            config = init.get_config()
            if "seed" in config:
                config["seed"] = int(seed) * 1009 + index
            fresh = type(init).from_config(config)
            value = np.asarray(keras.ops.convert_to_numpy(fresh(shape, dtype=dtype)))
        values.append(np.asarray(value).astype(dtype))
    return values


def _truncated_normal(rng, shape):
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return values


def select_layers(copy, layers):
    candidates = randomizable_layers(copy)
    if not candidates:
        raise ValueError("model: no layer has weights to randomize.")
    if layers is None:
        return candidates
    if isinstance(layers, str):
        layers = [layers]
    chosen = []
    for name in layers:
        layer = surgery.find_layer(copy, name if isinstance(name, str) else name.name)
        if not layer.weights or isinstance(layer, keras.Model):
            raise ValueError(f"layers: layer {layer.name!r} has no weights of its own to randomize.")
        chosen.append(layer)
    return [layer for layer in candidates if any(layer is c for c in chosen)]


def _feature_maps(problem, maps):
    flat = problem.layout.feature_maps(maps, problem.n, name="method")
    return flat.reshape((problem.n,) + problem.layout.feature_shape).astype(np.float32)


def _model_randomization(kind, model, x, targets, method, layers, measures, batch_size, seed,
                         output_index, method_options, randomization):
    if randomization not in RANDOMIZATIONS:
        raise ValueError(f"randomization: expected one of {RANDOMIZATIONS}, got {randomization!r}.")
    problem = prepare(model, x, targets, batch_size, False, output_index)
    copy = clone_with_weights(model, problem.x)
    trained = copy.get_weights()
    chosen = select_layers(copy, layers)
    top_down = list(reversed(chosen))

    def maps_of(current):
        return _feature_maps(problem, explain_maps(
            current, problem.x, problem.units, method, batch_size=batch_size,
            output_index=output_index, expected=problem.layout, method_options=method_options))

    steps, names, all_maps = ["original"], [None], [maps_of(copy)]
    for index, layer in enumerate(top_down):
        if kind == "independent":
            copy.set_weights(trained)
        layer.set_weights(random_weights(layer, seed + index, randomization))
        steps.append(layer.name)
        names.append(layer.name)
        all_maps.append(maps_of(copy))
    return _result(kind, method, steps, names, all_maps, problem, measures, model)


def _result(kind, method, steps, names, all_maps, problem, measures, model, details=None):
    maps = np.stack(all_maps)
    shape = problem.layout.feature_shape
    scores = {m: np.empty((len(steps), problem.n)) for m in measures}
    for index in range(len(steps)):
        found = similarity(maps[0], maps[index], measures, feature_shape=shape)
        for measure in measures:
            scores[measure][index] = found[measure]
    return SanityResult(kind=kind, method=method_label(method), steps=steps, layers=names,
                        maps=maps, scores=scores, x=problem.x, units=problem.units,
                        model_name=getattr(model, "name", "model"), details=details or {})


def check_measures(measures):
    """``measures`` as a tuple of known similarity names; ValueError otherwise."""
    measures = tuple([measures] if isinstance(measures, str) else measures)
    if not measures:
        raise ValueError("measures: expected at least one similarity measure.")
    for measure in measures:
        if measure not in MEASURES:
            raise ValueError(f"measures: unknown similarity {measure!r}; expected some of {MEASURES}.")
    return measures


def cascading_randomization(model, x, targets=None, method="vanilla_gradients", *, layers=None,
                            measures=MEASURES, randomization="normal", batch_size=32, seed=0,
                            output_index=0, method_options=None):
    """Cascading model parameter randomization (Adebayo et al. 2018, Sec. 4).

    Re-initializes the layers of a copy of ``model`` from the output layer down,
    one more at each step, and compares the maps of ``x`` (same classes
    throughout) with the trained model's.

    Args:
        model: a Keras model (left unchanged).
        x: inputs; targets: classes (int, ``(N,)``, one-hot or ``"predicted"``,
            resolved on the trained model).
        method: a method name, ``Method`` or callable ``(model, x, targets) -> maps``.
        layers: names of the layers to randomize (default: every layer with weights).
        measures: similarity measures (see :data:`MEASURES`).
        randomization: ``"normal"`` (every trainable weight, biases included, from a
            truncated normal, as the paper) or ``"initializer"`` (the layers' own
            initializers); see :func:`random_weights`.
        seed: seed of the re-initialization.

    Returns a :class:`SanityResult`; ``result.final("spearman_abs")`` is the mean
    rank correlation once every chosen layer is randomized.
    """
    return _model_randomization("cascading", model, x, targets, method, layers,
                                check_measures(measures), batch_size, seed, output_index,
                                method_options, randomization)


def independent_randomization(model, x, targets=None, method="vanilla_gradients", *,
                              layers=None, measures=MEASURES, randomization="normal",
                              batch_size=32, seed=0, output_index=0, method_options=None):
    """Independent layer randomization (Adebayo et al. 2018, Sec. 4): one layer at a time.

    Same arguments and result as :func:`cascading_randomization`; at step ``k``
    only the ``k``-th layer from the top is re-initialized.
    """
    return _model_randomization("independent", model, x, targets, method, layers,
                                check_measures(measures), batch_size, seed, output_index,
                                method_options, randomization)


def data_randomization(model, x, targets=None, method="vanilla_gradients", *, train_data=None,
                       fit_kwargs=None, compile_kwargs=None, builder=None, measures=MEASURES,
                       batch_size=32, seed=0, output_index=0, method_options=None,
                       randomization="initializer"):
    """Data randomization test (Adebayo et al. 2018, Sec. 5).

    The same architecture is trained on the training labels randomly permuted;
    the maps of that model are compared with the maps of ``model`` (trained on
    the true labels) for the same inputs and classes.

    Args:
        train_data: ``(x_train, y_train)``; the labels are permuted with ``seed``.
        fit_kwargs: arguments of ``fit`` (default ``{"epochs": 5, "verbose": 0}``).
        compile_kwargs: arguments of ``compile`` for the copy; default: the model's
            own compile configuration (the model must then be compiled).
        builder: instead of the above, ``builder(x_train, permuted_labels) ->`` a
            trained Keras model.
        randomization: how the copy is re-initialized before training (default:
            the layers' own initializers, a fresh training run).

    The random-label model is in ``result.details["random_model"]``.
    """
    measures = check_measures(measures)
    if train_data is None or len(train_data) != 2:
        raise ValueError("train_data: expected (x_train, y_train) to retrain on permuted labels.")
    x_train = np.asarray(train_data[0])
    y_train = np.asarray(train_data[1])
    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise ValueError(
            f"train_data: expected as many labels as inputs, got {len(x_train)} inputs and "
            f"{len(y_train)} labels."
        )
    problem = prepare(model, x, targets, batch_size, False, output_index)
    rng = np.random.default_rng(seed)
    permuted = y_train[rng.permutation(len(y_train))]
    if builder is not None:
        random_model = builder(x_train, permuted)
        if not isinstance(random_model, keras.Model):
            raise ValueError(
                f"builder: expected it to return a trained keras.Model, got "
                f"{type(random_model).__name__}."
            )
    else:
        x_train = check_inputs(x_train, model, name="train_data")
        random_model = clone_with_weights(model, problem.x)
        for index, layer in enumerate(randomizable_layers(random_model)):
            layer.set_weights(random_weights(layer, seed + index, randomization))
        if compile_kwargs is not None:
            random_model.compile(**compile_kwargs)
        else:
            config = model.get_compile_config() if getattr(model, "compiled", False) else None
            if not config:
                raise ValueError(
                    "compile_kwargs: the model is not compiled; pass compile_kwargs="
                    "dict(optimizer=..., loss=...) (or a builder) to train the random-label copy."
                )
            random_model.compile_from_config(config)
        options = {"epochs": 5, "verbose": 0}
        options.update(fit_kwargs or {})
        random_model.fit(x_train, permuted, **options)

    def maps_of(current):
        return _feature_maps(problem, explain_maps(
            current, problem.x, problem.units, method, batch_size=batch_size,
            output_index=output_index, expected=problem.layout, method_options=method_options))

    all_maps = [maps_of(model), maps_of(random_model)]
    return _result("data", method, ["true labels", "permuted labels"], [None, None], all_maps,
                   problem, measures, model,
                   details={"random_model": random_model, "permuted_labels": permuted})


def random_logit(model, x, targets=None, method="vanilla_gradients", *, measures=MEASURES,
                 batch_size=32, seed=0, output_index=0, method_options=None):
    """Random logit test (xplique's RandomLogitMetric; Adebayo et al. 2018, arXiv:1810.03292).

    Compares the map of each input's class with the map of a class drawn
    uniformly among the others. Class-sensitive maps give low similarity.
    The random classes are in ``result.details["random_units"]``.
    """
    measures = check_measures(measures)
    problem = prepare(model, x, targets, batch_size, False, output_index)
    classes = problem.outputs.shape[-1] if problem.outputs.ndim > 1 else 1
    if classes < 2:
        raise ValueError("model: the random logit test needs a model with at least 2 classes.")
    rng = np.random.default_rng(seed)
    other = rng.integers(0, classes - 1, size=problem.n)
    other = (other + (other >= problem.units)).astype(np.int32)

    def maps_of(units):
        return _feature_maps(problem, explain_maps(
            model, problem.x, units, method, batch_size=batch_size, output_index=output_index,
            expected=problem.layout, method_options=method_options))

    all_maps = [maps_of(problem.units), maps_of(other)]
    return _result("random_logit", method, ["target class", "random other class"], [None, None],
                   all_maps, problem, measures, model, details={"random_units": other})


def edge_map(model, x, targets=None):
    """A model-independent "explanation": the Sobel edge magnitude of each input.

    The control of Adebayo et al.: it passes no sanity check, since it never
    looks at the model. ``(N, H, W)`` for image inputs (channels averaged first).
    """
    from skimage.filters import sobel

    x = np.asarray(keras.ops.convert_to_numpy(x) if not isinstance(x, np.ndarray) else x)
    layout = Layout(x.shape[1:], surgery.channel_axis(model))
    if len(layout.feature_shape) != 2:
        raise ValueError(f"x: edge_map needs image inputs, got shape {x.shape}.")
    gray = layout.to_fc(x).mean(axis=-1).reshape((len(x),) + layout.feature_shape)
    return np.stack([sobel(image.astype(np.float64)) for image in gray]).astype(np.float32)

