"""CAM (Zhou et al. 2016), FullGrad (Srinivas & Fleuret 2019) and the meta-methods
smooth (SmoothGrad of anything) and tta (test-time augmentation)."""

import keras
import numpy as np
import pytest

import kerascope
from kerascope import methods
from tests.models import set_numpy_weights


def gap_model(channels=4, classes=3, size=(9, 7), final="softmax", seed=1):
    inputs = keras.Input(size + (3,))
    h = keras.layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu",
                            name="feat")(inputs)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    h = keras.layers.Dropout(0.5)(h)
    outputs = keras.layers.Dense(classes, activation=final, name="head")(h)
    return set_numpy_weights(keras.Model(inputs, outputs), seed, scale=1.0)


def any_size_model(seed=2):
    inputs = keras.Input((None, None, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="feat")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(3, name="head")(h)
    return set_numpy_weights(keras.Model(inputs, outputs), seed, scale=1.0)


def relu_net(seed=3):
    """Conv(bias) -> BN -> ReLU -> max-pool -> Conv(relu, bias) -> flatten -> Dense(relu)
    -> Dense(softmax): piecewise linear with biases everywhere."""
    inputs = keras.Input((8, 8, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(5, 3, activation="relu", name="c2")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(6, activation="relu", name="d1")(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="d2")(h)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5
                       for w in model.get_weights()])
    bn = model.get_layer("bn")
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, 4).astype(np.float32))
    return model


@pytest.fixture
def images(rng):
    return rng.uniform(0, 1, (5, 9, 7, 3)).astype(np.float32)


# -- CAM -------------------------------------------------------------------------------------


def test_cam_is_grad_cam_times_positions(images):
    model = gap_model()
    targets = np.array([[0, 2], [1, 0], [2, 2], [0, 1], [1, 1]])
    _, cam = kerascope.cam(model, images, targets, upsample=False, batch_size=3)
    _, grad = kerascope.grad_cam(model, images, targets, upsample=False, relu=False,
                                 layer_name="feat", batch_size=4)
    z = 5 * 4  # the feature maps are 5 x 4 positions
    assert cam.shape == (5, 2, 5, 4)
    np.testing.assert_allclose(cam, z * grad, rtol=1e-4, atol=1e-5)
    _, up = kerascope.cam(model, images, targets, relu=True)
    _, grad_up = kerascope.grad_cam(model, images, targets, layer_name="feat")
    assert up.shape == (5, 2, 9, 7)
    np.testing.assert_allclose(up, z * grad_up, rtol=1e-4, atol=1e-5)


def test_cam_spreads_the_logit_over_positions(images):
    model = gap_model(final=None)
    outputs, cam = kerascope.cam(model, images, [2] * 5, upsample=False)
    bias = model.get_layer("head").get_weights()[1]
    np.testing.assert_allclose(cam.mean(axis=(1, 2)) + bias[2], outputs[:, 2], rtol=1e-4,
                               atol=1e-5)


