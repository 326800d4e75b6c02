"""tf-explain's class API: same names, arguments and uint8 grids; paper-correct maths."""

import pathlib
import runpy

import numpy as np
import pytest
from PIL import Image

import kerascope
from kerascope.core.gradients_inputs import GradientsInputs
from kerascope.core.integrated_gradients import IntegratedGradients
from kerascope.core.smoothgrad import SmoothGrad
from kerascope.core.vanilla_gradients import VanillaGradients
from kerascope.utils.display import grid_display
from kerascope.utils.image import transform_to_normalized_grayscale
from tests.models import small_cnn

TUTORIAL = pathlib.Path(__file__).parent / "tutorials" / "vanilla_gradients_after_training.py"


def test_vanilla_gradients_grid_and_save(tmp_path, rng):
    model = small_cnn()
    x = rng.random((7, 12, 12, 3)).astype(np.float32)
    explainer = VanillaGradients()
    grid = explainer.explain((x, None), model, class_index=2)
    assert grid.dtype == np.uint8 and grid.shape == (36, 36)
    _, maps = kerascope.gradients(model, x, 2)
    expected = grid_display(np.asarray(transform_to_normalized_grayscale(maps)))
    np.testing.assert_array_equal(grid, expected)
    path = explainer.save(grid, tmp_path / "out" / "nested", "vanilla.png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), grid)


def test_grayscale_rendering_clips_instead_of_wrapping(rng):
    model = small_cnn()
    x = rng.random((1, 12, 12, 3)).astype(np.float32)
    grid = VanillaGradients().explain((x, None), model, 0)
    _, maps = kerascope.gradients(model, x, 0)
    standardized = (maps[0] - maps[0].mean()) / maps[0].std()
    assert np.all(grid[standardized * 255 >= 255] == 255)
    assert np.all(grid[standardized <= 0] == 0)


def test_a_list_of_images_is_accepted(rng):
    model = small_cnn()
    images = [rng.random((12, 12, 3)).astype(np.float32) for _ in range(2)]
    grid = GradientsInputs().explain((images, None), model, 1)
    assert grid.shape == (24, 24)  # tf-explain's square grid: 2 images -> 2 x 2 cells


def test_integrated_gradients_multiplies_by_the_input():
    import keras

    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    w = np.zeros((16, 2), np.float32)
    w[:, 1] = 1.0
    model.set_weights([w, np.zeros(2, np.float32)])
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 0, 0, 0] = 1.0
    grid = IntegratedGradients().explain((x, None), model, class_index=1, n_steps=10)
    # tf-explain returns the mean gradient (all ones: a blank map); the paper's IG
    # is w * x, non-zero at the one lit pixel only.
    assert grid[0, 0] == 255 and np.all(grid.reshape(-1)[1:] == 0)


def test_smoothgrad_without_noise_equals_vanilla(rng):
    model = small_cnn()
    x = rng.random((2, 12, 12, 3)).astype(np.float32)
    smooth = SmoothGrad().explain((x, None), model, 3, num_samples=3, noise=0.0)
    vanilla = VanillaGradients().explain((x, None), model, 3)
    assert np.abs(smooth.astype(int) - vanilla.astype(int)).max() <= 1


def test_bad_validation_data():
    with pytest.raises(ValueError, match="validation_data"):
        VanillaGradients().explain(np.zeros((1, 12, 12, 3)), small_cnn(), 0)


def test_seed_tutorial_after_training_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    from kerascope.demo import mnist

    monkeypatch.setattr(mnist, "TRAIN_SIZE", 100)
    monkeypatch.setattr(mnist, "TEST_SIZE", 60)
    namespace = runpy.run_path(str(TUTORIAL), run_name="__main__")
    explanation = namespace["explanation"]
    assert explanation.dtype == np.uint8 and explanation.shape == (28, 28)
    assert explanation.max() == 255
    assert "Test accuracy" in capsys.readouterr().out


