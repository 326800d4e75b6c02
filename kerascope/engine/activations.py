"""Intermediate layer outputs: ``kerascope.activations(model, x, layer_names)``.

The seed article's "extract intermediate outputs" step without building a
sub-model: the named layers (anywhere in the model, nested models included) are
captured during one batched forward pass of the model itself, so Sequential,
Functional, nested and subclassed models all work, and nothing is compiled on
the user's model.
"""

import numpy as np

import keras

from kerascope.engine import memory
from kerascope.inputs import arrays as data
from kerascope.engine.runner import PassRunner
from kerascope.engine.surgery import ModelView
from kerascope.engine.targets import CallableScore
from kerascope.engine.validation import check_inputs


def _no_score(outputs):
    """A zero score per sample: activations need no target."""
    while len(outputs.shape) > 1:
        outputs = outputs[..., 0]
    return keras.ops.zeros_like(outputs)


_NO_SCORE = CallableScore(_no_score)


def activations(model, x, layer_names, batch_size="auto", as_dict=False):
    """Outputs of the layers ``layer_names`` of ``model`` for inputs ``x``.

    Args:
        model: a Keras model.
        x: inputs: array, backend tensor or iterable of batches.
        layer_names: a layer name (or ``Layer``), or a list of them; layers of
            nested models are found by name too.
        batch_size: samples per forward pass; ``"auto"`` (default): from a memory
            budget (``kerascope.engine.memory``).
        as_dict: return ``{name: array}`` instead of a list.

    Returns:
        For a single name, one float numpy array ``(N, ...)``; for a list, a list
        of arrays in the order given (or a dict with ``as_dict=True``).
    """
    batch_size = memory.resolve(batch_size, model)
    single = isinstance(layer_names, (str, keras.layers.Layer))
    names = [layer_names] if single else list(layer_names)
    if not names:
        raise ValueError("layer_names: expected at least one layer name, got none.")
    view = ModelView(model, use_logits=False, layers=names)
    runner = PassRunner(view, _NO_SCORE, batch_size=batch_size)
    pieces = [[] for _ in names]
    for batch in data.iterate(x, batch_size):
        batch = check_inputs(batch, model)
        captured = runner.forward(batch).layer_outputs
        for index, output in enumerate(captured):
            if output is None:
                raise ValueError(
                    f"layer_names: layer {view.layers[index].name!r} did not run when "
                    f"the model was called (an input layer or an unused layer?)."
                )
            pieces[index].append(output)
    if not pieces[0]:
        raise ValueError("x: empty input; expected at least one sample.")
    arrays = [np.concatenate(parts) for parts in pieces]
    if as_dict:
        return {layer.name: array for layer, array in zip(view.layers, arrays)}
    return arrays[0] if single else arrays
