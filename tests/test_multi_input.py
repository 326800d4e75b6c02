"""Models with several inputs: maps per input, in the structure x came in."""

import keras
import numpy as np
import pytest

import kerascope
from kerascope.methods import IntegratedGradients, SmoothGrad

F_A, F_B = 5, (4, 3)


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(F_A, 2)).astype(np.float32),
            rng.normal(size=F_B + (2,)).astype(np.float32))


class Quadratic(keras.layers.Layer):
    """``S_c = sum_i u_ic a_i^2 + sum_jk v_jkc tanh(b_jk)``: closed-form gradients
    ``2 u_ic a_i`` and ``v_jkc (1 - tanh(b_jk)^2)``, per sample."""

    def __init__(self, u, v, **kwargs):
        super().__init__(**kwargs)
        self.u, self.v = u, v

    def call(self, inputs):
        a, b = inputs
        u = keras.ops.convert_to_tensor(self.u)
        v = keras.ops.convert_to_tensor(self.v.reshape(-1, 2))
        flat = keras.ops.reshape(keras.ops.tanh(b), (-1, int(np.prod(F_B))))
        return keras.ops.matmul(a * a, u) + keras.ops.matmul(flat, v)


def two_input_model(seed=0, kind="list"):
    u, v = _weights(seed)
    a = keras.Input((F_A,), name="features")
    b = keras.Input(F_B, name="series")
    out = Quadratic(u, v)([a, b])
    inputs = {"features": a, "series": b} if kind == "dict" else [a, b]
    return keras.Model(inputs, out, name="two_inputs"), u, v


def _data(n=4, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, F_A)).astype(np.float32),
            rng.normal(size=(n,) + F_B).astype(np.float32))


