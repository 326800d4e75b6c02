"""One way to add a method: a method defined here, registered by its class, runs
through ``kerascope.explain``, its shortcut, a callback and the CLI; and the
registry, context and driver contracts every method relies on."""

import keras
import numpy as np
import pytest

import kerascope
from kerascope import methods
from kerascope.methods.base import Method
from tests.models import small_cnn


class SquaredSaliency(Method):
    """A test method: ``(dS_c/dx)^2`` summed over channels."""

    name = "squared_saliency_test"
    aliases = ("sq_saliency_test",)
    family = "gradients"
    summary = "Squared input gradient (a method defined in the test suite)."
    paper = "none (test)"
    evaluates_inputs = True
    channel_reduction = "sum"

    def __init__(self, power=2):
        self.power = power

    def attribute(self, ctx, x, row_targets):
        passes = ctx.backprop(x, row_targets)
        return passes.input_grads ** self.power, passes


class GuidedTimesVanilla(Method):
    """A composite test method: guided backprop times the plain gradient via ``ctx.run``."""

    name = "guided_times_vanilla_test"
    family = "guided"
    summary = "Composite test method."
    evaluates_inputs = True
    channel_reduction = "sum"

    def __init__(self):
        self._guided = methods.GuidedBackprop(channel_reduction=None)

    def attribute(self, ctx, x, row_targets):
        guided = ctx.run(self._guided, x, row_targets)
        plain = ctx.run("vanilla_gradients", x, row_targets, postprocess=False)
        return guided * plain


def _expected(model, x, targets):
    grads = kerascope.gradients(model, x, targets, channel_reduction=None)[1]
    return (grads ** 2).sum(axis=-1)


def test_a_registered_method_runs_through_explain_and_its_shortcut(rng):
    model = small_cnn()
    x = rng.random((5, 12, 12, 3)).astype(np.float32)
    expected = _expected(model, x, 2)
    _, maps = kerascope.explain("squared_saliency_test", model, x, 2, batch_size=3)
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-9)
    _, by_alias = kerascope.explain("sq_saliency_test", model, x, 2)
    np.testing.assert_allclose(by_alias, expected, rtol=1e-5, atol=1e-9)
    outputs, short = kerascope.squared_saliency_test(model, x, 2)
    np.testing.assert_allclose(short, expected, rtol=1e-5, atol=1e-9)
    assert outputs.shape == (5, 5)
    _, cubed = kerascope.squared_saliency_test(model, x, 2, power=3)
    assert not np.allclose(cubed, maps)
    info = {entry.name: entry for entry in methods.catalog()}["squared_saliency_test"]
    assert info.cls is SquaredSaliency and info.family == "gradients"
    assert info.summary.startswith("Squared input gradient")
    with pytest.raises(ValueError, match="power2"):
        kerascope.explain("squared_saliency_test", model, x, 2, power2=3)


def test_a_registered_method_runs_in_a_callback(rng, tmp_path):
    from kerascope.callbacks import MethodCallback
    from kerascope.callbacks.summary import read_images

    model = small_cnn()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = rng.random((6, 12, 12, 3)).astype(np.float32)
    y = np.arange(6) % 5
    callback = MethodCallback((x[:2], None), "squared_saliency_test", class_index=1,
                              output_dir=tmp_path)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])
    images = read_images(callback.output_dir)
    assert list(images) == ["squared_saliency_test"]
    assert [step for step, _ in images["squared_saliency_test"]] == [0, 1]
    assert not callback.failures