def test_cam_finds_the_head_in_a_nested_model(images):
    base_in = keras.Input((9, 7, 3))
    base = keras.Model(base_in, keras.layers.Conv2D(4, 3, activation="relu")(base_in),
                       name="base")
    model = keras.Sequential([keras.Input((9, 7, 3)), base,
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    set_numpy_weights(model, 4, scale=1.0)
    _, cam = kerascope.cam(model, images, 1, upsample=False)
    _, grad = kerascope.grad_cam(model, images, 1, upsample=False, relu=False,
                                 layer_name="base")
    np.testing.assert_allclose(cam, 35 * grad, rtol=1e-4, atol=1e-5)


def test_cam_needs_a_gap_head(images):
    with pytest.raises(ValueError, match="layer_name.*global average pooling"):
        kerascope.cam(relu_net(), np.zeros((1, 8, 8, 2), np.float32), 0)
    with pytest.raises(ValueError, match="dense_layer"):
        kerascope.cam(gap_model(), images, 0, dense_layer="feat")


# -- FullGrad --------------------------------------------------------------------------------


def test_fullgrad_completeness(rng):
    model = relu_net()
    x = rng.normal(0, 1, (6, 8, 8, 2)).astype(np.float32)
    result = kerascope.full_grad(model, x, [[0, 2]] * 6, batch_size=4)
    assert result.maps.shape == (6, 2, 8, 8) and result.maps.min() >= 0
    extras = result.extras
    total = extras["input_attribution"] + extras["bias_attribution"]
    np.testing.assert_allclose(total, extras["score"], rtol=1e-4, atol=1e-4)
    # the score is the logit before the softmax
    logits = keras.ops.convert_to_numpy(keras.Model(model.input,
                                                    model.get_layer("d2").output)(x))
    dense = model.get_layer("d2")
    pre = keras.ops.convert_to_numpy(keras.ops.matmul(
        keras.Model(model.input, model.get_layer("d1").output)(x), dense.kernel) + dense.bias)
    np.testing.assert_allclose(extras["score"][:, 1], pre[:, 2], rtol=1e-4, atol=1e-4)
    assert not np.allclose(logits[:, 2], pre[:, 2])  # (the layer output is a probability)
    # the biases matter: without them the input part alone misses the score
    assert np.abs(extras["bias_attribution"]).max() > 0.1


def test_fullgrad_map_closed_form(rng):
    """Conv(bias, linear) -> flatten -> Dense(1): dS/dz of the conv is the dense kernel."""
    inputs = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(2, 3, padding="same", name="conv")
    dense = keras.layers.Dense(1, name="dense")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(conv(inputs))))
    set_numpy_weights(model, 5, scale=1.0)
    model.get_layer("conv").bias.assign(np.array([0.5, -1.0], np.float32))
    x = rng.normal(0, 1, (3, 4, 4, 1)).astype(np.float32)
    result = kerascope.full_grad(model, x, 0)

    def psi(part):  # |.|, per-sample min-max, channel sum
        part = np.abs(part)
        part = part - part.min(axis=(1, 2, 3), keepdims=True)
        return (part / (part.max(axis=(1, 2, 3), keepdims=True) + 1e-6)).sum(-1)

    _, grads = kerascope.gradients(model, x, 0, channel_reduction=None)
    w = dense.get_weights()[0][:, 0].reshape(4, 4, 2)
    bias_part = np.broadcast_to(np.array([0.5, -1.0]) * w, (3, 4, 4, 2))
    np.testing.assert_allclose(result.maps, psi(x * grads) + psi(bias_part), atol=1e-5)
    score = keras.ops.convert_to_numpy(model(x))[:, 0]
    np.testing.assert_allclose(result.extras["input_attribution"]
                               + result.extras["bias_attribution"], score, rtol=1e-4, atol=1e-5)


def test_fullgrad_refuses_an_activation_it_cannot_undo():
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(2, 3, activation="gelu", name="smooth_conv")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    with pytest.raises(ValueError, match="smooth_conv.*gelu"):
        kerascope.full_grad(model, np.ones((1, 6, 6, 1), np.float32), 0)


# -- smooth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method, options", [
    ("vanilla_gradients", {}),
    ("grad_cam", {"layer_name": "feat"}),
    ("integrated_gradients", {"n_steps": 4}),
    ("occlusion", {"patch_size": 3, "fill_value": 0.0}),
    ("cam", {}),
])
def test_smoothing_with_no_noise_is_the_method(images, method, options):
    model = gap_model()
    _, plain = kerascope.explain(method, model, images, [0, 1, 2, 0, 1], **options)
    _, smooth = kerascope.explain("smooth", model, images, [0, 1, 2, 0, 1], method=method,
                                  num_samples=3, noise=0.0, batch_size=4, **options)
    np.testing.assert_allclose(smooth, plain, rtol=1e-5, atol=1e-6)


def test_smoothed_vanilla_gradients_is_smoothgrad(images):
    model = gap_model()
    _, smooth = kerascope.smooth(model, images, None, method="vanilla_gradients",
                                 num_samples=4, noise=0.2, seed=7, batch_size=6)
    _, reference = kerascope.smoothgrad(model, images, None, num_samples=4, noise=0.2,
                                        seed=7, batch_size=6)
    np.testing.assert_allclose(smooth, reference, rtol=1e-5, atol=1e-6)


def test_smoothed_grad_cam_averages_noisy_copies(images):
    model = gap_model()
    targets = np.array([2, 0, 1, 1, 0])
    _, smooth = kerascope.smooth(model, images, targets, method="grad_cam", num_samples=3,
                                 noise=0.1, relative=False, seed=3, batch_size=5)
    smoother = kerascope.methods.get("smooth", method="grad_cam", num_samples=3, noise=0.1,
                                     relative=False)
    noisy = smoother.noisy_copies(images, seed=3)
    # sigma = 0.1 itself (relative=False), the same for every input
    assert abs(np.std(noisy - np.repeat(images, 3, axis=0)) - 0.1) < 0.01
    _, maps = kerascope.grad_cam(model, noisy, np.repeat(targets, 3))
    np.testing.assert_allclose(smooth, maps.reshape(5, 3, 9, 7).mean(axis=1), rtol=1e-4,
                               atol=1e-6)
    _, plain = kerascope.grad_cam(model, images, targets)
    assert not np.allclose(smooth, plain, atol=1e-3)
    _, var = kerascope.smooth(model, images, targets, method="grad_cam", num_samples=2,
                              noise=0.0, variant="vargrad")
    np.testing.assert_allclose(var, 0.0, atol=1e-10)


