"""Guided backpropagation, Deconvnet, Guided SmoothGrad and Guided Grad-CAM."""

import pathlib

import numpy as np
import pytest

import keras

import kerascope
from tests.models import reference_model
from kerascope.methods.gradients import VanillaGradients
from kerascope.methods.guided import (
    Deconvnet,
    GuidedBackprop,
    GuidedGradCAM,
    GuidedSmoothGrad,
    deconvnet_relu,
    guided_relu,
)

# Test models get their weights set explicitly; skipping random initialisers avoids
# JAX compiling a random-number kernel for every weight shape.
ZEROS = {"kernel_initializer": "zeros"}

REFERENCE = pathlib.Path(__file__).parent / "data" / "guided_reference.npz"

# Hidden pre-activations z = x W1 = [2, -1, 1, 3] for x = [1, 1, 1]; the class-0
# upstream gradient at the hidden ReLUs is W2[:, 0] = [1, 2, -1, 0.5].
W1 = np.array([[1.0, -1.0, 1.0, 1.0],
               [0.5, 0.5, -1.0, 1.0],
               [0.5, -0.5, 1.0, 1.0]], np.float32)
W2 = np.array([[1.0, -1.0], [2.0, 1.0], [-1.0, 0.5], [0.5, 2.0]], np.float32)
X = np.ones((1, 3), np.float32)


def _hand_model(style):
    inputs = keras.Input((3,))
    if style == "dense_activation":
        hidden = keras.layers.Dense(4, activation="relu", name="hidden", **ZEROS)(inputs)
    else:
        hidden = keras.layers.Dense(4, name="hidden", **ZEROS)(inputs)
        relu = keras.layers.ReLU() if style == "relu_layer" else keras.layers.Activation("relu")
        hidden = relu(hidden)
    outputs = keras.layers.Dense(2, activation="softmax", name="head", **ZEROS)(hidden)
    model = keras.Model(inputs, outputs)
    model.get_layer("hidden").set_weights([W1, np.zeros(4, np.float32)])
    model.get_layer("head").set_weights([W2, np.zeros(2, np.float32)])
    return model


def _expected(rule, target=0):
    z = (X @ W1)[0]
    g = W2[:, target]
    gate = {"vanilla": z > 0, "guided": (z > 0) & (g > 0), "deconv": g > 0}[rule]
    return (W1 @ (g * gate))[None]


@pytest.mark.parametrize("style", ["dense_activation", "relu_layer", "activation_layer"])
def test_closed_form_on_hand_built_model_and_model_untouched(style):
    model = _hand_model(style)
    assert np.allclose((X @ W1)[0], [2, -1, 1, 3])
    weights = [w.copy() for w in model.get_weights()]
    out_before = keras.ops.convert_to_numpy(model(X))
    activations = [getattr(layer, "activation", None) for layer in model.layers]
    guided = GuidedBackprop(channel_reduction=None).explain(model, X, 0)[1]
    deconv = Deconvnet(channel_reduction=None).explain(model, X, 0)[1]
    # Guided: hidden unit 1 (z < 0) and unit 2 (upstream < 0) are both blocked.
    np.testing.assert_allclose(guided, _expected("guided"), atol=1e-6)
    np.testing.assert_allclose(guided, (W1[:, 0] * 1.0 + W1[:, 3] * 0.5)[None], atol=1e-6)
    # Deconvnet: unit 1 passes (positive upstream, negative z), unit 2 is blocked.
    np.testing.assert_allclose(deconv, _expected("deconv"), atol=1e-6)
    assert np.abs(guided - deconv).max() > 0.4
    assert np.abs(guided - _expected("vanilla")).max() > 0.4
    # the user's model is untouched: no patched attribute left, same weights/outputs
    for layer, activation in zip(model.layers, activations):
        assert "call" not in layer.__dict__
        assert getattr(layer, "activation", None) is activation
    assert model.get_layer("head").activation is keras.activations.softmax
    if style == "dense_activation":
        assert model.get_layer("hidden").activation is keras.activations.relu
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out_before, keras.ops.convert_to_numpy(model(X)))
    if style == "relu_layer":
        # plain gradients afterwards are the vanilla ones: no override leaked
        vanilla = VanillaGradients(channel_reduction=None).explain(model, X, 0)[1]
        np.testing.assert_allclose(vanilla, _expected("vanilla"), atol=1e-6)


