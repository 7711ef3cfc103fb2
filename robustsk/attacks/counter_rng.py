"""A counter-based random number generator in plain integer tensor arithmetic.

Word ``j`` of stream ``key`` is a fixed function ``hash(key, j)``: no state but
the counter, so the draws of many streams (one per example) come out of a
few vectorised integer operations on whatever device the attack runs on,
and a stream's draws never depend on which other streams are drawn with it.
Uniforms take the top 24 bits of a word (exact in float32); normals come
from two words by the Box-Muller transform.

The hash is two rounds of Wellons' improved ``lowbias32`` 32-bit mixer
(``x ^= x >> 16; x *= 0x21f0aaad; x ^= x >> 15; x *= 0x735a2d97; x ^= x >> 15``),
fed the counter and the key's two 32-bit halves. It is written here rather than
taken from torch because torch's own generators (Philox on CUDA, Mersenne
Twister on the CPU) are stateful objects that cannot be keyed per element, and
they differ between devices. Both multipliers are below ``2**31``, so no int64
product of a 32-bit value overflows: the result is exact and identical on every
device and for every batch split. (Box-Muller's ``log`` and ``cos`` run in
float64 and are rounded to the requested dtype, so the normals agree across
vectorised and scalar kernels too, except in the rare case of a one-ulp
float64 difference on a float32 rounding boundary.)
"""
import math

import numpy as np
import torch

__all__ = ["hash_words", "counter_uniform", "counter_normal", "stream_keys"]

_M32 = 0xFFFFFFFF
#: the multipliers of Wellons' improved lowbias32, both below 2**31: a product
#: with a 32-bit value stays below 2**63, so int64 arithmetic never overflows
_MUL1, _MUL2 = 0x21F0AAAD, 0x735A2D97
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix32(x):
    """The 32-bit mixer on int64 values in ``[0, 2**32)``; ``x`` is overwritten."""
    x ^= x >> 16
    x.mul_(_MUL1).bitwise_and_(_M32)
    x ^= x >> 15
    x.mul_(_MUL2).bitwise_and_(_M32)
    x ^= x >> 15
    return x


def hash_words(keys, counters):
    """32-bit words ``hash(key, counter)``, elementwise over broadcast int64 tensors.

    ``mix(mix(counter ^ key_lo) ^ key_hi)`` with the 64-bit key's 32-bit
    halves; a stream has ``2**32`` words (the counter is taken modulo ``2**32``).

    Parameters
    ----------
    keys : LongTensor
        64-bit stream keys (any bit pattern; negative values are fine).
    counters : LongTensor
        Non-negative draw counters, broadcastable against ``keys``.

    Returns
    -------
    words : LongTensor
        Values in ``[0, 2**32)``.

    Examples
    --------
    >>> import torch
    >>> w = hash_words(torch.tensor([[1], [2]]), torch.arange(3))
    >>> w.shape, bool((w >= 0).all() and (w < 2**32).all())
    (torch.Size([2, 3]), True)
    """
    k_lo, k_hi = keys & _M32, (keys >> 32) & _M32
    h = (counters & _M32) ^ k_lo
    h = _mix32(h)
    h ^= k_hi
    return _mix32(h)


def _words(keys, counters, n_words):
    """``(n, n_words)`` words: stream ``keys[i]`` at counters ``counters[i] + 0 .. n_words - 1``."""
    offsets = torch.arange(n_words, device=keys.device, dtype=torch.long)
    return hash_words(keys[:, None], counters[:, None] + offsets[None, :])


def counter_uniform(keys, counters, shape, dtype=torch.float32):
    """Uniform draws on ``[0, 1)``: ``(len(keys), *shape)``, ``prod(shape)`` words per stream.

    Parameters
    ----------
    keys, counters : LongTensor of shape (n,)
        Each stream's key and its first unused counter (on the output's device).
    shape : tuple of int
        The shape drawn per stream.
    dtype : torch.dtype, default=torch.float32

    Returns
    -------
    u : Tensor of shape (n, *shape)
        Multiples of ``2**-24``, exact in float32.
    """
    n_words = math.prod(shape)
    top = _words(keys, counters, n_words) >> 8
    return top.to(torch.float32).mul_(2.0 ** -24).to(dtype).view(len(keys), *shape)


def counter_normal(keys, counters, shape, dtype=torch.float32):
    """Standard normal draws ``(len(keys), *shape)`` by Box-Muller.

    A stream's ``2 * ceil(m / 2)`` words for ``m = prod(shape)`` draws make
    ``ceil(m / 2)`` pairs of uniforms; pair ``j`` gives draw ``j`` (its cosine
    branch) and draw ``ceil(m / 2) + j`` (its sine branch).

    Parameters and return value as :func:`counter_uniform`.
    """
    n = math.prod(shape)
    half = (n + 1) // 2
    words = _words(keys, counters, 2 * half) >> 8
    u1 = (words[:, :half] + 1).to(torch.float64).mul_(2.0 ** -24)  # (0, 1]: finite log
    theta = words[:, half:].to(torch.float64).mul_(2.0 * math.pi * 2.0 ** -24)
    radius = u1.log_().mul_(-2.0).sqrt_()
    z = torch.cat([radius * theta.cos(), radius * theta.sin()], dim=1)[:, :n]
    return z.to(dtype).reshape(len(keys), *shape)


def stream_keys(seed, positions):
    """The 64-bit key of each position's stream under ``seed``, as an int64 tensor.

    ``splitmix64(seed ^ splitmix64(position))``, vectorised in numpy's wrapping
    uint64 arithmetic; the same value as
    :func:`robustsk.attacks.example_seed` (as a signed bit pattern).

    Parameters
    ----------
    seed : int
    positions : array-like of int

    Returns
    -------
    keys : LongTensor of shape (len(positions),), on the CPU
    """
    with np.errstate(over="ignore"):
        pos = np.asarray(positions, dtype=np.int64).astype(np.uint64).reshape(-1)
        value = _splitmix64(pos) ^ np.uint64(int(seed) & int(_MASK64))
        return torch.from_numpy(_splitmix64(value).view(np.int64).copy())


def _splitmix64(value):
    value = value + np.uint64(0x9E3779B97F4A7C15)
    value = (value ^ (value >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    value = (value ^ (value >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return value ^ (value >> np.uint64(31))
