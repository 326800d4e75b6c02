"""CAM family: closed forms, hand-computed fixtures, region models, layouts, backends."""

import importlib.util
import math
import pathlib

import keras
import numpy as np
import pytest
from PIL import Image

import kerascope
from kerascope import demo
from kerascope.core.grad_cam import GradCAM as TfExplainGradCAM
from kerascope.methods import cam

DATA = pathlib.Path(__file__).resolve().parent / "data"
# Weights come from numpy; zero initializers spare JAX compiling its RNG per shape.
Z = {"kernel_initializer": "zeros"}


def numpy_weights(model, seed, bias_scale=0.05):
    """Seeded numpy weights (the same function on every backend)."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        if w.ndim == 1:
            weights.append((bias_scale * rng.standard_normal(w.shape)).astype(np.float32))
        else:
            fan_in = int(np.prod(w.shape[:-1]))
            weights.append((rng.standard_normal(w.shape) / np.sqrt(fan_in)).astype(np.float32))
    model.set_weights(weights)
    return model


def class_activation_map(features, kernel, classes):
    """CAM (Zhou et al. 2016): ReLU(sum_k w_k^c A^k), A channels last, per sample."""
    cams = np.einsum("bhwk,kb->bhw", features, kernel[:, classes])
    return np.maximum(cams, 0.0)


# -- Grad-CAM == CAM -------------------------------------------------------------------


def gap_model(seed=1):
    inputs = keras.Input((9, 7, 3))
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="feat",
                            **Z)(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="head", **Z)(h)
    return numpy_weights(keras.Model(inputs, outputs), seed)


def test_grad_cam_equals_cam_for_gap_dense(rng):
    model = gap_model()
    x = rng.uniform(0, 1, (4, 9, 7, 3)).astype(np.float32)
    classes = np.array([0, 2, 1, 0])
    features = keras.ops.convert_to_numpy(
        keras.Model(model.inputs, model.get_layer("feat").output)(x)
    )
    expected = class_activation_map(features, model.get_layer("head").get_weights()[0], classes)
    assert expected.max() > 0 and (expected == 0).any()  # a ReLU'd, non-trivial CAM

    _, raw = kerascope.grad_cam(model, x, classes, layer_name="feat", upsample=False)
    z = features.shape[1] * features.shape[2]
    np.testing.assert_allclose(raw, expected / z, rtol=1e-4, atol=1e-6)

    _, full = kerascope.grad_cam(model, x, classes, layer_name="feat")
    assert full.shape == (4, 9, 7)
    np.testing.assert_allclose(full, cam.upsample(raw, (9, 7)), rtol=1e-5, atol=1e-7)


def test_upsample_is_keras_bilinear_resize(rng):
    maps = rng.normal(size=(2, 5, 4)).astype(np.float32)
    ours = cam.upsample(maps, (9, 7))
    reference = keras.ops.convert_to_numpy(
        keras.ops.image.resize(maps[..., None], (9, 7), interpolation="bilinear",
                               antialias=False, data_format="channels_last")
    )[..., 0]
    np.testing.assert_allclose(ours, reference, atol=1e-5)


@pytest.mark.parametrize("shape, size", [((3, 16, 12), (40, 30)), ((2, 3, 4), (5, 6)),
                                         ((2, 3, 40), (7, 200))])
def test_upsample_matches_keras_resize_on_both_routes(rng, shape, size):
    # (16, 12) -> (40, 30) runs as small matrix products on both axes, (3, 4) ->
    # (5, 6) as einsum loops (fewer than 8 rows per product), (3, 40) -> (7, 200) one
    # of each
    maps = rng.normal(size=shape).astype(np.float32)
    reference = keras.ops.convert_to_numpy(
        keras.ops.image.resize(maps[..., None], size, interpolation="bilinear",
                               antialias=False, data_format="channels_last")
    )[..., 0]
    np.testing.assert_allclose(cam.upsample(maps, size), reference, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("center", [False, True])
def test_eigen_cam_is_the_first_singular_component(rng, center, dtype):
    # signed activations: a centred M is orthogonal to the mean direction, where a
    # power iteration started there would stall at zero; float32 activations (a
    # model's) are iterated in float32
    activations = rng.normal(size=(4, 6, 6, 40)).astype(dtype)
    matrix = activations.reshape(4, 36, 40)
    if center:
        matrix = matrix - matrix.mean(axis=1, keepdims=True)
    u, s, _ = np.linalg.svd(matrix)
    expected = np.abs(u[:, :, 0] * s[:, :1]).reshape(4, 6, 6)
    ours = cam.eigen_cam_map(activations, relu=False, center=center)
    tolerance = 1e-5 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(np.abs(ours), expected, rtol=tolerance, atol=tolerance / 10)


# -- hand-computed fixtures --------------------------------------------------------------


def test_tf_explain_fixture_gives_17_everywhere():
    activations = np.ones((2, 3, 4, 3)) * np.array([1.0, 2.0, 4.0])
    grads = np.ones((2, 3, 4, 3)) * np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(cam.tf_explain_grad_cam(activations, grads), 17.0)
    np.testing.assert_allclose(cam.tf_explain_grad_cam(activations, grads, False), 17.0)
    np.testing.assert_allclose(TfExplainGradCAM.generate_ponderated_output(activations, grads), 17.0)
    # Guided gradients drop a channel whose gradient is negative: 1*1 + 3*4 = 13.
    grads[..., 1] = -2.0
    np.testing.assert_allclose(cam.tf_explain_grad_cam(activations, grads), 13.0)
    np.testing.assert_allclose(cam.tf_explain_grad_cam(activations, grads, False), 1 - 4 + 12)


@pytest.fixture
def two_channels():
    a = np.stack([[[1.0, 0.0], [2.0, 1.0]], [[1.0, 1.0], [1.0, 0.0]]], axis=-1)[None]
    g = np.stack([[[1.0, 1.0], [1.0, 1.0]], [[2.0, -1.0], [0.0, 1.0]]], axis=-1)[None]
    return a, g


def test_two_channel_fixture_by_hand(two_channels):
    a, g = two_channels
    # Grad-CAM: w = (1, 2/4).
    np.testing.assert_allclose(cam.grad_cam_map(a, g)[0], [[1.5, 0.5], [2.5, 1.0]])
    # Grad-CAM++: channel 0: sum A = 4, g = 1 -> alpha = 1/(2 + 4) -> w0 = 4/6.
    # channel 1: sum A = 3; g=2: 4/(8 + 24) * 2 = 1/4; g=-1, g=0: 0; g=1: 1/(2+3) = 1/5.
    w0, w1 = 2 / 3, 1 / 4 + 1 / 5
    np.testing.assert_allclose(
        cam.grad_cam_plus_plus_map(a, g)[0],
        [[w0 + w1, w1], [2 * w0 + w1, w0]], rtol=1e-6,
    )
    # Layer-CAM: ReLU(g) * A summed: [[1,0],[2,1]] + [[2,0],[0,0]].
    np.testing.assert_allclose(cam.layer_cam_map(a, g)[0], [[3.0, 0.0], [2.0, 1.0]])
    # XGrad-CAM: w0 = 4/4, w1 = (2 - 1 + 0 + 0)/3.
    np.testing.assert_allclose(
        cam.xgrad_cam_map(a, g)[0], [[4 / 3, 1 / 3], [7 / 3, 1.0]], rtol=1e-6
    )
    # HiResCAM: sum g*A = [[3, -1], [2, 1]] -> ReLU.
    np.testing.assert_allclose(cam.hires_cam_map(a, g)[0], [[3.0, 0.0], [2.0, 1.0]])
    np.testing.assert_allclose(cam.hires_cam_map(a, g, relu=False)[0], [[3.0, -1.0], [2.0, 1.0]])
    # Score-CAM combination: scores (0, ln 3) -> softmax (1/4, 3/4).
    weights = cam.score_cam_weights([[0.0, math.log(3.0)]])
    np.testing.assert_allclose(weights, [[0.25, 0.75]])
    np.testing.assert_allclose(cam.score_cam_map(a, weights)[0], [[1.0, 0.75], [1.25, 0.25]])
    # Score-CAM masks: per-channel min-max.
    masks = cam.score_cam_masks(a, (2, 2))
    np.testing.assert_allclose(masks[0], [[[0.5, 0.0], [1.0, 0.5]], [[1.0, 1.0], [1.0, 0.0]]])


def test_eigen_cam_of_rank_one_activations_is_their_spatial_factor(rng):
    u = rng.uniform(0.1, 1.0, (3, 4))
    v = np.array([2.0, -1.0, 2.0])  # |v| = 3
    for sign in (1.0, -1.0):  # the SVD sign is arbitrary; the map's is fixed
        activations = (sign * u[:, :, None] * v)[None]
        np.testing.assert_allclose(cam.eigen_cam_map(activations)[0], 3 * u, rtol=1e-6)
    np.testing.assert_allclose(cam.eigen_cam_map(np.zeros((1, 2, 2, 3))), 0.0)


def score_cam_fixture_model():
    """x (2x2x1) -> A = relu([x, 3 - x]) -> GAP -> logit = mean(A0)."""
    inputs = keras.Input((2, 2, 1))
    h = keras.layers.Conv2D(2, 1, activation="relu", name="feat", **Z)(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(1, name="head", **Z)(h)
    model = keras.Model(inputs, outputs)
    model.set_weights([
        np.array([[[[1.0, -1.0]]]], np.float32), np.array([0.0, 3.0], np.float32),
        np.array([[1.0], [0.0]], np.float32), np.zeros(1, np.float32),
    ])
    return model


def test_score_cam_end_to_end_by_hand():
    model = score_cam_fixture_model()
    x = np.array([[[1.0], [2.0]], [[3.0], [4.0]]], np.float32)[None]
    a0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    a1 = np.array([[2.0, 1.0], [0.0, 0.0]])
    # masks: (x - 1)/3 and A1/2; masked inputs [[0, 2/3], [2, 4]] and [[1, 1], [0, 0]];
    # their logits: mean(relu(masked)) = 5/3 and 1/2.
    s0, s1 = 5 / 3, 1 / 2
    w0 = math.exp(s0) / (math.exp(s0) + math.exp(s1))
    _, maps = kerascope.score_cam(model, x, 0, layer_name="feat")
    np.testing.assert_allclose(maps[0], w0 * a0 + (1 - w0) * a1, rtol=1e-5)
    _, maps = kerascope.score_cam(model, x, 0, layer_name="feat", score_normalization=None)
    np.testing.assert_allclose(maps[0], s0 * a0 + s1 * a1, rtol=1e-5)
    # One output unit: its softmax over classes is 1 for every masked input.
    _, maps = kerascope.score_cam(model, x, 0, layer_name="feat", score_normalization="classes")
    np.testing.assert_allclose(maps[0], a0 + a1, rtol=1e-5)
    # Faster Score-CAM with one channel keeps the higher-variance channel A0 only.
    _, maps = kerascope.score_cam(model, x, 0, layer_name="feat", max_channels=1)
    np.testing.assert_allclose(maps[0], a0, rtol=1e-5)


# -- region model --------------------------------------------------------------------------

H, W = 16, 12
REGIONS = ((slice(2, 8), slice(1, 6)), (slice(9, 15), slice(6, 11)))


class ChannelMask(keras.layers.Layer):
    """Multiplies by a fixed (H, W, C) 0/1 mask."""

    def __init__(self, mask, **kwargs):
        super().__init__(**kwargs)
        self.mask = np.asarray(mask, np.float32)

    def call(self, x):
        return x * keras.ops.convert_to_tensor(self.mask)


def region_model():
    """Class c depends only on region c: channels 0-1 see region 0, channels 2-3 region 1."""
    mask = np.zeros((H, W, 4), np.float32)
    mask[REGIONS[0] + (slice(0, 2),)] = 1.0
    mask[REGIONS[1] + (slice(2, 4),)] = 1.0
    inputs = keras.Input((H, W, 1))
    h = keras.layers.Conv2D(4, 1, activation="relu", name="features", **Z)(inputs)
    h = ChannelMask(mask, name="masked")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(2, activation="softmax", name="head", **Z)(h)
    model = keras.Model(inputs, outputs)
    model.set_weights([
        np.array([1.0, 0.5, 1.0, 0.5], np.float32).reshape(1, 1, 1, 4), np.zeros(4, np.float32),
        np.array([[40, 0], [40, 0], [0, 40], [0, 40]], np.float32), np.zeros(2, np.float32),
    ])
    return model


def region_fraction(maps, region):
    maps = np.maximum(maps, 0.0)
    total = maps.reshape(len(maps), -1).sum(axis=1)
    assert np.all(total > 0), "an all-zero map says nothing about the region"
    return maps[(slice(None),) + region].reshape(len(maps), -1).sum(axis=1) / total


@pytest.mark.parametrize(
    "method", ["grad_cam", "grad_cam_plus_plus", "layer_cam", "xgrad_cam", "score_cam"]
)
def test_maps_fall_in_the_region_the_class_depends_on(method, rng):
    model = region_model()
    x = rng.uniform(0.2, 1.0, (2, H, W, 1)).astype(np.float32)
    for c, region in enumerate(REGIONS):
        _, maps = kerascope.explain(method, model, x, c, layer_name="masked")
        assert maps.shape == (2, H, W)
        assert np.all(region_fraction(maps, region) >= 0.9), (method, c)


def test_element_wise_cams_localize_before_the_mask_where_grad_cam_cannot(rng):
    model = region_model()
    x = rng.uniform(0.2, 1.0, (2, H, W, 1)).astype(np.float32)
    _, maps = kerascope.layer_cam(model, x, 0, layer_name="features")
    assert np.all(region_fraction(maps, REGIONS[0]) >= 0.9)
    # Grad-CAM's global weights spread the unmasked activations over the whole image:
    # the region test above is not satisfied by any map.
    _, maps = kerascope.grad_cam(model, x, 0, layer_name="features")
    assert np.all(region_fraction(maps, REGIONS[0]) < 0.5)


# -- architectures ---------------------------------------------------------------------------


def test_nested_transfer_learning_model(rng):
    base_in = keras.Input((12, 10, 3))
    h = keras.layers.Conv2D(5, 3, activation="relu", name="base_conv", **Z)(base_in)
    h = keras.layers.Conv2D(6, 3, strides=2, activation="relu", name="base_last", **Z)(h)
    base = keras.Model(base_in, h, name="base")
    model = keras.Sequential([
        keras.Input((12, 10, 3)), base, keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4, activation="softmax", name="head", **Z),
    ])
    numpy_weights(model, seed=3)
    x = rng.uniform(0, 1, (3, 12, 10, 3)).astype(np.float32)
    classes = np.array([1, 3, 0])
    _, auto = kerascope.grad_cam(model, x, classes, upsample=False)
    _, named = kerascope.grad_cam(model, x, classes, layer_name="base_last", upsample=False)
    features = keras.ops.convert_to_numpy(base(x))
    expected = class_activation_map(features, model.get_layer("head").get_weights()[0], classes)
    assert expected.max() > 0
    np.testing.assert_allclose(named, expected / (features.shape[1] * features.shape[2]),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(auto, named)
    outputs, stacked = kerascope.grad_cam(model, x, kerascope.top_k(2))
    assert stacked.shape == (3, 2, 12, 10) and outputs.shape == (3, 4)


def test_skip_connection_model(rng):
    inputs = keras.Input((10, 10, 2))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="a", **Z)(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b", **Z)(a)
    h = keras.layers.Add(name="add")([a, b])
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(3, name="head", **Z)(h)
    model = numpy_weights(keras.Model(inputs, outputs), seed=9)
    x = rng.uniform(0, 1, (2, 10, 10, 2)).astype(np.float32)
    _, auto = kerascope.grad_cam(model, x, [2, 0])
    _, named = kerascope.grad_cam(model, x, [2, 0], layer_name="add")
    features = keras.ops.convert_to_numpy(keras.Model(inputs, model.get_layer("add").output)(x))
    expected = class_activation_map(features, model.get_layer("head").get_weights()[0], [2, 0])
    assert expected.max() > 0
    np.testing.assert_allclose(named, expected / 100.0, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(auto, named)
    # Several layers: each map scaled to max 1, then averaged.
    _, merged = kerascope.grad_cam(model, x, [2, 0], layer_name=["a", "add"])
    _, only_a = kerascope.grad_cam(model, x, [2, 0], layer_name="a")
    peak = lambda m: m.reshape(len(m), -1).max(axis=1)[:, None, None]  # noqa: E731
    np.testing.assert_allclose(merged, (only_a / peak(only_a) + named / peak(named)) / 2,
                               rtol=1e-4, atol=1e-6)


class ClassToken(keras.layers.Layer):
    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros")

    def call(self, x):
        token = keras.ops.broadcast_to(self.token, (keras.ops.shape(x)[0], 1, x.shape[-1]))
        return keras.ops.concatenate([token, x], axis=1)


class TakeClassToken(keras.layers.Layer):
    def call(self, x):
        return x[:, 0]


def small_vit():
    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(8, 4, strides=4, name="patches", **Z)(inputs)
    h = keras.layers.Reshape((16, 8))(h)
    h = ClassToken(name="cls")(h)
    h = keras.layers.LayerNormalization(name="pre_attention")(h)
    h = h + keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attention", **Z)(h, h)
    h = TakeClassToken()(h)
    outputs = keras.layers.Dense(3, name="head", **Z)(h)
    return numpy_weights(keras.Model(inputs, outputs, name="vit"), seed=6, bias_scale=0.3)


def test_small_vit_with_reshape(rng):
    model = small_vit()
    x = rng.uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    _, maps = kerascope.grad_cam(model, x, 1, layer_name="pre_attention", reshape=True)
    assert maps.shape == (2, 16, 16) and np.all(np.isfinite(maps)) and maps.min() >= 0
    _, raw = kerascope.grad_cam(model, x, 1, layer_name="pre_attention", reshape=True,
                                upsample=False)
    assert raw.shape == (2, 4, 4)
    # The patch tokens get gradient through the attention: the signed map varies.
    _, signed = kerascope.grad_cam(model, x, 1, layer_name="pre_attention", reshape=True,
                                   upsample=False, relu=False)
    assert np.all(np.ptp(signed.reshape(2, -1), axis=1) > 1e-6)
    np.testing.assert_allclose(raw, np.maximum(signed, 0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(cam.upsample(raw, (16, 16)), maps, rtol=1e-5, atol=1e-7)
    # An explicit grid and a user callable give the same map.
    _, grid = kerascope.grad_cam(model, x, 1, layer_name="pre_attention", reshape=(4, 4),
                                 upsample=False)
    _, manual = kerascope.grad_cam(model, x, 1, layer_name="pre_attention", upsample=False,
                                   reshape=lambda t: t[:, 1:].reshape(len(t), 4, 4, -1))
    np.testing.assert_allclose(grid, raw)
    np.testing.assert_allclose(manual, raw)
    with pytest.raises(ValueError, match="square"):
        kerascope.grad_cam(model, x, 1, layer_name="pre_attention", reshape=True,
                           class_token=False)
    with pytest.raises(ValueError, match="reshape=True"):
        kerascope.grad_cam(model, x, 1, layer_name="pre_attention")


def test_tokens_to_grid():
    tokens = np.arange(2 * 10 * 3).reshape(2, 10, 3)
    grid = cam.tokens_to_grid(tokens)  # 10 = 1 + 3*3
    np.testing.assert_array_equal(grid[:, 0, 0], tokens[:, 1])
    np.testing.assert_array_equal(grid[:, 2, 2], tokens[:, 9])
    assert cam.tokens_to_grid(tokens[:, 1:]).shape == (2, 3, 3, 3)
    assert cam.tokens_to_grid(tokens, grid=(2, 4), class_token=2).shape == (2, 2, 4, 3)
    with pytest.raises(ValueError, match="class_token"):
        cam.tokens_to_grid(tokens, class_token="first")


def test_channels_first_model(rng):
    if keras.backend.backend() == "tensorflow":
        pytest.skip("TensorFlow's CPU Conv2D has no channels_first kernel (UnimplementedError)")
    inputs = keras.Input((3, 9, 7))
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu",
                            data_format="channels_first", name="feat", **Z)(inputs)
    h = keras.layers.GlobalAveragePooling2D(data_format="channels_first")(h)
    outputs = keras.layers.Dense(3, name="head", **Z)(h)
    model = numpy_weights(keras.Model(inputs, outputs), seed=5)
    x = rng.uniform(0, 1, (2, 3, 9, 7)).astype(np.float32)
    _, maps = kerascope.grad_cam(model, x, [0, 1], upsample=False)
    features = np.moveaxis(keras.ops.convert_to_numpy(
        keras.Model(inputs, model.get_layer("feat").output)(x)), 1, -1)
    expected = class_activation_map(features, model.get_layer("head").get_weights()[0], [0, 1])
    np.testing.assert_allclose(maps, expected / 20.0, rtol=1e-4, atol=1e-6)
    _, full = kerascope.score_cam(model, x, [0, 1])
    assert full.shape == (2, 9, 7)


# -- tf-explain API ----------------------------------------------------------------------------


def test_seed_slides_call_on_the_digits_model(tmp_path):
    model = demo.load_model()
    images, _ = demo.load_samples()
    explainer = TfExplainGradCAM()
    grid = explainer.explain(([images[0]], None), model, "last_conv", 0)
    assert grid.dtype == np.uint8 and grid.shape == (28, 28, 3)
    assert len(np.unique(grid.reshape(-1, 3), axis=0)) > 10
    same = explainer.explain((images[:1], None), model, 0, layer_name="last_conv")
    np.testing.assert_array_equal(grid, same)
    explainer.save(grid, tmp_path, "grad_cam.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "grad_cam.png")), grid)
    grid = explainer.explain((images[:3], None), model, 2, colormap=2, image_weight=0.5)
    assert grid.shape == (56, 56, 3)
    with pytest.raises(ValueError, match="class_index"):
        explainer.explain((images[:1], None), model, "last_conv")


# -- same maps on every backend ----------------------------------------------------------------


def test_same_maps_on_every_backend():
    spec = importlib.util.spec_from_file_location("make_cam_reference",
                                                  DATA / "make_cam_reference.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    stored = np.load(DATA / "cam_reference.npz")
    computed = reference.compute()
    assert set(computed) <= set(stored.files)
    for key, maps in computed.items():
        assert maps.shape == stored[key].shape, key
        np.testing.assert_allclose(maps, stored[key], atol=1e-4, rtol=0, err_msg=key)


# -- bad input -------------------------------------------------------------------------------


def test_bad_layers_and_options(rng):
    model = gap_model()
    x = rng.uniform(0, 1, (1, 9, 7, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="'head'.*spatial"):
        kerascope.grad_cam(model, x, 0, layer_name="head")
    with pytest.raises(ValueError, match="'head'.*spatial"):
        kerascope.score_cam(model, x, 0, layer_name="head")
    with pytest.raises(ValueError, match="no layer named 'conv_9'"):
        kerascope.grad_cam(model, x, 0, layer_name="conv_9")
    with pytest.raises(ValueError, match="score_normalization"):
        cam.ScoreCAM(score_normalization="softmax")
    with pytest.raises(ValueError, match="reshape"):
        cam.GradCAM(reshape="tokens")
    with pytest.raises(ValueError, match="token sequence"):
        kerascope.grad_cam(model, x, 0, layer_name="feat", reshape=True)
