"""Every private Keras attribute kerascope reads, checked on the installed Keras.

When a Keras release renames one of them, the test for it fails with the
attribute's name and the Keras version, instead of an explanation failing somewhere
deep inside a pass. tests/test_architecture.py keeps the reads in
kerascope/keras_internals.py.
"""

import keras
import numpy as np
import pytest

from kerascope.engine import keras_internals


def _require(owner, attribute):
    assert hasattr(owner, attribute), (
        f"Keras {keras.__version__} has no {type(owner).__name__}.{attribute}; "
        f"kerascope.engine.keras_internals reads it and must be updated for this Keras release."
    )


def _nested():
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, keras.layers.Dense(3, name="inner_dense")(inner_in),
                        name="inner")
    inputs = keras.Input((4,))
    h = inner(inputs)
    h = keras.layers.Dense(2, name="middle")(h)
    outputs = keras.layers.Softmax(name="probs")(h)
    return keras.Model(inputs, outputs, name="outer"), inner


def test_flatten_layers_lists_nested_layers():
    model, inner = _nested()
    _require(model, "_flatten_layers")
    names = [layer.name for layer in keras_internals.sublayers(model)]
    assert {"inner", "inner_dense", "middle", "probs"} <= set(names)
    assert "outer" not in names  # the model itself is not included
    top = {layer.name for layer in keras_internals.sublayers(model, recursive=False)}
    assert "inner" in top and "inner_dense" not in top
    assert top >= {layer.name for layer in model.layers if layer.name != "input_layer"}


def test_layers_attribute_tells_leaves():
    model, inner = _nested()
    _require(inner.get_layer("inner_dense"), "_layers")
    assert keras_internals.is_leaf(model.get_layer("middle"))
    assert not keras_internals.is_leaf(inner)


def test_inbound_nodes_hold_each_graph_call():
    model, _ = _nested()
    layer = model.get_layer("probs")
    _require(layer, "_inbound_nodes")
    nodes = keras_internals.inbound_nodes(layer)
    assert len(nodes) == 1
    assert nodes[0].output_tensors[0] is model.outputs[0]


def test_keras_history_names_the_producing_layer():
    model, _ = _nested()
    output = model.outputs[0]
    _require(output, "_keras_history")
    layer, index = keras_internals.producer(output)
    assert layer is model.get_layer("probs") and index == 0
    assert keras_internals.producer(np.zeros(3)) is None  # not symbolic: no history


def test_call_with_variables_uses_the_given_values():
    """The public StatelessScope route that replaced stateless_call and the private
    ``_call_has_training_arg`` (Keras's ``__call__`` decides about ``training``)."""
    model, _ = _nested()
    x = np.ones((2, 4), np.float32)
    zeros = [np.zeros(v.shape, np.float32) for v in model.trainable_variables]
    out = keras_internals.call_with_variables(model, (zeros, []), x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), 0.5, atol=1e-7)
    own = [v.value for v in model.trainable_variables]
    out = keras_internals.call_with_variables(model, (own, []), x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out),
                               keras.ops.convert_to_numpy(model(x)), rtol=1e-6)
    # nothing was assigned to the model's variables
    assert np.abs(keras.ops.convert_to_numpy(model.trainable_variables[0].value)).max() > 0


def test_a_removed_attribute_fails_with_its_name_and_the_keras_version():
    class Bare:  # an object lacking the private attributes
        pass

    for reader, attribute in [(keras_internals.sublayers, "_flatten_layers"),
                              (keras_internals.is_leaf, "_layers")]:
        with pytest.raises(keras_internals.KerasInternalsError) as info:
            reader(Bare())
        assert attribute in str(info.value) and keras.__version__ in str(info.value)
    symbolic = keras.KerasTensor((None, 3))
    with pytest.raises(keras_internals.KerasInternalsError, match="_keras_history"):
        keras_internals.producer(symbolic)


def test_attention_parts_and_replaced_attention():
    mha = keras.layers.MultiHeadAttention(2, 4)
    x = np.ones((1, 3, 8), np.float32)
    mha(x, x)
    for attribute in ("_dot_product_equation", "_combine_equation", "_inverse_sqrt_key_dim",
                      "_attention_axes", "_softmax", "_compute_causal_mask",
                      "_compute_attention"):
        _require(mha, attribute)
    parts = keras_internals.attention_parts(mha)
    assert parts.softmax is mha._softmax and parts.attention_axes == (1,)
    assert np.isclose(parts.inverse_sqrt_key_dim, 0.5)
    calls = []

    def compute(query, key, value, *args, **kwargs):
        calls.append(query.shape)
        return keras.ops.zeros_like(query), None

    undo = keras_internals.replace_compute_attention(mha, compute)
    zero = keras.ops.convert_to_numpy(mha(x, x))
    undo()
    assert calls == [(1, 3, 2, 4)] and "_compute_attention" not in vars(mha)
    # the output projection's bias only: the replaced attention gave zeros
    np.testing.assert_allclose(zero, np.zeros_like(zero) + keras.ops.convert_to_numpy(
        mha.output_dense.bias), atol=1e-7)
    with pytest.raises(keras_internals.KerasInternalsError, match="_dot_product_equation"):
        keras_internals.attention_parts(object())


def test_add_operations_are_the_functional_plus():
    inputs = keras.Input((4,))
    h = keras.layers.Dense(4, name="d")(inputs)
    inner = keras.Model(inputs, h + inputs, name="inner")
    outer_in = keras.Input((4,))
    out = keras.layers.Add(name="layer_add")([inner(outer_in), outer_in]) + 1.0
    model = keras.Model(outer_in, out)
    found = keras_internals.add_operations(model)
    assert len(found) == 2 and not any(isinstance(op, keras.layers.Layer) for op in found)
    assert all(hasattr(op, "call") for op in found)
