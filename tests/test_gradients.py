"""Vanilla gradients, Gradients*Inputs, targets and model types."""

import keras
import numpy as np
import pytest

import kerascope
from kerascope.engine import surgery
from tests.models import set_numpy_weights, small_cnn


def _central_differences(f, x, coords, eps=1e-2):
    out = []
    for coord in coords:
        plus, minus = x.copy(), x.copy()
        plus[coord] += eps
        minus[coord] -= eps
        out.append((f(plus) - f(minus)) / (2 * eps))
    return np.array(out)


def _logit(model, unit):
    return lambda x: float(keras.ops.convert_to_numpy(model(x[None], training=False))[0, unit])


def test_vanilla_gradients_match_finite_differences(rng):
    model = small_cnn(final=None)
    x = rng.random((3, 12, 12, 3)).astype(np.float32)
    _, grads = kerascope.gradients(model, x, 2, channel_reduction=None)
    coords = [tuple(rng.integers(0, s) for s in x.shape[1:]) for _ in range(12)]
    for i in range(len(x)):
        expected = _central_differences(_logit(model, 2), x[i].astype(np.float64), coords)
        got = np.array([grads[i][c] for c in coords])
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-5)


def test_softmax_is_stripped_without_touching_the_model(rng):
    with_softmax = small_cnn(final="softmax")
    without = small_cnn(final=None)
    x = rng.random((4, 12, 12, 3)).astype(np.float32)
    outputs, g_soft = kerascope.gradients(with_softmax, x, 1, channel_reduction=None)
    _, g_lin = kerascope.gradients(without, x, 1, channel_reduction=None)
    np.testing.assert_allclose(g_soft, g_lin, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs.sum(axis=1), 1, rtol=1e-5)
    probs = keras.ops.convert_to_numpy(with_softmax(x))
    np.testing.assert_allclose(outputs, probs, rtol=1e-5, atol=1e-6)
    _, g_probs = kerascope.gradients(with_softmax, x, 1, channel_reduction=None, use_logits=False)
    assert not np.allclose(g_probs, g_lin, atol=1e-4)


def test_gradients_inputs_is_gradient_times_input(rng):
    model = small_cnn()
    x = rng.random((5, 12, 12, 3)).astype(np.float32)
    _, grads = kerascope.gradients(model, x, 0, channel_reduction=None)
    _, gxi = kerascope.gradients_inputs(model, x, 0, channel_reduction=None)
    np.testing.assert_allclose(gxi, grads * x, rtol=1e-5, atol=1e-7)
    _, summed = kerascope.gradients_inputs(model, x, 0)
    np.testing.assert_allclose(summed, (grads * x).sum(-1), rtol=1e-4, atol=1e-6)


def test_linear_model_closed_forms(rng):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    set_numpy_weights(model)
    w = model.get_weights()[0]
    x = rng.random((4, 6)).astype(np.float32)
    _, grads = kerascope.gradients(model, x, 1, channel_reduction=None)
    np.testing.assert_allclose(grads, np.broadcast_to(w[:, 1], x.shape), rtol=1e-6)
    _, gxi = kerascope.gradients_inputs(model, x, 1)
    np.testing.assert_allclose(gxi, w[:, 1] * x, rtol=1e-5)


