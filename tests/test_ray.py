"""kerascope.ray.explain_dataset on a local Ray (2 CPUs, 2 actors).

Skipped where Ray Data is not installed (the ``ray`` extra: ``pip install
"kerascope[ray]"``). Each ``explain_dataset`` run starts an actor pool (seconds), so
the runs are few and small.
"""

import os
import pathlib

import keras
import numpy as np
import pytest

ray = pytest.importorskip(
    "ray", reason='Ray Data is not installed (pip install "kerascope[ray]")')
pytest.importorskip("ray.data", reason='Ray Data is not installed (pip install "kerascope[ray]")')

import kerascope  # noqa: E402
import kerascope.ray  # noqa: E402
from tests.models import small_cnn  # noqa: E402

SHAPE = (8, 8, 3)


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 object_store_memory=100 * 2**20)
    # Start the whole pool before the first batch, so that both actors take part
    # (by default the first actor up may explain everything before the second starts).
    context = ray.data.DataContext.get_current()
    waited = context.wait_for_min_actors_s
    context.wait_for_min_actors_s = 600
    yield ray
    context.wait_for_min_actors_s = waited
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray_model")
    model = small_cnn(input_shape=SHAPE, classes=4)
    path = folder / "model.keras"
    model.save(path)
    return model, path


def _images(folder, n, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = (rng.random((n,) + SHAPE) * 255).astype(np.uint8)
    paths = []
    for i, image in enumerate(pixels):
        path = folder / f"img{i:02d}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    return paths, pixels.astype(np.float32) / 255.0


def test_64_files_two_actors_one_corrupt(local_ray, saved_model, tmp_path):
    model, path = saved_model
    paths, x = _images(tmp_path, 64)
    corrupt = paths[13]
    pathlib.Path(corrupt).write_bytes(b"not an image")
    loads = tmp_path / "loads.txt"

    def build():  # runs in the actors: one line per model load
        with open(loads, "a") as log:
            log.write(f"{os.getpid()}\n")
        return keras.saving.load_model(path)

    ds = ray.data.from_items([{"path": p} for p in paths])
    result = kerascope.ray.explain_dataset(ds, build, "integrated_gradients", n_steps=4,
                                           batch_size=8, concurrency=2)
    rows = {row["id"]: row for row in result.take_all()}

    assert sorted(rows) == sorted(paths)
    failed = [row for row in rows.values() if row["error"]]
    assert len(failed) == 1 and corrupt in failed[0]["error"]
    assert np.all(np.isnan(failed[0]["maps"])) and np.all(failed[0]["targets"] == -1)

    good = [i for i, p in enumerate(paths) if p != corrupt]
    outputs, maps = kerascope.explain("integrated_gradients", model, x[good], n_steps=4)
    got = np.stack([rows[paths[i]]["maps"] for i in good])
    np.testing.assert_allclose(got, maps, rtol=1e-5, atol=1e-6 * np.abs(maps).max())
    np.testing.assert_allclose(np.stack([rows[paths[i]]["outputs"] for i in good]), outputs,
                               rtol=1e-5, atol=1e-7)
    assert [int(rows[paths[i]]["targets"]) for i in good] == list(np.argmax(outputs, axis=1))

    pids = loads.read_text().split()
    assert len(pids) == 2 and len(set(pids)) == 2  # two actors, one load each


def test_array_rows_wrong_shape_and_top_k(local_ray, saved_model):
    model, _ = saved_model
    rng = np.random.default_rng(1)
    x = rng.random((6,) + SHAPE).astype(np.float32)
    items = [{"id": f"sample-{i}", "image": x[i]} for i in range(6)]
    items[4] = {"id": "sample-4", "image": rng.random((6, 6, 3)).astype(np.float32)}
    ds = ray.data.from_items(items)
    result = kerascope.ray.explain_dataset(ds, model, "vanilla_gradients",
                                           kerascope.top_k(2), batch_size=3, concurrency=1)
    rows = {row["id"]: row for row in result.take_all()}

    assert "sample-4" in rows["sample-4"]["error"] and "shape" in rows["sample-4"]["error"]
    good = [0, 1, 2, 3, 5]
    outputs, maps = kerascope.explain("vanilla_gradients", model, x[good], kerascope.top_k(2))
    got = np.stack([rows[f"sample-{i}"]["maps"] for i in good])
    np.testing.assert_allclose(got, maps, rtol=1e-5, atol=1e-6 * np.abs(maps).max())
    order = np.argsort(-outputs, axis=1)[:, :2]
    np.testing.assert_array_equal(np.stack([rows[f"sample-{i}"]["targets"] for i in good]),
                                  order)
    assert all(rows[f"sample-{i}"]["error"] == "" for i in good)


def test_strict_mode_stops_at_a_bad_row(local_ray, saved_model):
    model, path = saved_model
    items = [{"id": "fine", "image": np.zeros(SHAPE, np.float32)},
             {"id": "broken", "image": np.full(SHAPE, np.nan, np.float32)}]
    ds = ray.data.from_items(items)
    result = kerascope.ray.explain_dataset(ds, str(path), "vanilla_gradients", strict=True,
                                           batch_size=2, concurrency=1)
    with pytest.raises(Exception, match="broken"):
        result.take_all()


def test_arguments_are_checked_before_the_job(local_ray, saved_model):
    model, path = saved_model
    ds = ray.data.from_items([{"pixels": np.zeros(SHAPE, np.float32)}])
    with pytest.raises(ValueError, match="column"):
        kerascope.ray.explain_dataset(ds, model, "vanilla_gradients")
    with pytest.raises(ValueError, match="concurrency"):
        kerascope.ray.explain_dataset(ds, model, "vanilla_gradients", column="pixels",
                                      concurrency=0)
    with pytest.raises(ValueError, match="model"):
        kerascope.ray.explain_dataset(ds, str(path.with_suffix(".h5")), "vanilla_gradients",
                                      column="pixels")
    with pytest.raises(ValueError, match="model"):
        kerascope.ray.explain_dataset(ds, 42, "vanilla_gradients", column="pixels")
    with pytest.raises(ValueError, match="ds"):
        kerascope.ray.explain_dataset([1, 2], model, "vanilla_gradients")
