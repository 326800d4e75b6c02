"""kerascope's metrics against Quantus 0.6 (Hedstroem et al. 2023, arXiv:2202.06861) on
the same Keras model (torch backend), the same maps and matched settings."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("Quantus wraps torch models: the comparison runs on the torch backend.",
                allow_module_level=True)
if not hasattr(np, "trapz"):  # Quantus 0.6 calls np.trapz, removed in numpy 2.4
    np.trapz = np.trapezoid
quantus = pytest.importorskip("quantus")

from kerascope import metrics  # noqa: E402

N, H = 6, 8


@pytest.fixture(scope="module")
def setup():
    keras.utils.set_random_seed(0)
    inp = keras.Input((1, H, H))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu",
                            data_format="channels_first")(inp)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(3, activation="softmax")(h)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(N, 1, H, H)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2])
    a = rng.normal(size=(N, 1, H, H)).astype("float32")
    s = np.zeros((N, 1, H, H), "float32")
    s[:, :, 2:6, 1:5] = 1
    return model, x, y, a, s


def run_quantus(metric, setup, **extra):
    model, x, y, a, s = setup
    model.eval()  # a Keras model under torch is a torch Module; Quantus wants eval mode
    return metric(model=model, x_batch=x, y_batch=y, a_batch=a, s_batch=s, device="cpu",
                  softmax=False, channel_first=True, batch_size=N, **extra)


def close(ours, theirs, rtol=1e-3):
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(theirs, float),
                               rtol=rtol, atol=1e-6)


def ours(name, setup, **options):
    model, x, y, a, _ = setup
    return metrics.get(name).fn(model, x, y, maps=a, **options)


# (kerascope metric, its options, Quantus metric, its options, what to compare)
CASES = {
    "selectivity": (dict(patch_size=2), quantus.Selectivity, dict(patch_size=2), "curves"),
    "region_perturbation": (dict(patch_size=2, regions_evaluation=10),
                            quantus.RegionPerturbation,
                            dict(patch_size=2, regions_evaluation=10), "curves"),
    "irof": (dict(baseline=0.0), quantus.IROF,
             dict(perturb_baseline=0.0, return_aggregate=False), "per_sample"),
    "faithfulness_estimate": (dict(features_in_step=4), quantus.FaithfulnessEstimate,
                              dict(features_in_step=4), "per_sample"),
    "monotonicity_correlation": (dict(features_in_step=4, nr_samples=1, baseline="black"),
                                 quantus.MonotonicityCorrelation,
                                 dict(features_in_step=4, nr_samples=1,
                                      perturb_baseline="black"), "per_sample"),
    "sensitivity_n": (dict(features_in_step=4), quantus.SensitivityN,
                      dict(features_in_step=4, return_aggregate=False), "per_n"),
    "infidelity": (dict(perturb_patch_sizes=(2,)), quantus.Infidelity,
                   dict(perturb_patch_sizes=[2], n_perturb_samples=1), "per_sample"),
    "completeness": (dict(normalise=False), quantus.Completeness, dict(normalise=False),
                     "per_sample"),
    "top_k_intersection": (dict(k=10), quantus.TopKIntersection, dict(k=10), "per_sample"),
    "relevance_rank_accuracy": ({}, quantus.RelevanceRankAccuracy, {}, "per_sample"),
    "pointing_game": (dict(ties="any"), quantus.PointingGame, {}, "per_sample"),
    "sparseness": ({}, quantus.Sparseness, {}, "per_sample"),
    "complexity": ({}, quantus.Complexity, {}, "per_sample"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_equal_to_quantus(setup, name):
    options, metric, q_options, what = CASES[name]
    if metrics.get(name).needs_masks:
        options = dict(options, masks=setup[4])
    result = ours(name, setup, **options)
    q_options = dict(dict(normalise=False, disable_warnings=True), **q_options)
    theirs = run_quantus(metric(**q_options), setup)
    if what == "curves":
        close(result.curves, np.asarray(theirs))
    elif what == "per_n":
        close(result.details["per_n"], np.asarray(theirs).reshape(-1))
    else:
        close(result.per_sample, np.asarray(theirs).reshape(-1))


def test_deletion_is_pixel_flipping_without_its_start(setup):
    """Quantus's PixelFlipping curve starts after the first step: kerascope's
    deletion curve without its unperturbed point, AUC ``trapz(dx=1)``."""
    step = 4
    result = ours("deletion", setup, baseline="black", steps=H * H // step)
    theirs = np.asarray(run_quantus(quantus.PixelFlipping(
        features_in_step=step, normalise=False, disable_warnings=True), setup))
    close(result.curves[:, 1:], theirs)
    close(metrics.perturbation.trapz(result.curves[:, 1:]),
          [np.trapezoid(row, dx=1) for row in theirs])


def test_relevance_mass_convention(setup):
    """Quantus divides by the total (signed) relevance; kerascope by the positive
    relevance: equal on non-negative maps."""
    model, x, y, a, s = setup
    positive = np.abs(a)
    model.eval()
    result = metrics.relevance_mass(model, x, y, maps=positive, masks=s)
    theirs = quantus.RelevanceMassAccuracy(normalise=False, disable_warnings=True)(
        model=model, x_batch=x, y_batch=y, a_batch=positive, s_batch=s, device="cpu",
        channel_first=True)
    close(result.per_sample, theirs)


def test_focus_on_mosaic_quadrants(setup):
    model, x, y, a, _ = setup
    quadrants = np.array([[1, 0, 0, 1], [0, 1, 1, 0]] * (N // 2))
    model.eval()
    result = metrics.focus(model, x, y, maps=a, quadrants=quadrants)
    theirs = quantus.Focus(normalise=False, disable_warnings=True)(
        model=model, x_batch=x, y_batch=y, a_batch=a, custom_batch=quadrants, device="cpu",
        channel_first=True)
    close(result.per_sample, theirs)
