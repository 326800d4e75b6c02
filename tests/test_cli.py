"""The ``kerascope`` command: results equal to the Python API, every bad input rejected
with exit code 2 and one line, nothing half-written, and a fast ``--help``."""

import json
import os
import pathlib
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from PIL import Image

import kerascope
from kerascope import cli
from kerascope.inputs import files as kio


# The command line is the same code on every backend, and the API tests cover each
# backend: these tests run on TensorFlow only (CI's 35-minute budget for three
# backends), except those named here, which check the command against the API on
# every backend.
_EVERY_BACKEND = {"test_explain_writes_the_maps_of_the_python_api"}


@pytest.fixture(autouse=True)
def _once(request):
    if keras.backend.backend() != "tensorflow" and request.node.originalname not in _EVERY_BACKEND:
        pytest.skip("command-line test: run on the TensorFlow backend only")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _cnn(input_shape=(16, 16, 3), classes=10, name="tiny_cnn"):
    inputs = keras.Input(input_shape)
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_1")(inputs)
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="last_conv")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(h)
    model = keras.Model(inputs, outputs, name=name)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A saved 10-class CNN and three PNG files (different sizes: they get resized)."""
    folder = tmp_path_factory.mktemp("cli")
    model = _cnn()
    model.save(folder / "model.keras")
    rng = np.random.default_rng(1)
    images = []
    for i, size in enumerate(((16, 16), (20, 24), (16, 16))):
        path = folder / f"image_{i}.png"
        Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(path)
        images.append(path)
    return folder, folder / "model.keras", images


def run(args, capsys):
    """``(exit code, stdout, stderr)`` of ``kerascope ARGS`` run in this process."""
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_rejected(code, err, out_dir, *needles):
    """Exit 2, one line on stderr naming the problem, no traceback, nothing in --out."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("kerascope: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    out_dir = pathlib.Path(out_dir)
    assert not out_dir.exists() or not any(out_dir.iterdir())
    assert not list(out_dir.parent.glob(".kerascope-*"))  # no stage left behind


# -- results ---------------------------------------------------------------------------------
METHODS = ("vanilla_gradients", "integrated_gradients", "grad_cam", "occlusion", "smoothgrad")


