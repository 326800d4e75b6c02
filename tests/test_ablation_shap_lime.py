"""Feature ablation, KernelSHAP, LIME, Expected Gradients and occlusion along time."""

import itertools
import math

import keras
import numpy as np
import pytest

import kerascope
from kerascope.methods import superpixels, time_windows
from kerascope.methods.ablation import feature_groups
from kerascope.methods.shapley import kernel_coalitions, shapley_kernel
from tests.models import set_numpy_weights


def linear_model(features, seed=0):
    inputs = keras.Input((features,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="linear")(inputs))
    rng = np.random.default_rng(seed)
    w = rng.normal(size=features).astype(np.float32)
    model.get_layer("linear").set_weights([w[:, None], np.array([0.7], np.float32)])
    return model, w


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x))


def test_feature_ablation_on_a_linear_model_is_w_times_x():
    model, w = linear_model(6)
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    _, maps = kerascope.feature_ablation(model, x, 0, baseline=0.0)
    np.testing.assert_allclose(maps, w * x, rtol=1e-5, atol=1e-6)
    # groups: ablating columns together gives the group's sum, on each of its columns
    mask = feature_groups([[0, 3], [1, 2, 5]], 6)
    _, grouped = kerascope.feature_ablation(model, x, 0, feature_mask=mask)
    first = (w * x)[:, [0, 3]].sum(axis=1)
    second = (w * x)[:, [1, 2, 5]].sum(axis=1)
    np.testing.assert_allclose(grouped[:, 0], first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grouped[:, 3], first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grouped[:, 5], second, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grouped[:, 4], (w * x)[:, 4], rtol=1e-5, atol=1e-6)
    # the baseline of each feature from a reference set: its mean
    refs = np.random.default_rng(2).normal(size=(20, 6)).astype(np.float32)
    _, against = kerascope.feature_ablation(model, x, 0, references=refs)
    np.testing.assert_allclose(against, w * (x - refs.mean(axis=0)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("features", [6, 16])
def test_kernel_shap_with_references_on_a_linear_model(features):
    model, w = linear_model(features, seed=features)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, features)).astype(np.float32)
    refs = rng.normal(size=(12, features)).astype(np.float32)
    result = kerascope.kernel_shap(model, x, 0, references=refs, seed=0)
    expected = w * (x - refs.mean(axis=0))
    np.testing.assert_allclose(result.maps, expected, rtol=0.02, atol=0.02 * np.abs(expected).max())
    # local accuracy: the values sum to f(x) - E[f(reference)]
    np.testing.assert_allclose(result.extras["base_value"], _predict(model, refs).mean(),
                               rtol=1e-4)
    np.testing.assert_allclose(result.maps.sum(axis=1) + result.extras["base_value"],
                               _predict(model, x)[:, 0], rtol=1e-4, atol=1e-4)


def _exact_shapley(model, x, baseline):
    """Shapley values of a one-row ``x`` by the subset formula (2^M model calls)."""
    m = x.shape[-1]
    subsets = list(itertools.product([0, 1], repeat=m))
    rows = np.array([np.where(np.array(s, bool), x, baseline) for s in subsets], np.float32)
    values = dict(zip(subsets, _predict(model, rows)[:, 0]))
    phi = np.zeros(m)
    for s in subsets:
        size = sum(s)
        for i in range(m):
            if s[i]:
                continue
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            with_i = s[:i] + (1,) + s[i + 1:]
            phi[i] += weight * (values[with_i] - values[s])
    return phi


def test_kernel_shap_is_exact_on_a_nonlinear_model_when_it_enumerates():
    inputs = keras.Input((5,))
    h = keras.layers.Dense(8, activation="tanh")(inputs)
    model = set_numpy_weights(keras.Model(inputs, keras.layers.Dense(1)(h * h)), seed=1,
                              scale=1.5)
    x = np.random.default_rng(4).normal(size=(2, 5)).astype(np.float32)
    baseline = np.full(5, 0.25, np.float32)
    _, maps = kerascope.kernel_shap(model, x, 0, baseline=baseline)
    for row in range(2):
        np.testing.assert_allclose(maps[row], _exact_shapley(model, x[row], baseline),
                                   rtol=1e-3, atol=1e-5)