# -- tta -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, options", [
    ("grad_cam", {"layer_name": "feat"}),
    ("vanilla_gradients", {}),
    ("full_grad", {}),
])
def test_tta_with_scale_1_and_no_flip_is_the_method(images, method, options):
    model = gap_model()
    _, plain = kerascope.explain(method, model, images, 1, **options)
    _, tta = kerascope.tta(model, images, 1, method=method, scales=(1,), hflip=False,
                           **options)
    np.testing.assert_allclose(tta, plain, rtol=1e-5, atol=1e-6)


def test_tta_flip_is_mapped_back_and_averaged(images):
    model = gap_model()
    _, tta = kerascope.tta(model, images, 0, method="vanilla_gradients", scales=(1.0,),
                           hflip=True, batch_size=4)
    _, plain = kerascope.gradients(model, images, 0)
    _, mirrored = kerascope.gradients(model, images[:, :, ::-1], 0)
    np.testing.assert_allclose(tta, (plain + mirrored[:, :, ::-1]) / 2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(tta, plain, atol=1e-4)
    # default scales on a model of fixed input size: mirroring only
    _, default = kerascope.tta(model, images, 0, method="vanilla_gradients")
    np.testing.assert_allclose(default, tta, rtol=1e-5, atol=1e-7)


def test_tta_scales_are_mapped_back_with_the_right_divisor(rng):
    model = any_size_model()
    x = rng.uniform(0, 1, (3, 8, 6, 3)).astype(np.float32)
    _, tta = kerascope.tta(model, x, 2, method="grad_cam", scales=(0.5, 1.0, 1.5),
                           hflip=True, layer_name="feat", upsample=False)
    expected = 0
    for scale in (0.5, 1.0, 1.5):
        size = (int(8 * scale), int(6 * scale))
        scaled = keras.ops.convert_to_numpy(keras.ops.image.resize(
            x, size, interpolation="bilinear", antialias=False))
        for flip in (False, True):
            rows = scaled[:, :, ::-1] if flip else scaled
            _, maps = kerascope.grad_cam(model, rows, 2, layer_name="feat", upsample=False)
            maps = maps[:, :, ::-1] if flip else maps
            back = keras.ops.convert_to_numpy(keras.ops.image.resize(
                maps[..., None], (8, 6), interpolation="bilinear", antialias=False))[..., 0]
            expected = expected + back
    np.testing.assert_allclose(tta, expected / 6, rtol=1e-4, atol=1e-5)  # 3 scales x 2 flips


def test_meta_methods_explain_the_units_of_the_original_input(images):
    model = gap_model()
    predicted = np.argmax(keras.ops.convert_to_numpy(model(images)), axis=-1)
    for name, options in (("tta", {"scales": (1.0,), "hflip": True}),
                          ("smooth", {"noise": 0.5, "num_samples": 3, "seed": 0})):
        _, by_default = kerascope.explain(name, model, images, method="grad_cam", **options)
        _, explicit = kerascope.explain(name, model, images, predicted, method="grad_cam",
                                        **options)
        np.testing.assert_allclose(by_default, explicit, atol=1e-6)


def test_registered_with_the_catalog():
    info = {m.name: m for m in methods.catalog()}
    assert info["cam"].family == "cam" and "1512.04150" in info["cam"].paper
    assert info["full_grad"].family == "gradients" and "1905.00780" in info["full_grad"].paper
    assert info["smooth"].family == "meta" and info["tta"].family == "meta"
    assert methods.get("fullgrad").name == "full_grad"
    with pytest.raises(ValueError, match="scales"):
        methods.get("tta", scales=())
    with pytest.raises(ValueError, match="scales: scale 0.5 .* spatial size"):
        kerascope.tta(gap_model(), np.zeros((1, 9, 7, 3), np.float32), 0, scales=(0.5, 1))
    with pytest.raises(ValueError, match="noise"):
        methods.get("smooth", noise=-1)