def test_each_map_is_the_gradient_with_respect_to_its_input():
    model, u, v = two_input_model()
    a, b = _data()
    targets = np.array([0, 1, 1, 0])
    outputs, maps = kerascope.gradients(model, [a, b], targets, channel_reduction=None)
    assert isinstance(maps, list) and len(maps) == 2
    expected_a = 2 * u[:, targets].T * a
    expected_b = np.moveaxis(v[..., targets], -1, 0) * (1 - np.tanh(b) ** 2)
    np.testing.assert_allclose(maps[0], expected_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps[1], expected_b, rtol=1e-5, atol=1e-6)
    logits = (a * a) @ u + np.tanh(b).reshape(len(b), -1) @ v.reshape(-1, 2)
    np.testing.assert_allclose(outputs, logits, rtol=1e-5, atol=1e-5)
    # gradient x input, per input
    _, products = kerascope.gradients_inputs(model, (a, b), targets, channel_reduction=None)
    assert isinstance(products, tuple)
    np.testing.assert_allclose(products[0], expected_a * a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(products[1], expected_b * b, rtol=1e-5, atol=1e-6)


def test_structures_and_streams_give_the_same_maps():
    model, _, _ = two_input_model()
    dict_model, _, _ = two_input_model(kind="dict")
    a, b = _data(6)
    _, as_list = kerascope.gradients(model, [a, b], 1, batch_size=4)
    _, as_dict = kerascope.gradients(dict_model, {"series": b, "features": a}, 1)
    assert set(as_dict) == {"features", "series"}
    np.testing.assert_allclose(as_dict["features"], as_list[0], rtol=1e-6)
    np.testing.assert_allclose(as_dict["series"], as_list[1], rtol=1e-6)
    # the series map is reduced over its last (channel) axis like any rank-3 input
    assert as_list[1].shape == (6, F_B[0])

    def batches():
        for start in range(0, 6, 4):
            yield [a[start:start + 4], b[start:start + 4]], np.zeros(4)

    _, streamed = kerascope.gradients(model, batches(), 1, batch_size=3)
    np.testing.assert_allclose(streamed[0], as_list[0], rtol=1e-6)
    np.testing.assert_allclose(streamed[1], as_list[1], rtol=1e-6)
    _, top = kerascope.gradients(model, [a, b], kerascope.top_k(2))
    assert top[0].shape == (6, 2, F_A) and top[1].shape == (6, 2, F_B[0])


def test_integrated_gradients_completeness_over_both_inputs():
    model, u, v = two_input_model(seed=3)
    a, b = _data(5, seed=4)
    result = kerascope.integrated_gradients(
        model, [a, b], None, n_steps=128, return_convergence_delta=True)
    outputs, maps = result
    units = outputs.argmax(axis=1)
    zero = np.zeros(2)  # S(0, 0) = 0 for this model
    gain = outputs[np.arange(5), units] - zero[units]
    total = maps[0].sum(axis=1) + maps[1].sum(axis=1)
    assert np.all(np.abs(gain) > 0.1)
    np.testing.assert_allclose(total, gain, rtol=0.01)
    np.testing.assert_allclose(result.extras["convergence_delta"], total - gain, atol=1e-4)
    # the a-part is exact: integral of 2 u a t over t in [0, 1] times a = u a^2
    np.testing.assert_allclose(maps[0], u[:, units].T * a * a, rtol=1e-4, atol=1e-6)


def test_per_input_baselines():
    model, u, _ = two_input_model()
    a, b = _data(3)
    base_a = np.full(F_A, 0.5, np.float32)
    _, maps = kerascope.integrated_gradients(
        model, [a, b], 0, n_steps=16, baseline={"features": base_a}, channel_reduction=None)
    # S is quadratic in a: IG_i = u_i0 (a_i^2 - base_i^2) exactly (trapezoid, linear integrand)
    np.testing.assert_allclose(maps[0], u[:, 0] * (a * a - base_a ** 2), rtol=1e-4, atol=1e-5)
    _, same = kerascope.integrated_gradients(
        model, [a, b], 0, n_steps=16, baseline=[base_a, 0.0], channel_reduction=None)
    np.testing.assert_allclose(same[0], maps[0], rtol=1e-6)
    np.testing.assert_allclose(same[1], maps[1], rtol=1e-6)
    with pytest.raises(ValueError, match="baseline: 'image' is not a model input"):
        kerascope.integrated_gradients(model, [a, b], 0, baseline={"image": 0.0})


def test_per_sample_baseline_array_equals_single_calls():
    model, _, _ = two_input_model()
    a, b = _data(4)
    rng = np.random.default_rng(7)
    base_a = rng.normal(size=a.shape).astype(np.float32)
    base_b = rng.normal(size=b.shape).astype(np.float32)
    ig = IntegratedGradients(n_steps=12, baseline=[base_a, base_b])
    _, batched = ig.explain(model, [a, b], 1, batch_size=20)  # 1 input per device batch
    for i in range(4):
        _, single = kerascope.integrated_gradients(
            model, [a[i:i + 1], b[i:i + 1]], 1, n_steps=12,
            baseline=[base_a[i], base_b[i]])
        np.testing.assert_allclose(batched[0][i], single[0][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batched[1][i], single[1][0], rtol=1e-5, atol=1e-6)
    # one input: (N, ...) baselines, rows of a stream included
    one = keras.Model(model.inputs[0], keras.layers.Dense(2)(model.inputs[0]))
    _, per_sample = kerascope.integrated_gradients(one, a, 0, n_steps=8, baseline=base_a,
                                                   batch_size=8)
    for i in range(4):
        _, single = kerascope.integrated_gradients(one, a[i:i + 1], 0, n_steps=8,
                                                   baseline=base_a[i])
        np.testing.assert_allclose(per_sample[i], single[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="baseline: 4 per-sample rows"):
        kerascope.integrated_gradients(one, np.concatenate([a, a]), 0, baseline=base_a)


def test_smoothgrad_noise_per_input_scaled_to_its_range():
    a = np.tile(np.linspace(0, 1, 50, dtype=np.float32), (2, 1))
    b = np.tile(np.linspace(0, 100, 12, dtype=np.float32).reshape(4, 3), (2, 1, 1))
    from kerascope.inputs.arrays import Inputs

    rows = SmoothGrad(num_samples=400, noise=0.1, seed=0).noisy_copies(
        Inputs([a, b], ["features", "series"]))
    noise_a = rows.arrays[0].reshape(2, 400, 50) - a[:, None]
    noise_b = rows.arrays[1].reshape(2, 400, 4, 3) - b[:, None]
    np.testing.assert_allclose(noise_a.std(), 0.1, rtol=0.05)
    np.testing.assert_allclose(noise_b.std(), 10.0, rtol=0.05)
    model, _, _ = two_input_model()
    x = list(_data(3))
    _, grads = kerascope.gradients(model, x, 0, channel_reduction=None)
    _, smooth = kerascope.smoothgrad(model, x, 0, noise=0.0, num_samples=3,
                                     channel_reduction=None)
    np.testing.assert_allclose(smooth[0], grads[0], rtol=1e-5)
    np.testing.assert_allclose(smooth[1], grads[1], rtol=1e-5)


def _linear_two_input():
    a = keras.Input((3,), name="a")
    b = keras.Input((6,), name="b")
    out = keras.layers.Dense(1, name="head")(keras.layers.Concatenate()([a, b]))
    model = keras.Model([a, b], out)
    w = np.random.default_rng(2).normal(size=(9, 1)).astype(np.float32)
    model.get_layer("head").set_weights([w, np.array([0.3], np.float32)])
    return model, w[:3, 0], w[3:, 0]


def test_ablation_and_occlusion_per_input_or_only_named_inputs():
    model, wa, wb = _linear_two_input()
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 6)).astype(np.float32)
    _, maps = kerascope.feature_ablation(model, [a, b], 0)
    np.testing.assert_allclose(maps[0], wa * a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps[1], wb * b, rtol=1e-5, atol=1e-6)
    _, only_b = kerascope.feature_ablation(model, [a, b], 0, inputs=["b"])
    assert only_b[0] is None
    np.testing.assert_allclose(only_b[1], wb * b, rtol=1e-5, atol=1e-6)
    # occlusion of a table: windows of 2 columns, difference mode: the window's sum
    _, occluded = kerascope.occlusion(model, [a, b], 0, patch_size=2, fill_value=0.0,
                                      mode="difference", inputs="b")
    assert occluded[0] is None and occluded[1].shape == (4, 6)
    pairs = (wb * b).reshape(4, 3, 2).sum(axis=2)
    np.testing.assert_allclose(occluded[1], np.repeat(pairs, 2, axis=1), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="inputs: no model input 'c'"):
        kerascope.feature_ablation(model, [a, b], 0, inputs="c")


def test_cams_use_the_image_input_or_ask_for_one():
    image = keras.Input((8, 8, 2), name="image")
    other = keras.Input((8, 8, 2), name="other")
    table = keras.Input((3,), name="table")
    conv = keras.layers.Conv2D(3, 3, activation="relu", name="conv")
    pooled = keras.layers.GlobalAveragePooling2D()(conv(image))
    model = keras.Model([image, table], keras.layers.Dense(2)(
        keras.layers.Concatenate()([pooled, table])))
    x = [np.random.default_rng(0).random((2, 8, 8, 2)).astype(np.float32),
         np.ones((2, 3), np.float32)]
    _, maps = kerascope.grad_cam(model, x, 0)
    _, named = kerascope.grad_cam(model, x, 0, input="image")
    assert maps.shape == (2, 8, 8)
    np.testing.assert_allclose(maps, named)
    second = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 3)(other))
    both = keras.Model([image, other], keras.layers.Dense(2)(
        keras.layers.Concatenate()([pooled, second])))
    with pytest.raises(ValueError, match="input: grad_cam .*'image'.*'other'.*input="):
        kerascope.grad_cam(both, [x[0], x[0]], 0)
    assert kerascope.grad_cam(both, [x[0], x[0]], 0, input="image",
                              layer_name="conv")[1].shape == (2, 8, 8)


