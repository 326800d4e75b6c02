"""Writes gradients_reference.npz: maps of a fixed-weight CNN for the cross-backend test.

Run once on any backend (``KERAS_BACKEND=jax python tests/data/make_gradients_reference.py``);
tests/test_cross_backend.py checks every backend against it.
"""

import pathlib

import keras
import numpy as np

import kerascope
from tests.models import set_numpy_weights

HERE = pathlib.Path(__file__).parent
CASES = {
    "vanilla": ("vanilla_gradients", {"channel_reduction": None}),
    "gradients_inputs": ("gradients_inputs", {}),
    "smoothgrad": ("smoothgrad", {"num_samples": 6, "noise": 0.1, "seed": 0}),
    "vargrad": ("vargrad", {"num_samples": 6, "noise": 0.1, "seed": 0}),
    "integrated_gradients": ("integrated_gradients", {"n_steps": 16}),
    # random draws made on the device (kerascope.engine.noise): the same on every backend
    "squaregrad": ("squaregrad", {"num_samples": 6, "noise": 0.1, "seed": 0}),
    "ig_uniform_baseline": ("integrated_gradients", {"n_steps": 8, "baseline": "uniform",
                                                     "seed": 3}),
    "rise": ("rise", {"num_masks": 40, "grid_size": 4, "seed": 1}),
    "occlusion": ("occlusion", {"patch_size": 4, "stride": 2, "fill_value": 0.5}),
}


def build_model():
    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    skip = h
    h = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(h)
    h = keras.layers.Add()([h, skip])
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(4, activation="softmax")(h)
    return keras.Model(inputs, outputs, name="reference_cnn")


def inputs():
    return np.random.default_rng(42).random((5, 16, 16, 3)).astype(np.float32)


def compute(model):
    return {name: kerascope.explain(method, model, inputs(), kerascope.top_k(2), **options)[1]
            for name, (method, options) in CASES.items()}


if __name__ == "__main__":
    model = set_numpy_weights(build_model(), seed=3, scale=1.5)
    maps = compute(model)
    weights = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
    np.savez_compressed(HERE / "gradients_reference.npz", backend=keras.backend.backend(), **maps, **weights)
    print({k: v.shape for k, v in maps.items()})
