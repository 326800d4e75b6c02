"""Record xplique's Deletion, Insertion and MuFidelity on the demo digits CNN.

Writes ``tests/data/xplique_reference.npz`` read by ``tests/test_metrics.py``, which
checks that kerascope's metrics give the same values on every backend.

xplique is not a kerascope dependency; run this in a separate environment::

    python3 -m venv /tmp/xq
    /tmp/xq/bin/pip install "tensorflow-cpu>=2.18,<=2.20" deprecated einops matplotlib \
        "scikit-image<=0.25.2" "scikit-learn<=1.7.2" "scipy<=1.15.3" opencv-python-headless \
        dm-tree cloudpickle decorator
    /tmp/xq/bin/pip install --no-deps xplique==2.0.2 "tensorflow-probability<=0.25" tf-keras
    KERAS_BACKEND=tensorflow /tmp/xq/bin/python tests/data/make_xplique_reference.py

(``--no-deps`` because xplique requires ``tensorflow[and-cuda]`` on Linux.)

What is stored: the model's weights (the architecture is rebuilt by the test), the
10 bundled demo samples and labels, the maps (xplique's Saliency, plus a tiny
deterministic tie-breaker so that the feature order is unique), xplique's deletion
and insertion curves and AUCs for two settings, and MuFidelity's score with the
exact subsets it drew (captured from ``MuFidelity._perturb_samples``).
"""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import xplique  # noqa: E402
from xplique.attributions import Saliency  # noqa: E402
from xplique.metrics import Deletion, Insertion, MuFidelity  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = HERE / "xplique_reference.npz"

CAUSAL_SETTINGS = [  # (steps, max_percentage_perturbed, baseline)
    (10, 1.0, 0.0),
    (20, 0.5, 0.5),
]
MUF_SAMPLES = 100


def digits_cnn():
    """The architecture of kerascope/demo/digits_cnn.keras (rebuilt by the test)."""
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 3, activation="relu", name="conv_1")(inputs)
    h = keras.layers.Conv2D(32, 3, activation="relu", name="conv_2")(h)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Conv2D(32, 3, activation="relu", name="last_conv")(h)
    h = keras.layers.MaxPooling2D(name="pool_2")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(32, activation="relu", name="dense")(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(h)
    return keras.Model(inputs, outputs, name="digits_cnn")


def main():
    trained = keras.saving.load_model(str(ROOT / "kerascope" / "demo" / "digits_cnn.keras"),
                                      compile=False)
    model = digits_cnn()
    model.set_weights(trained.get_weights())
    with np.load(ROOT / "kerascope" / "demo" / "digits_samples.npz") as data:
        x = np.asarray(data["images"], dtype=np.float32)
        labels = np.asarray(data["labels"], dtype=np.int64)
    assert np.allclose(model.predict(x, verbose=0), trained.predict(x, verbose=0), atol=1e-6)
    onehot = np.eye(10, dtype=np.float32)[labels]

    maps = np.asarray(Saliency(model).explain(x, onehot), dtype=np.float64)
    maps = maps.reshape(len(x), 28, 28)
    # A unique order of the features: ties (zero gradients) broken by a tiny ramp.
    ramp = np.linspace(0.0, 1.0, 28 * 28).reshape(28, 28)[::-1]
    maps = (maps + 1e-6 * maps.max() * ramp).astype(np.float32)
    for row in maps.reshape(len(x), -1):
        assert len(np.unique(row)) == row.size, "ties left in the maps"

    record = {
        "x": x, "labels": labels, "maps": maps, "xplique_version": np.array(xplique.__version__),
        "tensorflow_version": np.array(tf.__version__),
        "num_weights": np.array(len(model.get_weights())),
    }
    for index, weight in enumerate(model.get_weights()):
        record[f"weight_{index}"] = weight

    for index, (steps, fraction, baseline) in enumerate(CAUSAL_SETTINGS):
        for name, cls in (("deletion", Deletion), ("insertion", Insertion)):
            metric = cls(model, x, onehot, batch_size=32, baseline_mode=baseline, steps=steps,
                         max_percentage_perturbed=fraction)
            record[f"{name}_{index}_auc"] = np.array(metric.evaluate(maps))
            curve = metric.detailed_evaluate(maps)
            record[f"{name}_{index}_counts"] = np.array(list(curve.keys()))
            record[f"{name}_{index}_curve"] = np.array(list(curve.values()))
        record[f"causal_{index}_settings"] = np.array([steps, fraction, baseline])

    tf.random.set_seed(0)
    metric = MuFidelity(model, x, onehot, batch_size=len(x) * MUF_SAMPLES, grid_size=9,
                        subset_percent=0.2, baseline_mode=0.0, nb_samples=MUF_SAMPLES)
    drawn = []
    original = metric._perturb_samples

    def recording(inputs, nb_perturbations):
        perturbed, masks = original(inputs, nb_perturbations)
        drawn.append(np.asarray(masks))
        return perturbed, masks

    metric._perturb_samples = recording
    record["mu_fidelity"] = np.array(metric.evaluate(maps))
    assert len(drawn) == 1, "expected one draw of subsets for all inputs"
    kept = drawn[0][..., 0]  # (N, S, 28, 28), 1 = kept
    assert all(np.array_equal(kept[0], k) for k in kept), "subsets differ between inputs"
    record["mu_fidelity_removed"] = kept[0] == 0  # (S, 28, 28) True = set to baseline
    np.savez_compressed(OUT, **record)
    print(f"wrote {OUT}")
    for key in sorted(record):
        if key.endswith("auc") or key == "mu_fidelity":
            print(f"  {key}: {float(record[key]):.6f}")


if __name__ == "__main__":
    main()
