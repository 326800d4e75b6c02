"""Small deterministic models for the tests (weights from numpy, not keras RNG)."""

import keras
import numpy as np


def set_numpy_weights(model, seed=0, scale=0.5):
    """Overwrite every weight with seeded normal values (same on every backend)."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
        weights.append((rng.standard_normal(w.shape) * scale / np.sqrt(fan_in)).astype(np.float32))
    model.set_weights(weights)
    return model


def small_cnn(input_shape=(12, 12, 3), classes=5, activation="tanh", final="softmax", seed=0, scale=0.5):
    inputs = keras.Input(input_shape)
    h = keras.layers.Conv2D(6, 3, activation=activation, name="conv_a")(inputs)
    h = keras.layers.Conv2D(8, 3, activation=activation, name="conv_b")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(16, activation=activation)(h)
    outputs = keras.layers.Dense(classes, activation=final, name="logits")(h)
    return set_numpy_weights(keras.Model(inputs, outputs, name="small_cnn"), seed, scale)


class RegionMask(keras.layers.Layer):
    """Multiplies its input by a fixed 0/1 mask: downstream sees only the region."""

    def __init__(self, mask, **kwargs):
        super().__init__(**kwargs)
        self.mask = np.asarray(mask, dtype=np.float32)

    def call(self, x):
        return x * keras.ops.convert_to_tensor(self.mask)


def region_model(size=28, region=7, seed=0):
    """Class 0 depends only on the top-left ``region`` x ``region`` pixels; class 1 on all."""
    mask = np.zeros((size, size, 1), np.float32)
    mask[:region, :region] = 1
    inputs = keras.Input((size, size, 1))
    masked = RegionMask(mask)(inputs)
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(masked)
    a = RegionMask(mask)(a)
    a = keras.layers.Dense(1)(keras.layers.Flatten()(a))
    b = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    b = keras.layers.Dense(1)(keras.layers.Flatten()(b))
    outputs = keras.layers.Activation("softmax")(keras.layers.Concatenate()([a, b]))
    model = keras.Model(inputs, outputs, name="region_model")
    set_numpy_weights(model, seed=1, scale=1.0)
    return model, mask[..., 0].astype(bool)


def reference_model(ref):
    """Conv(relu) -> Dense(relu) -> Dense(softmax) with the weights stored in ``ref``
    (tests/data/guided_reference.npz, whose maps come from a numpy implementation)."""
    zeros = {"kernel_initializer": "zeros"}
    inputs = keras.Input(ref["x"].shape[1:])
    h = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv", **zeros)(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(6, activation="relu", name="dense", **zeros)(h)
    outputs = keras.layers.Dense(4, activation="softmax", name="head", **zeros)(h)
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights([ref["kernel"], ref["conv_bias"]])
    model.get_layer("dense").set_weights([ref["dense_kernel"], ref["dense_bias"]])
    model.get_layer("head").set_weights([ref["head_kernel"], ref["head_bias"]])
    return model
