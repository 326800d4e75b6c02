"""Generate ``cam_reference.npz``: CAM maps of a fixed small CNN, for cross-backend tests.

The model's weights and inputs come from a seeded numpy generator (never from a
backend's RNG), so tensorflow, jax and torch build the same function; the test
``tests/test_cam.py::test_same_maps_on_every_backend`` recomputes every map on the
active backend and compares it with the stored one.

    KERAS_BACKEND=tensorflow python tests/data/make_cam_reference.py
"""

import pathlib

import keras
import numpy as np

PATH = pathlib.Path(__file__).resolve().parent / "cam_reference.npz"
TARGETS = np.array([0, 1, 2], dtype=np.int32)

# (key, method name, options): every CAM variant, several layers merged, raw map.
CASES = (
    ("grad_cam", "grad_cam", {"layer_name": "conv_b"}),
    ("grad_cam_plus_plus", "grad_cam_plus_plus", {"layer_name": "conv_b"}),
    ("xgrad_cam", "xgrad_cam", {"layer_name": "conv_b"}),
    ("hires_cam", "hires_cam", {"layer_name": "conv_b"}),
    ("layer_cam", "layer_cam", {"layer_name": "conv_b"}),
    ("eigen_cam", "eigen_cam", {"layer_name": "conv_b"}),
    ("score_cam", "score_cam", {"layer_name": "conv_b"}),
    ("grad_cam_merged", "grad_cam", {"layer_name": ["conv_a", "conv_b"]}),
    ("grad_cam_raw", "grad_cam", {"layer_name": "conv_b", "upsample": False}),
)


def build_model():
    """Conv(6) -> Conv(5, stride 2) -> Flatten -> Dense(3, softmax), numpy weights."""
    inputs = keras.Input((10, 8, 2))
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_a",
                            kernel_initializer="zeros")(inputs)
    h = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", name="conv_b",
                            kernel_initializer="zeros")(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="head",
                                 kernel_initializer="zeros")(h)
    model = keras.Model(inputs, outputs, name="cam_reference")
    rng = np.random.default_rng(24)
    weights = []
    for w in model.get_weights():
        if w.ndim == 1:
            weights.append((0.05 * rng.standard_normal(w.shape)).astype(np.float32))
        else:
            fan_in = int(np.prod(w.shape[:-1]))
            weights.append((rng.standard_normal(w.shape) / np.sqrt(fan_in)).astype(np.float32))
    model.set_weights(weights)
    return model


def inputs():
    return np.random.default_rng(7).uniform(0.0, 1.0, (3, 10, 8, 2)).astype(np.float32)


def normalized(maps):
    """Each map divided by its maximum |value| (how the maps are compared)."""
    maps = np.asarray(maps, dtype=np.float64)
    peak = np.abs(maps).reshape(len(maps), -1).max(axis=1).reshape((-1,) + (1,) * (maps.ndim - 1))
    return maps / np.where(peak > 0, peak, 1.0)


def compute(model=None):
    """``{key: normalized maps}`` of every case on the active backend."""
    import kerascope

    model = model or build_model()
    x = inputs()
    return {
        key: normalized(kerascope.explain(name, model, x, TARGETS, **options)[1])
        for key, name, options in CASES
    }


if __name__ == "__main__":
    maps = compute()
    np.savez_compressed(PATH, backend=keras.backend.backend(), **maps)
    print(f"wrote {PATH} ({keras.backend.backend()}): {sorted(maps)}")
