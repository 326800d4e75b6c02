"""Sanity checks (Adebayo et al. 2018): randomizations separate model-dependent maps from
a model-independent edge detector, and never touch the user's model."""

import io

import keras
import numpy as np
import pytest
from PIL import Image

from kerascope import demo

from kerascope.metrics import randomization as sanity


def blobs(n, size=12, seed=0):
    """Noisy images with a bright 3x3 blob; the class is the blob's quadrant."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.15, (n, size, size, 1)).astype(np.float32)
    y = rng.integers(0, 4, n)
    half = size // 2
    for i, c in enumerate(y):
        r0 = (c // 2) * half + rng.integers(0, half - 2)
        c0 = (c % 2) * half + rng.integers(0, half - 2)
        x[i, r0:r0 + 3, c0:c0 + 3, 0] += 1.0
    return x, y.astype(np.int64)


def blob_model(compile=True):
    inputs = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(16, activation="relu", name="dense")(h)
    outputs = keras.layers.Dense(4, activation="softmax", name="head")(h)
    model = keras.Model(inputs, outputs, name="blob_cnn")
    if compile:
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def trained():
    """A small CNN trained to 100% on the blob task (a few seconds)."""
    keras.utils.set_random_seed(0)
    x, y = blobs(256)
    model = blob_model()
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    x_test, y_test = blobs(8, seed=1)
    assert model.evaluate(x_test, y_test, verbose=0)[1] >= 0.9
    return model, (x, y), (x_test, y_test)


def snapshot(model):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in model.variables]


def assert_unchanged(model, before):
    after = snapshot(model)
    assert len(after) == len(before)
    for a, b in zip(before, after):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ------------------------------------------------------------------ the acceptance
def test_cascading_randomization_on_the_demo_model_separates_gradients_from_edges():
    model = demo.load_model()
    x, labels = demo.load_samples()
    before = snapshot(model)
    gradients = sanity.cascading_randomization(model, x, labels, "vanilla_gradients")
    assert_unchanged(model, before)
    edges = sanity.cascading_randomization(model, x, labels, sanity.edge_map)
    assert_unchanged(model, before)

    names = [layer.name for layer in sanity.randomizable_layers(model)][::-1]
    assert gradients.steps == ["original"] + names
    assert gradients.maps.shape == (len(names) + 1, 10, 28, 28)
    table = gradients.rows()
    assert table[0]["spearman_abs"] == 1.0
    assert table[-1]["spearman_abs"] < 0.5  # measured: 0.476 (seed 0)
    assert table[1]["spearman_abs"] < 0.95  # the top layer alone already moves the maps
    for row in edges.rows():
        for measure in sanity.MEASURES:
            assert row[measure] == 1.0, (row["label"], measure)


def test_cascading_randomization_of_a_trained_model(trained):
    model, _, (x, y) = trained
    before = snapshot(model)
    result = sanity.cascading_randomization(model, x, y, "vanilla_gradients")
    assert_unchanged(model, before)
    spearman = [row["spearman_abs"] for row in result.rows()]
    assert spearman[0] == 1.0 and spearman[-1] < 0.2
    assert spearman[-1] < spearman[1]
    # Reproducible: the randomization is seeded.
    again = sanity.cascading_randomization(model, x, y, "vanilla_gradients")
    np.testing.assert_allclose(again.maps, result.maps, atol=1e-6)
    other = sanity.cascading_randomization(model, x, y, "vanilla_gradients", seed=1)
    assert not np.allclose(other.maps[-1], result.maps[-1])


def test_independent_randomization_changes_one_layer_at_a_time(trained):
    model, _, (x, y) = trained
    before = snapshot(model)
    result = sanity.independent_randomization(model, x, y, "gradients_inputs",
                                              layers=["head", "conv"],
                                              randomization="initializer")
    assert_unchanged(model, before)
    assert result.steps == ["original", "head", "conv"]
    for row in result.rows()[1:]:
        assert row["spearman_abs"] < 0.9
    edges = sanity.independent_randomization(model, x, y, sanity.edge_map)
    assert all(row["spearman_abs"] == 1.0 for row in edges.rows())


def test_data_randomization_retrains_a_copy_on_permuted_labels(trained):
    model, (x_train, y_train), (x, y) = trained
    before = snapshot(model)
    keras.utils.set_random_seed(1)
    result = sanity.data_randomization(model, x, y, "vanilla_gradients",
                                       train_data=(x_train, y_train),
                                       fit_kwargs={"epochs": 3, "batch_size": 32})
    assert_unchanged(model, before)
    random_model = result.details["random_model"]
    assert random_model is not model
    permuted = result.details["permuted_labels"]
    assert sorted(permuted.tolist()) == sorted(y_train.tolist())
    assert not np.array_equal(permuted, y_train)
    assert result.steps == ["true labels", "permuted labels"]
    assert result.final("spearman_abs") < 0.5
    edges = sanity.data_randomization(model, x, y, sanity.edge_map,
                                      train_data=(x_train, y_train),
                                      builder=lambda xs, ys: random_model)
    assert edges.final("spearman_abs") == 1.0 and edges.final("ssim") == 1.0


def test_random_logit_compares_with_another_class(trained):
    model, _, (x, y) = trained
    result = sanity.random_logit(model, x, y, "vanilla_gradients", seed=3)
    other = result.details["random_units"]
    assert np.all(other != y) and np.all((other >= 0) & (other < 4))
    assert result.final("spearman_abs") < 0.9
    assert sanity.random_logit(model, x, y, sanity.edge_map).final("spearman_abs") == 1.0


# ----------------------------------------------------------------------- similarity
def test_similarity_measures(rng):
    a = rng.standard_normal((3, 16, 16))
    same = sanity.similarity(a, a.copy())
    assert all(np.all(values == 1.0) for values in same.values())
    flipped = sanity.similarity(a, -a, measures=("spearman", "spearman_abs"))
    np.testing.assert_allclose(flipped["spearman"], -1.0)
    np.testing.assert_allclose(flipped["spearman_abs"], 1.0)
    ranks = sanity.similarity(a, np.exp(a), measures=("spearman",))  # monotone map
    np.testing.assert_allclose(ranks["spearman"], 1.0)
    unrelated = sanity.similarity(a, rng.standard_normal(a.shape))
    for measure, values in unrelated.items():
        assert np.all(np.abs(values) < 0.5), measure
    constant = sanity.similarity(a, np.zeros_like(a), measures=("spearman_abs",))
    np.testing.assert_array_equal(constant["spearman_abs"], 0.0)
    tabular = sanity.similarity(a.reshape(3, -1), a.reshape(3, -1) + 1e-3 * a.reshape(3, -1))
    assert np.all(np.isnan(tabular["ssim"])) and np.all(tabular["spearman_abs"] > 0.99)
    with pytest.raises(ValueError, match="measures"):
        sanity.similarity(a, a, measures=("pearson",))
    with pytest.raises(ValueError, match="differ in shape"):
        sanity.similarity(a, a[:2])


def test_random_weights_modes(trained):
    model, _, _ = trained
    layer = model.get_layer("dense")
    normal = sanity.random_weights(layer, seed=4)
    initial = sanity.random_weights(layer, seed=4, randomization="initializer")
    kernel, bias = layer.get_weights()
    assert normal[0].shape == kernel.shape and normal[0].dtype == kernel.dtype
    assert np.all(normal[1] != 0)  # biases are randomized too
    assert np.all(initial[1] == 0)  # the layer's own (zeros) bias initializer
    np.testing.assert_array_equal(normal[0], sanity.random_weights(layer, seed=4)[0])
    assert not np.array_equal(normal[0], sanity.random_weights(layer, seed=5)[0])
    assert abs(normal[0].std() - np.sqrt(2 / (kernel.shape[0] + kernel.shape[1]))) < 0.02
    with pytest.raises(ValueError, match="randomization"):
        sanity.random_weights(layer, seed=0, randomization="uniform")


# --------------------------------------------------------------- figures and errors
def test_figures_are_pngs(trained, tmp_path):
    model, _, (x, y) = trained
    result = sanity.cascading_randomization(model, x[:3], y[:3], "vanilla_gradients",
                                            measures=("spearman_abs", "ssim"))
    for png in (result.figure_png(), result.strip_png(num_inputs=2)):
        image = np.asarray(Image.open(io.BytesIO(png)))
        assert image.ndim == 3 and image.shape[0] > 150 and image.shape[1] > 300
        assert image.std() > 10  # not blank
    assert result.figure_array().dtype == np.uint8
    text = result.format_table()
    assert "spearman_abs" in text and "conv" in text and "hog" not in text


def test_bad_input(trained):
    model, _, (x, y) = trained
    with pytest.raises(ValueError, match="measures"):
        sanity.cascading_randomization(model, x, y, measures=("nope",))
    with pytest.raises(ValueError, match="layer_name: no layer named 'nope'"):
        sanity.cascading_randomization(model, x, y, layers=["nope"])
    with pytest.raises(ValueError, match="has no weights"):
        sanity.cascading_randomization(model, x, y, layers=[model.layers[2].name])
    with pytest.raises(ValueError, match="train_data"):
        sanity.data_randomization(model, x, y)
    uncompiled = blob_model(compile=False)
    with pytest.raises(ValueError, match="compile_kwargs"):
        sanity.data_randomization(uncompiled, x, y, train_data=(x, y))
    with pytest.raises(ValueError, match="builder"):
        sanity.data_randomization(model, x, y, train_data=(x, y), builder=lambda a, b: None)
    with pytest.raises(ValueError, match="method: .* returned maps"):
        sanity.cascading_randomization(model, x, y, lambda m, xs, t: np.ones((len(xs), 3)))