# -- tf-explain 0.3.1's helpers and its own test fixtures ------------------------------------

import warnings  # noqa: E402

import keras  # noqa: E402

from kerascope.core.activations import ExtractActivations  # noqa: E402
from kerascope.core.grad_cam import GradCAM  # noqa: E402
from kerascope.core.occlusion_sensitivity import OcclusionSensitivity  # noqa: E402
from kerascope.core.vanilla_gradients import UNSUPPORTED_ARCHITECTURE_WARNING  # noqa: E402
from kerascope.utils.display import filter_display, heatmap_display, image_to_uint_255  # noqa: E402
from kerascope.utils.image import apply_grey_patch  # noqa: E402
from kerascope.utils.saver import save_grayscale, save_rgb  # noqa: E402

BACKEND = keras.backend.backend()


def to_np(value):
    """A helper's result (a tf.Tensor on TensorFlow) as numpy."""
    return np.asarray(value.numpy())


def linear_model(weights, bias=None, final=None):
    """Flatten -> Dense(units) with the given (features, units) weights."""
    weights = np.asarray(weights, np.float32)
    inputs = keras.Input((2, 2, 1))
    dense = keras.layers.Dense(weights.shape[1], activation=final, name="dense")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([weights, np.zeros(weights.shape[1], np.float32) if bias is None
                       else np.asarray(bias, np.float32)])
    return model


def test_generate_linear_path_fixture():
    baseline, target = np.zeros((28, 28, 1)), np.ones((28, 28, 1))
    path = IntegratedGradients.generate_linear_path(baseline, target, 3)
    np.testing.assert_almost_equal(path, [baseline, 0.5 * target, target])
    images = np.stack([target, 2 * target])
    rows = IntegratedGradients.generate_interpolations(images, 3)
    assert rows.shape == (6, 28, 28, 1)
    np.testing.assert_almost_equal(rows[:, 0, 0, 0], [0, 0.5, 1, 0, 1, 2])


def test_ponderated_output_fixture_gives_17():
    grad = np.concatenate([k * np.ones((3, 3, 1)) for k in (1, 2, 3)], axis=-1)
    output = np.concatenate([k * np.ones((3, 3, 1)) for k in (1, 2, 4)], axis=-1)
    np.testing.assert_almost_equal(to_np(GradCAM.ponderate_output(output, grad)),
                                   17 * np.ones((3, 3)))
    maps = GradCAM.generate_ponderated_output(np.stack([output, 2 * output]), np.stack([grad] * 2))
    assert isinstance(maps, list) and len(maps) == 2
    np.testing.assert_almost_equal(to_np(maps[1]), 34 * np.ones((3, 3)))


def test_noisy_images_fixture_and_noise_free_average(monkeypatch):
    monkeypatch.setattr(np.random, "normal", lambda loc, scale, size: np.ones(size))
    noisy = SmoothGrad.generate_noisy_images(np.ones((10, 28, 28, 1)), num_samples=3, noise=1)
    np.testing.assert_array_equal(noisy, 2 * np.ones((30, 28, 28, 1)))
    monkeypatch.undo()
    # dS/dx = 1 at every pixel: the average over two noise-free copies is still 1 per
    # pixel, and the two copies' gradients sum to 2.
    model = linear_model(np.ones((4, 1)))
    x = np.arange(8, dtype=np.float32).reshape(2, 2, 2, 1)
    copies = SmoothGrad.generate_noisy_images(x, 2, 0.0)
    np.testing.assert_array_equal(copies, np.repeat(x, 2, axis=0))
    averaged = to_np(SmoothGrad.get_averaged_gradients(copies, model, 0, 2))
    assert averaged.shape == x.shape
    np.testing.assert_allclose(averaged, 1.0, atol=1e-6)
    np.testing.assert_allclose(2 * averaged, 2.0, atol=1e-6)


