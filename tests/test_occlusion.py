"""Occlusion sensitivity and RISE."""

import pathlib

import numpy as np
import pytest

import keras

import kerascope
from kerascope.core.occlusion_sensitivity import OcclusionSensitivity
from kerascope.methods.occlusion import Occlusion, window_starts
from kerascope.methods.rise import RISE
from kerascope.engine import runner
from kerascope.utils.image import apply_grey_patch
from tests.models import reference_model

# Test models get their weights set explicitly; skipping random initialisers avoids
# JAX compiling a random-number kernel for every weight shape.
ZEROS = {"kernel_initializer": "zeros"}

REFERENCE = pathlib.Path(__file__).parent / "data" / "guided_reference.npz"


def _small_cnn(shape, seed=0):
    """A random softmax CNN for inputs in [0, 255]."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input(shape)
    h = keras.layers.Rescaling(1 / 255.0)(inputs)
    h = keras.layers.Conv2D(4, 3, activation="relu", **ZEROS)(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(3, activation="softmax", **ZEROS)(h)
    model = keras.Model(inputs, outputs)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def _probabilities(model, images):
    """Keras' own predict (compiled once per shape; eager calls are slow on JAX)."""
    images = np.asarray(images, np.float32)
    return model.predict(images, batch_size=len(images), verbose=0)


def _tf_explain_reference(model, image, class_index, patch_size):
    """tf-explain 0.3's definition, one image at a time, rows as rows (no transpose)."""
    height, width = image.shape[:2]
    corners = [(y, x) for y in range(0, height, patch_size) for x in range(0, width, patch_size)]
    patched = [apply_grey_patch(image, x, y, patch_size) for y, x in corners]
    confidences = _probabilities(model, np.stack(patched))[:, class_index]  # one call
    sensitivity = np.zeros((height, width))
    for (y, x), confidence in zip(corners, confidences):
        sensitivity[y:y + patch_size, x:x + patch_size] = 1 - confidence
    return sensitivity


@pytest.mark.parametrize("shape, patch", [((8, 8, 3), 4), ((6, 10, 1), 4)])
def test_matches_tf_explain_definition(shape, patch):
    model = _small_cnn(shape)
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (2,) + shape).astype(np.float32)
    _, maps = Occlusion(patch_size=patch).explain(model, images, 2, batch_size=7)
    assert maps.shape == (2,) + shape[:2]
    for image, sensitivity in zip(images, maps):
        expected = _tf_explain_reference(model, image, 2, patch)
        np.testing.assert_allclose(sensitivity, expected, atol=1e-5)
        assert np.ptp(expected) > 1e-3  # the patches do change the prediction


def test_channels_first_model_gives_the_channels_last_maps():
    if keras.backend.backend() == "tensorflow":
        pytest.skip("TensorFlow's CPU Conv2D has no channels_first kernel (UnimplementedError)")
    rng = np.random.default_rng(3)

    def model(data_format, shape):
        inputs = keras.Input(shape)
        h = keras.layers.Conv2D(4, 3, activation="relu", data_format=data_format, **ZEROS)(inputs)
        h = keras.layers.GlobalAveragePooling2D(data_format=data_format)(h)
        return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", **ZEROS)(h))

    last, first = model("channels_last", (7, 9, 2)), model("channels_first", (2, 7, 9))
    weights = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in last.get_weights()]
    last.set_weights(weights)
    first.set_weights(weights)
    images = rng.uniform(0, 1, (2, 7, 9, 2)).astype(np.float32)
    options = dict(patch_size=3, stride=2, fill_value="mean", mode="difference")
    _, expected = kerascope.occlusion(last, images, 1, **options)
    _, maps = kerascope.occlusion(first, images.transpose(0, 3, 1, 2), 1, **options)
    assert maps.shape == (2, 7, 9) and np.ptp(expected) > 1e-4
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-6)


def test_overlapping_windows_mean_fill_and_difference_mode():
    shape = (7, 9, 2)
    model = _small_cnn(shape, seed=3)
    image = np.random.default_rng(2).uniform(0, 255, (1,) + shape).astype(np.float32)
    patch, stride = 3, 2
    _, maps = Occlusion(patch, stride=stride, fill_value="mean", mode="difference").explain(
        model, image, 1, batch_size=4)
    base = _probabilities(model, image)[0, 1]
    fill = image[0].mean(axis=(0, 1))
    total, count = np.zeros(shape[:2]), np.zeros(shape[:2])
    rows, cols = window_starts(7, 3, 2), window_starts(9, 3, 2)
    assert rows == [0, 2, 4] and cols == [0, 2, 4, 6]
    corners = [(r, c) for r in rows for c in cols]
    patched = np.repeat(image, len(corners), axis=0)
    for k, (r, c) in enumerate(corners):
        patched[k, r:r + patch, c:c + patch] = fill
    scores = _probabilities(model, patched)[:, 1]
    for (r, c), score in zip(corners, scores):
        total[r:r + patch, c:c + patch] += base - score
        count[r:r + patch, c:c + patch] += 1
    np.testing.assert_allclose(maps[0], total / count, atol=1e-5)
    # one value per window position
    _, grid = Occlusion(patch, stride=stride, fill_value="mean", mode="difference",
                        resolution="patches").explain(model, image, 1)
    assert grid.shape == (1, 3, 4)
    patched = image[0].copy()
    patched[2:5, 4:7] = fill  # window (1, 2): rows[1] = 2, cols[2] = 4
    np.testing.assert_allclose(grid[0, 1, 2], base - _probabilities(model, patched[None])[0, 1],
                               atol=1e-5)