def test_the_cli_lists_and_runs_a_registered_method(rng, tmp_path):
    from kerascope import cli

    model = small_cnn(input_shape=(12, 12, 1))
    path = tmp_path / "model.keras"
    model.save(path)
    x = rng.random((3, 12, 12, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    code = cli.main(["explain", str(path), str(tmp_path / "x.npy"), "-m",
                     "squared_saliency_test", "--target", "1", "--out", str(out), "--quiet"])
    assert code == 0
    with np.load(out / "maps.npz") as archive:
        np.testing.assert_allclose(archive["squared_saliency_test"], _expected(model, x, 1),
                                   rtol=1e-5, atol=1e-9)


def test_context_run_composes_methods_on_the_same_rows(rng):
    model = small_cnn(activation="relu")
    x = rng.random((4, 12, 12, 3)).astype(np.float32)
    _, maps = kerascope.explain("guided_times_vanilla_test", model, x, kerascope.top_k(2))
    guided = kerascope.guided_backprop(model, x, kerascope.top_k(2), channel_reduction=None)[1]
    plain = kerascope.gradients(model, x, kerascope.top_k(2), channel_reduction=None)[1]
    np.testing.assert_allclose(maps, (guided * plain).sum(axis=-1), rtol=1e-5, atol=1e-9)


def test_methods_keep_no_per_call_state(rng):
    model = small_cnn()
    x = rng.random((3, 12, 12, 3)).astype(np.float32)
    constructed = {  # options that keep the run small, or that a method needs
        "rise": {"num_masks": 8, "grid_size": 3, "seed": 0},
        "expected_gradients": {"references": x[:2], "num_samples": 4, "seed": 0},
        "kernel_shap": {"num_samples": 16, "seed": 0},
        "lime": {"num_samples": 16, "seed": 0},
    }
    inputs = keras.Input((12, 12, 3))  # CAM needs a global-average-pooling -> Dense head
    features = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    gap_cnn = keras.Model(inputs, keras.layers.Dense(5)(
        keras.layers.GlobalAveragePooling2D()(features)))
    for name in methods.names():
        if methods.lookup(name).family == "attention":
            continue  # they explain transformers: tests/test_attention.py checks them
        method = methods.get(name, **constructed.get(name, {}))
        before = {k: repr(v) for k, v in vars(method).items()}
        options = {"rise": {"batch_size": 64}}.get(name, {})
        method.explain(gap_cnn if name == "cam" else model, x, 1, **options)
        after = {k: repr(v) for k, v in vars(method).items()}
        assert before == after, name


def test_no_method_overrides_explain():
    for info in methods.catalog():
        for klass in info.cls.__mro__:
            if klass is Method:
                break
            assert "explain" not in vars(klass), f"{klass.__name__} overrides explain"


def test_one_function_surface():
    for name in methods.names():
        assert getattr(kerascope, name).__name__ == name
        assert not callable(getattr(methods, name, None)) or isinstance(
            getattr(methods, name), type), f"kerascope.methods.{name} is a second function"


def test_catalog_has_a_paper_and_summary_for_every_builtin():
    for info in methods.catalog():
        if info.cls.__module__.startswith("kerascope."):
            assert info.summary and info.paper and info.family != "other", info.name


def test_unknown_method_suggests_close_names():
    with pytest.raises(ValueError, match="grad_cam"):
        methods.get("grad_cma")


def test_options_of_a_configured_instance_are_refused():
    with pytest.raises(ValueError, match="constructor"):
        methods.get(methods.SmoothGrad(), num_samples=3)


def test_eigen_cam_sign_does_not_depend_on_rounding():
    # The same activations up to float32 rounding noise (what two backends return)
    # must give the same centred Eigen-CAM, not a sign-flipped one.
    from kerascope.methods.cam import eigen_cam_map

    rng = np.random.default_rng(0)
    a = np.maximum(rng.standard_normal((64, 6, 6, 8)), 0).astype(np.float32)
    jitter = (a * (1 + 1e-6 * rng.standard_normal(a.shape))).astype(np.float32)
    first = eigen_cam_map(a, relu=False, center=True)
    second = eigen_cam_map(jitter, relu=False, center=True)
    np.testing.assert_allclose(first, second, atol=1e-4)
    permutation = rng.permutation(len(a))
    np.testing.assert_allclose(eigen_cam_map(a[permutation], relu=False, center=True),
                               first[permutation], atol=1e-6)


def test_a_short_first_batch_does_not_cap_later_calls(rng, monkeypatch):
    from kerascope import backend
    from kerascope.engine import runner as runner_lib
    from kerascope.engine.targets import UnitScore

    rows_per_call = []
    compiled = backend.compiled

    def counting(*args, **kwargs):
        fn = compiled(*args, **kwargs)

        def call(x, targets):
            rows_per_call.append(int(x.shape[0]))
            return fn(x, targets)

        return call

    monkeypatch.setattr(runner_lib.backend, "compiled", counting)
    runner = runner_lib.PassRunner.for_model(small_cnn(), UnitScore(rank=False), batch_size=16)
    x = rng.random((40, 12, 12, 3)).astype(np.float32)
    first = runner.forward(x[:3], np.zeros(3, np.int32))
    rows_per_call.clear()
    result = runner.forward(x, np.zeros(40, np.int32))
    # 40 rows at batch_size 16 are three device calls, not fourteen calls of 3 rows.
    assert len(rows_per_call) == 3, rows_per_call
    assert rows_per_call[:2] == [16, 16]
    assert result.outputs.shape == (40, 5)
    np.testing.assert_allclose(result.outputs[:3], first.outputs, rtol=1e-5)
