"""PyTorch: channels-last convolutions and poolings run without Keras's layout copies
(``kerascope.backend.torch.native``) give the outputs and input gradients of the
layers' own Keras ops, bit for bit, for every geometry they take; other layers keep
Keras's op."""

import keras
import numpy as np
import pytest

import kerascope
from kerascope import backend
from kerascope.engine import surgery

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch",
                                reason="native layer ops: PyTorch only")

LAYERS_2D = {
    "conv 3x3 same": lambda: keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
    "conv 4x4 same (uneven pad)": lambda: keras.layers.Conv2D(4, 4, padding="same"),
    "conv 3x3 same stride 2": lambda: keras.layers.Conv2D(4, 3, strides=2, padding="same"),
    "conv 3x3 valid stride 2": lambda: keras.layers.Conv2D(4, 3, strides=2),
    "conv dilated": lambda: keras.layers.Conv2D(4, 3, dilation_rate=2, padding="same"),
    "conv groups": lambda: keras.layers.Conv2D(4, 3, groups=2, padding="same"),
    "conv 1x1 no bias": lambda: keras.layers.Conv2D(4, 1, use_bias=False),
    "max pool 2": lambda: keras.layers.MaxPooling2D(2),
    "max pool 3 stride 2 (overlapping)": lambda: keras.layers.MaxPooling2D(3, strides=2),
    "average pool 3 stride 2": lambda: keras.layers.AveragePooling2D(3, strides=2),
}


def _model(layer, shape):
    inputs = keras.Input(shape)
    h = layer(inputs)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(3)(h))


def _keras_reference(model, x, targets):
    """Outputs and input gradients of the model's own Keras ops (plain torch autograd)."""
    import torch

    xt = torch.from_numpy(x).requires_grad_(True)
    out = model(xt, training=False)
    score = out[torch.arange(len(x)), torch.from_numpy(targets).long()].sum()
    (grad,) = torch.autograd.grad(score, [xt])
    return out.detach().numpy(), grad.numpy()


def _check(model, x):
    targets = np.arange(len(x)) % 3
    outputs, maps = kerascope.explain(
        kerascope.methods.get("vanilla_gradients", channel_reduction=None), model, x,
        targets, use_logits=False)
    ref_outputs, ref_maps = _keras_reference(model, x, targets)
    np.testing.assert_array_equal(outputs, ref_outputs)
    np.testing.assert_array_equal(maps, ref_maps)


@pytest.mark.parametrize("name", sorted(LAYERS_2D))
def test_2d_layer_ops_equal_keras(name, rng):
    layer = LAYERS_2D[name]()
    model = _model(layer, (9, 10, 4))
    assert [entry[0] for entry in backend.native_layer_ops([layer])] == [layer]
    _check(model, rng.standard_normal((3, 9, 10, 4)).astype(np.float32))
    assert "convolution_op" not in vars(layer) and "call" not in vars(layer)  # restored


def test_3d_layer_ops_equal_keras(rng):
    inputs = keras.Input((6, 7, 5, 2))
    h = keras.layers.Conv3D(3, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.MaxPooling3D(2)(h)
    h = keras.layers.Conv3D(2, 2, strides=2)(h)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))
    assert len(surgery.ModelView(model).native_ops) == 3
    _check(model, rng.standard_normal((2, 6, 7, 5, 2)).astype(np.float32))


def test_input_gradients_with_the_weights_held_as_constants(rng):
    """BatchNorm after a convolution (its in-place multiply saves no input copy with
    constant weights): the same outputs and gradients, and every weight trainable
    again after each method's passes."""
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Activation("relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))
    model.layers[2].set_weights([rng.uniform(0.5, 2, 4).astype(np.float32)] * 4)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    _check(model, x)
    for method in ("integrated_gradients", "smoothgrad", "grad_cam"):
        kerascope.explain(method, model, x, batch_size=8)
    assert all(keras.ops.convert_to_tensor(v).requires_grad for v in model.trainable_variables)


def test_uncovered_layers_keep_keras_ops():
    class Doubled(keras.layers.Conv2D):
        def convolution_op(self, inputs, kernel):
            return 2.0 * super().convolution_op(inputs, kernel)

    layers = [Doubled(2, 3), keras.layers.MaxPooling2D(2, padding="same"),
              keras.layers.Conv2D(2, 3, data_format="channels_first"),
              keras.layers.Conv1D(2, 3), keras.layers.DepthwiseConv2D(3)]
    assert backend.native_layer_ops(layers) == []


def test_a_nested_convolutional_model_is_covered(rng):
    inner_in = keras.Input((8, 8, 3))
    inner = keras.Model(inner_in, keras.layers.Conv2D(4, 3, activation="relu")(inner_in))
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.MaxPooling2D(2)(inner(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))
    assert len(surgery.ModelView(model).native_ops) == 2
    _check(model, rng.standard_normal((2, 8, 8, 3)).astype(np.float32))
