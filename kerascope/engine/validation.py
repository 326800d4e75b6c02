"""Checks of user input that name the argument and what was expected."""

import numpy as np

from kerascope.inputs.arrays import Inputs
from kerascope.inputs.spec import InputSpec


class ModelInputs:
    """What ``model`` declares about its inputs (``specs`` is None when it declares
    nothing, e.g. a subclassed model that was never built on symbolic inputs)."""

    def __init__(self, model):
        import keras

        from kerascope.engine import surgery

        self.model_name = getattr(model, "name", type(model).__name__)
        try:
            declared = list(model.inputs) if getattr(model, "inputs", None) else None
        except (AttributeError, ValueError):
            declared = None
        layers = list(surgery.iter_layers(model))
        embeddings = [layer for layer in layers if isinstance(layer, keras.layers.Embedding)]
        self.embedding_names = tuple(layer.name for layer in embeddings)
        self.has_embedding = bool(embeddings)
        if not declared:
            self.specs = None
            self.names = None
            return
        fed = set()
        for layer in embeddings:
            try:
                tensor = layer.input
            except (AttributeError, ValueError, IndexError):
                continue
            for i, declared_input in enumerate(declared):
                if tensor is declared_input:
                    fed.add(i)
        self.specs = [
            InputSpec(
                name=str(getattr(tensor, "name", f"input_{i}")),
                shape=tuple(tensor.shape),
                dtype=str(getattr(tensor, "dtype", "float32")),
                feeds_embedding=i in fed,
            )
            for i, tensor in enumerate(declared)
        ]
        self.names = tuple(spec.name for spec in self.specs)

    def describe(self):
        if self.specs is None:
            return "undeclared inputs"
        return ", ".join(f"{spec.name!r} {spec.shape}" for spec in self.specs)

    def is_integer(self, x, spec):
        """Whether array ``x`` for input ``spec`` holds integer ids (no gradient)."""
        if spec is not None:
            return spec.integer
        return np.issubdtype(x.dtype, np.integer) and self.has_embedding


def model_input_shape(model):
    """The shape of a single-input model's input (None for the batch axis), or None
    when it has several inputs or declares none."""
    specs = ModelInputs(model).specs
    if specs and len(specs) == 1:
        return specs[0].shape
    return None


def check_model(model, name="model"):
    """``model`` if it is a ``keras.Model``; ValueError naming what it is otherwise."""
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"{name}: expected a keras.Model, got {type(model).__name__}.")
    return model


def check_inputs(x, model, name="x", inputs=None):
    """Validate one batch of inputs for ``model``.

    ``x``: one array, or ``Inputs`` for several model inputs. Returns the same kind:
    float32 numpy arrays, int32 for inputs of integer ids (an input declared with
    an integer dtype, or feeding an ``Embedding``). ``inputs``: the model's
    ``ModelInputs`` (computed when not given).
    """
    inputs = ModelInputs(model) if inputs is None else inputs
    specs = inputs.specs
    if isinstance(x, Inputs):
        return _check_structure(x, inputs, name)
    if specs is not None and len(specs) > 1:
        raise ValueError(
            f"{name}: model {inputs.model_name!r} has {len(specs)} inputs "
            f"({inputs.describe()}); expected a list, tuple or dict of arrays, one per "
            f"input, got one array of shape {np.shape(x)}."
        )
    return _check_array(x, specs[0] if specs else None, name, inputs)


def _check_structure(x, inputs, name):
    specs = inputs.specs
    labels = [f"{name}[{key!r}]" for key in x.names] if x.kind == "dict" else [
        f"{name}[{i}]" for i in range(len(x.arrays))
    ]
    matched = [None] * len(x.arrays)
    if specs is not None:
        if len(specs) != len(x.arrays):
            raise ValueError(
                f"{name}: model {inputs.model_name!r} has {len(specs)} input"
                f"{'s' if len(specs) > 1 else ''} ({inputs.describe()}); got "
                f"{len(x.arrays)} arrays."
            )
        if x.kind == "dict" and len(specs) > 1:
            by_name = {spec.name: spec for spec in specs}
            missing = [key for key in x.names if key not in by_name]
            if missing:
                raise ValueError(
                    f"{name}: dict keys {list(x.names)} do not match the model's input "
                    f"names {list(by_name)}."
                )
            matched = [by_name[key] for key in x.names]
        else:
            matched = list(specs)
    rows = {np.shape(a)[0] if np.ndim(a) else 0 for a in x.arrays}
    if len(rows) > 1:
        listed = ", ".join(f"{key!r}: {np.shape(a)}" for key, a in zip(x.names, x.arrays))
        raise ValueError(f"{name}: every input needs the same number of samples, got {listed}.")
    checked = [
        _check_array(a, spec, label, inputs) for a, spec, label in zip(x.arrays, matched, labels)
    ]
    names = x.names
    if specs is not None and x.kind != "dict":
        names = tuple(spec.name for spec in specs)
    return Inputs(checked, names, x.kind)


def _check_array(x, spec, name, inputs):
    x = np.asarray(x)
    if x.dtype.kind not in "biufc":  # np.number or bool
        raise ValueError(f"{name}: expected numeric inputs, got dtype {x.dtype}.")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{name}: empty batch; expected at least one input, got shape {x.shape}.")
    expected = spec.shape if spec is not None else None
    if expected is not None:
        if x.ndim != len(expected):
            hint = ""
            if x.ndim == len(expected) - 1:
                hint = " (a single sample? add a batch axis: x[None])"
            raise ValueError(
                f"{name}: expected rank {len(expected)} inputs of shape {expected}, got "
                f"shape {x.shape}{hint}."
            )
        for axis, (want, got) in enumerate(zip(expected[1:], x.shape[1:]), start=1):
            if want is not None and want != got:
                raise ValueError(
                    f"{name}: expected shape {expected}, got {x.shape} (axis {axis} is "
                    f"{got}, the model needs {want})."
                )
    if inputs.is_integer(x, spec):
        if not np.issubdtype(x.dtype, np.integer):
            if x.dtype == bool or not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
                raise ValueError(
                    f"{name}: input {spec.name if spec else name!r} takes integer ids "
                    f"(it feeds an Embedding or is declared {spec.dtype if spec else 'int'}), "
                    f"got non-integer values of dtype {x.dtype}."
                )
        return x.astype(np.int32, copy=False)
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: inputs contain NaN or infinite values.")
    return x


def integer_inputs(checked, raw, inputs):
    """``[(name, dtype)]`` of the inputs of a checked batch that hold integer ids
    (``raw``: the batch before checking, for the dtype the user gave)."""
    names = checked.names if isinstance(checked, Inputs) else (
        inputs.names[0] if inputs.names else "x",
    )
    checked_arrays = checked.arrays if isinstance(checked, Inputs) else (checked,)
    raw_arrays = raw.arrays if isinstance(raw, Inputs) else (raw,)
    return [
        (name, str(np.asarray(r).dtype))
        for name, c, r in zip(names, checked_arrays, raw_arrays)
        if c is not None and np.issubdtype(c.dtype, np.integer)
    ]


def check_positive_int(value, name, allow_none=False):
    """``int(value)`` for a positive int (bools refused); None too with ``allow_none``.
    The one positive-int check of the package."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        expected = "a positive int or None" if allow_none else "a positive int"
        raise ValueError(f"{name}: expected {expected}, got {value!r}.")
    return int(value)


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(
            f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}."
        )
    return value