def test_occlusion_patch_of_probability_0_6_gives_0_4():
    # Zero weights, biases log(0.6), log(0.4): p = (0.6, 0.4) whatever the patch.
    model = linear_model(np.zeros((4, 2)), bias=np.log([0.6, 0.4]), final="softmax")
    image = np.random.default_rng(0).random((2, 2, 1)).astype(np.float32)
    sensitivity = OcclusionSensitivity().get_sensitivity_map(model, image, 0, 1)
    np.testing.assert_allclose(sensitivity, 0.4 * np.ones((2, 2)), atol=1e-6)


def test_activations_grid_fixture(monkeypatch):
    import kerascope.core.activations as module

    monkeypatch.setattr(module, "filter_display", lambda array: np.array([[1, 2], [1, 2]]))
    model = small_cnn()
    grid = ExtractActivations().explain((np.zeros((1, 12, 12, 3), np.float32), None), model,
                                        ["conv_a"])
    np.testing.assert_array_equal(grid, np.array([[0, 255], [0, 255]], np.uint8))


@pytest.mark.parametrize("kwargs, shape", [
    ({}, (28 * 3, 28 * 3, 3)),
    ({"num_columns": 10, "num_rows": 10}, (280, 280, 3)),
    ({"num_columns": 7}, (28, 28 * 7, 3)),
    ({"num_rows": 7}, (28 * 7, 28, 3)),
])
def test_grid_display_fixture(kwargs, shape, rng):
    grid = grid_display(rng.random((7, 28, 28, 3)), **kwargs)
    assert grid.shape == shape
    if not kwargs:
        np.testing.assert_equal(grid[56:, 28:, :], np.zeros((28, 56, 3)))


def test_grid_display_too_small_and_square_layouts(rng):
    images = rng.random((7, 28, 28, 3))
    with pytest.warns(UserWarning, match="Values have been overrided to respect at least"):
        grid = grid_display(images, num_rows=1, num_columns=1)
    assert grid.shape == (28 * 7, 28, 3)
    # tf-explain's default grid is always square: 2 images -> 2 x 2, 5 -> 3 x 3.
    assert grid_display(images[:2]).shape == (56, 56, 3)
    assert grid_display(images[:5]).shape == (84, 84, 3)


def test_image_to_uint_255_fixture():
    np.testing.assert_array_equal(image_to_uint_255(np.ones((28, 28)) / 255.0), 1)
    np.testing.assert_array_equal(image_to_uint_255(-np.ones((28, 28)) / 255.0), 127)
    ten = 10 * np.ones((28, 28), np.uint8)
    np.testing.assert_array_equal(image_to_uint_255(ten), ten)


def test_grey_patch_grayscale_and_saver_fixtures(tmp_path, rng):
    output = apply_grey_patch(np.zeros((10, 20, 3)), 0, 0, 10)
    expected = np.concatenate([127.5 * np.ones((10, 10, 3)), np.zeros((10, 10, 3))], axis=1)
    np.testing.assert_almost_equal(output, expected)
    gray = transform_to_normalized_grayscale(rng.random((4, 28, 28, 3)).astype(np.float32))
    assert tuple(gray.shape) == (4, 28, 28) and to_np(gray).dtype == np.uint8
    save_grayscale(np.ones((28, 28, 1), np.uint8), tmp_path / "g", "grayscale.png")
    save_rgb(np.ones((28, 28, 3), np.uint8), tmp_path / "r", "rgb.png")
    assert [p.name for p in (tmp_path / "g").iterdir()] == ["grayscale.png"]
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["rgb.png"]


def test_filter_display_keeps_values():
    activations = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    grid = filter_display(activations)
    assert grid.dtype == np.float32 and grid.shape == (6, 6)  # 6 channels -> 3 x 3 cells
    np.testing.assert_array_equal(grid[:2, :2], activations[0, ..., 0])
    np.testing.assert_array_equal(grid[2:4, 2:4], activations[1, ..., 1])
    assert not grid[4:].any()