def test_explain_writes_the_maps_of_the_python_api(files, capsys, tmp_path):
    folder, model_path, images = files
    out = tmp_path / "out"
    code, stdout, err = run(["explain", model_path, *images, *sum((["-m", m] for m in METHODS), []),
                             "--out", out, "--quiet"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["maps.npz", "report.html", *(f"{m}.png" for m in METHODS)])
    model = keras.saving.load_model(model_path)
    x = kio.load_images(images, model)
    with np.load(out / "maps.npz") as saved:
        assert [pathlib.Path(f).name for f in saved["files"]] == [p.name for p in images]
        parameters = json.loads(str(saved["parameters"]))
        assert list(saved["methods"]) == list(METHODS)
        outputs = keras.ops.convert_to_numpy(model(x))
        np.testing.assert_allclose(saved["outputs"], outputs, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(saved["targets"][:, 0], outputs.argmax(axis=-1))
        for name in METHODS:
            _, expected = kerascope.explain(name, model, x, **parameters[name])
            np.testing.assert_allclose(saved[name], expected, rtol=1e-4, atol=1e-6,
                                       err_msg=name)
    # the range-dependent defaults: occlusion fills with black as the model sees it
    assert parameters["occlusion"]["fill_value"] == 0.0
    assert parameters["integrated_gradients"]["baseline"] == 0.0


def test_preprocessing_sets_the_range_dependent_defaults(files, capsys, tmp_path):
    folder, model_path, images = files
    out = tmp_path / "out"
    code, _, err = run(["explain", model_path, images[0], "-m", "occlusion", "-m",
                        "integrated_gradients", "--preprocess", "-1-1", "-o",
                        "occlusion.patch_size=4", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    with np.load(out / "maps.npz") as saved:
        parameters = json.loads(str(saved["parameters"]))
        assert str(saved["preprocess"]).startswith("-1-1")
    assert parameters["occlusion"] == {"patch_size": 4, "fill_value": -1.0, "mode": "difference"}
    assert parameters["integrated_gradients"]["baseline"] == -1.0
    assert "-1-1" in (out / "report.html").read_text()


def test_top_k_targets_draw_every_target(files, capsys, tmp_path):
    folder, model_path, images = files
    out = tmp_path / "out"
    code, _, err = run(["explain", model_path, images[0], images[1], "-m", "grad_cam",
                        "--target", "top-3", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    with np.load(out / "maps.npz") as saved:
        assert saved["grad_cam"].shape == (2, 3, 16, 16)
        outputs = saved["outputs"]
        np.testing.assert_array_equal(saved["targets"], np.argsort(-outputs, axis=-1)[:, :3])
    page = (out / "report.html").read_text()
    assert page.count('rowspan="3"') == 4  # input and predictions cells of two inputs
    assert page.count('class="map"') == 6


def test_labels_name_the_targets(files, capsys, tmp_path):
    folder, model_path, images = files
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"thing{i}" for i in range(10)) + "\n")
    out = tmp_path / "out"
    code, _, err = run(["explain", model_path, images[0], "-m", "grad_cam", "--labels", labels,
                        "--target", "3", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    assert "target 3 (thing3)" in (out / "report.html").read_text()


def test_a_model_that_takes_any_size_keeps_each_image_size(capsys, tmp_path):
    model = _cnn((None, None, 3), name="any_size")
    model.save(tmp_path / "any.keras")
    paths = []
    for i, size in enumerate(((12, 16), (20, 10))):
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(np.full(size + (3,), 100 + 50 * i, np.uint8)).save(paths[-1])
    out = tmp_path / "out"
    code, _, err = run(["explain", tmp_path / "any.keras", *paths, "-m", "vanilla_gradients",
                        "-m", "grad_cam", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    with np.load(out / "maps.npz") as saved:
        assert saved["vanilla_gradients/0"].shape == (12, 16)
        assert saved["grad_cam/1"].shape == (20, 10)


def test_layer_and_method_options_reach_the_methods(files, capsys, tmp_path):
    folder, model_path, images = files
    out = tmp_path / "out"
    code, _, err = run(["explain", model_path, images[0], "-m", "grad_cam", "-m", "smoothgrad",
                        "--layer", "conv_1", "-o", "smoothgrad.num_samples=3", "--out", out,
                        "--quiet"], capsys)
    assert code == 0, err
    with np.load(out / "maps.npz") as saved:
        parameters = json.loads(str(saved["parameters"]))
    assert parameters["grad_cam"] == {"layer_name": "conv_1"}
    assert parameters["smoothgrad"]["num_samples"] == 3


def test_force_replaces_a_previous_output(files, capsys, tmp_path):
    folder, model_path, images = files
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"old")
    code, _, err = run(["explain", model_path, images[0], "-m", "grad_cam", "--out", out,
                        "--force", "--quiet"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["grad_cam.png", "maps.npz", "report.html"]


def test_progress_and_summary_are_printed(files, capsys, tmp_path):
    folder, model_path, images = files
    out = tmp_path / "out"
    code, stdout, _ = run(["explain", model_path, images[0], "-m", "grad_cam", "--out", out],
                          capsys)
    assert code == 0
    assert "grad_cam" in stdout and str(out / "report.html") in stdout.replace("\n", "")


# -- bad input: exit 2, one line, nothing written ------------------------------------------------
def test_missing_model_file(files, capsys, tmp_path):
    _, _, images = files
    code, _, err = run(["explain", tmp_path / "nope.keras", images[0], "--out", tmp_path / "o"],
                       capsys)
    assert_rejected(code, err, tmp_path / "o", "MODEL", "no such file", "nope.keras")


def test_text_file_named_keras(files, capsys, tmp_path):
    _, _, images = files
    fake = tmp_path / "model.keras"
    fake.write_text("this is not a model")
    code, _, err = run(["explain", fake, images[0], "--out", tmp_path / "o"], capsys)
    assert_rejected(code, err, tmp_path / "o", "MODEL", "not a Keras model file")


def test_model_whose_input_is_not_an_image(files, capsys, tmp_path):
    _, _, images = files
    inputs = keras.Input((10,))
    keras.Model(inputs, keras.layers.Dense(3)(inputs)).save(tmp_path / "table.keras")
    code, _, err = run(["explain", tmp_path / "table.keras", images[0], "--out", tmp_path / "o"],
                       capsys)
    assert_rejected(code, err, tmp_path / "o", "MODEL", "(None, 10)", "not a batch of images")


def test_named_text_file_among_the_images(files, capsys, tmp_path):
    _, model_path, images = files
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    code, _, err = run(["explain", model_path, images[0], notes, "--out", tmp_path / "o"], capsys)
    assert_rejected(code, err, tmp_path / "o", "IMAGES", "notes.txt", "not an image file")


def test_channels_that_cannot_be_converted(files, capsys, tmp_path):
    _, _, images = files
    _cnn((16, 16, 2), name="two_channels").save(tmp_path / "two.keras")
    code, _, err = run(["explain", tmp_path / "two.keras", images[0], "--out", tmp_path / "o"],
                       capsys)
    assert_rejected(code, err, tmp_path / "o", "IMAGES", "image_0.png", "2 channels")


def test_unknown_method(files, capsys, tmp_path):
    _, model_path, images = files
    code, _, err = run(["explain", model_path, images[0], "-m", "gradcamm", "--out", tmp_path / "o"],
                       capsys)
    assert_rejected(code, err, tmp_path / "o", "--method", "'gradcamm'", "gradcam")
    code, _, err = run(["explain", model_path, images[0], "-m", "", "--out", tmp_path / "o"],
                       capsys)
    assert_rejected(code, err, tmp_path / "o", "--method")


def test_unknown_layer_suggests_close_names(files, capsys, tmp_path):
    _, model_path, images = files
    code, _, err = run(["explain", model_path, images[0], "-m", "grad_cam", "--layer", "last_conb",
                        "--out", tmp_path / "o"], capsys)
    assert_rejected(code, err, tmp_path / "o", "--layer", "'last_conb'", "'last_conv'")


def test_target_out_of_range(files, capsys, tmp_path):
    _, model_path, images = files
    code, _, err = run(["explain", model_path, images[0], "--target", "42", "--out",
                        tmp_path / "o"], capsys)
    assert_rejected(code, err, tmp_path / "o", "--target", "42", "10")
    code, _, err = run(["explain", model_path, images[0], "--target", "best", "--out",
                        tmp_path / "o"], capsys)
    assert_rejected(code, err, tmp_path / "o", "--target", "'best'")


def test_batch_size_zero(files, capsys, tmp_path):
    _, model_path, images = files
    code, _, err = run(["explain", model_path, images[0], "--batch-size", "0", "--out",
                        tmp_path / "o"], capsys)
    assert_rejected(code, err, tmp_path / "o", "--batch-size", "0")


def test_existing_non_empty_out_without_force(files, capsys, tmp_path):
    _, model_path, images = files
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run(["explain", model_path, images[0], "--out", out], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--out" in lines[0] and "--force" in lines[0]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"


def _lambda_model(path):
    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    h = keras.layers.Conv2D(2, 3, activation="relu")(h)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h))
    keras.Model(inputs, outputs).save(path)


def test_lambda_layer_needs_unsafe(files, capsys, tmp_path):
    _, _, images = files
    _lambda_model(tmp_path / "lambda.keras")
    code, _, err = run(["explain", tmp_path / "lambda.keras", images[0], "--out", tmp_path / "o"],
                       capsys)
    assert_rejected(code, err, tmp_path / "o", "MODEL", "Lambda", "'double'", "--unsafe")
    code, _, err = run(["explain", tmp_path / "lambda.keras", images[0], "-m", "vanilla_gradients",
                        "--unsafe", "--out", tmp_path / "o", "--quiet"], capsys)
    assert code == 0, err
    assert "--unsafe" in err and "double" in err  # the warning
    assert (tmp_path / "o" / "maps.npz").is_file()


def test_unknown_option_and_bad_option_syntax(files, capsys, tmp_path):
    _, model_path, images = files
    code, _, err = run(["explain", model_path, images[0], "-m", "occlusion", "-o",
                        "occlusion.patch=3", "--out", tmp_path / "o"], capsys)
    assert_rejected(code, err, tmp_path / "o", "-o occlusion.patch", "patch_size")
    code, _, err = run(["explain", model_path, images[0], "-o", "patch_size", "--out",
                        tmp_path / "o"], capsys)
    assert_rejected(code, err, tmp_path / "o", "-o", "METHOD.KEY=VALUE")


def test_a_failure_half_way_leaves_nothing(files, capsys, tmp_path, monkeypatch):
    _, model_path, images = files

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    from kerascope.report import explanation

    monkeypatch.setattr(explanation, "render_report", broken)
    code, _, err = run(["explain", model_path, images[0], "-m", "grad_cam", "--out",
                        tmp_path / "o"], capsys)
    assert code == 1
    assert "internal error" in err and "disk on fire" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".kerascope-*"))


# -- the fast paths -----------------------------------------------------------------------------
def _subprocess(args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "kerascope", *args],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    return result, time.perf_counter() - start


@pytest.mark.parametrize("args", [["--help"], ["explain", "--help"], ["methods"]])
def test_help_does_not_import_keras_and_methods_lists_the_registry(args):
    result, seconds = _subprocess(args)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    if args != ["methods"]:  # `methods` reads the registry, so imports Keras
        assert "keras" not in imported and "numpy" not in imported
    # ~0.3 s for --help (Keras' import for methods); the bound only guards against hangs
    assert seconds < (10 if args != ["methods"] else 90)
    if args == ["methods"]:
        for info in kerascope.methods.catalog():
            if info.cls.__module__.startswith("kerascope.methods."):
                assert info.name in result.stdout


def test_method_table_equals_the_catalog():
    from kerascope.cli.catalog import catalog

    static = {e["name"]: e for e in catalog()}
    real = {i.name: i for i in kerascope.methods.catalog()
            if i.cls.__module__.startswith("kerascope.methods.")}  # not the tests' own
    assert set(real) <= set(static)
    for name, info in real.items():
        entry = static[name]
        assert (entry["family"], entry["summary"], entry["paper"], entry["signed"]) == (
            info.family, info.summary, info.paper, info.signed), name
        assert tuple(entry["aliases"]) == tuple(info.aliases), name


def test_usage_errors_are_one_line(capsys):
    code, _, err = run(["explain"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "MODEL" in err
    code, _, err = run(["frobnicate"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_python_dash_m_runs_the_command():
    result, _ = _subprocess(["--version"])
    assert result.returncode == 0 and "kerascope" in result.stdout


def test_numpy_arrays_as_inputs(files, capsys, tmp_path):
    folder, model_path, images = files
    pixels = np.stack([np.asarray(Image.open(images[0])), np.asarray(Image.open(images[2]))])
    np.save(tmp_path / "pixels.npy", pixels)  # uint8: preprocessed as image files
    np.save(tmp_path / "inputs.npy", pixels.astype(np.float32) / 255.0)  # float: fed as is
    out = tmp_path / "out"
    code, _, err = run(["explain", model_path, tmp_path / "pixels.npy", tmp_path / "inputs.npy",
                        images[0], "-m", "vanilla_gradients", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    with np.load(out / "maps.npz") as saved:
        maps = saved["vanilla_gradients"]
        assert list(saved["files"][:2]) == ["pixels.npy[0]", "pixels.npy[1]"]
    np.testing.assert_allclose(maps[0], maps[2], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(maps[0], maps[4], rtol=1e-5, atol=1e-7)
    assert "fed to the model as they are" in (out / "report.html").read_text()
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5, 5, 3), np.uint8))
    code, _, err = run(["explain", model_path, tmp_path / "wrong.npy", "--out", tmp_path / "o"],
                       capsys)
    assert_rejected(code, err, tmp_path / "o", "IMAGES", "wrong.npy", "(2, 5, 5, 3)")


def test_demo_writes_its_report(capsys, tmp_path):
    out = tmp_path / "demo"
    code, stdout, err = run(["demo", "-m", "grad_cam", "-m", "gradients_inputs", "--out", out],
                            capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "grad_cam.png", "gradients_inputs.png", "maps.npz", "report.html"]
    assert str(out / "report.html") in stdout.replace("\n", "")
    code, _, err = run(["demo", "-m", "grad_cam", "--out", out, "--quiet"], capsys)
    assert code == 0, err  # the demo replaces its own previous output
    assert sorted(p.name for p in out.iterdir()) == ["grad_cam.png", "maps.npz", "report.html"]


def test_colour_demo_maps_point_at_the_object(capsys, tmp_path):
    from kerascope import demo

    path = getattr(demo, "COLOUR_MODEL_PATH", None)
    if path is None or not path.is_file():
        pytest.skip("the colour demo model is not bundled (kerascope demo uses the digits)")
    out = tmp_path / "demo"
    code, _, err = run(["demo", "-m", "grad_cam", "-m", "integrated_gradients", "-m", "occlusion",
                        "--out", out, "--quiet"], capsys)
    assert code == 0, err
    _, _, masks = demo.load_colour_samples()
    from kerascope.report import mask_share

    with np.load(out / "maps.npz") as saved:
        saturated = [np.mean(m >= 0.9 * m.max()) for m in saved["occlusion"]]
        assert np.mean(saturated) < 0.2, saturated
        for name in ("grad_cam", "integrated_gradients", "occlusion"):
            shares = [mask_share(m, mask) for m, mask in zip(saved[name], masks)]
            assert np.mean(shares) > 0.5, (name, shares)
    assert "in mask" in (out / "report.html").read_text()


def test_legacy_h5_models_load_and_their_lambda_layers_are_refused(files, capsys, tmp_path):
    pytest.importorskip("h5py")
    _, _, images = files
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that .h5 is a legacy format
        _cnn(name="legacy").save(tmp_path / "legacy.h5")
        inputs = keras.Input((16, 16, 3))
        h = keras.layers.Lambda(lambda t: t + 1.0, name="shift")(inputs)
        outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(h))
        keras.Model(inputs, outputs).save(tmp_path / "lambda.h5")
    out = tmp_path / "out"
    code, _, err = run(["explain", tmp_path / "legacy.h5", images[0], "-m", "grad_cam", "--out",
                        out, "--quiet"], capsys)
    assert code == 0, err
    assert (out / "maps.npz").is_file()
    code, _, err = run(["explain", tmp_path / "lambda.h5", images[0], "--out", tmp_path / "o"],
                       capsys)
    assert_rejected(code, err, tmp_path / "o", "MODEL", "Lambda", "'shift'", "--unsafe")
    fake = tmp_path / "fake.h5"
    fake.write_text("not hdf5")
    code, _, err = run(["explain", fake, images[0], "--out", tmp_path / "o"], capsys)
    assert_rejected(code, err, tmp_path / "o", "MODEL", "not an HDF5")


def test_float_pixel_values_fed_to_a_0_1_model_are_flagged(files, capsys, tmp_path):
    _, model_path, images = files
    np.save(tmp_path / "raw.npy", np.asarray(Image.open(images[0]), dtype=np.float32)[None])
    out = tmp_path / "out"
    code, _, err = run(["explain", model_path, tmp_path / "raw.npy", "-m", "grad_cam", "--out",
                        out, "--quiet"], capsys)
    assert code == 0
    assert "raw.npy" in err and "look like pixel values" in err
    assert "look like pixel values" in (out / "report.html").read_text()


def test_all_skips_methods_that_do_not_apply_but_named_ones_fail(files, capsys, tmp_path):
    _, _, images = files
    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(4, activation="softmax")(keras.layers.Flatten()(h))
    keras.Model(inputs, outputs, name="flat_head").save(tmp_path / "flat.keras")
    code, _, err = run(["explain", tmp_path / "flat.keras", images[0], "-m", "cam", "--out",
                        tmp_path / "o"], capsys)
    assert_rejected(code, err, tmp_path / "o", "cam", "global average pooling")
    out = tmp_path / "out"
    code, _, err = run(["explain", tmp_path / "flat.keras", images[0], "-m", "all",
                        "-o", "rise.num_masks=50", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    assert "skipped cam" in err
    with np.load(out / "maps.npz") as saved:
        ran = list(saved["methods"])
    assert "cam" not in ran and "grad_cam" in ran and "occlusion" in ran
    assert "skipped cam does not apply" in (out / "report.html").read_text()
