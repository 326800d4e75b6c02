"""Streaming results: ``kerascope.explain_batches`` yields ``explain``'s result batch by
batch (per-sample targets, top-k, extras, several inputs); ``explain(..., out=)``
writes ``.npy``/``.zarr`` as the batches come, never half and never over an existing
file; ``kerascope explain --stream-maps``; and peak memory that does not grow with the
number of inputs (measured in a subprocess)."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import kerascope
from kerascope import cli
from kerascope.cli import explain as cli_explain
from tests.models import small_cnn
from tests.test_multi_input import _data, two_input_model

ROOT = pathlib.Path(__file__).resolve().parents[1]
HAS_ZARR = importlib.util.find_spec("zarr") is not None
needs_zarr = pytest.mark.skipif(not HAS_ZARR, reason="needs zarr (kerascope[zarr])")


@pytest.fixture(scope="module")
def model():
    return small_cnn(input_shape=(8, 8, 3), classes=5)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(3).normal(size=(23, 8, 8, 3)).astype(np.float32)


def _any_size_model():
    inputs = keras.Input((None, None, 3))
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    return keras.Model(inputs, keras.layers.Dense(3)(h))


def _chunks(x, sizes):
    """A generator of batches of the given sizes (the number of inputs unknown up front)."""
    start = 0
    for size in sizes:
        yield x[start:start + size]
        start += size
    assert start == len(x)


def _joined(parts):
    outputs = np.concatenate([p.outputs for p in parts])
    maps = np.concatenate([p.maps for p in parts])
    return outputs, maps


# -- explain_batches -------------------------------------------------------------------------
def test_batches_of_an_array_are_explain_batch_by_batch(model, x):
    targets = np.arange(len(x)) % 5
    parts = kerascope.explain_batches("vanilla_gradients", model, x, targets, batch_size=8)
    parts = list(parts)
    assert [len(p.maps) for p in parts] == [8, 8, 7]
    assert all(isinstance(p, kerascope.methods.driver.Explanation) for p in parts)
    outputs, maps = kerascope.explain("vanilla_gradients", model, x, targets, batch_size=8)
    joined_outputs, joined_maps = _joined(parts)
    np.testing.assert_array_equal(joined_maps, maps)
    np.testing.assert_array_equal(joined_outputs, outputs)
    # each batch is that slice explained on its own, with its own slice of the targets
    _, second = kerascope.explain("vanilla_gradients", model, x[8:16], targets[8:16])
    np.testing.assert_allclose(parts[1].maps, second, rtol=1e-5, atol=1e-7)
    assert parts[0].maps.dtype == np.float32 and parts[0].outputs.dtype == np.float32


def test_batches_of_a_generator_follow_its_batches(model, x):
    sizes = (5, 7, 3, 8)
    targets = (np.arange(len(x)) * 3) % 5
    parts = list(kerascope.explain_batches("gradients_inputs", model, _chunks(x, sizes),
                                           targets, batch_size=4))
    # never more than batch_size inputs; a batch of the generator is never joined
    # with the next
    assert [len(p.maps) for p in parts] == [4, 1, 4, 3, 3, 4, 4]
    outputs, maps = kerascope.explain("gradients_inputs", model, _chunks(x, sizes), targets,
                                      batch_size=4)
    joined_outputs, joined_maps = _joined(parts)
    np.testing.assert_array_equal(joined_maps, maps)
    np.testing.assert_array_equal(joined_outputs, outputs)
    # and the array itself, up to float rounding of other batch sizes
    _, whole = kerascope.explain("gradients_inputs", model, x, targets, batch_size=4)
    np.testing.assert_allclose(joined_maps, whole, rtol=1e-5, atol=1e-7)


def test_batches_of_top_k(model, x):
    parts = list(kerascope.explain_batches("vanilla_gradients", model, x, kerascope.top_k(3),
                                           batch_size=12))
    # 12 rows per device call: 4 inputs x 3 targets, then batches of up to 12 inputs
    assert [p.maps.shape[:2] for p in parts] == [(12, 3), (11, 3)]
    outputs, maps = kerascope.explain("vanilla_gradients", model, x, kerascope.top_k(3),
                                      batch_size=12)
    np.testing.assert_array_equal(_joined(parts)[1], maps)
    # the k classes of each batch are its own inputs' top classes
    order = np.argsort(-outputs, axis=-1, kind="stable")[:, :3]
    _, first = kerascope.explain("vanilla_gradients", model, x[:12], order[:12])
    np.testing.assert_allclose(parts[0].maps, first, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("targets", [None, "top2"])
def test_batches_carry_their_extras(model, x, targets):
    targets = kerascope.top_k(2) if targets == "top2" else None
    options = dict(n_steps=8, return_convergence_delta=True, batch_size=16)
    parts = list(kerascope.explain_batches("integrated_gradients", model, x, targets, **options))
    whole = kerascope.explain("integrated_gradients", model, x, targets, **options)
    assert len(parts) > 1
    for part in parts:
        delta = part.extras["convergence_delta"]
        # one delta per (input, target) of this batch
        assert delta.shape == part.maps.shape[: 2 if targets is not None else 1]
    np.testing.assert_allclose(np.concatenate([p.extras["convergence_delta"] for p in parts]),
                               whole.extras["convergence_delta"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_joined(parts)[1], whole.maps, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_batches_of_a_two_input_model(kind):
    model, _, _ = two_input_model(kind=kind)
    a, b = _data(n=9)
    x = {"features": a, "series": b} if kind == "dict" else [a, b]
    targets = np.arange(9) % 2
    parts = list(kerascope.explain_batches("vanilla_gradients", model, x, targets, batch_size=4,
                                           channel_reduction=None))
    assert [len(p.outputs) for p in parts] == [4, 4, 1]
    _, maps = kerascope.explain("vanilla_gradients", model, x, targets, batch_size=4,
                                channel_reduction=None)
    keys = ["features", "series"] if kind == "dict" else [0, 1]
    for part in parts:
        assert isinstance(part.maps, dict if kind == "dict" else list)
    for key in keys:
        np.testing.assert_array_equal(np.concatenate([p.maps[key] for p in parts]), maps[key])


def test_batches_postprocess_each_batch_and_check_arguments_at_once(model, x):
    post = kerascope.filters.absolute_normalize
    parts = list(kerascope.explain_batches("vanilla_gradients", model, x, batch_size=8,
                                           postprocessing=post))
    _, maps = kerascope.explain("vanilla_gradients", model, x, batch_size=8,
                                postprocessing=post)
    np.testing.assert_allclose(_joined(parts)[1], maps, rtol=1e-6)
    # a backend tensor is walked in batches too
    tensor = keras.ops.convert_to_tensor(x)
    parts = list(kerascope.explain_batches("vanilla_gradients", model, tensor, batch_size=10))
    assert [len(p.maps) for p in parts] == [10, 10, 3]
    np.testing.assert_allclose(_joined(parts)[1], kerascope.explain(
        "vanilla_gradients", model, x, batch_size=10).maps, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="batch_size"):
        kerascope.explain_batches("vanilla_gradients", model, x, batch_size=0)
    with pytest.raises(ValueError, match="x: empty"):
        kerascope.explain_batches("vanilla_gradients", model, iter(()))
    assert "explain_batches" in kerascope.__all__


# -- out= ------------------------------------------------------------------------------------
FORMATS = ["npy", pytest.param("zarr", marks=needs_zarr)]


def _read(maps):
    return np.asarray(maps[:])


@pytest.mark.parametrize("fmt", FORMATS)
def test_out_round_trips_from_a_generator(model, x, tmp_path, fmt):
    out = tmp_path / f"maps.{fmt}"
    targets = np.arange(len(x)) % 5
    result = kerascope.explain("integrated_gradients", model, _chunks(x, (6, 6, 6, 5)), targets,
                               batch_size=16, n_steps=4, return_convergence_delta=True,
                               out=out)
    expected = kerascope.explain("integrated_gradients", model, _chunks(x, (6, 6, 6, 5)),
                                 targets, batch_size=16, n_steps=4,
                                 return_convergence_delta=True)
    assert out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left
    assert result.maps.shape == expected.maps.shape
    np.testing.assert_array_equal(_read(result.maps), expected.maps)
    np.testing.assert_array_equal(result.outputs, expected.outputs)
    np.testing.assert_array_equal(result.extras["convergence_delta"],
                                  expected.extras["convergence_delta"])
    if fmt == "npy":
        assert isinstance(result.maps, np.memmap) and not result.maps.flags.writeable
        np.testing.assert_array_equal(np.load(out), expected.maps)  # a plain .npy file
    else:
        import zarr

        assert result.maps.read_only
        np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[:], expected.maps)


@pytest.mark.parametrize("fmt", FORMATS)
def test_out_of_top_k_maps(model, x, tmp_path, fmt):
    result = kerascope.explain("vanilla_gradients", model, x, kerascope.top_k(3), batch_size=9,
                               out=tmp_path / f"top.{fmt}")
    _, expected = kerascope.explain("vanilla_gradients", model, x, kerascope.top_k(3),
                                    batch_size=9)
    assert result.maps.shape == (len(x), 3, 8, 8)
    np.testing.assert_array_equal(_read(result.maps), expected)


@pytest.mark.parametrize("fmt", FORMATS)
def test_out_refuses_to_overwrite(model, x, tmp_path, fmt):
    out = tmp_path / f"maps.{fmt}"
    first = kerascope.explain("vanilla_gradients", model, x[:5], out=out)
    before = _read(first.maps).copy()
    with pytest.raises(ValueError, match=r"out: .*maps\.%s.* exists.*overwrite=True" % fmt):
        kerascope.explain("vanilla_gradients", model, x[5:], out=out)
    np.testing.assert_array_equal(_read(first.maps), before)  # untouched
    second = kerascope.explain("vanilla_gradients", model, x[5:], out=out, overwrite=True)
    _, expected = kerascope.explain("vanilla_gradients", model, x[5:])
    assert second.maps.shape[0] == len(x) - 5
    np.testing.assert_array_equal(_read(second.maps), expected)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("existing", [False, True])
def test_a_failure_in_the_middle_leaves_no_file(model, x, tmp_path, fmt, existing):
    out = tmp_path / f"maps.{fmt}"
    if existing:
        kerascope.explain("vanilla_gradients", model, x[:3], out=out)
    before = sorted(p.name for p in tmp_path.iterdir())

    def failing():
        yield x[:8]
        yield x[8:16]
        raise RuntimeError("the data source broke")

    with pytest.raises(RuntimeError, match="data source broke"):
        kerascope.explain("vanilla_gradients", model, failing(), batch_size=4, out=out,
                          overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary either
    if existing:
        assert _read(kerascope.explain("vanilla_gradients", model, x[:3], out=out,
                                       overwrite=True).maps).shape[0] == 3
    # maps of another size midway (one file holds one size): refused, nothing written
    other = np.random.default_rng(0).normal(size=(2, 10, 10, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="out: maps of shape"):
        kerascope.explain("vanilla_gradients", _any_size_model(), iter([x[:4], other]),
                          out=tmp_path / f"sizes.{fmt}")
    assert not (tmp_path / f"sizes.{fmt}").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_out_checks_its_path_and_names_the_zarr_extra(model, x, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"out: expected a path ending in \.npy or \.zarr"):
        kerascope.explain("vanilla_gradients", model, x, out=tmp_path / "maps.npz")
    monkeypatch.setitem(sys.modules, "zarr", None)  # as if not installed
    with pytest.raises(ImportError, match=r"kerascope\[zarr\]"):
        kerascope.explain("vanilla_gradients", model, x, out=tmp_path / "maps.zarr")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fmt", FORMATS)
def test_out_of_a_two_input_model_writes_one_file_per_input(tmp_path, fmt):
    model, _, _ = two_input_model(kind="dict")
    a, b = _data(n=7)
    x = {"features": a, "series": b}
    result = kerascope.explain("vanilla_gradients", model, x, batch_size=3,
                               channel_reduction=None, out=tmp_path / f"maps.{fmt}")
    _, expected = kerascope.explain("vanilla_gradients", model, x, batch_size=3,
                                    channel_reduction=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"maps.features.{fmt}",
                                                          f"maps.series.{fmt}"]
    assert isinstance(result.maps, dict)
    for key in ("features", "series"):
        np.testing.assert_array_equal(_read(result.maps[key]), expected[key])
    with pytest.raises(ValueError, match=r"maps\.features\.%s.* exists" % fmt):
        kerascope.explain("vanilla_gradients", model, x, out=tmp_path / f"maps.{fmt}")


# -- memory ----------------------------------------------------------------------------------
MEMORY_CHILD = r'''
import json, resource
import keras
import numpy as np
import kerascope

SHAPE, BATCH = (64, 64, 3), 50


def peak():
    """Peak RSS of this process in bytes: VmHWM, the high-water mark of its own address
    space. (ru_maxrss would be the same here, but a child process starts with its
    parent's ru_maxrss on Linux, which the pytest process can exceed.)"""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


inputs = keras.Input(SHAPE)
h = keras.layers.Conv2D(2, 3, strides=4, activation="relu")(inputs)
h = keras.layers.GlobalAveragePooling2D()(h)
model = keras.Model(inputs, keras.layers.Dense(4)(h))


def batches(n):  # generated batch by batch: the inputs are never all in memory
    rng = np.random.default_rng(0)
    for start in range(0, n, BATCH):
        yield rng.normal(size=(min(BATCH, n - start),) + SHAPE).astype(np.float32)


def stream(n):
    rows = 0
    for outputs, maps in kerascope.explain_batches("vanilla_gradients", model, batches(n),
                                                   batch_size=BATCH, channel_reduction=None):
        assert maps.shape == (len(outputs),) + SHAPE
        rows += len(maps)
    assert rows == n


stream(200)
small = peak()
stream(2000)
large = peak()
outputs, maps = kerascope.explain("vanilla_gradients", model, batches(2000),
                                  batch_size=BATCH, channel_reduction=None)
collected = peak()
print("RESULT " + json.dumps({"small": small, "large": large, "collected": collected,
                              "maps_bytes": int(maps.nbytes)}))
'''


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM/ru_maxrss (Linux)")
def test_peak_memory_does_not_grow_with_the_number_of_inputs():
    """Acceptance: explain_batches over 2,000 inputs of 64x64x3 (maps kept per channel:
    98 MB in all) peaks within 300 MB of the same call over 200 inputs, indeed within a
    third of the maps' size; collecting the same maps with ``explain`` grows the peak by
    at least three quarters of their size, so accumulating them would have shown."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
        TF_CPP_MIN_LOG_LEVEL="3")
    env["KERAS_BACKEND"] = keras.backend.backend()
    done = subprocess.run([sys.executable, "-c", MEMORY_CHILD], capture_output=True, text=True,
                          env=env, timeout=600, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    found = json.loads(lines[-1][len("RESULT "):])
    maps_bytes = found["maps_bytes"]
    assert maps_bytes == 2000 * 64 * 64 * 3 * 4
    growth = found["large"] - found["small"]
    assert growth < 300 * 2**20, found
    assert growth < maps_bytes / 3, found
    assert found["collected"] - found["large"] > 0.75 * maps_bytes, found


# -- the command -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved 5-class CNN and four 8x8 PNG files."""
    folder = tmp_path_factory.mktemp("stream_cli")
    small_cnn(input_shape=(8, 8, 3), classes=5).save(folder / "model.keras")
    rng = np.random.default_rng(2)
    images = []
    for i in range(4):
        path = folder / f"image_{i}.png"
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
        images.append(path)
    return folder / "model.keras", images


def _run(args, capsys):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code, err, *needles):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("kerascope: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_streams_maps_equal_to_the_in_memory_run(saved, capsys, tmp_path, fmt):
    model_path, images = saved
    methods = ["-m", "vanilla_gradients", "-m", "integrated_gradients"]
    code, _, err = _run(["explain", model_path, *images, *methods, "--target", "top-2",
                         "--batch-size", "3", "--out", tmp_path / "memory", "--quiet"], capsys)
    assert code == 0, err
    code, stdout, err = _run(["explain", model_path, *images, *methods, "--target", "top-2",
                              "--batch-size", "3", "--out", tmp_path / "stream",
                              "--stream-maps", fmt], capsys)
    assert code == 0, err
    assert f"vanilla_gradients.{fmt}" in stdout
    stream = tmp_path / "stream"
    assert sorted(p.name for p in stream.iterdir()) == sorted(
        ["maps.npz", f"vanilla_gradients.{fmt}", f"integrated_gradients.{fmt}"])
    assert not list(tmp_path.glob(".kerascope-*"))
    with np.load(tmp_path / "memory" / "maps.npz") as memory, \
            np.load(stream / "maps.npz") as streamed:
        for key in ("files", "targets", "methods", "parameters"):
            np.testing.assert_array_equal(streamed[key], memory[key], err_msg=key)
        np.testing.assert_allclose(streamed["outputs"], memory["outputs"], rtol=1e-6)
        assert list(streamed["maps_files"]) == [f"vanilla_gradients.{fmt}",
                                                f"integrated_gradients.{fmt}"]
        for name in ("vanilla_gradients", "integrated_gradients"):
            if fmt == "npy":
                maps = np.load(stream / f"{name}.npy")
            else:
                import zarr

                maps = zarr.open_array(str(stream / f"{name}.zarr"), mode="r")[:]
            assert maps.shape == (4, 2, 8, 8)
            np.testing.assert_allclose(maps, memory[name], rtol=1e-5, atol=1e-7, err_msg=name)


def test_cli_stream_refuses_bad_input_in_one_line_and_writes_nothing(saved, capsys, tmp_path,
                                                                     monkeypatch):
    model_path, images = saved
    out = tmp_path / "out"
    # a method failing after another one's maps were streamed into the stage
    code, _, err = _run(["explain", model_path, *images, "-m", "vanilla_gradients",
                         "-m", "grad_cam", "--layer", "logits", "--stream-maps", "npy",
                         "--out", out], capsys)
    _one_line_error(code, err, "grad_cam")
    assert not out.exists() and not list(tmp_path.glob(".kerascope-*"))
    code, _, err = _run(["explain", model_path, *images, "--stream-maps", "hdf5",
                         "--out", out], capsys)
    _one_line_error(code, err, "--stream-maps")
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = _run(["explain", model_path, *images, "--stream-maps", "npy",
                         "--out", out], capsys)
    _one_line_error(code, err, "--out", "--force")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    monkeypatch.setattr(cli_explain.importlib_util, "find_spec",
                        lambda name, *a: None if name == "zarr" else importlib.util.find_spec(
                            name, *a))
    code, _, err = _run(["explain", model_path, *images, "--stream-maps", "zarr",
                         "--out", tmp_path / "z"], capsys)
    _one_line_error(code, err, "kerascope[zarr]")
    assert not (tmp_path / "z").exists()
