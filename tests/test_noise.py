"""kerascope.engine.noise: counter-based draws, the same on every backend.

The integer hash is checked bit for bit against an independent numpy (uint64)
implementation of lowbias32, so every backend draws the same uniforms; the
normals follow by Box-Muller; their moments and independence are checked.
"""

import numpy as np
import pytest

import keras

from kerascope.engine import noise


def lowbias32(h):
    """Reference: Wellons' lowbias32 on uint32 values, computed in uint64."""
    h = np.asarray(h, dtype=np.uint64) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x7FEB352D) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 0x846CA68B) & 0xFFFFFFFF
    h ^= h >> 16
    return h


def as_uint32(values):
    return np.asarray(keras.ops.convert_to_numpy(values)).astype(np.int64) & 0xFFFFFFFF


def test_hash_is_lowbias32_bit_for_bit():
    values = np.concatenate([np.arange(-5, 5), [2**31 - 1, -(2**31), 123456789, -987654321]])
    got = as_uint32(noise.hash32(keras.ops.convert_to_tensor(values.astype(np.int32))))
    np.testing.assert_array_equal(got, lowbias32(values.astype(np.int64) & 0xFFFFFFFF))


def test_uniform_draws_match_the_reference_exactly():
    seed, stream = 1234, 3
    keys = noise.keys(seed, stream, keras.ops.convert_to_tensor(np.arange(4, dtype=np.int32)))
    # reference: the same counter composition in uint64 arithmetic
    h = lowbias32((seed + stream * 0x27D4EB2F) & 0xFFFFFFFF)
    counters = lowbias32((np.arange(4) + 0x9E3779B9) & 0xFFFFFFFF)
    expected_keys = lowbias32(h ^ counters)
    np.testing.assert_array_equal(as_uint32(keys), expected_keys)
    draws = keras.ops.convert_to_numpy(noise.uniform(keys, (5,)))
    element = (np.arange(5, dtype=np.uint64) * 0x9E3779B9) & 0xFFFFFFFF
    bits = lowbias32(expected_keys[:, None] ^ element[None])
    np.testing.assert_array_equal(draws, (bits >> 8).astype(np.float32) * np.float32(2.0**-24))


def test_normal_moments_and_independence():
    keys = noise.keys(7, 1, keras.ops.convert_to_tensor(np.arange(64, dtype=np.int32)))
    z = keras.ops.convert_to_numpy(noise.normal(keys, (2048,)))
    assert z.shape == (64, 2048) and np.all(np.isfinite(z))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    # normal tails: about 4.6% beyond 2 sigma
    assert abs(np.mean(np.abs(z) > 2) - 0.0455) < 0.004
    # rows (keys) and neighbouring elements are uncorrelated
    assert np.abs(np.corrcoef(z[:8])[np.triu_indices(8, 1)]).max() < 0.1
    assert abs(np.corrcoef(z[:, :-1].ravel(), z[:, 1:].ravel())[0, 1]) < 0.01
    u = keras.ops.convert_to_numpy(noise.uniform(keys, (2048,)))
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005


def test_keys_differ_by_seed_stream_and_counter():
    a = as_uint32(noise.keys(1, 1, keras.ops.convert_to_tensor(np.arange(1000, dtype=np.int32))))
    assert len(np.unique(a)) == 1000
    for seed, stream in [(2, 1), (1, 2)]:
        b = as_uint32(noise.keys(seed, stream,
                                 keras.ops.convert_to_tensor(np.arange(1000, dtype=np.int32))))
        assert np.mean(a == b) < 0.01


def test_seed_value():
    assert noise.seed_value(5) == 5
    assert noise.seed_value(-1) == 2**31 - 1
    assert noise.seed_value(None) != noise.seed_value(None)
    with pytest.raises(ValueError, match="seed"):
        noise.seed_value(1.5)