def test_opencv_colormap_codes(rng):
    heat, image = rng.random((3, 3)), rng.random((6, 6, 3))
    np.testing.assert_array_equal(heatmap_display(heat, image, 2),
                                  heatmap_display(heat, image, "jet"))
    np.testing.assert_array_equal(heatmap_display(heat, image),
                                  heatmap_display(heat, image, "viridis"))
    model = small_cnn()
    x = rng.random((2, 12, 12, 3)).astype(np.float32)
    jet = OcclusionSensitivity().explain((x, None), model, 0, 4, colormap=2)  # cv2.COLORMAP_JET
    assert jet.shape == (24, 24, 3) and jet.dtype == np.uint8
    with pytest.raises(ValueError, match="colormap"):
        heatmap_display(heat, image, 12)  # cv2.COLORMAP_PARULA has no matplotlib twin


def _tf_explain_models():
    def sequential(*layers):
        return keras.Sequential([keras.Input((28, 28, 1)), *layers])

    conv1 = lambda: keras.layers.Conv2D(3, 3, name="conv_1")  # noqa: E731
    pool = lambda: keras.layers.MaxPooling2D(name="maxpool_1")  # noqa: E731
    conv2 = lambda: keras.layers.Conv2D(3, 3, name="conv_2")  # noqa: E731
    dense = lambda: keras.layers.Dense(1, name="dense")  # noqa: E731
    return [
        (sequential(conv1(), pool(), conv2(), keras.layers.Flatten(), dense()), "conv_2"),
        (sequential(conv1(), pool(), conv2(), keras.layers.GlobalAveragePooling2D(), dense()),
         "conv_2"),
        (sequential(conv1(), pool(), keras.layers.Flatten(), dense()), "maxpool_1"),
    ]


