"""Metrics and sanity-check callbacks: TensorBoard scalars per logged epoch, training
unchanged, the user's model untouched, failures reported."""

import keras
import numpy as np
import pytest

from kerascope.callbacks import MetricsCallback, SanityCheckCallback
from kerascope.callbacks.summary import SummaryWriter, read_images, read_scalars


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(np.int64)
    return x, y


def model_for_training():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dropout(0.2)(h)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    return model


def fit(callbacks, epochs=3):
    model = model_for_training()
    x, y = data()
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks)
    return model


def test_scalar_summaries_round_trip(tmp_path):
    with SummaryWriter(tmp_path / "a", use_tensorflow=False) as writer:
        writer.scalar("x/y", 0.25, step=3)
        writer.scalar("x/y", np.float32(0.5), step=4)
    with SummaryWriter(tmp_path / "b") as writer:  # tf.summary on TensorFlow
        writer.scalar("z", 1.5, step=0)
    assert read_scalars(tmp_path / "a") == {"x/y": [(3, 0.25), (4, 0.5)]}
    assert read_scalars(tmp_path / "b") == {"z": [(0, 1.5)]}


def test_metrics_callback_writes_one_scalar_per_metric_per_logged_epoch(tmp_path):
    x_val, y_val = data(6, seed=1)
    callback = MetricsCallback(
        (x_val, y_val), metrics=["deletion", "insertion", "mu_fidelity", "sparseness"],
        method=["vanilla_gradients", "gradients_inputs"], output_dir=tmp_path,
        every_n_epochs=2, metric_options={"mu_fidelity": {"num_subsets": 12, "grid_size": 4},
                                          "deletion": {"steps": 4}, "insertion": {"steps": 4}},
        strict=True)
    fit([callback], epochs=4)
    scalars = read_scalars(callback.output_dir)
    expected = {f"{metric}/{method}"
                for metric in ("deletion", "insertion", "mu_fidelity", "sparseness")
                for method in ("vanilla_gradients", "gradients_inputs")}
    assert set(scalars) == expected
    for tag, events in scalars.items():
        assert [step for step, _ in events] == [0, 2], tag
        logged = [entry[tag] for entry in callback.history]
        np.testing.assert_allclose([value for _, value in events], logged, rtol=1e-6)
    images = read_images(callback.output_dir)
    assert set(images) == {f"{metric}_curve/{method}" for metric in ("deletion", "insertion")
                           for method in ("vanilla_gradients", "gradients_inputs")}
    assert [step for step, _ in images["deletion_curve/vanilla_gradients"]] == [0, 2]
    assert callback.failures == [] and len(callback.rows) == 8


def test_metrics_callback_does_not_change_training(tmp_path):
    x_val, y_val = data(4, seed=2)
    plain = fit([])
    watched = fit([MetricsCallback((x_val, y_val), metrics=["deletion", "mu_fidelity"],
                                   output_dir=tmp_path, strict=True,
                                   metric_options={"mu_fidelity": {"num_subsets": 8}})])
    for a, b in zip(plain.get_weights(), watched.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_sanity_check_callback_runs_at_the_end(tmp_path):
    x_val, y_val = data(4, seed=3)
    callback = SanityCheckCallback((x_val, y_val), output_dir=tmp_path,
                                   measures=("spearman_abs", "ssim"), threshold=None, strict=True)
    model = fit([callback], epochs=2)
    before = [w.copy() for w in model.get_weights()]
    result = callback.result
    assert result is not None and result.steps == ["original", "head", "conv"]
    scalars = read_scalars(callback.output_dir)
    assert set(scalars) == {"sanity/spearman_abs", "sanity/ssim"}
    assert [step for step, _ in scalars["sanity/spearman_abs"]] == [0, 1, 2]
    assert scalars["sanity/spearman_abs"][0][1] == 1.0
    assert set(read_images(callback.output_dir)) == {"sanity/figure", "sanity/maps"}
    # The check ran on a copy: the trained model is what fit left.
    callback.check(model)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, model.get_weights()))


def test_sanity_check_callback_warns_for_a_model_independent_map(tmp_path):
    from kerascope.metrics.randomization import edge_map

    x_val, y_val = data(3, seed=4)
    callback = SanityCheckCallback((x_val, y_val), method=edge_map, output_dir=tmp_path,
                                   measures=("spearman_abs",))
    with pytest.warns(UserWarning, match="may not explain the model"):
        fit([callback], epochs=1)
    assert callback.result.final("spearman_abs") == 1.0


def test_failures_warn_or_raise(tmp_path):
    x_val, y_val = data(3, seed=5)
    broken = lambda model, x, targets: np.ones((len(x), 2))  # noqa: E731 - wrong shape
    callback = MetricsCallback((x_val, y_val), metrics=["deletion"], method=broken,
                               output_dir=tmp_path)
    with pytest.warns(RuntimeWarning, match="after epoch 0 failed"):
        fit([callback], epochs=1)
    assert len(callback.failures) == 1
    strict = MetricsCallback((x_val, y_val), metrics=["deletion"], method=broken,
                             output_dir=tmp_path, strict=True)
    with pytest.raises(ValueError, match="method"):
        fit([strict], epochs=1)


def test_bad_arguments(tmp_path):
    x_val, y_val = data(3)
    with pytest.raises(ValueError, match="metrics: unknown metric"):
        MetricsCallback((x_val, y_val), metrics=["accuracy"])
    with pytest.raises(ValueError, match="masks"):
        MetricsCallback((x_val, y_val), metrics=["pointing_game"])
    with pytest.raises(ValueError, match="every_n_epochs"):
        MetricsCallback((x_val, y_val), every_n_epochs=0)
    with pytest.raises(ValueError, match="validation_data"):
        MetricsCallback((x_val, y_val[:2]))
    with pytest.raises(ValueError, match="measures"):
        SanityCheckCallback((x_val, y_val), measures=("nope",))
