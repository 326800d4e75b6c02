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


def test_mu_fidelity_is_faithfulness_correlation_on_its_subsets(setup, monkeypatch):
    """Quantus's FaithfulnessCorrelation draws ``subset_size`` features per input and
    run (``np.random.choice``): the same subsets, recorded, go to kerascope's
    ``mu_fidelity(subsets=...)`` (per input); Pearson, black baseline."""
    model, x, y, a, _ = setup
    runs, size = 12, 16
    drawn = []
    choice = np.random.choice

    def record(*args, **kwargs):
        drawn.append(choice(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(np.random, "choice", record)
    theirs = run_quantus(quantus.FaithfulnessCorrelation(
        nr_runs=runs, subset_size=size, normalise=False, return_aggregate=False,
        disable_warnings=True), setup)
    monkeypatch.undo()
    assert len(drawn) == runs * N
    subsets = np.zeros((N, runs, H * H), bool)
    for index, features in enumerate(drawn):
        subsets[index % N, index // N, features] = True
    result = ours("mu_fidelity", setup, baseline="black",
                  subsets=subsets.reshape(N, runs, H, H))
    close(result.per_sample, theirs)


def _gradients(model, inputs, targets, **_):
    """An explanation both sides call: kerascope's input gradients, in x's shape."""
    import kerascope

    inputs = np.asarray(inputs, dtype="float32")
    _, maps = kerascope.explain("vanilla_gradients", model, inputs,
                                np.asarray(targets, dtype="int64"), batch_size=64)
    return np.asarray(maps, dtype="float32").reshape(inputs.shape)


@pytest.mark.parametrize("name, metric", [("max_sensitivity", "MaxSensitivity"),
                                          ("average_sensitivity", "AvgSensitivity")])
def test_sensitivity_on_the_same_noise(setup, name, metric):
    """Max/Avg-Sensitivity: Quantus perturbs with ``np.random.uniform(-r, r)`` each
    sample step; a perturb_func hands it the noise kerascope draws for ``seed``
    (one block of ``N x samples`` rows: ``default_rng(seed).uniform(-r, r, (N, S, ...))``).
    Both divide ``||map(x + noise) - map(x)||`` by ``||map(x)||``; max or mean."""
    model, x, y, _, _ = setup
    samples, radius, seed = 4, 0.1, 3
    maps = _gradients(model, x, y)
    noise = np.random.default_rng(seed).uniform(-radius, radius,
                                                size=(N, samples) + x.shape[1:])
    step = iter(range(samples))

    def perturb(arr, indices, **_):
        return arr + noise[:, next(step)].reshape(len(arr), -1)

    model.eval()
    theirs = getattr(quantus, metric)(
        nr_samples=samples, perturb_func=perturb, normalise=False, disable_warnings=True)(
        model=model, x_batch=x, y_batch=y, a_batch=maps, device="cpu", channel_first=True,
        explain_func=_gradients)
    result = metrics.get(name).fn(model, x, y, maps=maps, method=_gradients, radius=radius,
                                  num_samples=samples, seed=seed, batch_size=N * samples)
    close(result.per_sample, theirs)


def test_random_logit_on_the_same_classes(setup, monkeypatch):
    """RandomLogit: kerascope's random other classes (``details["random_units"]``)
    are handed to Quantus's ``np.random.randint`` draw (an index among the other
    classes); with Quantus's similarity the signed Spearman correlation,
    kerascope's ``spearman`` measure of the "random other class" step."""
    from kerascope.metrics import randomization

    model, x, y, _, _ = setup
    result = randomization.random_logit(model, x, y, method=_gradients,
                                        measures=("spearman",), seed=5)
    other = result.details["random_units"]
    index = other - (other > y)
    monkeypatch.setattr(np.random, "randint", lambda *args, **kwargs: index.copy())
    model.eval()
    theirs = quantus.RandomLogit(
        num_classes=3, similarity_func=quantus.similarity_func.correlation_spearman,
        normalise=False, disable_warnings=True)(
        model=model, x_batch=x, y_batch=y, a_batch=result.maps[0].reshape(x.shape),
        device="cpu", channel_first=True, explain_func=_gradients)
    monkeypatch.undo()
    close(result.scores["spearman"][1], theirs)


def test_road_is_the_accuracy_of_kerascope_road_rows(setup):
    """Quantus's ROAD reports, per percentage, the share of inputs whose *predicted
    class* stays ``y`` after noisy linear imputation of the top features; kerascope's
    road the *target score*. Aligned (no noise; percentages whose feature counts
    are whole, 25/50/75 % of 64): the imputed rows are equal, and the predicted
    class of kerascope's rows (argmax over the classes' road curves) gives Quantus's
    accuracies (the labels: the model's classes of centred inputs, which vary)."""
    from quantus.functions.perturb_func import noisy_linear_imputation

    model, _, _, a, _ = setup
    # centred inputs, labelled with the model's classes: they vary, and flip on removal
    x = np.random.default_rng(1).normal(size=(N, 1, H, H)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x)).argmax(axis=1)
    fractions = (0.25, 0.5, 0.75)
    flat = a.reshape(N, -1)
    order = np.argsort(-flat, axis=1, kind="stable")
    layout = metrics.base.Layout(x.shape[1:], 1)
    for i in range(N):
        count = int(fractions[1] * H * H)
        removed = np.zeros(H * H, bool)
        removed[order[i, :count]] = True
        ours_row = metrics.noisy_linear_impute(layout.to_fc(x[i:i + 1])[0], removed, (H, H),
                                               noise=0.0)
        theirs_row = noisy_linear_imputation(arr=x[i], indices=order[i, :count], noise=0.0)
        close(ours_row.reshape(-1), np.asarray(theirs_row).reshape(-1))
    curves = np.stack([metrics.road(model, x, np.full(N, c), maps=a, fractions=fractions,
                                    noise=0.0).curves for c in range(3)])
    accuracy = (curves.argmax(axis=0) == y[:, None]).mean(axis=0)
    model.eval()
    theirs = quantus.ROAD(percentages=[25, 50, 75], noise=0.0, normalise=False,
                          disable_warnings=True)(
        model=model, x_batch=x, y_batch=y, a_batch=a, device="cpu", channel_first=True)
    assert 0 < accuracy.min() < 1
    close(accuracy, [theirs[p] for p in (25, 50, 75)])