def test_targets_forms_agree(rng):
    model = small_cnn()
    x = rng.random((6, 12, 12, 3)).astype(np.float32)
    outputs, predicted = kerascope.gradients(model, x, "predicted", channel_reduction=None)
    top = outputs.argmax(axis=1)
    _, explicit = kerascope.gradients(model, x, top, channel_reduction=None)
    np.testing.assert_allclose(predicted, explicit, rtol=1e-6)
    _, topk = kerascope.gradients(model, x, kerascope.top_k(3), channel_reduction=None)
    assert topk.shape == (6, 3, 12, 12, 3)
    order = np.argsort(-outputs, axis=1)[:, :3]
    _, by_index = kerascope.gradients(model, x, order, channel_reduction=None)
    np.testing.assert_allclose(topk, by_index, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(topk[:, 0], predicted, rtol=1e-5, atol=1e-7)
    score = lambda logits: logits[:, 2] - logits[:, 0]  # noqa: E731
    _, custom = kerascope.gradients(model, x, score, channel_reduction=None)
    _, g2 = kerascope.gradients(model, x, 2, channel_reduction=None)
    _, g0 = kerascope.gradients(model, x, 0, channel_reduction=None)
    np.testing.assert_allclose(custom, g2 - g0, rtol=1e-4, atol=1e-6)


def _fd_check(model, x, unit_fn, grads, rng, n=8):
    coords = [tuple(rng.integers(0, s) for s in x.shape[1:]) for _ in range(n)]
    expected = _central_differences(unit_fn, x[0].astype(np.float64), coords)
    np.testing.assert_allclose([grads[0][c] for c in coords], expected, rtol=1e-3, atol=1e-5)


def test_nested_transfer_learning_model(rng):
    base_in = keras.Input((10, 10, 3))
    h = keras.layers.Conv2D(4, 3, activation="tanh", name="base_conv")(base_in)
    base = keras.Model(base_in, h, name="base")
    model = keras.Sequential([
        keras.Input((10, 10, 3)), base, keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    set_numpy_weights(model)
    x = rng.random((2, 10, 10, 3)).astype(np.float32)
    _, grads = kerascope.gradients(model, x, 1, channel_reduction=None)
    view = surgery.ModelView(model)
    assert view.stripped_layer is model.layers[-1]
    w, b = [np.asarray(v) for v in model.layers[-1].get_weights()]
    features = keras.Sequential([keras.Input((10, 10, 3)), base, keras.layers.GlobalAveragePooling2D()])
    logit = lambda xi: float(keras.ops.convert_to_numpy(features(xi[None]))[0] @ w[:, 1] + b[1])  # noqa: E731
    _fd_check(model, x, logit, grads, rng)
    assert surgery.find_layer(model, "base_conv").name == "base_conv"


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(4, 3, activation="tanh")
        self.flat = keras.layers.Flatten()
        self.head = keras.layers.Dense(3)

    def call(self, x):
        return self.head(self.flat(self.conv(x)))


def test_subclassed_model(rng):
    model = Subclassed()
    x = rng.random((2, 8, 8, 1)).astype(np.float32)
    model(x)
    set_numpy_weights(model)
    _, grads = kerascope.gradients(model, x, 2, channel_reduction=None)
    _fd_check(model, x, _logit(model, 2), grads, rng)


def test_single_sigmoid_binary_model(rng):
    inputs = keras.Input((8,))
    h = keras.layers.Dense(5, activation="tanh")(inputs)
    logit_layer = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(inputs, logit_layer(h))
    set_numpy_weights(model)
    x = rng.random((3, 8)).astype(np.float32)
    outputs, grads = kerascope.gradients(model, x, 0, channel_reduction=None)
    assert np.all((outputs > 0) & (outputs < 1))
    logits = keras.Model(inputs, keras.layers.Dense(1)(h))
    logits.layers[-1].set_weights(logit_layer.get_weights())
    _fd_check(model, x, _logit(logits, 0), grads, rng)
    _, negative = kerascope.gradients(model, x, lambda z: -z[:, 0], channel_reduction=None)
    np.testing.assert_allclose(negative, -grads, rtol=1e-6)


def test_regression_model(rng):
    inputs = keras.Input((7,))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(4, activation="tanh")(inputs)))
    set_numpy_weights(model)
    x = rng.random((3, 7)).astype(np.float32)
    _, grads = kerascope.gradients(model, x, 0, channel_reduction=None)
    _fd_check(model, x, _logit(model, 0), grads, rng)
    _, same = kerascope.gradients(model, x, lambda y: y[:, 0], channel_reduction=None)
    np.testing.assert_allclose(same, grads, rtol=1e-6)


def test_multi_output_model_picks_output(rng):
    inputs = keras.Input((5,))
    h = keras.layers.Dense(4, activation="tanh")(inputs)
    first = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    second = keras.layers.Dense(2, name="reg")(h)
    model = keras.Model(inputs, [first, second])
    set_numpy_weights(model)
    x = rng.random((2, 5)).astype(np.float32)
    out1, _ = kerascope.gradients(model, x, 0, output_index=1, channel_reduction=None)
    np.testing.assert_allclose(out1, keras.ops.convert_to_numpy(model(x)[1]), rtol=1e-5)
    _, g = kerascope.gradients(model, x, 1, output_index=1, channel_reduction=None)
    _fd_check(model, x, lambda xi: float(keras.ops.convert_to_numpy(model(xi[None])[1])[0, 1]), g, rng)


def test_segmentation_target_sums_over_a_mask(rng):
    inputs = keras.Input((6, 6, 2))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same", activation="softmax")(inputs))
    set_numpy_weights(model)
    x = rng.random((2, 6, 6, 2)).astype(np.float32)
    mask = np.zeros((6, 6), np.float32)
    mask[:3, :3] = 1
    mask_t = keras.ops.convert_to_tensor(mask)
    score = lambda logits: keras.ops.sum(logits[..., 1] * mask_t, axis=(1, 2))  # noqa: E731
    _, grads = kerascope.gradients(model, x, score, channel_reduction=None)
    # Pixels farther than the 3x3 kernel reach from the mask get no gradient.
    assert np.all(grads[:, 4:, :] == 0) and np.all(grads[:, :, 4:] == 0)
    assert np.abs(grads[:, :3, :3]).sum() > 0


def test_channels_first_model(rng):
    inputs = keras.Input((2, 8, 8))
    h = keras.layers.Conv2D(3, 3, activation="tanh", data_format="channels_first")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(h)))
    set_numpy_weights(model)
    x = rng.random((2, 2, 8, 8)).astype(np.float32)
    try:
        model(x)
    except Exception as error:  # TensorFlow's CPU kernels: NHWC convolutions only
        pytest.skip(f"the backend cannot run this channels_first model here: {type(error).__name__}")
    _, raw = kerascope.gradients(model, x, 1, channel_reduction=None)
    _, reduced = kerascope.gradients(model, x, 1)
    assert reduced.shape == (2, 8, 8)
    np.testing.assert_allclose(reduced, np.abs(raw).sum(axis=1), rtol=1e-5)
    _fd_check(model, x, _logit(model, 1), raw, rng)


@pytest.mark.parametrize("channels", [2, 3, 4, 5])
@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("how", ["sum", "mean", "abs_sum", "abs_mean", "max_abs", "square_sum"])
def test_channel_reductions_equal_numpy_reductions_bit_for_bit(rng, channels, axis, how):
    from kerascope.methods.base import reduce_channels

    maps = rng.normal(size=(3, channels, 5, channels)).astype(np.float32)
    reference = {
        "sum": lambda: np.sum(maps, axis=axis),
        "mean": lambda: np.mean(maps, axis=axis),
        "abs_sum": lambda: np.sum(np.abs(maps), axis=axis),
        "abs_mean": lambda: np.mean(np.abs(maps), axis=axis),
        "max_abs": lambda: np.max(np.abs(maps), axis=axis),
        "square_sum": lambda: np.sum(np.square(maps), axis=axis),
    }[how]()
    ours = reduce_channels(maps, how, axis)
    assert ours.dtype == reference.dtype and ours.shape == reference.shape
    np.testing.assert_array_equal(ours, reference)