def test_grad_cam_layer_is_tf_explains():
    for model, expected in _tf_explain_models():
        assert GradCAM.infer_grad_cam_target_layer(model) == expected
    dense_only = keras.Sequential([keras.Input((10,)), keras.layers.Dense(10),
                                   keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="layer_name"):
        GradCAM.infer_grad_cam_target_layer(dense_only)


def test_grad_cam_default_layer_is_the_final_pooling(rng):
    model, _ = _tf_explain_models()[2]
    x = rng.random((2, 28, 28, 1)).astype(np.float32)
    by_default = GradCAM().explain((x, None), model, 0, use_guided_grads=False)
    by_name = GradCAM().explain((x, None), model, 0, layer_name="maxpool_1",
                                use_guided_grads=False)
    np.testing.assert_array_equal(by_default, by_name)


def test_gradients_and_filters_closed_form(rng):
    """GAP -> Dense(softmax): dp_c/dA_ijk = p_c (W_kc - sum_j p_j W_kj) / Z."""
    inputs = keras.Input((6, 6, 2))
    feat = keras.layers.Conv2D(4, 3, activation="relu", name="feat")(inputs)
    head = keras.layers.Dense(3, activation="softmax", name="head")
    model = keras.Model(inputs, head(keras.layers.GlobalAveragePooling2D()(feat)))
    x = rng.random((3, 6, 6, 2)).astype(np.float32)
    a, g = GradCAM.get_gradients_and_filters(model, x, "feat", 1, False)
    a, g = to_np(a), to_np(g)
    features = keras.ops.convert_to_numpy(keras.Model(inputs, feat)(x))
    np.testing.assert_allclose(a, features, atol=1e-5)
    w = head.get_weights()[0]
    p = keras.ops.convert_to_numpy(model(x))
    expected = p[:, 1, None] * (w[:, 1][None] - p @ w.T) / 16.0  # (N, K)
    np.testing.assert_allclose(g, np.broadcast_to(expected[:, None, None, :], g.shape), atol=1e-6)
    _, guided = GradCAM.get_gradients_and_filters(model, x, "feat", 1, True)
    np.testing.assert_allclose(to_np(guided), g * (a > 0) * (g > 0), atol=1e-7)


def test_score_model_and_warning():
    inputs = keras.Input((2, 2, 1))
    logits = keras.layers.Dense(3, name="score")(keras.layers.Flatten()(inputs))
    separate = keras.Model(inputs, keras.layers.Softmax(name="softmax")(logits))
    explainer = VanillaGradients()
    score_model = explainer.get_score_model(separate)
    assert score_model.layers[-1] is separate.get_layer("score")
    assert separate.get_layer("softmax") not in score_model.layers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fused = linear_model(np.ones((4, 2)), final="softmax")
        assert explainer.get_score_model(fused) is fused  # kerascope scores the logit itself
    tanh = linear_model(np.ones((4, 2)), final="tanh")
    with pytest.warns(UserWarning, match=UNSUPPORTED_ARCHITECTURE_WARNING):
        assert explainer.get_score_model(tanh) is tanh


def test_explain_is_explain_score_model_of_the_score_model(rng):
    inputs = keras.Input((6, 6, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    logits = keras.layers.Dense(3, name="score")(keras.layers.Flatten()(h))
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    x = rng.random((3, 6, 6, 3)).astype(np.float32)
    explainer = VanillaGradients()
    score = explainer.get_score_model(model)
    np.testing.assert_array_equal(explainer.explain((x, None), model, 1),
                                  explainer.explain_score_model((x, None), score, 1))


def test_compute_gradients_are_kerascope_gradients(rng):
    model = small_cnn()
    x = rng.random((3, 12, 12, 3)).astype(np.float32)
    grads = VanillaGradients.compute_gradients(x, model, 2)
    _, expected = kerascope.gradients(model, x, 2, channel_reduction=None)
    np.testing.assert_allclose(to_np(grads), expected, atol=1e-6)
    products = GradientsInputs.compute_gradients(x, model, 2)
    np.testing.assert_allclose(to_np(products), x * expected, atol=1e-6)
    # tf-explain's own rendering chain runs on every backend
    gray = transform_to_normalized_grayscale(np.abs(to_np(grads))).numpy()
    assert gray.shape == (3, 12, 12) and gray.dtype == np.uint8
    if BACKEND == "tensorflow":
        import tensorflow as tf

        assert isinstance(grads, tf.Tensor)
        tf.abs(grads)  # what tf-explain's callers do next


def test_get_integrated_gradients_is_the_paper_ig(rng):
    model = small_cnn()
    x = rng.random((2, 12, 12, 3)).astype(np.float32)
    path = IntegratedGradients.generate_interpolations(x, 6)
    ig = to_np(IntegratedGradients.get_integrated_gradients(path, model, 1, 6))
    _, expected = kerascope.integrated_gradients(model, x, 1, n_steps=6, channel_reduction=None)
    np.testing.assert_allclose(ig, expected, atol=1e-5)
    # completeness on a linear model: sum(IG) = S(x) - S(0) exactly
    w = rng.standard_normal((4, 2)).astype(np.float32)
    linear = linear_model(w, bias=[0.3, -0.2])
    xs = rng.random((3, 2, 2, 1)).astype(np.float32)
    ig = to_np(IntegratedGradients.get_integrated_gradients(
        IntegratedGradients.generate_interpolations(xs, 3), linear, 1, 3))
    np.testing.assert_allclose(ig.reshape(3, -1).sum(1), xs.reshape(3, -1) @ w[:, 1], atol=1e-5)


def test_generate_activations_graph():
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, name="conv_1")(inputs)
    h = keras.layers.ReLU(name="activation_1")(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    graph = ExtractActivations.generate_activations_graph(model, ["activation_1"])
    assert graph.layers[-1].name == "activation_1"
    with pytest.raises(ValueError, match="layers_name"):
        ExtractActivations.generate_activations_graph(model, ["nope"])
