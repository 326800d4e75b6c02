"""Several devices of one machine, and the runner's host<->device byte counter.

The split-device checks need two devices before the framework starts (XLA_FLAGS on
JAX, logical CPU devices on TensorFlow), so they run ``tests/distribute_child.py`` in
a fresh process: maps and outputs must equal one device's (rtol 1e-5) for gradient,
path, noise, CAM and occlusion methods, with the distribution given as an argument,
set globally (JAX), as the active ``strategy.scope()`` or carried by a model built
under it (TensorFlow), and the rows must have been computed half on each device.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerascope
from kerascope import backend
from kerascope.engine import expansion, runner
from kerascope.engine.targets import UnitScore
from tests.models import small_cnn

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKEND = keras.backend.backend()


def _child(name):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "distribute_child.py"), name],
                          capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def _check_split(result, ways):
    assert result["devices"] == 2
    for way in ways:
        for method, found in result[way].items():
            label = f"{way}/{method}"
            assert found["maps"] <= 1e-5, label
            assert found["outputs"] <= 1e-5, label
            rows = found["rows_per_device"]
            assert sorted(rows) == ["cpu:0", "cpu:1"], (label, rows)
            assert rows["cpu:0"] == rows["cpu:1"] > 0, (label, rows)


@pytest.mark.skipif(BACKEND != "jax" or importlib.util.find_spec("jax") is None,
                    reason="the JAX DataParallel check runs in the jax backend's test run")
def test_jax_data_parallel_equals_one_device_and_splits_the_batch():
    _check_split(_child("jax"), ["argument", "global"])


@pytest.mark.skipif(BACKEND != "tensorflow" or importlib.util.find_spec("tensorflow") is None,
                    reason="the MirroredStrategy check runs in the tensorflow backend's test run")
def test_tensorflow_mirrored_strategy_equals_one_device_and_splits_the_batch():
    _check_split(_child("tensorflow"), ["argument", "scope", "model"])


def test_a_foreign_distribution_is_refused():
    model = small_cnn(input_shape=(8, 8, 3), classes=3)
    x = np.zeros((1, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="distribution"):
        kerascope.explain("vanilla_gradients", model, x, distribution="all the GPUs")


def test_one_device_by_default():
    model = small_cnn(input_shape=(8, 8, 3), classes=3)
    x = np.random.default_rng(0).random((3, 8, 8, 3)).astype(np.float32)
    with runner.count_traffic() as counted:
        kerascope.explain("vanilla_gradients", model, x)
    assert len(counted.rows_per_device) == 1
    assert sum(counted.rows_per_device.values()) == counted.rows >= 3


def test_byte_counter_counts_every_array_both_ways():
    model = small_cnn(input_shape=(8, 8, 3), classes=3)
    x = np.random.default_rng(0).random((5, 8, 8, 3)).astype(np.float32)
    targets = np.array([0, 1, 2, 0, 1], np.int32)
    passes = runner.PassRunner.for_model(model, UnitScore(rank=False), batch_size=4)
    before = runner.traffic()
    with runner.count_traffic() as outer:
        with runner.count_traffic() as inner:
            result = passes.backprop(x, targets)
        passes.forward(x[:2], targets[:2])
    # JAX pads the short last chunk (1 row) to the compiled size (4); others send 5 rows.
    rows = 8 if backend.pads_batches() else 5
    row_in = x[0].nbytes + targets[0].nbytes
    returned = [result.outputs, result.scores, result.units, result.input_grads]
    row_out = sum(a[0].nbytes for a in returned)
    assert (inner.calls, inner.rows) == (2, rows)
    assert inner.bytes_in == rows * row_in
    assert inner.bytes_out == rows * row_out
    assert inner.bytes_per_input(5) == rows * (row_in + row_out) / 5
    assert outer.calls == 3 and outer.bytes_in > inner.bytes_in
    total = runner.traffic()
    assert total.bytes_in - before.bytes_in == outer.bytes_in
    assert total.bytes_out - before.bytes_out == outer.bytes_out
    assert passes.calls == 3
    assert (passes.bytes_in, passes.bytes_out) == (outer.bytes_in, outer.bytes_out)


def test_explain_counts_bytes_per_input():
    model = small_cnn(input_shape=(8, 8, 3), classes=3)
    x = np.random.default_rng(1).random((4, 8, 8, 3)).astype(np.float32)
    with runner.count_traffic() as plain:
        kerascope.explain("vanilla_gradients", model, x, batch_size=4)
    with runner.count_traffic() as noisy:
        kerascope.explain("smoothgrad", model, x, batch_size=20, num_samples=5, seed=0)
    with expansion.host_reductions(), runner.count_traffic() as host:
        kerascope.explain("smoothgrad", model, x, batch_size=20, num_samples=5, seed=0)
    # one backprop row per input
    assert plain.bytes_in == 4 * (x[0].nbytes + 4)
    # SmoothGrad's 5 noisy rows per input are made and reduced on the device: the
    # inputs go in (for the outputs, then for the maps) and one map comes back ...
    assert noisy.bytes_in < 3 * plain.bytes_in
    assert noisy.bytes_out < 4 * (8 * 8 * 4 + 64)
    # ... where the unfused reference sends and brings back every noisy row
    assert host.bytes_in >= 5 * plain.bytes_in and host.bytes_out >= 5 * x.nbytes