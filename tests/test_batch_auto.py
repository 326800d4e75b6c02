"""``batch_size="auto"`` (the default): rows per call from a memory budget, the same
maps as any explicit size, one JAX compilation per power-of-two bucket; and the eager
PyTorch noise kernels, bit for bit the ``keras.ops`` draws."""

import keras
import numpy as np
import pytest

import kerascope
from kerascope import backend
from kerascope.engine import memory, noise, runner
from tests.models import small_cnn


@pytest.fixture(scope="module")
def model():
    return small_cnn(input_shape=(10, 10, 3), classes=4)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).random((7, 10, 10, 3)).astype(np.float32)


@pytest.mark.parametrize("name, options", [
    ("vanilla_gradients", {}),
    ("integrated_gradients", {"n_steps": 6}),
    ("smoothgrad", {"num_samples": 5, "seed": 3}),
])
def test_auto_gives_the_maps_of_an_explicit_size(model, x, name, options):
    targets = np.arange(len(x)) % 4
    outputs, maps = kerascope.explain(name, model, x, targets, batch_size="auto", **options)
    expected = kerascope.explain(name, model, x, targets, batch_size=4, **options)
    np.testing.assert_allclose(outputs, expected.outputs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps, expected.maps, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name, options", [
    ("integrated_gradients", {"n_steps": 6}),
    ("smoothgrad", {"num_samples": 5, "seed": 3}),
    ("occlusion", {"patch_size": 4, "fill_value": 0.0}),
])
def test_the_default_gives_the_maps_of_32(model, x, name, options):
    # 7 inputs: on JAX the last group of inputs is padded to its bucket (8)
    outputs, maps = kerascope.explain(name, model, x, 1, **options)
    expected = kerascope.explain(name, model, x, 1, batch_size=32, **options)
    np.testing.assert_allclose(outputs, expected.outputs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps, expected.maps, rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(not backend.pads_batches(), reason="only JAX compiles per shape")
def test_auto_sizes_compile_one_program_per_bucket():
    fresh = small_cnn(input_shape=(10, 10, 3), classes=4)  # its own compiled functions
    rng = np.random.default_rng(1)
    before = {kind: backend.trace_count(kind) for kind in ("fused", "backprop")}
    for n in range(1, 7):  # buckets 1, 2, 4, 8
        xs = rng.random((n, 10, 10, 3)).astype(np.float32)
        kerascope.explain("integrated_gradients", fresh, xs, 0, n_steps=6)
        kerascope.explain("vanilla_gradients", fresh, xs, 0)
    assert backend.trace_count("fused") - before["fused"] <= 4
    assert backend.trace_count("backprop") - before["backprop"] <= 4
    assert memory.bucket(5, 8) == 8 and memory.bucket(5, 6) == 6 and memory.bucket(1, 8) == 1


def test_auto_rows_follow_the_budget(model, monkeypatch):
    params, acts = memory.model_bytes(model)
    assert params == sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    # input 10x10x3, conv 8x8x6, conv 6x6x8, flatten 288, dense 16, logits 4
    assert acts == 4 * (300 + 384 + 288 + 288 + 16 + 4)
    rows = memory.auto_rows(model)
    assert 1 <= rows <= memory.MAX_ROWS
    monkeypatch.setattr(memory, "budget", lambda: (1 << 40, 7))
    assert memory.auto_rows(model) == 7  # the device's row cap
    bigger = small_cnn(input_shape=(40, 40, 3), classes=4)
    assert memory.model_bytes(bigger)[1] > acts
    monkeypatch.setattr(memory, "budget",
                        lambda: (params + 3 * memory.ROW_FACTOR * acts, memory.MAX_ROWS))
    assert memory.auto_rows(model) == 3
    assert memory.auto_rows(bigger) < 3
    monkeypatch.setattr(memory, "budget", lambda: (0, memory.MAX_ROWS))
    assert memory.auto_rows(model) == 1


@pytest.mark.parametrize("size", [{"batch_size": "auto"}, {}])
def test_the_auto_size_is_the_rows_per_call(model, x, monkeypatch, size):
    _, acts = memory.model_bytes(model)
    monkeypatch.setattr(memory, "budget", lambda: (model.count_params() * 4
                                                   + 3 * memory.ROW_FACTOR * acts, 512))
    with runner.count_traffic() as auto:  # "auto", explicit or by default
        kerascope.explain("vanilla_gradients", model, x, 0, **size)
    with runner.count_traffic() as three:
        kerascope.explain("vanilla_gradients", model, x, 0, batch_size=3)
    assert auto.calls == three.calls == 3  # 7 inputs, 3 rows per call


def test_a_model_without_static_shapes_gets_the_fallback():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, inputs):
            return self.dense(inputs)

    net = Net()
    net(np.zeros((1, 4), np.float32))
    assert memory.auto_rows(net) == memory.FALLBACK_ROWS


def test_batch_size_strings_other_than_auto_are_refused(model, x):
    with pytest.raises(ValueError, match="'auto'"):
        kerascope.explain("vanilla_gradients", model, x, batch_size="big")
    with pytest.raises(ValueError, match="batch_size"):
        kerascope.explain("vanilla_gradients", model, x, batch_size=0)


def test_noise_kernels_draw_the_keras_ops_values_bit_for_bit(monkeypatch):
    keys = noise.keys(5, 1, keras.ops.expand_dims(keras.ops.arange(3, dtype="int32"), 1),
                      keras.ops.expand_dims(keras.ops.arange(4, dtype="int32"), 0))
    offset = keras.ops.convert_to_tensor(np.linspace(-1, 1, 3 * 7, dtype=np.float32)
                                         .reshape(3, 1, 7))

    def draws():
        return [keras.ops.convert_to_numpy(v) for v in (
            noise.normal(keys, (6, 2)), noise.normal(keys, (7,)), noise.uniform(keys, (5,)),
            noise.shifted_normal(keys, (7,), offset, 0.3))]

    fast = draws()
    monkeypatch.setattr(backend, "noise_kernels", lambda: None)
    for a, b in zip(fast, draws()):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b)


def test_the_cli_takes_auto_or_a_positive_integer():
    import click

    from kerascope.cli.common import BatchSize

    option = BatchSize()
    assert option.convert("auto", None, None) == "auto"
    assert option.convert("64", None, None) == 64
    for bad in ("0", "big", "1.5"):
        with pytest.raises(click.BadParameter, match="positive integer or 'auto'"):
            option.convert(bad, None, None)
