"""The pass runner's host side: read-only layer views, the backend's transfers, and
the in-place mask product (the same values as the plain paths they speed up)."""

import keras
import numpy as np
import pytest

from kerascope import backend
from kerascope.engine import targets
from kerascope.engine.numeric import multiply_masks
from kerascope.engine.runner import PassRunner
from tests.models import small_cnn


@pytest.mark.parametrize("batch_size", [8, 3])  # one device call; several, joined
def test_layer_views_equal_the_copies_and_are_read_only(rng, batch_size):
    model = small_cnn()
    x = rng.normal(size=(8, 12, 12, 3)).astype(np.float32)
    units = (np.arange(8) % 5).astype(np.int32)
    runner = PassRunner.for_model(model, targets.UnitScore(rank=False), batch_size=batch_size,
                                  layers=["conv_b"])
    for run in (lambda **k: runner.backprop(x, units, wrt_inputs=False, **k),
                lambda **k: runner.forward(x, units, **k)):
        copies, views = run(), run(layer_views=True)
        arrays = [*copies.layer_outputs, *copies.layer_grads]
        seen = [*views.layer_outputs, *views.layer_grads]
        assert len(arrays) == len(seen) >= 1
        for copy, view in zip(arrays, seen):
            np.testing.assert_array_equal(view, copy)
            assert copy.flags.writeable
            assert not view.flags.writeable or batch_size < len(x)  # joined calls copy
        np.testing.assert_array_equal(views.outputs, copies.outputs)
        assert views.outputs.flags.writeable


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float64])
def test_host_transfers_give_keras_values(rng, dtype):
    to_device, to_host = backend.host_transfers()
    array = (rng.normal(size=(4, 5, 3)) * 10).astype(dtype)
    # what Keras's own conversions give (JAX without x64 keeps float64 as float32)
    expected = keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(array))
    tensor = to_device(array)
    back = to_host(tensor)
    assert back.dtype == expected.dtype
    np.testing.assert_array_equal(back, expected)
    assert back.flags.writeable and not np.shares_memory(back, array)
    view = backend.host_view(tensor)
    np.testing.assert_array_equal(view, expected)
    assert not view.flags.writeable


@pytest.mark.parametrize("shape, mask_shape", [
    ((4, 6, 5, 3), (4, 6, 5, 1)),    # channels last, a few channels: one plane at a time
    ((4, 6, 5, 1), (4, 6, 5, 1)),
    ((4, 6, 5, 16), (4, 6, 5, 1)),   # many channels: numpy's broadcast
    ((4, 3, 6, 5), (4, 1, 6, 5)),    # channels first
    ((4, 6, 5), (4, 6, 5)),          # no channel axis
])
def test_multiply_masks_is_the_broadcast_product_in_place(rng, shape, mask_shape):
    rows = rng.normal(size=shape).astype(np.float32)
    masks = rng.uniform(size=mask_shape).astype(np.float32)
    expected = rows * masks
    out = multiply_masks(rows, masks)
    assert out is rows
    np.testing.assert_array_equal(out, expected)


def test_take_rows_reads_one_unit_per_row(rng):
    values = rng.normal(size=(6, 5)).astype(np.float32)
    index = np.array([4, 0, 2, 2, 1, 3], dtype=np.int32)
    taken = backend.take_rows(keras.ops.convert_to_tensor(values),
                              keras.ops.convert_to_tensor(index))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(taken),
                                  values[np.arange(6), index])


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's passes")
def test_flat_concrete_calls_match_the_tf_function_and_record_on_a_tape(rng):
    import tensorflow as tf

    from kerascope.backend.tensorflow.passes import _concrete

    @tf.function(autograph=False)
    def body(x, pair):
        return x * pair[0], tf.reduce_sum(x, axis=1) + pair[1]

    x = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
    pair = (tf.constant(2.5), tf.constant(rng.normal(size=(4,)).astype(np.float32)))
    run = _concrete(body)
    for ours, expected in zip(run(x, pair), body(x, pair)):
        np.testing.assert_array_equal(ours.numpy(), expected.numpy())
    with tf.GradientTape() as tape:  # the flat call still records on an active tape
        tape.watch(x)
        total = tf.reduce_sum(run(x, pair)[0] ** 2)
    np.testing.assert_allclose(tape.gradient(total, x).numpy(), 2 * 2.5 ** 2 * x.numpy(),
                               rtol=1e-6)
