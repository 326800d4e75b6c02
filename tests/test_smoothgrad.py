"""SmoothGrad and its variants."""

import numpy as np
import pytest

import kerascope
from kerascope.methods import SmoothGrad
from tests.models import small_cnn


def test_zero_noise_reduces_to_gradients(rng):
    model = small_cnn()
    x = rng.random((3, 12, 12, 3)).astype(np.float32)
    _, grads = kerascope.gradients(model, x, 1, channel_reduction=None)
    _, smooth = kerascope.smoothgrad(model, x, 1, noise=0.0, num_samples=4, channel_reduction=None)
    np.testing.assert_allclose(smooth, grads, rtol=1e-5, atol=1e-7)
    _, var = kerascope.smoothgrad(model, x, 1, noise=0.0, num_samples=4, variant="vargrad",
                                  channel_reduction=None)
    assert np.all(var == 0)
    _, square = kerascope.smoothgrad(model, x, 1, noise=0.0, num_samples=4,
                                     variant="squaregrad", channel_reduction=None)
    np.testing.assert_allclose(square, grads**2, rtol=1e-5, atol=1e-9)


def test_noise_is_relative_to_each_input_range_and_seeded(rng):
    method = SmoothGrad(num_samples=2000, noise=0.1, seed=0)
    x = np.stack([np.linspace(0, 1, 12), np.linspace(0, 10, 12)]).astype(np.float32)
    rows = method.noisy_copies(x)
    noise = rows.reshape(2, 2000, 12) - x[:, None]
    np.testing.assert_allclose(noise.std(axis=(1, 2)), [0.1, 1.0], rtol=0.05)
    model = small_cnn()
    images = rng.random((2, 12, 12, 3)).astype(np.float32)
    a = kerascope.smoothgrad(model, images, 0, num_samples=5, seed=7)[1]
    b = kerascope.smoothgrad(model, images, 0, num_samples=5, seed=7)[1]
    c = kerascope.smoothgrad(model, images, 0, num_samples=5, seed=8)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_smoothgrad_averages_noisy_gradients(rng):
    model = small_cnn()
    x = rng.random((2, 12, 12, 3)).astype(np.float32)
    method = SmoothGrad(num_samples=6, noise=0.2, seed=1, channel_reduction=None)
    _, maps = method.explain(model, x, 2, batch_size=5)
    rows = SmoothGrad(num_samples=6, noise=0.2, seed=1).noisy_copies(x)
    _, per_row = kerascope.gradients(model, rows, 2, channel_reduction=None)
    np.testing.assert_allclose(maps, per_row.reshape(2, 6, 12, 12, 3).mean(axis=1), rtol=1e-4, atol=1e-6)


def test_bad_options():
    with pytest.raises(ValueError, match="num_samples"):
        SmoothGrad(num_samples=0)
    with pytest.raises(ValueError, match="noise"):
        SmoothGrad(noise=-1)
    with pytest.raises(ValueError, match="variant"):
        SmoothGrad(variant="meangrad")
