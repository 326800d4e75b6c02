"""LRP: zennit's relevance on pure-torch twins, conservation, LRP-0 = gradient x input,
the same maps on every backend, and the user's model left unchanged.

References: tests/data/make_lrp_reference.py (zennit runs in its own environment).
"""

import pathlib

import keras
import numpy as np
import pytest

import kerascope
from kerascope.methods import lrp
from tests.data import make_lrp_reference as ref

DATA = pathlib.Path(__file__).parent / "data"
layers = keras.layers


def _rel(got, expected):
    return np.abs(got - expected).max() / np.abs(expected).max()


@pytest.fixture(scope="module")
def stored():
    return {kind: ref.load(kind, DATA / "lrp_models.npz") for kind in ("cnn", "bn")}


@pytest.mark.parametrize("kind", ["cnn", "bn"])
@pytest.mark.parametrize("composite", ref.COMPOSITES)
def test_equals_zennit(stored, kind, composite):
    path = DATA / "lrp_reference.npz"
    if not path.exists():
        pytest.skip("tests/data/lrp_reference.npz not made (zennit step)")
    model, x, targets = stored[kind]
    got, _ = ref.explain(model, x, targets, composite)
    expected = np.load(path)[f"{kind}/{composite}"]
    assert got.shape == expected.shape
    assert _rel(got, expected) <= 1e-3, f"{kind}/{composite}: {_rel(got, expected):.2e}"


@pytest.mark.parametrize("kind", ["cnn", "bn"])
@pytest.mark.parametrize("composite", ref.COMPOSITES)
def test_same_maps_on_every_backend(stored, kind, composite):
    model, x, targets = stored[kind]
    pinned = np.load(DATA / "lrp_models.npz")
    got, _ = ref.explain(model, x, targets, composite)
    # float32 sums in another order, amplified by 1 / z where z is near 0 (epsilon
    # rule on the BatchNorm-merged convolutions): 1.3e-5 seen between jax and torch
    tolerance = 2e-5 if (kind, composite) == ("bn", "epsilon") else 1e-5
    assert _rel(got, pinned[f"{kind}/kerascope/{composite}"]) <= tolerance


def _bias_free_cnn():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    h = layers.Conv2D(4, 3, padding="same", activation="relu", use_bias=False)(inputs)
    h = layers.AveragePooling2D(2)(h)
    h = layers.Conv2D(6, 3, padding="same", use_bias=False)(h)
    h = layers.ReLU()(h)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Flatten()(h)
    h = layers.Dense(8, activation="relu", use_bias=False)(h)
    return keras.Model(inputs, layers.Dense(5, use_bias=False, activation="softmax")(h))


def _skip_separable():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((16, 16, 3))
    a = layers.SeparableConv2D(4, 3, padding="same", activation="relu", use_bias=False)(inputs)
    block = keras.Sequential([
        layers.Input((16, 16, 4)),
        layers.Conv2D(4, 3, padding="same", use_bias=False),
        layers.ReLU(),
        layers.DepthwiseConv2D(3, padding="same", use_bias=False),
    ], name="block")
    h = layers.Add()([a, block(a)])
    h = layers.ReLU()(h)
    h = layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, layers.Dense(5, use_bias=False)(h))


def _logits(model, x, targets):
    view = kerascope.engine.surgery.ModelView(model)
    logits = keras.ops.convert_to_numpy(view.forward(x)[1])
    return logits[np.arange(len(x)), targets]


@pytest.mark.parametrize("build", [_bias_free_cnn, _skip_separable])
def test_epsilon_conserves_the_score_on_bias_free_relu_networks(build):
    model = build()
    x = np.random.default_rng(0).normal(size=(3, 16, 16, 3)).astype(np.float32)
    targets = np.array([0, 2, 4])
    result = kerascope.explain("lrp", model, x, targets, composite="epsilon", epsilon=1e-9,
                               channel_reduction=None)
    logits = _logits(model, x, targets)
    sums = result[1].reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(sums, logits, atol=1e-3)
    np.testing.assert_allclose(result.extras["conservation"], sums - logits, atol=1e-5)
    assert np.abs(logits).min() > 1e-2  # a real score, not a vanishing one


