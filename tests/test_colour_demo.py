"""The colour demo: bundled model and samples with ground-truth masks (any backend).

The samples carry the bounding box of the digit that decides their class, so
these tests check that the attribution methods point at that evidence: on
average more than half of the map mass of Grad-CAM, Integrated Gradients
(absolute values) and occlusion lies inside the box, which covers under a
fifth of the image on average.
"""

import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import kerascope  # noqa: E402
from kerascope import demo  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return demo.load_colour_model()


@pytest.fixture(scope="module")
def samples():
    return demo.load_colour_samples()


def _mass_inside(maps, masks):
    maps = np.abs(np.asarray(maps, dtype=np.float64))
    assert maps.shape == masks.shape
    return (maps * masks).sum(axis=(1, 2)) / maps.sum(axis=(1, 2))


def test_files_are_bundled_and_small():
    assert demo.COLOUR_MODEL_PATH.is_file()
    assert demo.COLOUR_SAMPLES_PATH.is_file()
    assert demo.COLOUR_MODEL_PATH.stat().st_size < 1_000_000
    assert demo.COLOUR_SAMPLES_PATH.stat().st_size < 300_000
    with np.load(demo.COLOUR_SAMPLES_PATH) as data:
        assert data["images"].dtype == np.uint8


def test_model_structure(model):
    assert tuple(model.input_shape) == (None,) + demo.COLOUR_IMAGE_SHAPE
    assert tuple(model.output_shape) == (None, 10)
    last = model.get_layer("last_conv")
    assert isinstance(last, keras.layers.Conv2D)
    assert tuple(last.output.shape[1:3]) == (8, 8)
    assert isinstance(model.layers[-2], keras.layers.GlobalAveragePooling2D)
    assert model.layers[-1].activation is keras.activations.softmax


def test_samples_shapes_ranges_masks(samples):
    images, labels, masks = samples
    assert images.shape == (12, 64, 64, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.5
    assert labels.shape == (12,) and np.issubdtype(labels.dtype, np.integer)
    assert set(labels.tolist()) == set(range(10))
    assert masks.shape == (12, 64, 64) and masks.dtype == bool
    for mask in masks:
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        # A filled rectangle (the digit's bounding box), a minority of the image.
        assert mask.sum() == len(rows) * len(cols)
        assert mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
        assert 0.03 < mask.mean() < 0.35


def test_samples_classified_and_match_reference(model, samples):
    images, labels, _ = samples
    probs = np.asarray(keras.ops.convert_to_numpy(model(images, training=False)))
    assert probs.shape == (12, 10)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
    assert np.mean(probs.argmax(axis=-1) == labels) >= 11 / 12
    with np.load(demo.COLOUR_SAMPLES_PATH) as data:
        reference = data["probs"]
    np.testing.assert_allclose(probs, reference, atol=1e-4)


@pytest.mark.parametrize("method, options", [
    ("grad_cam", {}),
    ("integrated_gradients", {}),
    ("occlusion", {"patch_size": 8, "fill_value": 0.0}),
])
def test_maps_point_at_the_digit(model, samples, method, options):
    images, labels, masks = samples
    _, maps = kerascope.explain(method, model, images, targets=labels, **options)
    share = _mass_inside(maps, masks)
    # The box holds ~18% of the pixels: a map blind to the digit scores ~0.18.
    assert share.mean() > 0.5, (method, share)
    # The share follows where this image's digit is: the boxes of other images
    # (which overlap it often, digits near the centre being common) get less.
    others = _mass_inside(maps, np.roll(masks, 6, axis=0))
    assert others.mean() < share.mean() - 0.15, (method, share.mean(), others.mean())


def test_occlusion_map_not_saturated(model, samples):
    images, labels, _ = samples
    _, maps = kerascope.explain("occlusion", model, images, targets=labels,
                                patch_size=8, fill_value=0.0)
    maps = np.asarray(maps)
    near_max = maps >= 0.9 * maps.max(axis=(1, 2), keepdims=True)
    assert near_max.mean() < 0.2, near_max.mean(axis=(1, 2))


def test_loaders_need_neither_skimage_nor_sklearn(monkeypatch):
    for name in ("skimage", "skimage.data", "sklearn", "sklearn.datasets"):
        monkeypatch.setitem(sys.modules, name, None)
    images, labels, masks = demo.load_colour_samples()
    assert len(images) == len(labels) == len(masks) == 12
    assert demo.load_colour_model().output_shape == (None, 10)


def test_generator_is_deterministic():
    pytest.importorskip("skimage")
    pytest.importorskip("sklearn")
    from kerascope.demo import colour

    a = colour.generate(4, seed=7, split="test")
    b = colour.generate(4, seed=7, split="test")
    for first, second in zip(a, b):
        np.testing.assert_array_equal(first, second)
    images, labels, masks = a
    assert images.shape == (4, 64, 64, 3) and images.dtype == np.uint8
    assert labels.shape == (4,) and masks.shape == (4, 64, 64) and masks.dtype == bool
    # Image i depends on (seed, split, i) only: a prefix is the smaller set.
    prefix = colour.generate(2, seed=7, split="test")
    np.testing.assert_array_equal(prefix[0], images[:2])
    # Another seed or split gives other images.
    assert not np.array_equal(colour.generate(4, seed=8, split="test")[0], images)
    assert not np.array_equal(colour.generate(4, seed=7, split="train")[0], images)
    with pytest.raises(ValueError, match="split"):
        colour.generate(1, split="validation")
    with pytest.raises(ValueError, match="n"):
        colour.generate(-1)


def test_generator_without_skimage_says_what_to_install(monkeypatch):
    from kerascope.demo import colour

    colour.load_backgrounds.cache_clear()
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    try:
        with pytest.raises(ImportError, match="scikit-image"):
            colour.generate(1)
    finally:
        colour.load_backgrounds.cache_clear()
