"""Properties shared by every gradient method: localization, batching, compilation
caching, input streams, and the user's model left untouched."""

import keras
import numpy as np
import pytest

import kerascope
from kerascope import backend
from tests.models import region_model, small_cnn

METHODS = {
    "vanilla_gradients": {},
    "gradients_inputs": {},
    "smoothgrad": {"num_samples": 8, "noise": 0.1, "seed": 0},
    "vargrad": {"num_samples": 8, "noise": 0.1, "seed": 0},
    "squaregrad": {"num_samples": 8, "noise": 0.1, "seed": 0},
    "integrated_gradients": {"n_steps": 16},
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_maps_light_the_only_region_the_class_depends_on(method, rng):
    model, region = region_model()
    x = rng.random((6, 28, 28, 1)).astype(np.float32)
    _, maps = kerascope.explain(method, model, x, 0, **METHODS[method])
    mass = np.abs(maps)
    share = mass[:, region].sum(axis=1) / mass.reshape(len(x), -1).sum(axis=1)
    assert np.all(share >= 0.95), share
    _, other = kerascope.explain(method, model, x, 1, **METHODS[method])
    other = np.abs(other)
    assert np.all(other[:, region].sum(axis=1) / other.reshape(len(x), -1).sum(axis=1) < 0.5)


@pytest.mark.parametrize("method", ["vanilla_gradients", "smoothgrad", "integrated_gradients"])
def test_batch_size_does_not_change_maps(method, rng):
    model = small_cnn()
    x = rng.random((100, 12, 12, 3)).astype(np.float32)
    options = {"smoothgrad": {"num_samples": 3, "noise": 0.0}, "integrated_gradients": {"n_steps": 4}}
    options = options.get(method, {})
    out7, maps7 = kerascope.explain(method, model, x, "predicted", batch_size=7, **options)
    out100, maps100 = kerascope.explain(method, model, x, "predicted", batch_size=100, **options)
    np.testing.assert_allclose(maps7, maps100, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out7, out100, rtol=1e-5, atol=1e-7)


def test_second_batch_of_same_shape_does_not_recompile(rng):
    model = small_cnn()
    first = rng.random((8, 12, 12, 3)).astype(np.float32)
    kerascope.gradients(model, first, 1)
    kerascope.integrated_gradients(model, first, 1, n_steps=4)
    traces = backend.trace_count()
    assert traces > 0
    for _ in range(2):
        second = rng.random((8, 12, 12, 3)).astype(np.float32)
        kerascope.gradients(model, second, 3)
        kerascope.integrated_gradients(model, second, 2, n_steps=4)
    assert backend.trace_count() == traces


def _snapshot(model):
    return {
        "weights": [np.array(w) for w in model.get_weights()],
        "activations": [getattr(layer, "activation", None) for layer in model.layers],
        "instance_calls": [("call" in vars(layer)) for layer in model._flatten_layers()],
        "outputs": list(model.outputs),
        "trainable": [layer.trainable for layer in model.layers],
        "compiled": model.compiled,
    }


def test_user_model_is_unchanged(rng):
    model = small_cnn(activation="relu")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.random((4, 12, 12, 3)).astype(np.float32)
    before_probs = keras.ops.convert_to_numpy(model(x))
    before = _snapshot(model)
    for method, options in METHODS.items():
        kerascope.explain(method, model, x, kerascope.top_k(2), **options)
    kerascope.explain("vanilla_gradients", model, x, 0, use_logits=False)
    after = _snapshot(model)
    for a, b in zip(before["weights"], after["weights"]):
        np.testing.assert_array_equal(a, b)
    assert before["activations"] == after["activations"]
    assert not any(after["instance_calls"])
    assert all(a is b for a, b in zip(before["outputs"], after["outputs"]))
    assert before["trainable"] == after["trainable"] and before["compiled"] == after["compiled"]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), before_probs, rtol=1e-6)


def _generator(x, size):
    for start in range(0, len(x), size):
        yield x[start:start + size], np.zeros(min(size, len(x) - start))


def test_streams_of_batches_match_arrays(rng):
    model = small_cnn()
    x = rng.random((23, 12, 12, 3)).astype(np.float32)
    expected_out, expected = kerascope.gradients(model, x, "predicted", batch_size=8)
    out, maps = kerascope.gradients(model, _generator(x, 5), "predicted", batch_size=8)
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out, expected_out, rtol=1e-5)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return x[i * 8:(i + 1) * 8], None

    _, maps = kerascope.gradients(model, Batches(), "predicted", batch_size=8)
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)
    targets = rng.integers(0, 5, 23)
    _, per_sample = kerascope.gradients(model, _generator(x, 4), targets)
    _, reference = kerascope.gradients(model, x, targets)
    np.testing.assert_allclose(per_sample, reference, rtol=1e-5, atol=1e-7)
    tensor = keras.ops.convert_to_tensor(x)
    _, from_tensor = kerascope.gradients(model, tensor, "predicted", batch_size=8)
    np.testing.assert_allclose(from_tensor, expected, rtol=1e-5, atol=1e-7)


def test_framework_dataloaders(rng):
    model = small_cnn()
    x = rng.random((10, 12, 12, 3)).astype(np.float32)
    _, expected = kerascope.gradients(model, x, 1)
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        stream = tf.data.Dataset.from_tensor_slices((x, np.zeros(10))).batch(4)
    elif name == "torch":
        import torch

        stream = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x), torch.zeros(10)), batch_size=4)
    else:
        stream = iter([x[:4], x[4:8], x[8:]])
    _, maps = kerascope.gradients(model, stream, 1)
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)


def test_postprocessing_filters(rng):
    model = small_cnn()
    x = rng.random((3, 12, 12, 3)).astype(np.float32)
    _, maps = kerascope.gradients(model, x, 1, postprocessing=kerascope.filters.absolute_normalize)
    assert maps.dtype == np.float32 and maps.shape == (3, 12, 12)
    assert np.allclose(maps.reshape(3, -1).max(axis=1), 1) and maps.min() >= 0
    _, signed = kerascope.integrated_gradients(model, x, 1, n_steps=4,
                                               postprocessing=kerascope.filters.normalize)
    assert np.allclose(signed.reshape(3, -1).min(axis=1), 0)
    _, positive = kerascope.integrated_gradients(model, x, 1, n_steps=4,
                                                 postprocessing=kerascope.filters.positive_normalize)
    assert positive.min() >= 0 and positive.max() <= 1


def test_verbose_shows_a_progress_bar_of_inputs(capsys):
    """``verbose=1`` counts the inputs on a Keras progress bar, for arrays and for a
    generator of batches; ``verbose=0`` and the default in a test (not a terminal) print
    nothing, and the maps are the same (issue 23, item 15)."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(10, 4)).astype("float32")
    _, quiet = kerascope.explain("vanilla_gradients", model, x, batch_size=4, verbose=0)
    assert capsys.readouterr().out == ""
    _, default = kerascope.explain("vanilla_gradients", model, (b for b in (x[:6], x[6:])))
    assert capsys.readouterr().out == ""
    _, shown = kerascope.explain("vanilla_gradients", model, x, batch_size=4, verbose=1)
    printed = capsys.readouterr().out
    assert "10/10" in printed
    _, streamed = kerascope.explain("vanilla_gradients", model, (b for b in (x[:6], x[6:])),
                                    verbose=1)
    assert "10" in capsys.readouterr().out
    for maps in (default, shown, streamed):
        np.testing.assert_array_equal(maps, quiet)
    with pytest.raises(ValueError, match="verbose"):
        kerascope.explain("vanilla_gradients", model, x, verbose="loud")
