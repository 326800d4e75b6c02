"""Tests for the bundled demo model and sample images (any Keras backend)."""

import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from kerascope import demo  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return demo.load_model()


def test_files_are_bundled_and_small():
    assert demo.MODEL_PATH.is_file()
    assert demo.SAMPLES_PATH.is_file()
    assert demo.MODEL_PATH.stat().st_size < 300_000
    assert demo.SAMPLES_PATH.stat().st_size < 50_000


def test_model_structure(model):
    assert isinstance(model, keras.Model)
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, 10)
    names = [layer.name for layer in model.layers]
    for name in ("conv_1", "conv_2", "pool", "last_conv", "flatten", "dense", "predictions"):
        assert name in names
    assert isinstance(model.get_layer("last_conv"), keras.layers.Conv2D)
    head = model.get_layer("predictions")
    assert head.activation is keras.activations.softmax


def test_samples_shape_range_labels():
    images, labels = demo.load_samples()
    assert images.shape == (10, 28, 28, 1)
    assert images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert images.max() > 0.5  # not blank
    assert np.issubdtype(labels.dtype, np.integer)
    np.testing.assert_array_equal(labels, np.arange(10))


def test_samples_classified_correctly(model):
    images, labels = demo.load_samples()
    probs = np.asarray(keras.ops.convert_to_numpy(model(images, training=False)))
    assert probs.shape == (10, 10)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
    assert np.sum(probs.argmax(axis=-1) == labels) >= 9


def test_predictions_match_reference(model):
    """Same outputs on every backend as recorded at training time."""
    images, _ = demo.load_samples()
    with np.load(demo.SAMPLES_PATH) as data:
        reference = data["probs"]
    probs = np.asarray(model.predict(images, verbose=0))
    np.testing.assert_allclose(probs, reference, atol=1e-5)


def test_load_digits_28_splits():
    pytest.importorskip("sklearn")
    x_all, y_all = demo.load_digits_28("all")
    x_train, y_train = demo.load_digits_28("train")
    x_test, y_test = demo.load_digits_28("test")
    assert x_all.shape == (1797, 28, 28, 1)
    assert x_all.dtype == np.float32
    assert 0.0 <= x_all.min() and x_all.max() <= 1.0
    assert len(x_train) + len(x_test) == 1797
    assert set(np.unique(y_test)) == set(range(10))
    # deterministic
    x_test2, y_test2 = demo.load_digits_28(split="test")
    np.testing.assert_array_equal(x_test, x_test2)
    np.testing.assert_array_equal(y_test, y_test2)
    # bundled samples come from the held-out split
    samples, _ = demo.load_samples()
    flat_test = x_test.reshape(len(x_test), -1)
    flat_train = x_train.reshape(len(x_train), -1)
    for img in samples.reshape(10, -1):
        assert np.any(np.all(np.isclose(flat_test, img, atol=1e-6), axis=1))
        assert not np.any(np.all(np.isclose(flat_train, img, atol=1e-6), axis=1))
    with pytest.raises(ValueError):
        demo.load_digits_28("validation")


def test_heldout_accuracy(model):
    pytest.importorskip("sklearn")
    x_test, y_test = demo.load_digits_28("test")
    probs = np.asarray(model.predict(x_test, batch_size=128, verbose=0))
    accuracy = float(np.mean(probs.argmax(axis=-1) == y_test))
    assert accuracy >= 0.90, accuracy


def test_load_digits_28_without_sklearn(monkeypatch):
    demo._digits_28.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    try:
        with pytest.raises(ImportError, match="scikit-learn"):
            demo.load_digits_28("test")
    finally:
        demo._digits_28.cache_clear()
