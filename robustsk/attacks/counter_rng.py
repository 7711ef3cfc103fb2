"""A counter-based random number generator in plain integer tensor arithmetic.

Word ``j`` of stream ``key`` is a fixed function ``hash(key, j)``: no state but
the counter, so the draws of many streams (one per example) come out of a
few vectorised integer operations on whatever device the attack runs on,
and a stream's draws never depend on which other streams are drawn with it.
Uniforms take the top 24 bits of a word (exact in float32); normals come
from two words by the Box-Muller transform.

The hash is three rounds of Wellons' ``lowbias32`` 32-bit mixer
(``x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16``),
fed the key's and the counter's 32-bit halves. It is written here rather than
taken from torch because torch's own generators (Philox on CUDA, Mersenne
Twister on the CPU) are stateful objects that cannot be keyed per element, and
they differ between devices. Every product is split into 16-bit halves so that
no int64 operation overflows: the result is exact and identical on every
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
_M16 = 0xFFFF
_MUL1, _MUL2 = 0x7FEB352D, 0x846CA68B
_GOLDEN32 = 0x9E3779B9
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mul32(x, c):
    """``(x * c) mod 2**32`` for ``x`` in ``[0, 2**32)`` without int64 overflow."""
    lo = x * (c & _M16)
    hi = ((x * (c >> 16)) & _M16) << 16
    return (lo + hi) & _M32


def _mix32(x):
    x = x ^ (x >> 16)
    x = _mul32(x, _MUL1)
    x = x ^ (x >> 15)
    x = _mul32(x, _MUL2)
    return x ^ (x >> 16)


def hash_words(keys, counters):
    """32-bit words ``hash(key, counter)``, elementwise over broadcast int64 tensors.

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
    c_lo, c_hi = counters & _M32, (counters >> 32) & _M32
    h = _mix32(c_lo ^ k_lo)
    h = _mix32(h ^ k_hi ^ _mix32((c_hi + _GOLDEN32) & _M32))
    return _mix32((h + k_lo) & _M32)


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
    return (top.to(torch.float64) * 2.0 ** -24).to(dtype).view(len(keys), *shape)


def counter_normal(keys, counters, shape, dtype=torch.float32):
    """Standard normal draws ``(len(keys), *shape)`` by Box-Muller, ``2 * prod(shape)`` words each.

    Parameters and return value as :func:`counter_uniform`.
    """
    n = math.prod(shape)
    words = _words(keys, counters, 2 * n) >> 8
    u1 = (words[:, :n] + 1).to(torch.float64) * 2.0 ** -24  # (0, 1]: the log is finite
    u2 = words[:, n:].to(torch.float64) * 2.0 ** -24
    z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)
    return z.to(dtype).view(len(keys), *shape)


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
