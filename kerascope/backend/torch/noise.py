"""PyTorch kernels of ``kerascope.engine.noise``: the same integer hash and Box-Muller
steps, bit for bit, written with in-place torch ops.

Eager PyTorch runs every ``keras.ops`` call as its own pass over a new tensor; the
normal draws of SmoothGrad's rows take ~45 such passes. Here each pass writes into
a buffer it owns (``out=`` and ``op_``), so the draws allocate a few tensors instead
of ~45, and the rows ``x + sigma * z`` are made in the draws' own buffer.
"""

import contextlib
import math
import os

import torch

_M1 = 0x7FEB352D
_M2 = -2073254261  # 0x846CA68B as int32


@contextlib.contextmanager
def one_thread():
    """Run the torch ops inside on the calling thread only (restored after), when the
    cores are busy.

    Elementwise ops over a few MB are memory-bound: a second thread gains little, and
    each op waits for both threads; when other processes share the cores, that wait
    is a scheduler time slice per op (measured: ~16 ms per op on 2 busy cores,
    against ~0.1 ms on one thread)."""
    threads = torch.get_num_threads()
    serial = threads > 1 and _busy()
    if serial:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if serial:
            torch.set_num_threads(threads)


def _busy():
    """Whether other work competes for the cores (1-minute load average at least the
    core count): then one thread; on idle cores every thread is faster."""
    try:
        return os.getloadavg()[0] >= (os.cpu_count() or 1)
    except OSError:
        return False


def _hash_(h, scratch):
    """``lowbias32`` of int32 ``h`` in place (``scratch``: a buffer of ``h``'s shape)."""
    for bits, multiplier in ((16, _M1), (15, _M2), (16, None)):
        torch.bitwise_right_shift(h, bits, out=scratch)
        scratch.bitwise_and_((1 << (32 - bits)) - 1)
        h.bitwise_xor_(scratch)
        if multiplier is not None:
            h.mul_(multiplier)
    return h


def _unit_(bits):
    """float32 in [0, 1) from int32 ``bits`` (top 24 bits times 2^-24); ``bits`` is
    overwritten."""
    bits.bitwise_right_shift_(8).bitwise_and_(0xFFFFFF)
    return bits.to(torch.float32).mul_(2.0 ** -24)


def element_bits(key, counters):
    """``hash(key[..., None] ^ counters)`` (int32), the element hashes of each key."""
    with one_thread():
        h = torch.bitwise_xor(key.unsqueeze(-1), counters)
        return _hash_(h, torch.empty_like(h))


def normal(key, counters_cos, counters_sin, size):
    """Standard normal float32 draws of shape ``key.shape + (size,)``: Box-Muller on
    the element hashes ``counters_cos`` (u1) and ``counters_sin`` (u2), the cosine
    half then the sine half (``kerascope.engine.noise.normal``)."""
    with one_thread():
        pairs = counters_cos.shape[0]
        h = torch.bitwise_xor(key.unsqueeze(-1), counters_cos)
        scratch = torch.empty_like(h)
        u1 = _unit_(_hash_(h, scratch)).neg_().add_(1.0)  # (0, 1]
        torch.bitwise_xor(key.unsqueeze(-1), counters_sin, out=h)
        angle = _unit_(_hash_(h, scratch)).mul_(2.0 * math.pi)
        radius = u1.log_().mul_(-2.0).sqrt_()
        z = torch.empty(tuple(key.shape) + (2 * pairs,), dtype=torch.float32, device=key.device)
        torch.cos(angle, out=z[..., :pairs])
        torch.sin(angle, out=z[..., pairs:])
        z[..., :pairs].mul_(radius)
        z[..., pairs:].mul_(radius)
    return z if 2 * pairs == size else z[..., :size]


def shift_scale_(z, offset, scale):
    """``offset + scale * z`` written into ``z`` (a buffer ``normal`` returned)."""
    with one_thread():
        return z.mul_(scale).add_(offset)