def test_kernel_coalitions_follow_the_shapley_kernel():
    rng = np.random.default_rng(0)
    full, weights = kernel_coalitions(4, 100, rng)
    assert len(full) == 14
    np.testing.assert_allclose(weights, shapley_kernel(4, full.sum(axis=1)))
    sampled, sampled_weights = kernel_coalitions(12, 300, rng)
    assert len(sampled) <= 300 and np.all(sampled.any(axis=1)) and not np.any(sampled.all(axis=1))
    sizes = sampled.sum(axis=1)
    # sizes 1 and 11 (24 coalitions) are enumerated with their exact weights
    assert np.sum(sizes == 1) == 12 and np.sum(sizes == 11) == 12
    np.testing.assert_allclose(sampled_weights.sum(), 1.0)


def test_lime_ranks_features_like_the_linear_model():
    model, w = linear_model(8, seed=5)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(4, 8)).astype(np.float32)
    ref = rng.normal(size=8).astype(np.float32)
    result = kerascope.lime(model, x, 0, baseline=ref, seed=0)
    truth = np.abs(w * (x - ref))
    np.testing.assert_array_equal(np.argsort(-np.abs(result.maps), axis=1),
                                  np.argsort(-truth, axis=1))
    assert np.all(result.extras["score"] > 0.99)
    # the surrogate's coefficients are the features' effects (ridge shrinks them a little)
    np.testing.assert_allclose(result.maps, w * (x - ref), rtol=0.1, atol=0.05)


def _time_model(length=50, channels=2):
    """Class 1 depends only on steps 20-29 (the rest is cropped away)."""
    inputs = keras.Input((length, channels))
    h = keras.layers.Cropping1D((20, length - 30))(inputs)
    h = keras.layers.Conv1D(4, 3, activation="tanh")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h), name="series")
    return set_numpy_weights(model, seed=3, scale=2.0)


def test_occlusion_along_time_lights_the_steps_that_decide():
    model = _time_model()
    x = np.random.default_rng(7).normal(size=(6, 50, 2)).astype(np.float32)
    _, maps = kerascope.occlusion(model, x, 1, patch_size=5, fill_value=0.0, mode="difference")
    assert maps.shape == (6, 50)
    mass = np.abs(maps)
    share = mass[:, 20:30].sum(axis=1) / mass.sum(axis=1)
    assert np.all(share >= 0.9), share
    # overlapping windows and window values
    _, patches = kerascope.occlusion(model, x, 1, patch_size=10, stride=5, fill_value="mean",
                                     resolution="patches")
    assert patches.shape == (6, 9)
    with pytest.raises(ValueError, match="patch_size: a sequence is occluded along one axis"):
        kerascope.occlusion(model, x, 1, patch_size=(5, 2))
    with pytest.raises(ValueError, match="patch_size: 60 steps is longer"):
        kerascope.occlusion(model, x, 1, patch_size=60)
    # the same series read as a (50, 2) image fails as before
    with pytest.raises(ValueError, match="larger than the image"):
        kerascope.occlusion(model, x, 1, patch_size=5, sequence=False)


def test_feature_ablation_of_time_windows_matches_occlusion():
    model = _time_model()
    x = np.random.default_rng(8).normal(size=(3, 50, 2)).astype(np.float32)
    _, occluded = kerascope.occlusion(model, x, 1, patch_size=5, fill_value=0.0,
                                      mode="difference")
    _, ablated = kerascope.feature_ablation(model, x, 1, feature_mask=time_windows(50, 5))
    assert ablated.shape == (3, 50)
    np.testing.assert_allclose(ablated, occluded, rtol=1e-4, atol=1e-6)
    # default mask: one feature per step; steps outside 20-29 change nothing
    _, steps = kerascope.feature_ablation(model, x, 1)
    assert np.abs(steps[:, :20]).max() < 1e-6 and np.abs(steps[:, 30:]).max() < 1e-6
    assert np.abs(steps[:, 20:30]).min() > 0