def test_lrp0_is_gradient_times_input_on_relu_networks():
    # biases and max pooling (average pooling's norm rule keeps zennit's 1e-6 stabilizer)
    keras.utils.set_random_seed(7)
    model = keras.Sequential([
        layers.Input((16, 16, 3)), layers.Conv2D(4, 3, activation="relu"),
        layers.MaxPooling2D(2), layers.Conv2D(6, 3, padding="same", activation="relu"),
        layers.Flatten(), layers.Dense(8, activation="relu"), layers.Dense(5),
    ])
    x = np.random.default_rng(3).normal(size=(3, 16, 16, 3)).astype(np.float32)
    targets = [1, 3, 0]
    ours = kerascope.lrp(model, x, targets, composite="epsilon", epsilon=0.0,
                         channel_reduction=None)[1]
    gxi = kerascope.explain("gradients_inputs", model, x, targets, channel_reduction=None)[1]
    assert np.abs(ours - gxi).max() <= 1e-5 * max(1.0, np.abs(gxi).max())


def test_epsilon_equals_closed_form_on_a_dense_network():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([layers.Input((6,)), layers.Dense(4, activation="relu"),
                              layers.Dense(3)])
    x = np.random.default_rng(1).normal(size=(2, 6)).astype(np.float32)
    (w1, b1), (w2, b2) = [lyr.get_weights() for lyr in model.layers]
    eps = 0.1
    stab = lambda z: z + eps * np.where(z >= 0, 1.0, -1.0)  # noqa: E731
    a1 = np.maximum(x @ w1 + b1, 0)
    z2 = a1 @ w2 + b2
    r2 = np.zeros_like(z2)
    r2[[0, 1], [2, 1]] = z2[[0, 1], [2, 1]]
    r1 = a1 * ((r2 / stab(z2)) @ w2.T)
    r0 = x * ((r1 / stab(x @ w1 + b1)) @ w1.T)
    got = kerascope.lrp(model, x, [2, 1], composite="epsilon", epsilon=eps)[1]
    np.testing.assert_allclose(got, r0, rtol=1e-4, atol=1e-6)


def _snapshot(model):
    layers_ = kerascope.engine.surgery.iter_layers(model)
    return ([np.array(w) for w in model.get_weights()],
            [sorted(k for k in vars(layer) if k in ("call", "activation")) for layer in layers_],
            [getattr(layer, "activation", None) for layer in layers_])


def _same(before, after):
    weights_b, attrs_b, acts_b = before
    weights_a, attrs_a, acts_a = after
    assert all(np.array_equal(b, a) and b.tobytes() == a.tobytes()
               for b, a in zip(weights_b, weights_a))
    assert attrs_b == attrs_a and all(b is a for b, a in zip(acts_b, acts_a))


class _Boom(lrp.Epsilon):
    def relevance(self, part, x, relevance):
        raise RuntimeError("boom")


def test_model_unchanged_after_every_composite_and_after_an_error(stored):
    model, x, targets = stored["bn"]
    before = _snapshot(model)
    for name in ref.COMPOSITES:
        ref.explain(model, x, targets, name)
        _same(before, _snapshot(model))
    with pytest.raises(RuntimeError, match="boom"):
        kerascope.lrp(model, x, targets, layer_rules=[("c2", _Boom())])
    _same(before, _snapshot(model))
    out = kerascope.lrp(model, x, targets)[0]
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6)


