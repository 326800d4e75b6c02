"""kerascope.activations and the tf-explain ExtractActivations grid."""

import numpy as np
import pytest

import keras

import kerascope
from kerascope import demo
from kerascope.core.activations import ActivationsVisualization, ExtractActivations
from kerascope.core.occlusion_sensitivity import OcclusionSensitivity
from kerascope.utils.display import filter_display
from kerascope.utils.image import apply_grey_patch

# Test models get their weights set explicitly; skipping random initialisers avoids
# JAX compiling a random-number kernel for every weight shape.
ZEROS = {"kernel_initializer": "zeros"}


def _predict(model, x):
    return model.predict(np.asarray(x, np.float32), batch_size=len(x), verbose=0)


@pytest.fixture(scope="module")
def digits():
    model = demo.load_model()
    images, labels = demo.load_samples()
    return model, images, labels


def test_functional_model_equals_a_sub_model(digits):
    """The seed article's sub-model extraction, expressed with kerascope."""
    model, images, _ = digits
    layers_name = ["conv_1", "last_conv"]
    outputs = [layer.output for layer in model.layers if layer.name in layers_name]
    activations_model = keras.Model(model.inputs, outputs=outputs)
    expected = activations_model.predict(images, verbose=0)

    got = kerascope.activations(model, images, layers_name, batch_size=4)
    assert isinstance(got, list) and len(got) == 2
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-5)
    single = kerascope.activations(model, images, "last_conv", batch_size=4)
    np.testing.assert_allclose(single, expected[1], atol=1e-5)
    # order as given, dict form, a stream of (x, y) batches
    as_dict = kerascope.activations(model, images, ["last_conv", "conv_1"], as_dict=True,
                                    batch_size=4)
    assert list(as_dict) == ["last_conv", "conv_1"]
    stream = ((images[i:i + 3], None) for i in range(0, len(images), 3))
    streamed = kerascope.activations(model, stream, "conv_1", batch_size=4)
    np.testing.assert_allclose(streamed, expected[0], atol=1e-5)


def _nested_model():
    rng = np.random.default_rng(0)
    base_in = keras.Input((8, 8, 2))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="inner_conv",
                            **ZEROS)(base_in)
    h = keras.layers.Conv2D(4, 3, activation="relu", name="inner_conv2", **ZEROS)(h)
    base = keras.Model(base_in, h, name="base")
    inputs = keras.Input((8, 8, 2))
    h = keras.layers.Rescaling(2.0, offset=-1.0, name="pre")(inputs)
    h = base(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="head", **ZEROS)(h)
    model = keras.Model(inputs, outputs)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model, base


def test_layer_inside_a_nested_model():
    model, base = _nested_model()
    x = np.random.default_rng(1).uniform(0, 1, (5, 8, 8, 2)).astype(np.float32)
    got = kerascope.activations(model, x, ["inner_conv2", "pre", "head"], batch_size=2)
    inner = keras.Model(base.inputs, base.get_layer("inner_conv2").output)
    np.testing.assert_allclose(got[0], _predict(inner, 2.0 * x - 1.0), atol=1e-5)
    np.testing.assert_allclose(got[1], 2.0 * x - 1.0, atol=1e-6)
    assert got[2].shape == (5, 3)
    np.testing.assert_allclose(got[2].sum(-1), 1.0, atol=1e-5)  # probabilities: no stripping
    assert got[0].shape == (5, 6, 6, 4)


def test_unknown_layer_names_close_matches(digits):
    model, images, _ = digits
    with pytest.raises(ValueError, match="conv_1"):
        kerascope.activations(model, images[:1], ["conv1"])
    with pytest.raises(ValueError, match="layer_names"):
        kerascope.activations(model, images[:1], [])


def test_extract_activations_grid(digits):
    """tf-explain semantics: every channel of every image, one min-max scale."""
    model, images, _ = digits
    assert ActivationsVisualization is ExtractActivations
    grid = ExtractActivations(batch_size=3).explain((images[:2], None), model, ["conv_1"])
    maps = kerascope.activations(model, images[:2], "conv_1")
    tiles = filter_display(maps)  # tf-explain: tiled, then the whole grid min-max scaled
    scaled = (tiles - tiles.min()) / (tiles.max() - tiles.min())
    np.testing.assert_array_equal(grid, (scaled * 255).astype(np.uint8))
    n_cells = 2 * maps.shape[-1]  # 32 cells -> 6 x 6 grid of 26 x 26
    side = int(np.ceil(np.sqrt(n_cells)))
    assert grid.shape == (side * 26, side * 26) and grid.dtype == np.uint8
    assert grid.min() == 0 and grid.max() == 255
    # two layers of different sizes: their channels side by side, zero padded
    both = ExtractActivations().explain((images[:1], None), model, ["conv_1", "last_conv"])
    cells = 16 + 32
    side = int(np.ceil(np.sqrt(cells)))
    assert both.shape == (side * 26, side * 26)
    with pytest.raises(ValueError, match="dense"):
        ExtractActivations().explain((images[:1], None), model, ["dense"])


def test_seed_article_occlusion_on_the_digits_model(digits):
    """The article's occlusion loop (grey 127.5 patches, confidence per patch) with kerascope.

    Here rather than in test_occlusion.py so the digits model loads once.
    """
    model, images, labels = digits
    # the digits are in [0, 1]: their grey is 0.5 (the article's 127.5 is for [0, 255])
    img, label, patch_size, grey = images[8], int(labels[8]), 7, 0.5
    # kerascope: all patched images in batches, 1 - confidence per patch
    _, maps = kerascope.occlusion(model, img[None], targets=label, patch_size=patch_size,
                                  fill_value=grey, batch_size=8)
    # the article's loop (square image), its patched images predicted in one call
    corners, patched = [], []
    for top_left_x in range(0, img.shape[0], patch_size):
        for top_left_y in range(0, img.shape[1], patch_size):
            patched.append(apply_grey_patch(img, top_left_x, top_left_y, patch_size, grey))
            corners.append((top_left_x, top_left_y))
    predicted_classes = _predict(model, np.stack(patched))
    confidence_map = np.zeros(img.shape[:2])
    for (top_left_x, top_left_y), prediction in zip(corners, predicted_classes):
        confidence_map[top_left_y:top_left_y + patch_size,
                       top_left_x:top_left_x + patch_size] = prediction[label]
    np.testing.assert_allclose(maps[0], 1 - confidence_map, atol=1e-5)
    assert np.ptp(maps[0]) > 0.1  # some patches do hide the digit
    grid = OcclusionSensitivity(batch_size=16).explain((images[:4] * 255, None), model,
                                                       int(labels[0]), patch_size)
    assert grid.shape == (56, 56, 3) and grid.dtype == np.uint8
    sensitivity = OcclusionSensitivity().get_sensitivity_map(model, img, label, patch_size,
                                                             fill_value=grey)
    np.testing.assert_allclose(sensitivity, maps[0], atol=1e-6)
