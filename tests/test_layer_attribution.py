"""Attribution at a layer (layer=): text models on token ids, closed forms, completeness."""

import keras
import numpy as np
import pytest

import kerascope
from tests.models import set_numpy_weights

VOCAB, LENGTH, PAD = 30, 10, 0
KEYS = (1, 2)  # token 1 means class 0, token 2 class 1; fillers are 3..VOCAB-1


def corpus(n, rng):
    """Sentences of filler tokens with exactly one key token, which decides the class."""
    tokens = rng.integers(3, VOCAB, size=(n, LENGTH))
    labels = rng.integers(0, 2, size=n)
    where = rng.integers(0, LENGTH, size=n)
    tokens[np.arange(n), where] = np.array(KEYS)[labels]
    return tokens.astype(np.int32), labels, where


@pytest.fixture(scope="module")
def text_model():
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    tokens = keras.Input((LENGTH,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(VOCAB, 8, name="embedding")(tokens)
    h = keras.layers.GlobalAveragePooling1D()(h)
    h = keras.layers.Dense(16, activation="tanh")(h)
    out = keras.layers.Dense(2, activation="softmax", name="head")(h)
    model = keras.Model(tokens, out, name="text")
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy")
    x, y, _ = corpus(800, rng)
    model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    test_x, test_y, test_where = corpus(100, rng)
    assert (model.predict(test_x, verbose=0).argmax(axis=1) == test_y).mean() > 0.95
    return model, test_x, test_where


def _pre_softmax(model, x):
    """The model's logits (its head before the softmax), computed apart from kerascope."""
    head = model.get_layer("head")
    features = keras.Model(model.inputs, head.input)(x)
    kernel, bias = head.get_weights()
    return keras.ops.convert_to_numpy(features) @ kernel + bias


def test_integrated_gradients_at_the_embedding_finds_the_deciding_token(text_model):
    model, x, where = text_model
    result = kerascope.integrated_gradients(model, x, None, layer="embedding", n_steps=128,
                                            baseline=PAD, return_convergence_delta=True,
                                            batch_size=512)
    outputs, maps = result
    assert maps.shape == (len(x), LENGTH)
    assert (maps.argmax(axis=1) == where).mean() >= 0.95
    # completeness at the layer: S(x) - S(all padding), the embedding of PAD everywhere
    units = outputs.argmax(axis=1)
    rows = np.arange(len(x))
    gain = _pre_softmax(model, x)[rows, units] - _pre_softmax(
        model, np.full_like(x, PAD))[rows, units]
    assert np.all(np.abs(gain) > 0.5)
    np.testing.assert_allclose(maps.sum(axis=1), gain, rtol=0.01)
    np.testing.assert_allclose(result.extras["convergence_delta"], maps.sum(axis=1) - gain,
                               atol=1e-3)


def test_integer_inputs_without_layer_raise(text_model):
    model, x, _ = text_model
    for method in ("integrated_gradients", "vanilla_gradients", "smoothgrad", "gradients_inputs"):
        with pytest.raises(ValueError, match=r"input 'tokens' has dtype int32.*layer="):
            kerascope.explain(method, model, x[:2])
    # token ids given as floats to a model declaring int32 inputs: still ids
    with pytest.raises(ValueError, match=r"layer="):
        kerascope.integrated_gradients(model, x[:2].astype(np.float32))


def test_float_input_feeding_an_embedding_is_token_ids():
    tokens = keras.Input((LENGTH,), name="ids")  # float32 by default
    h = keras.layers.Embedding(VOCAB, 4, name="emb")(tokens)
    model = keras.Model(tokens, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    x = np.random.default_rng(0).integers(0, VOCAB, (3, LENGTH)).astype(np.float32)
    with pytest.raises(ValueError, match=r"input 'ids' .*layer='emb'"):
        kerascope.gradients(model, x, 0)
    _, maps = kerascope.gradients(model, x, 0, layer="emb")
    assert maps.shape == (3, LENGTH) and np.all(maps > 0)


def _hidden_model(seed=0):
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(5, name="hidden")(inputs)
    squashed = keras.layers.Activation("tanh")(hidden)
    out = keras.layers.Dense(3, name="out")(squashed)
    return set_numpy_weights(keras.Model(inputs, out), seed=seed, scale=1.0)


def test_layer_gradients_closed_form():
    model = _hidden_model()
    x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    w1, b1 = model.get_layer("hidden").get_weights()
    w2, _ = model.get_layer("out").get_weights()
    h = x @ w1 + b1
    expected = (1 - np.tanh(h) ** 2) * w2[:, 2]
    _, grads = kerascope.gradients(model, x, 2, layer="hidden", channel_reduction=None)
    np.testing.assert_allclose(grads, expected, rtol=1e-5, atol=1e-6)
    _, products = kerascope.gradients_inputs(model, x, 2, layer="hidden")
    np.testing.assert_allclose(products, h * expected, rtol=1e-5, atol=1e-6)
    _, smooth = kerascope.smoothgrad(model, x, 2, layer="hidden", noise=0.0, num_samples=3,
                                     channel_reduction=None)
    np.testing.assert_allclose(smooth, expected, rtol=1e-5, atol=1e-6)
    # noise at the layer changes the map, reproducibly
    _, noisy = kerascope.smoothgrad(model, x, 2, layer="hidden", noise=0.5, num_samples=8,
                                    seed=3, channel_reduction=None)
    _, again = kerascope.smoothgrad(model, x, 2, layer="hidden", noise=0.5, num_samples=8,
                                    seed=3, channel_reduction=None)
    assert not np.allclose(noisy, expected, atol=1e-3)
    np.testing.assert_array_equal(noisy, again)


def test_layer_integrated_gradients_closed_form_and_completeness():
    model = _hidden_model(seed=2)
    x = np.random.default_rng(3).normal(size=(5, 6)).astype(np.float32)
    w1, b1 = model.get_layer("hidden").get_weights()
    w2, c2 = model.get_layer("out").get_weights()
    h = x @ w1 + b1
    # at the output of "out" (a linear head on tanh), IG along the activation is closed form:
    # S = tanh(A) . w + c, path from A'=0: IG_j = A_j * (tanh(A_j) / A_j) * w_j = tanh(A_j) w_j
    _, maps = kerascope.integrated_gradients(model, x, 1, layer="hidden", n_steps=256,
                                             layer_baseline="zeros", channel_reduction=None,
                                             method="gausslegendre")
    np.testing.assert_allclose(maps, np.tanh(h) * w2[:, 1], rtol=1e-4, atol=1e-5)
    # default layer baseline: the layer's output at the input baseline (zeros -> b1)
    result = kerascope.integrated_gradients(model, x, 1, layer="hidden", n_steps=128,
                                            return_convergence_delta=True)
    gain = (np.tanh(h) - np.tanh(b1)) @ w2[:, 1]
    np.testing.assert_allclose(result[1].sum(axis=1), gain, rtol=0.01)
    np.testing.assert_allclose(result.extras["convergence_delta"],
                               result[1].sum(axis=1) - gain, atol=1e-4)


def test_layer_on_one_branch_of_a_two_input_model():
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    branch = keras.layers.Dense(3, activation="tanh", name="branch")(a)
    out = keras.layers.Dense(2)(keras.layers.Concatenate()([branch, b]))
    model = set_numpy_weights(keras.Model([a, b], out), seed=4, scale=1.0)
    rng = np.random.default_rng(5)
    x = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32)]
    result = kerascope.integrated_gradients(model, x, 0, layer="branch", n_steps=64,
                                            layer_baseline="zeros",
                                            return_convergence_delta=True)
    w_out = model.layers[-1].get_weights()[0]
    branch_values = np.tanh(x[0] @ model.get_layer("branch").get_weights()[0]
                            + model.get_layer("branch").get_weights()[1])
    np.testing.assert_allclose(result[1], branch_values * w_out[:3, 0], rtol=1e-4, atol=1e-5)
    assert np.abs(result.extras["convergence_delta"]).max() < 1e-4


def test_bad_layer_arguments():
    model = _hidden_model()
    x = np.zeros((2, 6), np.float32)
    with pytest.raises(ValueError, match="layer: no layer named 'hiden'.*'hidden'"):
        kerascope.gradients(model, x, 0, layer="hiden")
    with pytest.raises(ValueError, match="layer: expected a layer name"):
        kerascope.gradients(model, x, 0, layer=3)
    with pytest.raises(ValueError, match="layer_baseline: only used with layer="):
        kerascope.integrated_gradients(model, x, 0, layer_baseline="zeros")
