"""bench/gpu.py --tiny runs (a tiny CNN on CPU), so the GPU benchmark cannot rot.

Its Keras side is Keras+JAX: the test runs in the jax backend's test run, with this
interpreter as the Keras side's Python. The Captum side runs in the torch environment
beside it (``.venv-torch``) when that has captum, else it must say why it was skipped.
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
METHODS = {"saliency", "integrated_gradients", "smoothgrad", "occlusion"}


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="bench/gpu.py's Keras side is Keras+JAX: it runs in the jax "
                           "backend's test run")
def test_gpu_bench_tiny_runs_and_reports_devices(tmp_path):
    out = tmp_path / "gpu.json"
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu.py"), "--tiny", "--keras-python",
         sys.executable, "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["config"]["model"] == "tiny_cnn"

    ours = result["kerascope"]
    assert set(ours["images_per_second"]) == METHODS
    assert all(rate > 0 for rate in ours["images_per_second"].values())
    assert ours["device"].startswith("cpu")
    assert f"device {ours['device']}" in done.stdout

    theirs = result["captum"]
    if "skipped" in theirs:
        assert "captum" in theirs["skipped"] and "skipped" in done.stdout
    else:
        assert set(theirs["images_per_second"]) == METHODS
        assert all(rate > 0 for rate in theirs["images_per_second"].values())
        assert f"device {theirs['device']}" in done.stdout
    for method in METHODS:
        assert method in done.stdout