def test_uncovered_layer_raises_naming_it_and_the_composite():
    keras.utils.set_random_seed(6)
    model = keras.Sequential([layers.Input((8,)), layers.Dense(6),
                              layers.LayerNormalization(name="norm"), layers.Dense(3)])
    x = np.ones((1, 8), np.float32)
    with pytest.raises(ValueError, match=r"composite 'epsilon_plus'.*'norm'"):
        kerascope.lrp(model, x, [0], composite="epsilon_plus")
    maps = kerascope.lrp(model, x, [0], composite="epsilon_plus",
                         layer_rules=[("norm", "pass")])[1]
    assert np.isfinite(maps).all()


def test_user_composite_first_layer_rule_and_options():
    model = _bias_free_cnn()
    x = np.abs(np.random.default_rng(2).normal(size=(2, 16, 16, 3))).astype(np.float32)
    composite = lrp.Composite([(layers.Conv2D, lrp.ZPlus()), ("dense", "epsilon")],
                              first=[("linear", lrp.WSquare())], name="mine")
    result = kerascope.explain("lrp", model, x, [1, 2], composite=composite)
    assert result[1].shape == (2, 16, 16)
    # z+ and w^2 on a bias-free ReLU network conserve the score as well
    np.testing.assert_allclose(result.extras["conservation"], 0.0, atol=1e-4)
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        lrp.AlphaBeta(3, 1)
    with pytest.raises(ValueError, match="unknown composite"):
        kerascope.lrp(model, x, [1], composite="nope")


def test_registered_with_its_papers():
    info = next(i for i in kerascope.methods.catalog() if i.name == "lrp")
    assert info.signed and "2106.13200" in info.paper and "Bach" in info.paper
    assert callable(kerascope.lrp)


