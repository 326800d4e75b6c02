"""Smooth and efficient MPRT (Hedström et al. 2023, arXiv:2401.06465): a map that
ignores the weights passes neither, gradients do, the user's model is untouched, and
(on torch) the aggregation equals Quantus 0.6's on the same before/after maps."""

import numpy as np
import pytest

import keras

from kerascope import metrics

N, H = 4, 8


@pytest.fixture(scope="module")
def setup():
    keras.utils.set_random_seed(0)
    inp = keras.Input((H, H, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(3)(h)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(N, H, H, 1)).astype("float32")
    y = np.array([0, 1, 2, 0])
    # trained-ish: a few steps on a pattern task, so the gradients have structure
    xt = rng.uniform(size=(64, H, H, 1)).astype("float32")
    yt = (xt[:, :4].mean(axis=(1, 2, 3)) > xt[:, 4:].mean(axis=(1, 2, 3))).astype("int32")
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(xt, yt, epochs=10, batch_size=32, verbose=0)
    return model, x, y


def itself(model, x, targets):
    return np.asarray(x)


def test_weight_independent_map_fails_both(setup):
    model, x, y = setup
    smooth = metrics.smooth_mprt(model, x, y, method=itself, nr_samples=3)
    assert smooth.higher_is_better is False
    np.testing.assert_allclose(smooth.per_sample, 1.0)
    assert len(smooth.details["steps"]) == 2  # conv then dense, input side first
    efficient = metrics.efficient_mprt(model, x, y, method=itself)
    assert efficient.higher_is_better is True
    np.testing.assert_allclose(efficient.per_sample, 0.0, atol=1e-12)


def test_gradients_pass_and_model_is_untouched(setup):
    model, x, y = setup
    before = [np.array(w, copy=True) for w in model.get_weights()]
    smooth = metrics.smooth_mprt(model, x, y, method="vanilla_gradients", nr_samples=4)
    efficient = metrics.efficient_mprt(model, x, y, method="vanilla_gradients")
    assert smooth.value < 0.5
    assert efficient.value > 0
    details = efficient.details
    assert details["entropy_randomized"].mean() > details["entropy_original"].mean()
    after = model.get_weights()
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, after))


def test_noise_is_the_inputs_range_times_magnitude(setup):
    model, x, y = setup
    result = metrics.smooth_mprt(model, x, y, method=itself, nr_samples=2,
                                 noise_magnitude=0.2)
    np.testing.assert_allclose(result.details["noise_std"],
                               0.2 * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3))), rtol=1e-6)


def test_registered_in_the_randomization_family():
    for name in ("smooth_mprt", "efficient_mprt"):
        info = metrics.get(name)
        assert info.family == "randomization" and info.needs_method
        assert "2401.06465" in info.paper
    with pytest.raises(ValueError, match="order"):
        metrics.smooth_mprt(None, None, method=itself, order="sideways")


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="Quantus runs torch models")
def test_aggregation_equals_quantus(setup):
    """Quantus randomizes through ``reset_parameters``, which a Keras model lacks, so
    both sides get the same fixed maps: ``A`` for the trained model, ``B`` once it is
    randomized (told apart by the weights); nr_samples=1 draws no noise."""
    quantus = pytest.importorskip("quantus")
    import torch

    model, x, y = setup
    rng = np.random.default_rng(1)
    a = rng.normal(size=(N, H, H, 1)).astype("float32")
    b = (a + rng.normal(scale=0.7, size=a.shape) ** 3).astype("float32")
    trained = model.get_weights()[0]

    def ours(m, xx, targets):
        return a if np.array_equal(m.get_weights()[0], trained) else b

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(H * H, 5),
                              torch.nn.ReLU(), torch.nn.Linear(5, 3)).eval()

    def theirs(model, inputs, targets, **kwargs):
        return (a if model is net else b).reshape(N, 1, H, H)

    # one channel: (N, H, W, 1) and (N, 1, H, W) flatten alike
    common = dict(model=net, x_batch=x.reshape(N, 1, H, H), y_batch=y, a_batch=None, device="cpu",
                  explain_func=theirs, channel_first=True, batch_size=N)
    # SmoothMPRT 0.6 explains through quantus.explain (Captum/Zennit), not explain_func:
    # its post-processing of the (noise-free, nr_samples=1) maps is compared instead.
    from quantus.functions.normalise_func import normalise_by_average_second_moment_estimate
    from quantus.functions.similarity_func import correlation_spearman

    def post(maps):
        return np.abs(normalise_by_average_second_moment_estimate(maps.astype(np.float64)))

    smooth_q = correlation_spearman(post(a).reshape(N, -1), post(b).reshape(N, -1),
                                    batched=True)
    smooth = metrics.smooth_mprt(model, x, y, method=ours, nr_samples=1)
    np.testing.assert_allclose(smooth.per_sample, smooth_q, rtol=1e-6)
    efficient_q = quantus.EfficientMPRT(disable_warnings=True)(**common)
    efficient = metrics.efficient_mprt(model, x, y, method=ours)
    np.testing.assert_allclose(efficient.per_sample, efficient_q, rtol=1e-6)
    print("smooth_mprt", smooth.per_sample, smooth_q)
    print("efficient_mprt", efficient.per_sample, efficient_q)
