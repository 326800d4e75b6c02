"""Run in a fresh process by tests/test_distribute.py: two devices must exist before
the framework starts (XLA_FLAGS on JAX, logical CPU devices on TensorFlow).

Prints one JSON line: per method and way of giving the distribution, the largest
relative difference between the single-device and the split maps (and outputs), and
the rows each device computed.
"""

import json
import os
import sys

backend = sys.argv[1]
os.environ["KERAS_BACKEND"] = backend
if backend == "jax":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
else:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerascope  # noqa: E402
from kerascope.engine import runner  # noqa: E402
from tests.models import small_cnn  # noqa: E402

METHODS = {
    "vanilla_gradients": {},
    "smoothgrad": {"num_samples": 3, "seed": 1},
    "integrated_gradients": {"n_steps": 4},
    "grad_cam": {"layer_name": "conv_b"},
    "occlusion": {"patch_size": 4},
    "guided_backprop": {},
}


def relative(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))


def compare(split, methods=METHODS):
    """``split(name, options) -> Explanation`` against one device, per method."""
    found = {}
    for name, options in methods.items():
        outputs, maps = kerascope.explain(name, model, x, batch_size=4, **options)
        with runner.count_traffic() as counted:
            result = split(name, options)
        found[name] = {
            "maps": relative(maps, result.maps),
            "outputs": relative(outputs, result.outputs),
            "rows_per_device": dict(counted.rows_per_device),
        }
    return found


def explain(model, **given):
    return lambda name, options: kerascope.explain(name, model, x, batch_size=4, **given,
                                                   **options)


def with_global(distribution, call):
    def split(name, options):
        keras.distribution.set_distribution(distribution)
        try:
            return call(name, options)
        finally:
            keras.distribution.set_distribution(None)

    return split


def in_scope(strategy, call):
    def split(name, options):
        with strategy.scope():
            return call(name, options)

    return split


model = small_cnn(input_shape=(8, 8, 3), classes=4)
x = np.random.default_rng(0).random((5, 8, 8, 3)).astype("float32")
one = {"vanilla_gradients": {}}
result = {}
if backend == "jax":
    import jax

    result["devices"] = len(jax.devices())
    distribution = keras.distribution.DataParallel()
    result["argument"] = compare(explain(model, distribution=distribution))
    result["global"] = compare(with_global(distribution, explain(model)), one)
else:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    result["devices"] = strategy.num_replicas_in_sync
    result["argument"] = compare(explain(model, distribution=strategy))
    result["scope"] = compare(in_scope(strategy, explain(model)), one)
    with strategy.scope():  # a model built under the strategy carries it
        built = small_cnn(input_shape=(8, 8, 3), classes=4)
    result["model"] = compare(explain(built), one)
print("RESULT " + json.dumps(result))
