"""Explanation callbacks: TensorBoard images during fit, on every backend (issue 5).

Event files are read back with TensorBoard's own EventAccumulator (not kerascope's
reader), the images decoded and compared with the matching core explainer run on
the model as it was at that epoch's end.
"""

import io
import pathlib
import re
import runpy
import sys
import warnings

import numpy as np
import pytest

import keras
from PIL import Image

from kerascope import backend, callbacks, demo
from kerascope.demo import mnist
from kerascope.utils.display import grid_display

TUTORIALS = pathlib.Path(__file__).parent / "tutorials"
BACKEND = keras.backend.backend()


# -- helpers ----------------------------------------------------------------------

def read_back(logdir):
    """``{tag: [(step, image (H, W, C)), ...]}`` from the event files in ``logdir``."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(logdir), size_guidance={ea.TENSORS: 0, ea.IMAGES: 0})
    acc.Reload()
    found = {}
    for tag in acc.Tags()[ea.TENSORS]:
        assert acc.SummaryMetadata(tag).plugin_data.plugin_name == "images"
        found[tag] = []
        for event in acc.Tensors(tag):
            width, height, png = event.tensor_proto.string_val
            image = np.asarray(Image.open(io.BytesIO(png)))
            image = image[..., None] if image.ndim == 2 else image
            assert image.shape[:2] == (int(height), int(width))
            found[tag].append((event.step, image))
    for tag in acc.Tags()[ea.IMAGES]:  # legacy Summary.Image values, if any
        found[tag] = [(e.step, np.asarray(Image.open(io.BytesIO(e.encoded_image_string))))
                      for e in acc.Images(tag)]
    return found


def channels(grid):
    grid = np.asarray(grid)
    return grid[..., None] if grid.ndim == 2 else grid


def grid_shape(n, size=28, c=1):
    return grid_display(np.zeros((n, size, size, c), np.uint8)).shape


@pytest.fixture(scope="module")
def digits():
    x, y = demo.load_digits_28("train")
    return x[:64], y[:64]


def tiny_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Conv2D(6, 3, activation="relu", name="last_conv"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.25),
        keras.layers.Dense(10, activation="softmax", name="predictions"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- the seed tutorial and the slides, replayed -------------------------------------

def test_tutorial_with_vanilla_gradients_callback(in_tmp, monkeypatch):
    # 125 -> 100 trained on (two full batches of 50: one compiled train step) and 25
    # validated, the same batch shape as the final evaluate on the 25 test images.
    monkeypatch.setattr(mnist, "TRAIN_SIZE", 125)
    monkeypatch.setattr(mnist, "TEST_SIZE", 25)
    run = runpy.run_path(str(TUTORIALS / "vanilla_gradients_tutorial_callback.py"))
    model, (callback,) = run["model"], run["keras_callbacks"]
    assert len(run["history"].history["loss"]) == 2

    logdir = pathlib.Path(callback.output_dir)
    assert logdir.parent.resolve() == (in_tmp / "output").resolve()
    assert re.fullmatch(r"\d{8}-\d{6}\.\d{6}", logdir.name)
    images = read_back(logdir)
    assert list(images) == ["VanillaGradients"]
    steps = [step for step, _ in images["VanillaGradients"]]
    assert steps == [0, 1]
    for _, image in images["VanillaGradients"]:
        assert image.shape == grid_shape(25) and image.dtype == np.uint8

    # The last image is the explainer's grid for the model as training left it.
    from kerascope.core.vanilla_gradients import VanillaGradients

    expected = VanillaGradients().explain((run["input_test"], None), model, class_index=0)
    np.testing.assert_array_equal(images["VanillaGradients"][1][1], channels(expected))
    # ... and the epoch-0 image shows the model of epoch 0, not the final one.
    assert not np.array_equal(images["VanillaGradients"][0][1], images["VanillaGradients"][1][1])

    if BACKEND == "tensorflow":
        assert callback.writer_kind == "tf.summary"
    else:
        assert callback.writer_kind == "tensorboard"
        assert "tensorflow" not in sys.modules


def test_slides_grad_cam_callback_example(in_tmp, monkeypatch):
    monkeypatch.setattr(mnist, "TRAIN_SIZE", 64)
    run = runpy.run_path(str(TUTORIALS / "grad_cam_callback_slides.py"))
    (callback,) = run["callbacks"]
    assert callback.layer_name == "target_layer" and callback.class_indices == (0,)
    images_zero = run["validation_class_zero"][0]
    assert images_zero.shape == (5, 28, 28)

    runs = list((in_tmp / "logs" / "grad_cam").iterdir())
    assert [run_dir.name for run_dir in runs] == [callback.output_dir.name]
    images = read_back(runs[0])
    assert list(images) == ["Grad CAM"]
    assert [step for step, _ in images["Grad CAM"]] == [0, 1, 2, 3, 4]
    for _, image in images["Grad CAM"]:
        assert image.shape == grid_shape(5, c=3)

    from kerascope.core.grad_cam import GradCAM

    expected = GradCAM().explain(run["validation_class_zero"], run["model"], class_index=0,
                                 layer_name="target_layer")
    np.testing.assert_array_equal(images["Grad CAM"][-1][1], expected)
    if BACKEND != "tensorflow":
        assert "tensorflow" not in sys.modules


# -- training is unchanged -------------------------------------------------------------

def _fit(digits, extra_callbacks, epochs=2):
    x, y = digits
    model = tiny_cnn(seed=3)
    keras.utils.set_random_seed(7)
    model.fit(x, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0,
              callbacks=list(extra_callbacks))
    return model.get_weights()


def test_fit_gives_the_same_weights_with_and_without_callbacks(digits, in_tmp):
    x, _ = digits
    data = (x[:4], None)
    explainers = [
        callbacks.VanillaGradientsCallback(data, 1, output_dir="vg"),
        callbacks.SmoothGradCallback(data, [0, 2], num_samples=3, output_dir="sg"),
    ]
    explainers.append(callbacks.GradCAMCallback(data, 1, "last_conv", output_dir="gc"))
    with_callbacks = _fit(digits, explainers)
    without = _fit(digits, [])
    for a, b in zip(without, with_callbacks):
        np.testing.assert_array_equal(a, b)
    for callback in explainers:
        assert not callback.failures
        tags = read_back(callback.output_dir)
        assert all([s for s, _ in v] == [0, 1] for v in tags.values()) and tags


# -- failures ----------------------------------------------------------------------------

def test_a_failing_explanation_warns_training_ends_normally_and_strict_raises(digits, in_tmp):
    x, y = digits
    data = (x[:3], None)
    bad_class = callbacks.VanillaGradientsCallback(data, class_index=42, output_dir="vg")
    bad_layer = callbacks.GradCAMCallback(data, "no_such_layer", class_index=0, output_dir="gc")
    with pytest.warns(RuntimeWarning) as caught:
        history = tiny_cnn().fit(x, y, epochs=2, verbose=0, callbacks=[bad_class, bad_layer])
    assert len(history.history["loss"]) == 2
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert sum(bool(re.search(r"VanillaGradientsCallback.*class_index.*42", m))
               for m in messages) == 2
    assert sum(bool(re.search(r"GradCAMCallback.*no_such_layer", m)) for m in messages) == 2
    assert [epoch for epoch, _ in bad_layer.failures] == [0, 1]
    assert read_back(bad_class.output_dir) == {} and read_back(bad_layer.output_dir) == {}

    strict = callbacks.GradCAMCallback(data, "no_such_layer", class_index=0, output_dir="gc",
                                       strict=True)
    with pytest.raises(ValueError, match="no_such_layer"):
        tiny_cnn().fit(x, y, epochs=1, verbose=0, callbacks=[strict])


# -- options -----------------------------------------------------------------------------

def test_every_n_epochs_max_images_and_several_classes(digits, in_tmp):
    x, y = digits
    callback = callbacks.VanillaGradientsCallback((x[:9], y[:9]), class_index=[0, 3],
                                                  output_dir="vg", every_n_epochs=2,
                                                  max_images=4)
    model = tiny_cnn()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[callback])
    images = read_back(callback.output_dir)
    assert sorted(images) == ["VanillaGradients/class_0", "VanillaGradients/class_3"]
    from kerascope.core.vanilla_gradients import VanillaGradients

    for c in (0, 3):
        tagged = images[f"VanillaGradients/class_{c}"]
        assert [step for step, _ in tagged] == [0, 2]
        assert tagged[-1][1].shape == grid_shape(4)
        expected = VanillaGradients().explain((x[:4], None), model, class_index=c)
        np.testing.assert_array_equal(tagged[-1][1], channels(expected))
    assert not np.array_equal(images["VanillaGradients/class_0"][-1][1],
                              images["VanillaGradients/class_3"][-1][1])


def test_default_output_dir_and_existing_folder(in_tmp, digits):
    x, _ = digits
    callback = callbacks.SmoothGradCallback((x[:2], None), 0)
    assert callback.output_dir.parent == pathlib.Path("logs") / "smoothgrad"
    assert re.fullmatch(r"\d{8}-\d{6}\.\d{6}", callback.output_dir.name)
    assert not (in_tmp / "logs").exists()  # created when training starts
    callback.output_dir.mkdir(parents=True)
    callback.on_train_begin()  # an existing folder is fine
    assert callback.output_dir.is_dir()
    assert (callback.num_samples, callback.noise) == (5, 1.0)
    assert callbacks.IntegratedGradientsCallback((x[:2], None), 0).n_steps == 5


def test_grad_cam_callback_call_forms(digits):
    x, _ = digits
    data = (x[:2], None)
    slides = callbacks.GradCAMCallback(data, "conv", class_index=2)
    assert (slides.layer_name, slides.class_indices) == ("conv", (2,))
    positional = callbacks.GradCAMCallback(data, 2, "conv", "out", False)
    assert (positional.layer_name, positional.class_indices) == ("conv", (2,))
    assert positional.use_guided_grads is False
    assert positional.output_dir.parent == pathlib.Path("out")
    keyword = callbacks.GradCAMCallback(validation_data=data, class_index=2)
    assert keyword.layer_name is None and keyword.use_guided_grads is True
    assert callbacks.GradCAMcallback is callbacks.GradCAMCallback
    with pytest.raises(ValueError, match="class_index"):
        callbacks.GradCAMCallback(data, "conv")
    with pytest.raises(ValueError, match="class_index"):
        callbacks.GradCAMCallback(data, 1, class_index=2)


@pytest.mark.parametrize("kwargs, match", [
    ({"every_n_epochs": 0}, "every_n_epochs"),
    ({"max_images": 0}, "max_images"),
    ({"class_index": [0, -1]}, "class_index"),
    ({"class_index": []}, "class_index"),
    ({"class_index": "dog"}, "class_index"),
    ({"validation_data": np.zeros((2, 28, 28, 1))}, "validation_data"),
])
def test_bad_arguments_name_the_argument(digits, kwargs, match):
    x, _ = digits
    arguments = {"validation_data": (x[:2], None), "class_index": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        callbacks.VanillaGradientsCallback(**arguments)


# -- every callback writes its image -------------------------------------------------

def test_every_callback_writes_one_image_per_epoch(digits, in_tmp):
    from kerascope import core

    x, y = digits
    data = (x[:3], None)
    # tag -> (callback, the core explainer's grid for the final model, or None)
    made = {
        "VanillaGradients": (callbacks.VanillaGradientsCallback(data, 1, "a"),
                             lambda m: core.VanillaGradients().explain(data, m, 1)),
        "GradientsInputs": (callbacks.GradientsInputsCallback(data, 1, "b"),
                            lambda m: core.GradientsInputs().explain(data, m, 1)),
        "SmoothGrad": (callbacks.SmoothGradCallback(data, 1, 2, 0.1, "c"),
                       lambda m: core.SmoothGrad().explain(data, m, 1, 2, 0.1, seed=0)),
        "IntegratedGradients": (callbacks.IntegratedGradientsCallback(data, 1, 3, "d"),
                                lambda m: core.IntegratedGradients().explain(data, m, 1, 3)),
        "Grad CAM": (callbacks.GradCAMCallback(data, 1, "last_conv", "e"),
                     lambda m: core.GradCAM().explain(data, m, 1, "last_conv")),
        "Occlusion Sensitivity": (
            callbacks.OcclusionSensitivityCallback(data, 1, 14, "f"),
            lambda m: core.OcclusionSensitivity().explain(data, m, 1, 14)),
        "Activations Visualization": (
            callbacks.ActivationsVisualizationCallback(data, ["conv"], "g"),
            lambda m: core.ExtractActivations().explain(data, m, ["conv"])),
    }
    for tag, make in [("Grad CAM++", callbacks.GradCAMPlusPlusCallback),
                      ("XGrad CAM", callbacks.XGradCAMCallback),
                      ("HiResCAM", callbacks.HiResCAMCallback),
                      ("Layer CAM", callbacks.LayerCAMCallback),
                      ("Eigen CAM", callbacks.EigenCAMCallback),
                      ("Score CAM", callbacks.ScoreCAMCallback),
                      ("Guided Grad CAM", callbacks.GuidedGradCAMCallback)]:
        made[tag] = (make(data, 1, "last_conv", "cam_" + make.method_dir), None)
    for tag, make in [("GuidedBackprop", callbacks.GuidedBackpropCallback),
                      ("Deconvnet", callbacks.DeconvnetCallback)]:
        made[tag] = (make(data, 1, tag), None)
    rgb = {"Grad CAM", "Occlusion Sensitivity", "Grad CAM++", "XGrad CAM", "HiResCAM",
           "Layer CAM", "Eigen CAM", "Score CAM"}

    counts = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: counts.append(backend.trace_count()))
    model = tiny_cnn()
    before = backend.trace_count()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no explanation may fail
        model.fit(x, y, epochs=2, verbose=0,
                  callbacks=[callback for callback, _ in made.values()] + [record])
    # Epoch 1 reuses every pass compiled at epoch 0 (JAX: variables are arguments).
    assert counts[0] == counts[1]
    if BACKEND in ("jax", "tensorflow"):
        assert counts[0] > before  # the explanations went through compiled passes

    for tag, (callback, reference) in made.items():
        images = read_back(callback.output_dir)
        assert list(images) == [tag], tag
        assert [step for step, _ in images[tag]] == [0, 1], tag
        image = images[tag][-1][1]
        if tag in rgb:
            assert image.shape == grid_shape(3, c=3), tag
        elif tag == "Activations Visualization":
            assert image.shape == grid_display(np.zeros((3 * 4, 26, 26, 1), np.uint8)).shape
        else:
            assert image.shape == grid_shape(3), tag
        if reference is not None:
            np.testing.assert_array_equal(image, channels(reference(model)), err_msg=tag)


# -- the writer ------------------------------------------------------------------------

def test_summary_writer_round_trip_without_tensorflow(tmp_path):
    from kerascope.callbacks.summary import SummaryWriter, read_images

    gray = (np.arange(12 * 20).reshape(12, 20) % 251).astype(np.uint8)
    rgb = np.random.default_rng(0).integers(0, 256, (8, 6, 3), dtype=np.uint8)
    for use_tf in ([False, True] if BACKEND == "tensorflow" else [False]):
        logdir = tmp_path / str(use_tf)
        with SummaryWriter(logdir, use_tensorflow=use_tf) as writer:
            writer.image("gray", gray, step=0)
            writer.image("gray", gray[::-1], step=3)
            writer.image("a/rgb", rgb, step=1)
        back = read_back(logdir)
        assert [s for s, _ in back["gray"]] == [0, 3]
        np.testing.assert_array_equal(back["gray"][0][1][..., 0], gray)
        np.testing.assert_array_equal(back["gray"][1][1][..., 0], gray[::-1])
        np.testing.assert_array_equal(back["a/rgb"][0][1], rgb)
        mine = read_images(logdir)
        np.testing.assert_array_equal(mine["a/rgb"][0][1], rgb)
    if BACKEND != "tensorflow":
        assert "tensorflow" not in sys.modules
    with pytest.raises(ValueError, match="image"):
        SummaryWriter(tmp_path / "x", use_tensorflow=False).image("t", np.zeros((2, 2, 2)), 0)