def test_window_positions():
    assert window_starts(10, 4, 4) == [0, 4, 8] == list(range(0, 10, 4))
    assert window_starts(8, 4, 4) == [0, 4]
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(5, 5, 1) == [0]


def _region_model(height, width, rows, cols):
    """Two classes decided only by the pixels rows x cols (a Cropping2D)."""
    (r0, r1), (c0, c1) = rows, cols
    inputs = keras.Input((height, width, 1))
    h = keras.layers.Cropping2D(((r0, height - r1), (c0, width - c1)))(inputs)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(2, activation="softmax", **ZEROS)(h)
    model = keras.Model(inputs, outputs)
    k = (r1 - r0) * (c1 - c0)
    model.layers[-1].set_weights([np.stack([np.ones(k), -np.ones(k)], 1).astype(np.float32),
                                  np.array([-k / 2, k / 2], np.float32)])
    return model


def _region_input(height, width, rows, cols, seed=0):
    x = np.random.default_rng(seed).uniform(0, 1, (1, height, width, 1)).astype(np.float32)
    x[:, rows[0]:rows[1], cols[0]:cols[1]] = 1.0
    return x


def _mass_in(maps, rows, cols):
    positive = np.maximum(maps, 0)
    positive = positive / positive.sum()
    return positive[rows[0]:rows[1], cols[0]:cols[1]].sum()


@pytest.mark.parametrize("size, rows, cols", [((16, 16), (4, 8), (8, 12)),
                                              ((12, 20), (8, 12), (4, 8))])
def test_occlusion_mass_in_the_region_that_decides(size, rows, cols):
    model = _region_model(*size, rows, cols)
    x = _region_input(*size, rows, cols)
    assert _probabilities(model, x)[0, 0] > 0.99
    for mode in ("complement", "difference"):
        _, maps = Occlusion(4, fill_value=0.0, mode=mode).explain(model, x, 0)
        assert _mass_in(maps[0], rows, cols) >= 0.9
    _, same = kerascope.explain("occlusion", model, x, 0, use_logits=False, patch_size=4,
                                fill_value=0.0, mode="difference")
    np.testing.assert_allclose(same, maps, atol=1e-6)
    _, maps = kerascope.occlusion(model, x, 0, patch_size=4, stride=2, fill_value=0.0)
    assert _mass_in(maps[0], rows, cols) >= 0.6  # overlapping windows blur the edges
    assert np.unravel_index(np.argmax(maps[0]), size)[0] in range(*rows)


def test_rise_mass_in_the_region_and_seeded():
    size, rows, cols = (16, 16), (4, 12), (4, 12)
    model = _region_model(*size, rows, cols)
    # a gentle slope keeps the class probability in its linear range
    weights = model.layers[-1].get_weights()
    model.layers[-1].set_weights([weights[0] * 0.05, weights[1] * 0.05 * 0.25])
    x = _region_input(*size, rows, cols)
    method = RISE(num_masks=1000, grid_size=8, seed=0, center=True)
    _, maps = method.explain(model, x, 0, batch_size=250)
    cell = 2  # RISE resolves no detail finer than a grid cell (16 / 8 pixels)
    dilated = ((rows[0] - cell, rows[1] + cell), (cols[0] - cell, cols[1] + cell))
    assert _mass_in(maps[0], *dilated) >= 0.9
    assert _mass_in(maps[0], rows, cols) >= 0.6
    peak = np.unravel_index(np.argmax(maps[0]), size)
    assert rows[0] <= peak[0] < rows[1] and cols[0] <= peak[1] < cols[1]
    # the same seed gives the same masks and maps; another seed does not
    again = RISE(num_masks=1000, grid_size=8, seed=0, center=True).explain(
        model, x, 0, batch_size=100)[1]
    np.testing.assert_allclose(again, maps, atol=1e-6)
    other = RISE(num_masks=1000, grid_size=8, seed=1, center=True).explain(
        model, x, 0, batch_size=250)[1]
    assert np.abs(other - maps).max() > 1e-4