def test_superpixel_masks_per_image_and_local_accuracy():
    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(4, 3, activation="tanh")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = set_numpy_weights(keras.Model(inputs, keras.layers.Dense(3)(h)), seed=2, scale=2.0)
    rng = np.random.default_rng(9)
    images = rng.random((2, 16, 16, 3)).astype(np.float32)
    images[1, :8] += 1.0  # different images, different segments
    masks = superpixels(images, n_segments=6, compactness=5.0)
    assert masks.shape == (2, 16, 16, 1) and masks.dtype == np.int64
    result = kerascope.kernel_shap(model, images, 2, feature_mask=masks, baseline=0.0,
                                   use_logits=True)
    maps = result.maps
    assert maps.shape == (2, 16, 16)
    full = _predict(model, images)[:, 2]
    empty = _predict(model, np.zeros_like(images))[:, 2]
    for i in range(2):
        segment_values = [maps[i][masks[i, ..., 0] == s][0] for s in np.unique(masks[i])]
        # every pixel of a segment carries the segment's value
        for s, value in zip(np.unique(masks[i]), segment_values):
            np.testing.assert_allclose(maps[i][masks[i, ..., 0] == s], value)
        np.testing.assert_allclose(sum(segment_values), full[i] - empty[i], rtol=1e-3,
                                   atol=1e-5)
    np.testing.assert_allclose(result.extras["base_value"], empty, rtol=1e-4, atol=1e-6)


def test_token_ablation_with_a_padding_baseline():
    tokens = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(10, 1, name="emb")(tokens)
    model = keras.Model(tokens, keras.layers.Flatten()(h))
    table = np.arange(10, dtype=np.float32)[:, None] * 0.5
    model.get_layer("emb").set_weights([table])
    x = np.array([[3, 1, 4, 1, 5, 9]], np.int32)
    # score of output unit 2 is table[x[2]]; ablating token 2 to padding 0 drops it to 0
    _, maps = kerascope.feature_ablation(model, x, 2, baseline=0)
    np.testing.assert_allclose(maps, [[0, 0, 2.0, 0, 0, 0]])


def test_expected_gradients():
    model, w = linear_model(5, seed=9)
    rng = np.random.default_rng(10)
    x = rng.normal(size=(3, 5)).astype(np.float32)
    refs = rng.normal(size=(40, 5)).astype(np.float32)
    result = kerascope.expected_gradients(model, x, 0, references=refs, num_samples=400,
                                          seed=0, return_convergence_delta=True)
    # linear model: each draw gives w * (x - x'), so only the draws' mean reference varies
    np.testing.assert_allclose(result.maps, w * (x - refs.mean(axis=0)), atol=0.15)
    assert np.abs(result.extras["convergence_delta"]).max() < 1e-4
    # one reference and many draws: Integrated Gradients with that baseline
    inputs = keras.Input((5,))
    curved = set_numpy_weights(keras.Model(inputs, keras.layers.Dense(2)(
        keras.layers.Dense(6, activation="tanh")(inputs))), seed=4, scale=1.5)
    ig = kerascope.integrated_gradients(curved, x, 1, baseline=refs[0], n_steps=64)[1]
    eg = kerascope.expected_gradients(curved, x, 1, references=refs[:1], num_samples=4000,
                                      seed=1, batch_size=1024)[1]
    np.testing.assert_allclose(eg, ig, atol=0.03 * np.abs(ig).max())
    with pytest.raises(ValueError, match="references: Expected Gradients draws"):
        kerascope.expected_gradients(model, x, 0)
    with pytest.raises(ValueError, match=r"references: reference samples of shape \(4,\)"):
        kerascope.expected_gradients(model, x, 0, references=refs[:, :4])


def test_bad_masks_name_the_argument():
    model, _ = linear_model(6)
    x = np.zeros((2, 6), np.float32)
    with pytest.raises(ValueError, match="feature_mask: expected integer feature ids"):
        kerascope.feature_ablation(model, x, 0, feature_mask=np.full(6, 0.5))
    with pytest.raises(ValueError, match=r"feature_mask: a mask of shape \(4,\) does not fit"):
        kerascope.feature_ablation(model, x, 0, feature_mask=np.arange(4))
    with pytest.raises(ValueError, match="feature_mask: 3 per-sample masks"):
        kerascope.kernel_shap(model, np.zeros((4, 6), np.float32), 0,
                              feature_mask=np.zeros((3, 6), int))
    with pytest.raises(ValueError, match="num_samples"):
        kerascope.kernel_shap(model, x, 0, num_samples=0)


def test_surrogates_refuse_too_many_features():
    model, _ = linear_model(3000)
    x = np.zeros((1, 3000), np.float32)
    for method in ("kernel_shap", "lime"):
        with pytest.raises(ValueError, match="feature_mask: 3000 features is too many"):
            kerascope.explain(method, model, x, 0)