def test_relu_overrides_keep_the_forward_pass():
    x = keras.ops.convert_to_tensor(np.array([-2.0, -0.5, 0.5, 2.0], np.float32))
    for fn in (guided_relu, deconvnet_relu):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(fn(x)), [0, 0, 0.5, 2.0])


def _normalized(maps):
    maps = np.asarray(maps, np.float64)
    peak = np.abs(maps).reshape(len(maps), -1).max(axis=1)
    return maps / peak.reshape((-1,) + (1,) * (maps.ndim - 1))


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(REFERENCE))


@pytest.fixture(scope="module")
def ref_model(ref):
    return reference_model(ref)


def test_same_maps_as_numpy_reference(ref, ref_model):
    """Same weights, same maps on every backend: compared with plain numpy."""
    # the reference model really exercises both gates
    assert np.abs(ref["guided"] - ref["vanilla"]).max() > 0.1
    assert np.abs(ref["guided"] - ref["deconv"]).max() > 0.1
    for method, key in [(GuidedBackprop, "guided"), (Deconvnet, "deconv")]:
        _, maps = method(channel_reduction=None).explain(ref_model, ref["x"], ref["targets"])
        assert maps.shape == ref[key].shape
        np.testing.assert_allclose(_normalized(maps), _normalized(ref[key]), atol=1e-4)


def test_guided_smoothgrad_is_guided_backprop_averaged_over_the_same_noise(ref, ref_model):
    model = ref_model
    x, targets = ref["x"][:2], ref["targets"][:2]
    method = GuidedSmoothGrad(num_samples=4, noise=0.2, seed=3, channel_reduction=None)
    _, maps = method.explain(model, x, targets)
    rows = GuidedSmoothGrad(num_samples=4, noise=0.2, seed=3).noisy_copies(x)
    per_row = GuidedBackprop(channel_reduction=None).explain(
        model, rows, np.repeat(targets, 4))[1]
    expected = per_row.reshape((2, 4) + x.shape[1:]).mean(axis=1)
    np.testing.assert_allclose(maps, expected, atol=1e-5)
    plain = kerascope.methods.SmoothGrad(num_samples=4, noise=0.2, seed=3,
                                         channel_reduction=None).explain(model, x, targets)[1]
    assert np.abs(plain - maps).max() > 1e-3


def _conv_model():
    rng = np.random.default_rng(1)
    inputs = keras.Input((8, 8, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1", **ZEROS)(inputs)
    h = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="c2", **ZEROS)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="head", **ZEROS)(h)
    model = keras.Model(inputs, outputs)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model, rng.uniform(0, 1, (3, 8, 8, 2)).astype(np.float32)


def test_guided_grad_cam_is_guided_backprop_times_upsampled_grad_cam():
    from kerascope.methods.cam import GradCAM

    model, x = _conv_model()
    outputs, maps = GuidedGradCAM(layer_name="c2", channel_reduction=None).explain(model, x)
    targets = outputs.argmax(-1)  # the default target: the predicted class
    _, guided = GuidedBackprop(channel_reduction=None).explain(model, x, targets)
    _, cam = GradCAM(layer_name="c2").explain(model, x, targets)
    assert cam.shape == x.shape[:3]
    np.testing.assert_allclose(maps, guided * cam[..., None], atol=1e-6)
    # the default: |.| summed over channels
    _, reduced = kerascope.guided_grad_cam(model, x, targets)  # layer found: c2
    np.testing.assert_allclose(reduced, np.abs(maps).sum(-1), atol=1e-6)
    assert reduced.max() > 0


def test_guided_grad_cam_rejects_a_dense_layer():
    model, x = _conv_model()
    with pytest.raises(ValueError, match="head"):
        GuidedGradCAM(layer_name="head").explain(model, x, 0)


def test_registry_and_shortcuts():
    model = _hand_model("dense_activation")
    outputs, maps = kerascope.explain("guided_backprop", model, X, 0)
    np.testing.assert_allclose(maps, _expected("guided"), atol=1e-6)  # no channel axis
    np.testing.assert_allclose(kerascope.deconvnet(model, X, 0, channel_reduction=None)[1],
                               _expected("deconv"), atol=1e-6)
    assert outputs.shape == (1, 2)
