"""Counter-based random numbers in ``keras.ops``: the same draws on every backend.

Each number is a pure function of ``(seed, stream, key, element)``: a 32-bit integer
hash (Wellons' ``lowbias32``: xor-shifts and multiplications by odd constants,
wrapping modulo 2^32) of the counters, so it can be computed on the device inside a
compiled pass, in any order and in any batch split, and TensorFlow, JAX and PyTorch
give bit-identical uniform draws (float32 multiples of 2^-24) and normal draws equal
to the last ulp of ``log``/``cos`` (Box-Muller). No state, nothing to copy from the
host: a method draws the noise of input ``i``, copy ``j`` from ``key = (i, j)``.

Integers are int32 with wrap-around (every backend's two's-complement arithmetic);
logical right shifts are arithmetic shifts with the sign bits masked off.
"""

import functools
import math

import numpy as np

import keras

from kerascope import backend

_GOLDEN = -1640531527  # 0x9E3779B9 as int32
_M1 = 0x7FEB352D
_M2 = -2073254261  # 0x846CA68B as int32
_STREAM = 0x27D4EB2F


def seed_value(seed):
    """``seed`` as a non-negative int32 (None: fresh entropy from the OS)."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed: expected an int or None, got {seed!r}.")
    return int(seed) & 0x7FFFFFFF


def _int(value):
    """A Python int as an int32 tensor, wrapped modulo 2^32."""
    wrapped = (int(value) + 2**31) % 2**32 - 2**31
    return keras.ops.convert_to_tensor(np.asarray(wrapped, dtype=np.int32))


def _lsr(h, bits):
    """Logical right shift of int32 ``h``."""
    return keras.ops.bitwise_and(keras.ops.right_shift(h, bits), (1 << (32 - bits)) - 1)


def hash32(h):
    """The ``lowbias32`` integer hash of int32 tensor ``h`` (bijective on 32 bits)."""
    h = keras.ops.bitwise_xor(h, _lsr(h, 16))
    h = keras.ops.multiply(h, _int(_M1))
    h = keras.ops.bitwise_xor(h, _lsr(h, 15))
    h = keras.ops.multiply(h, _int(_M2))
    return keras.ops.bitwise_xor(h, _lsr(h, 16))


def keys(seed, stream, *counters):
    """One int32 key per broadcast element of ``counters`` (int32 tensors or ints;
    ``seed`` an int or an int32 scalar tensor):
    ``hash(... hash(hash(seed, stream) ^ c1) ... ^ ck)``."""
    seed = _int(seed) if isinstance(seed, (int, np.integer)) else keras.ops.cast(seed, "int32")
    h = hash32(keras.ops.add(seed, _int(stream * _STREAM)))
    for counter in counters:
        counter = keras.ops.cast(counter, "int32")
        h = hash32(keras.ops.bitwise_xor(h, hash32(keras.ops.add(counter, _int(_GOLDEN)))))
    return h


@functools.lru_cache(maxsize=16)
def _counters(count, salt):
    """The element counters ``e * golden + salt`` (int32), ``e < count``."""
    counters = (np.arange(count, dtype=np.int64) * (_GOLDEN % 2**32) + salt) % 2**32
    return counters.astype(np.uint32).view(np.int32)


def _element_bits(key, count, salt):
    """int32 hashes of shape ``key.shape + (count,)``: element ``e`` of each key is
    ``hash(key ^ (e * golden + salt))`` (the element counters are constants)."""
    counters = keras.ops.convert_to_tensor(_counters(count, salt))
    kernels = backend.noise_kernels()
    if kernels is not None:
        return kernels.element_bits(key, counters)
    return hash32(keras.ops.bitwise_xor(keras.ops.expand_dims(key, -1), counters))


def _unit(bits):
    """float32 in [0, 1): the top 24 bits times 2^-24 (exact in float32)."""
    return keras.ops.multiply(keras.ops.cast(_lsr(bits, 8), "float32"), 2.0 ** -24)


def uniform(key, shape=()):
    """Uniform [0, 1) float32 draws of shape ``key.shape + shape``, one set per key."""
    shape = tuple(shape)
    bits = _element_bits(key, int(np.prod(shape)), 0)
    return keras.ops.reshape(_unit(bits), tuple(key.shape) + shape)


def normal(key, shape=()):
    """Standard normal float32 draws of shape ``key.shape + shape``: Box-Muller on
    pairs of uniforms, both outputs used (the cosine half, then the sine half)."""
    shape = tuple(shape)
    size = int(np.prod(shape))
    pairs = (size + 1) // 2
    kernels = backend.noise_kernels()
    if kernels is not None:
        z = kernels.normal(key, keras.ops.convert_to_tensor(_counters(pairs, 0)),
                           keras.ops.convert_to_tensor(_counters(pairs, 0x5BD1E995)), size)
        return keras.ops.reshape(z, tuple(key.shape) + shape)
    u1 = keras.ops.subtract(1.0, _unit(_element_bits(key, pairs, 0)))  # (0, 1]
    u2 = _unit(_element_bits(key, pairs, 0x5BD1E995))
    radius = keras.ops.sqrt(keras.ops.multiply(-2.0, keras.ops.log(u1)))
    angle = keras.ops.multiply(2.0 * math.pi, u2)
    z = keras.ops.concatenate([radius * keras.ops.cos(angle), radius * keras.ops.sin(angle)],
                              axis=-1)
    if 2 * pairs != size:
        z = z[..., :size]
    return keras.ops.reshape(z, tuple(key.shape) + shape)


def shifted_normal(key, shape, offset, scale):
    """``offset + scale * normal(key, shape)`` (``offset`` and ``scale`` broadcast
    against the draws), bit for bit; on eager PyTorch made in the draws' buffer."""
    z = normal(key, shape)
    kernels = backend.noise_kernels()
    if kernels is not None:
        return kernels.shift_scale_(z, offset, scale)
    return keras.ops.add(offset, keras.ops.multiply(scale, z))
