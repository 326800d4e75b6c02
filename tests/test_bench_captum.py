"""bench/bench_captum.py's cells agree with Captum on a tiny CNN (torch backend, when
Captum is installed), so the benchmark cannot rot: same maps before any timing."""

import pathlib
import sys

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.skipif(keras.backend.backend() != "torch",
                    reason="Captum attributes the Keras model as a torch module")
def test_bench_captum_cells_give_captums_maps():
    pytest.importorskip("captum")
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_captum
    finally:
        sys.path.remove(str(ROOT / "bench"))
    n, side, window, rows = bench_captum.CONFIGS["tiny"]
    model, logits_model = bench_captum.models("tiny")
    x, targets = bench_captum.inputs("tiny")
    assert x.shape == (n, side, side, 3)
    errors = bench_captum.check(model, logits_model, x, targets, window, rows)
    assert set(errors) == {"saliency", "IG 50", "SmoothGrad 20", "occlusion"}
    assert all(error < 1e-4 for error in errors.values()), errors