def test_cli_composite_option_and_callback(tmp_path):
    from kerascope import cli
    from kerascope.callbacks import MethodCallback
    from kerascope.callbacks.summary import read_images
    from tests.models import small_cnn

    model = small_cnn(input_shape=(12, 12, 1), activation="relu")
    model.save(tmp_path / "model.keras")
    x = np.random.default_rng(8).random((2, 12, 12, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    code = cli.main(["explain", str(tmp_path / "model.keras"), str(tmp_path / "x.npy"),
                     "-m", "lrp", "-o", "lrp.composite=epsilon_gamma_box", "--target", "1",
                     "--out", str(out), "--quiet"])
    assert code == 0
    expected = kerascope.lrp(model, x, 1, composite="epsilon_gamma_box")[1]
    plain = kerascope.lrp(model, x, 1)[1]
    with np.load(out / "maps.npz") as archive:
        np.testing.assert_allclose(archive["lrp"], expected, rtol=1e-5, atol=1e-7)
    assert _rel(plain, expected) > 1e-2  # the option reached the method

    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    callback = MethodCallback((x, None), "lrp", class_index=1, output_dir=tmp_path / "logs",
                              composite="epsilon")
    model.fit(x, np.array([0, 1]), epochs=1, verbose=0, callbacks=[callback])
    assert [step for step, _ in read_images(callback.output_dir)["lrp"]] == [0]
    assert not callback.failures and callback.method.composite == "epsilon"


def test_batch_norm_merged_after_loading_and_only_when_its_conv_feeds_it_alone(stored, tmp_path):
    model, x, targets = stored["bn"]
    model.save(tmp_path / "bn.keras")
    loaded = keras.saving.load_model(tmp_path / "bn.keras")
    np.testing.assert_allclose(ref.explain(loaded, x, targets, "epsilon_plus")[0],
                               ref.explain(model, x, targets, "epsilon_plus")[0],
                               rtol=1e-5, atol=1e-7)
    inputs = keras.Input((16, 16, 3))
    conv = layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    h = layers.Add()([layers.BatchNormalization(name="norm")(conv), conv])
    h = layers.GlobalAveragePooling2D()(layers.ReLU()(h))
    skip = keras.Model(inputs, layers.Dense(5)(h))
    with pytest.raises(ValueError, match="'norm'"):  # merging would change the skip
        kerascope.lrp(skip, x, targets)



def test_x_minus_terms_left_out_only_where_the_graph_shows_inputs_non_negative():
    from kerascope.methods.lrp import layers as lrp_layers

    keras.utils.set_random_seed(5)
    inputs = keras.Input((8, 8, 3))
    a = layers.Conv2D(4, 3, padding="same", activation="relu", name="a")(inputs)
    b = layers.Conv2D(4, 3, padding="same", name="b")(layers.MaxPooling2D(2)(a))
    c = layers.Conv2D(4, 3, name="c")(layers.ZeroPadding2D(1)(layers.ReLU()(b)))
    d = layers.Conv2D(4, 1, name="d")(layers.ReLU(negative_slope=0.1)(c))
    e = layers.Concatenate()([layers.ReLU()(d), d])
    model = keras.Model(inputs, layers.Dense(3, name="f")(layers.Flatten()(e)))
    found = {n: lrp_layers.nonnegative_input(model.get_layer(n)) for n in "abcdf"}
    assert found == {"a": False, "b": True, "c": True, "d": False, "f": False}
    # on a non-negative input, leaving the x- terms out changes no relevance
    dense = model.get_layer("f")
    rng = np.random.default_rng(1)
    x = np.maximum(rng.normal(size=(2, 128)), 0).astype("float32")
    x, relevance = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(
        rng.normal(size=(2, 3)).astype("float32"))
    values = [v.value for v in dense.weights]
    for rule in (lrp.ZPlus(), lrp.AlphaBeta(2, 1), lrp.Gamma(0.25)):
        maps = []
        for nonnegative in (True, False):
            [(part, xi)] = lrp_layers.linear_parts(dense, dense.call, (x,), values,
                                                   nonnegative=nonnegative)
            assert part.nonnegative is nonnegative
            maps.append(keras.ops.convert_to_numpy(rule.relevance(part, xi, relevance)))
        assert np.abs(maps[1]).max() > 0
        np.testing.assert_allclose(maps[0], maps[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.Conv1D(3, 3, strides=2), (2, 11, 4)),
    (lambda: layers.Conv2D(3, 3, dilation_rate=2), (2, 9, 9, 4)),
    (lambda: layers.Conv2D(3, 2, padding="same"), (2, 7, 7, 4)),
    (lambda: layers.Conv2D(3, 3, strides=2, padding="same"), (2, 8, 8, 4)),
    (lambda: layers.Conv3D(3, 3, padding="same"), (2, 5, 5, 5, 2)),
    (lambda: layers.Dense(3), (2, 6)),
])
def test_direct_products_equal_the_layers_own_op_and_its_vjp(make, shape):
    # the products LRP runs for plain Dense/Conv (native on PyTorch, with a transposed
    # convolution for W^T s) against the layer's own op and autograd's vjp of it
    from kerascope import backend
    from kerascope.methods.lrp import layers as lrp_layers

    layer = make()
    rng = np.random.default_rng(2)
    x = keras.ops.convert_to_tensor(rng.normal(size=shape).astype("float32"))
    layer.build(shape)
    own = layer.convolution_op if hasattr(layer, "convolution_op") else keras.ops.matmul
    values = [v.value for v in layer.weights]
    [(part, _)] = lrp_layers.linear_parts(layer, layer.call, (x,), values)
    kernel = keras.ops.convert_to_tensor(rng.normal(size=layer.kernel.shape).astype("float32"))
    z = own(x, kernel)
    s = keras.ops.convert_to_tensor(rng.normal(size=z.shape).astype("float32"))
    expected = backend.vjp(lambda t: own(t, kernel), (x,), s)[0]
    np.testing.assert_allclose(*map(keras.ops.convert_to_numpy, (part.forward(x, kernel), z)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(*map(keras.ops.convert_to_numpy,
                                    (part.back(kernel, s, x), expected)), rtol=1e-5, atol=1e-5)
