"""Integrated Gradients: completeness and closed forms."""

import keras
import numpy as np
import pytest

import kerascope
from kerascope.methods import IntegratedGradients
from kerascope.methods.integrated_gradients import RULES, quadrature
from tests.models import set_numpy_weights, small_cnn


def integrated_gradients(model, x, targets=None, **options):
    return kerascope.integrated_gradients(model, x, targets, **options)[1]


def _flat_model(n, head):
    inputs = keras.Input((n,))
    return keras.Model(inputs, head(inputs))


def test_completeness_on_a_cnn(rng):
    model = small_cnn(activation="relu", scale=3.0)
    x = rng.random((4, 12, 12, 3)).astype(np.float32)
    ig = IntegratedGradients(n_steps=128, return_convergence_delta=True)
    result = kerascope.explain(ig, model, x, "predicted", batch_size=64)
    outputs, maps = result
    plain = small_cnn(activation="relu", final=None, scale=3.0)
    logits = keras.ops.convert_to_numpy(plain(x))
    units = outputs.argmax(axis=1)
    zero_logits = keras.ops.convert_to_numpy(plain(np.zeros_like(x)))
    gain = logits[np.arange(4), units] - zero_logits[np.arange(4), units]
    total = maps.reshape(4, -1).sum(axis=1)
    assert np.all(np.abs(gain) > 0.1)
    np.testing.assert_allclose(total, gain, rtol=0.01)
    np.testing.assert_allclose(result.extras["convergence_delta"], total - gain, atol=1e-4)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n_steps", [2, 5])
def test_linear_model_gives_weights_times_difference(rule, n_steps, rng):
    model = _flat_model(6, keras.layers.Dense(2))
    set_numpy_weights(model)
    w = model.get_weights()[0][:, 1]
    x = rng.random((3, 6)).astype(np.float32)
    baseline = rng.random(6).astype(np.float32)
    maps = integrated_gradients(model, x, 1, n_steps=n_steps, method=rule, baseline=baseline)
    np.testing.assert_allclose(maps, w * (x - baseline), rtol=1e-5, atol=1e-6)


def _square_model(n):
    square = keras.layers.Lambda(lambda t: keras.ops.sum(t * t, axis=-1, keepdims=True))
    return _flat_model(n, square)


def test_quadratic_closed_forms(rng):
    model = _square_model(5)
    x = rng.random((2, 5)).astype(np.float32) + 0.5
    n = 7
    trapezoid = integrated_gradients(model, x, 0, n_steps=n, method="riemann_trapezoid")
    np.testing.assert_allclose(trapezoid, x**2, rtol=1e-5)
    left = integrated_gradients(model, x, 0, n_steps=n, method="riemann_left")
    np.testing.assert_allclose(left, x**2 * (1 - 1 / n), rtol=1e-5)
    right = integrated_gradients(model, x, 0, n_steps=n, method="riemann_right")
    np.testing.assert_allclose(right, x**2 * (1 + 1 / n), rtol=1e-5)
    gl = integrated_gradients(model, x, 0, n_steps=3, method="gausslegendre")
    np.testing.assert_allclose(gl, x**2, rtol=1e-5)


def test_quadrature_weights_integrate_polynomials():
    for rule in RULES:
        alphas, weights = quadrature(64, rule)
        assert weights.sum() == pytest.approx(1.0)
        assert (weights * alphas).sum() == pytest.approx(0.5, abs=1e-2)


def test_baselines(rng):
    model = _flat_model(8, keras.layers.Dense(1))
    set_numpy_weights(model)
    w = model.get_weights()[0][:, 0]
    x = rng.random((2, 8)).astype(np.float32)
    constant = integrated_gradients(model, x, 0, n_steps=4, baseline=0.5)
    np.testing.assert_allclose(constant, w * (x - 0.5), rtol=1e-5, atol=1e-7)
    uniform = IntegratedGradients(n_steps=4, baseline="uniform", seed=3, channel_reduction=None)
    uniform_maps = uniform.explain(model, x, 0)[1]
    again = IntegratedGradients(n_steps=4, baseline="uniform", seed=3, channel_reduction=None)
    np.testing.assert_allclose(again.explain(model, x, 0)[1], uniform_maps)
    image_model = small_cnn()
    images = rng.random((2, 12, 12, 3)).astype(np.float32)
    ig = IntegratedGradients(n_steps=16, baseline="blur", blur_sigma=2.0, return_convergence_delta=True)
    _, blur_maps = ig.explain(image_model, images, 1)
    assert blur_maps.shape == (2, 12, 12)
    assert np.all(np.isfinite(blur_maps))
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(model, x, 0, baseline=np.zeros(3))
    with pytest.raises(ValueError, match="baseline"):
        IntegratedGradients(baseline="noise")


def test_blur_baseline_preserves_mean_and_smooths():
    from kerascope.engine.numeric import gaussian_blur

    image = np.zeros((1, 15, 15, 1), np.float32)
    image[0, 7, 7, 0] = 1.0
    blurred = gaussian_blur(image, 1.5)
    assert blurred.sum() == pytest.approx(1.0, rel=1e-4)
    assert blurred[0, 7, 7, 0] < 0.2 and blurred[0, 7, 8, 0] > 0


def test_method_option_does_not_collide_with_explain_method(rng):
    model = _flat_model(4, keras.layers.Dense(2))
    set_numpy_weights(model)
    x = rng.random((2, 4)).astype(np.float32)
    _, left = kerascope.explain("integrated_gradients", model, x, 1, n_steps=4, method="riemann_left")
    w = model.get_weights()[0][:, 1]
    np.testing.assert_allclose(left, w * x, rtol=1e-5)
