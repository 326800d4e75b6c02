"""Checks of user input that name the argument and what was expected."""

import numpy as np


def model_input_shape(model):
    """The model's input shape with None for the batch axis, or None if unknown."""
    inputs = getattr(model, "inputs", None)
    try:
        if inputs:
            if len(inputs) != 1:
                raise ValueError(
                    f"model: kerascope explains models with one input; {model.name!r} "
                    f"has {len(inputs)}."
                )
            return tuple(inputs[0].shape)
    except (AttributeError, ValueError) as error:
        if "one input" in str(error):
            raise
    return None


def check_model(model, name="model"):
    """``model`` if it is a ``keras.Model``; ValueError naming what it is otherwise."""
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"{name}: expected a keras.Model, got {type(model).__name__}.")
    return model


def check_inputs(x, model, name="x"):
    """Validate one batch of inputs for ``model``; return it as float32 numpy."""
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{name}: expected numeric inputs, got dtype {x.dtype}.")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{name}: empty batch; expected at least one input, got shape {x.shape}.")
    expected = model_input_shape(model)
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
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: inputs contain NaN or infinite values.")
    return x


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
