"""Fused expansions: rows made, passed and reduced on the device (kerascope.engine.expansion).

For SmoothGrad, VarGrad, SquareGrad, Integrated Gradients, occlusion and RISE:
the fused maps equal the unfused reference's (rows built and reduced around
separate host round trips, ``host_reductions()``), only the inputs go in and one
map per (input, target) comes out (the runner's byte counter), and the maps do not
depend on how the rows are split into device calls.
"""

import numpy as np
import pytest

import kerascope
from kerascope import backend
from kerascope.engine import runner
from kerascope.engine.expansion import host_reductions
from tests.models import small_cnn

SHAPE = (32, 32, 3)

CASES = {
    "smoothgrad": ("smoothgrad", {"num_samples": 12, "noise": 0.2, "seed": 4}, 1e-5),
    "vargrad": ("vargrad", {"num_samples": 12, "noise": 0.2, "seed": 4}, 1e-4),
    "squaregrad": ("squaregrad", {"num_samples": 12, "noise": 0.2, "seed": 4}, 1e-5),
    "ig": ("integrated_gradients", {"n_steps": 24}, 1e-5),
    "ig_blur": ("integrated_gradients", {"n_steps": 24, "baseline": "blur", "blur_sigma": 2.0},
                1e-5),
    "ig_uniform": ("integrated_gradients", {"n_steps": 24, "baseline": "uniform", "seed": 2},
                   1e-5),
    "occlusion": ("occlusion", {"patch_size": 8, "fill_value": 0.0}, 1e-5),
    # p(x) - p(occluded): probabilities ~0.3 whose last bits differ between the two
    # runs' batches, subtracted into a map ~1e-3: ~5e-5 of its maximum
    "occlusion_difference": ("occlusion", {"patch_size": 8, "stride": 4, "mode": "difference",
                                           "fill_value": "mean"}, 1e-4),
    "occlusion_patches": ("occlusion", {"patch_size": 8, "resolution": "patches"}, 1e-5),
    "rise": ("rise", {"num_masks": 48, "grid_size": 4, "seed": 3}, 1e-5),
    # centring subtracts two sums ~200x larger than the map: float32 scores that
    # differ in their last bit between the two runs move it by ~3e-5 of its maximum
    "rise_centred": ("rise", {"num_masks": 48, "grid_size": 4, "seed": 3, "center": True}, 1e-4),
}


@pytest.fixture(scope="module")
def model_and_inputs():
    model = small_cnn(input_shape=SHAPE, classes=4)
    # 12 inputs: every group of inputs (1 to 4 per device call here) is full
    x = np.random.default_rng(5).random((12,) + SHAPE).astype(np.float32)
    return model, x


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_equals_the_host_reference_and_moves_one_map(case, model_and_inputs):
    model, x = model_and_inputs
    method, options, rtol = CASES[case]
    with runner.count_traffic() as fused:
        outputs, maps = kerascope.explain(method, model, x, 2, batch_size=48, **options)
    with host_reductions(), runner.count_traffic() as host:
        reference_outputs, reference = kerascope.explain(method, model, x, 2, batch_size=48,
                                                         **options)
    np.testing.assert_allclose(outputs, reference_outputs, rtol=1e-6)
    scale = np.abs(reference).max()
    assert scale > 0
    np.testing.assert_allclose(maps, reference, rtol=rtol, atol=rtol * scale)
    # host<->device bytes per input within 2x of (input + map): the outputs pass
    # sends each input once, the fused pass once more, and one map comes back
    budget = 2 * (x[0].nbytes + maps[0].nbytes)
    assert fused.bytes_per_input(len(x)) <= budget, (fused, budget)
    # the unfused reference sends every expanded row and brings back its gradient
    assert host.bytes_per_input(len(x)) > 5 * fused.bytes_per_input(len(x))


@pytest.mark.parametrize("case", ["smoothgrad", "vargrad", "ig", "rise_centred", "occlusion"])
def test_maps_do_not_depend_on_how_rows_are_split(case, model_and_inputs):
    # batch_size 7 cuts each input's rows into several chunks, whose partial sums
    # (VarGrad: count, mean and squared deviations) are merged on the device
    model, x = model_and_inputs
    method, options, rtol = CASES[case]
    _, whole = kerascope.explain(method, model, x[:3], 1, batch_size=200, **options)
    _, chunked = kerascope.explain(method, model, x[:3], 1, batch_size=7, **options)
    np.testing.assert_allclose(chunked, whole, rtol=10 * rtol, atol=10 * rtol * np.abs(whole).max())


def test_an_input_draws_the_same_noise_in_any_batch(model_and_inputs):
    # draws are keyed by the input's index in the call: the maps of inputs 3..5
    # explained together with 0..2 equal those of the same inputs at indices 3..5
    model, x = model_and_inputs
    options = {"num_samples": 6, "seed": 9}
    _, together = kerascope.smoothgrad(model, x, 0, batch_size=12, **options)
    _, apart = kerascope.smoothgrad(model, x, 0, batch_size=6, **options)
    np.testing.assert_allclose(together, apart, rtol=1e-5, atol=1e-7)
    # another seed, other maps; no seed, fresh ones on every call
    _, other = kerascope.smoothgrad(model, x, 0, num_samples=6, seed=10)
    assert np.abs(other - together).max() > 1e-3 * np.abs(together).max()
    _, fresh1 = kerascope.smoothgrad(model, x[:2], 0, num_samples=6)
    _, fresh2 = kerascope.smoothgrad(model, x[:2], 0, num_samples=6)
    assert not np.allclose(fresh1, fresh2)


def test_smoothgrad_is_the_mean_gradient_at_its_noisy_copies(model_and_inputs):
    # an independent check of the fused map: the noisy rows the method states
    # (noisy_copies, built by the same counter-based noise) through plain gradients
    model, x = model_and_inputs
    method = kerascope.methods.get("smoothgrad", num_samples=5, noise=0.3, seed=1,
                                   channel_reduction=None)
    _, maps = method.explain(model, x[:2], 3, batch_size=64)
    rows = method.noisy_copies(x[:2])
    _, grads = kerascope.gradients(model, rows, 3, channel_reduction=None)
    expected = grads.reshape((2, 5) + SHAPE)
    np.testing.assert_allclose(maps, expected.mean(axis=1), rtol=1e-4, atol=1e-7)
    var = kerascope.methods.get("vargrad", num_samples=5, noise=0.3, seed=1,
                                channel_reduction=None)
    _, maps = var.explain(model, x[:2], 3, batch_size=3)
    np.testing.assert_allclose(maps, expected.var(axis=1), rtol=1e-3,
                               atol=1e-5 * expected.var(axis=1).max())


def test_fused_passes_compile_once_per_shape(model_and_inputs):
    model, x = model_and_inputs
    kerascope.smoothgrad(model, x, 0, num_samples=6, seed=0, batch_size=12)
    kerascope.smoothgrad(model, x[:5], 0, num_samples=6, seed=0, batch_size=12)
    before = backend.trace_count("fused")
    kerascope.smoothgrad(model, x, 1, num_samples=6, seed=5, batch_size=12)
    kerascope.smoothgrad(model, x[:5], 2, num_samples=6, seed=6, batch_size=12)
    # other targets and seeds reuse the compiled functions: one per group size (2
    # inputs per call here, and the short last group of 1), never recomputing padding
    # rows (PyTorch runs eagerly and traces nothing)
    assert backend.trace_count("fused") == before