def test_bad_structures_name_the_argument():
    model, _, _ = two_input_model()
    a, b = _data(3)
    with pytest.raises(ValueError, match=r"x: model 'two_inputs' has 2 inputs .*one array"):
        kerascope.gradients(model, a, 0)
    with pytest.raises(ValueError, match="x: the model has 2 inputs .*got a list of 3"):
        kerascope.gradients(model, [a, b, b], 0)
    with pytest.raises(ValueError, match="same number of samples"):
        kerascope.gradients(model, [a, b[:2]], 0)
    with pytest.raises(ValueError, match=r"x\[1\]: expected shape"):
        kerascope.gradients(model, [a, b[:, :2]], 0)
    with pytest.raises(ValueError, match="method 'rise' explains models with one input.*"
                                         "'features', 'series'"):
        kerascope.rise(model, [a, b], 0)


def test_reference_sets_per_input():
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    head = keras.layers.Dense(1, name="head")
    model = keras.Model([a, b], head(keras.layers.Concatenate()([a, b])))
    rng = np.random.default_rng(11)
    w = rng.normal(size=8).astype(np.float32)
    head.set_weights([w[:, None], np.zeros(1, np.float32)])
    x = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)]
    refs = [rng.normal(size=(30, 4)).astype(np.float32), rng.normal(size=(30, 4)).astype(np.float32)]
    shap = kerascope.kernel_shap(model, x, 0, references=refs)
    for k in range(2):
        expected = w[4 * k:4 * k + 4] * (x[k] - refs[k].mean(axis=0))
        np.testing.assert_allclose(shap.maps[k], expected, rtol=1e-3, atol=1e-5)
    eg = kerascope.expected_gradients(model, x, 0, references={"a": refs[0], "b": refs[1]},
                                      num_samples=300, seed=0, return_convergence_delta=True)
    assert np.abs(eg.extras["convergence_delta"]).max() < 1e-4
    for k in range(2):
        expected = w[4 * k:4 * k + 4] * (x[k] - refs[k].mean(axis=0))
        np.testing.assert_allclose(eg.maps[k], expected, atol=0.2)
    with pytest.raises(ValueError, match="references: the model has 2 inputs"):
        kerascope.expected_gradients(model, x, 0, references=refs[0])