def test_rise_definition_on_its_own_masks():
    model = _region_model(8, 8, (2, 6), (2, 6))
    x = _region_input(8, 8, (2, 6), (2, 6), seed=4)
    method = RISE(num_masks=24, grid_size=4, probability=0.4, seed=5)
    masks = method.masks(8, 8)
    assert masks.shape == (24, 8, 8) and masks.min() >= 0 and masks.max() <= 1
    # grids keep some cells and drop others: masks differ, and each has 0 and 1 regions
    assert masks.reshape(24, -1).std(axis=0).max() > 0.1
    assert masks.max(axis=(1, 2)).min() > 0.5 and masks.min(axis=(1, 2)).max() < 0.5
    assert abs(masks.mean() - 0.4) < 0.15
    _, maps = method.explain(model, x, 1, batch_size=10)
    scores = _probabilities(model, x * masks[..., None])[:, 1]
    expected = np.einsum("m,mhw->hw", scores, masks) / (24 * 0.4)
    np.testing.assert_allclose(maps[0], expected, atol=1e-5)
    _, centered = RISE(num_masks=24, grid_size=4, probability=0.4, seed=5, center=True).explain(
        model, x, 1, batch_size=10)
    expected = np.einsum("m,mhw->hw", scores - scores.mean(), masks) / (24 * 0.4)
    np.testing.assert_allclose(centered[0], expected, atol=1e-5)


def test_patched_images_are_batched():
    model = _small_cnn((8, 8, 1))
    images = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    with runner.count_traffic() as traffic:
        Occlusion(2).explain(model, images, 0, batch_size=16)
    # 3 x 16 patched rows made on the device, 16 per call, each call also passing
    # its input itself (outputs and target units come from the same program)
    assert traffic.calls == 3 and traffic.rows == 3 * (16 + 1)
    with runner.count_traffic() as traffic:
        RISE(num_masks=40, grid_size=2, seed=0).explain(model, images[:1], 0, batch_size=8)
    # 40 masks in 5 calls of 8 rows
    assert traffic.calls == 5 and traffic.rows == 40 + 1


def test_same_maps_as_numpy_reference():
    ref = dict(np.load(REFERENCE))
    model = reference_model(ref)
    _, maps = Occlusion(3, fill_value=0.0).explain(model, ref["x"], ref["targets"])
    np.testing.assert_allclose(maps, ref["occlusion_p3"], atol=1e-4)
    _, maps = Occlusion(3, stride=2, fill_value=0.5).explain(model, ref["x"], ref["targets"])
    np.testing.assert_allclose(maps, ref["occlusion_p3_s2"], atol=1e-4)


def test_bad_arguments_name_the_argument():
    model = _small_cnn((8, 6, 1))
    x = np.zeros((1, 8, 6, 1), np.float32)
    with pytest.raises(ValueError, match="patch_size"):
        Occlusion(7).explain(model, x, 0)
    with pytest.raises(ValueError, match="patch_size"):
        Occlusion((3, 7)).explain(model, x, 0)
    for stride in (0, -1, 1.5):
        with pytest.raises(ValueError, match="stride"):
            Occlusion(3, stride=stride)
    with pytest.raises(ValueError, match="stride"):
        Occlusion(3, stride=4)
    with pytest.raises(ValueError, match="patch_size"):
        Occlusion(0)
    with pytest.raises(ValueError, match="fill_value"):
        Occlusion(3, fill_value="median")
    with pytest.raises(ValueError, match="mode"):
        Occlusion(3, mode="ratio")
    with pytest.raises(ValueError, match="grid_size"):
        RISE(num_masks=4, grid_size=9).explain(model, x, 0)
    with pytest.raises(ValueError, match="probability"):
        RISE(probability=0.0)
    with pytest.raises(ValueError, match="patch_size"):
        OcclusionSensitivity().explain((x, None), model, 0, patch_size=9)


def test_tf_explain_occlusion_sensitivity_class():
    shape = (8, 12, 1)
    model = _small_cnn(shape, seed=5)
    images = np.random.default_rng(6).uniform(0, 255, (3,) + shape).astype(np.float32)
    grid = OcclusionSensitivity(batch_size=16).explain((images, None), model, 1, 4)
    assert grid.shape == (2 * 8, 2 * 12, 3) and grid.dtype == np.uint8
    sensitivity = OcclusionSensitivity().get_sensitivity_map(model, images[1], 1, 4)
    np.testing.assert_allclose(sensitivity, _tf_explain_reference(model, images[1], 1, 4),
                               atol=1e-5)
    # the grid cell of image 1 is its heatmap blended over it
    from kerascope.utils.display import heatmap_display

    np.testing.assert_array_equal(grid[:8, 12:], heatmap_display(sensitivity, images[1]))
