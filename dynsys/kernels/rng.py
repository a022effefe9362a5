"""Counter-based random numbers for jitted code: a draw is a pure function of (seed, stream, counter).

The generator is Threefry-2x64 with 20 rounds (Salmon, Moraes, Dror, Shaw, "Parallel random
numbers: as easy as 1, 2, 3", SC'11; the Random123 reference): a keyed bijection of a 128-bit counter,
built from 64-bit additions, rotations and xors only. The key is ``(seed, stream)``, the counter
``(c0, c1)``; one call gives two independent 64-bit words. Because nothing is carried from one draw to
the next, any thread may draw any number in any order: results do not depend on the thread count,
the chunking of the work or the backend.

Conventions used across dynsys (so that different purposes never reuse a counter):

- ``c0`` is the index of the object being drawn (sample ``i``, epoch ``e``, step ``s``);
- ``c1 = (tag << 32) | j`` where ``tag`` names the purpose (:data:`TAG_DATA`, :data:`TAG_SHUFFLE`,
  :data:`TAG_FRESH`, :data:`TAG_MC`) and ``j < 2**32`` is the position inside the object
  (the pair index of coordinates of one input vector, a position of a shuffle).

Outputs: :func:`to_unit` maps a word to a double in the OPEN interval (0, 1), the midpoint
``(m + 1/2) 2^-52`` of one of 2^52 equal cells (exact in double precision), so logarithms are finite;
:func:`normal2` makes two standard normals from one counter by Box-Muller (both outputs used; the
largest possible |z| is ``sqrt(2 * 53 ln 2) = 8.57``: the radius is cut at probability 2^-53).

CUDA: every function here uses plain integer and ``math`` operations on scalars (no NumPy random,
no allocation), so a ``numba.cuda`` kernel can call them as they are (Numba compiles an ``@njit``
function called from a CUDA kernel as a device function). Keep it that way: no ``np.*`` calls except
the ``np.uint64`` scalar casts.
"""

import math

import numpy as np
from numba import njit

_JIT = dict(cache=True)

#: Purpose tags (the high 32 bits of the second counter word).
TAG_DATA = 0       # a run's fixed training set (dynsys.sgd, dynsys.sgd_dataset)
TAG_SHUFFLE = 1    # the per-epoch shuffle of a training set
TAG_FRESH = 2      # fresh mini-batches (dynsys.sgd(fresh=True))
TAG_MC = 3         # Monte Carlo inputs (dynsys.monte_carlo, dynsys.monte_carlo_gating)
TAG_CLS_INIT = 4   # the classifier's random initial weights (dynsys.classifier)
TAG_CLS_SHUFFLE = 5  # the classifier's per-epoch shuffle of its training set

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)
_U5 = np.uint64(5)
_U11 = np.uint64(11)
_U12 = np.uint64(12)
_U32 = np.uint64(32)
_U64 = np.uint64(64)
#: Threefry's key-schedule parity constant (Skein's C240).
_PARITY = np.uint64(0x1BD11BDAA9FC1A22)
#: Threefry-2x64 rotation constants, rounds 0..7 (repeating).
_R0, _R1, _R2, _R3 = np.uint64(16), np.uint64(42), np.uint64(12), np.uint64(31)
_R4, _R5, _R6, _R7 = np.uint64(16), np.uint64(32), np.uint64(24), np.uint64(21)
_TWO_M52 = 2.0 ** -52
_TWO_M53 = 2.0 ** -53
_TWO_PI = 2.0 * math.pi


@njit(inline="always", **_JIT)
def _rotl(x, r):
    return (x << r) | (x >> (_U64 - r))


@njit(inline="always", **_JIT)
def _round(x0, x1, r):
    x0 = x0 + x1
    x1 = _rotl(x1, r) ^ x0
    return x0, x1


@njit(inline="always", **_JIT)
def threefry2x64(k0, k1, c0, c1):
    """Threefry-2x64-20 of counter ``(c0, c1)`` under key ``(k0, k1)`` (all ``uint64``).

    Returns two ``uint64`` words. Matches the Random123 known-answer vectors (tests/test_rng.py).
    """
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    k2 = _PARITY ^ k0 ^ k1
    x0 = np.uint64(c0) + k0
    x1 = np.uint64(c1) + k1
    # 20 rounds in five groups of four, a key injection after each group (injection s adds s).
    x0, x1 = _round(x0, x1, _R0)
    x0, x1 = _round(x0, x1, _R1)
    x0, x1 = _round(x0, x1, _R2)
    x0, x1 = _round(x0, x1, _R3)
    x0 += k1
    x1 += k2 + _U1
    x0, x1 = _round(x0, x1, _R4)
    x0, x1 = _round(x0, x1, _R5)
    x0, x1 = _round(x0, x1, _R6)
    x0, x1 = _round(x0, x1, _R7)
    x0 += k2
    x1 += k0 + _U2
    x0, x1 = _round(x0, x1, _R0)
    x0, x1 = _round(x0, x1, _R1)
    x0, x1 = _round(x0, x1, _R2)
    x0, x1 = _round(x0, x1, _R3)
    x0 += k0
    x1 += k1 + _U3
    x0, x1 = _round(x0, x1, _R4)
    x0, x1 = _round(x0, x1, _R5)
    x0, x1 = _round(x0, x1, _R6)
    x0, x1 = _round(x0, x1, _R7)
    x0 += k1
    x1 += k2 + _U4
    x0, x1 = _round(x0, x1, _R0)
    x0, x1 = _round(x0, x1, _R1)
    x0, x1 = _round(x0, x1, _R2)
    x0, x1 = _round(x0, x1, _R3)
    x0 += k2
    x1 += k0 + _U5
    return x0, x1


@njit(inline="always", **_JIT)
def counter1(tag, j):
    """The second counter word ``(tag << 32) | j`` (module docstring)."""
    return (np.uint64(tag) << _U32) | np.uint64(j)


@njit(inline="always", **_JIT)
def to_unit(x):
    """A ``uint64`` word to a double in the open interval (0, 1): ``((x >> 12) + 1/2) 2^-52``.

    The top 52 bits of the word make the midpoint of one of 2^52 equal cells; the midpoint needs 53
    significant bits, so it is exact (with 53 random bits the midpoints of the upper half would
    round, and the largest to 1.0).
    """
    return (float(x >> _U12) + 0.5) * _TWO_M52


@njit(inline="always", **_JIT)
def uniform2(seed, stream, c0, c1):
    """Two independent uniforms on (0, 1) for counter ``(c0, c1)`` of stream ``(seed, stream)``."""
    y0, y1 = threefry2x64(seed, stream, c0, c1)
    return to_unit(y0), to_unit(y1)


@njit(inline="always", **_JIT)
def normal2(seed, stream, c0, c1):
    """Two independent standard normals (Box-Muller on :func:`uniform2`)."""
    u0, u1 = uniform2(seed, stream, c0, c1)
    r = math.sqrt(-2.0 * math.log(u0))
    t = _TWO_PI * u1
    return r * math.cos(t), r * math.sin(t)


@njit(inline="always", **_JIT)
def randbelow(seed, stream, c0, c1, m):
    """An integer uniform on ``{0, ..., m - 1}`` (``1 <= m < 2**53``), from one counter.

    ``floor(u m)`` with a 53-bit u in [0, 1): each probability is off by at most ``m 2^-53``
    relative (1e-10 for a million items), far below anything a shuffle of a training set can show.
    """
    y0, y1 = threefry2x64(seed, stream, c0, c1)
    j = int(float(y0 >> _U11) * _TWO_M53 * m)
    return j if j < m else m - 1


@njit(**_JIT)
def normal_row(seed, stream, c0, tag, out):
    """Fill ``out`` (length d) with standard normals: coordinates ``2j, 2j+1`` from counter
    ``(c0, (tag << 32) | j)``. Row ``c0`` of a data matrix is a function of (seed, stream, c0, tag)."""
    d = out.shape[0]
    for j in range((d + 1) // 2):
        z0, z1 = normal2(seed, stream, c0, counter1(tag, j))
        out[2 * j] = z0
        if 2 * j + 1 < d:
            out[2 * j + 1] = z1


@njit(**_JIT)
def uniform_row(seed, stream, c0, tag, lo, hi, out):
    """Fill ``out`` with uniforms on (lo, hi), counters as in :func:`normal_row`."""
    d = out.shape[0]
    w = hi - lo
    for j in range((d + 1) // 2):
        u0, u1 = uniform2(seed, stream, c0, counter1(tag, j))
        out[2 * j] = lo + w * u0
        if 2 * j + 1 < d:
            out[2 * j + 1] = lo + w * u1


@njit(**_JIT)
def fill_uniform(seed, stream, tag, out):
    """``out[2i], out[2i+1]`` = the two uniforms of counter ``(i, tag << 32)``: a flat stream."""
    n = out.shape[0]
    c1 = counter1(tag, 0)
    for i in range((n + 1) // 2):
        u0, u1 = uniform2(seed, stream, np.uint64(i), c1)
        out[2 * i] = u0
        if 2 * i + 1 < n:
            out[2 * i + 1] = u1


@njit(**_JIT)
def fill_normal(seed, stream, tag, out):
    """``out[2i], out[2i+1]`` = the two normals of counter ``(i, tag << 32)``: a flat stream."""
    n = out.shape[0]
    c1 = counter1(tag, 0)
    for i in range((n + 1) // 2):
        z0, z1 = normal2(seed, stream, np.uint64(i), c1)
        out[2 * i] = z0
        if 2 * i + 1 < n:
            out[2 * i + 1] = z1


@njit(**_JIT)
def fill_normal_rows(seed, stream, tag, c0_start, X):
    """Rows ``X[i] = normal_row(seed, stream, c0_start + i, tag)``: a data matrix (n, d)."""
    for i in range(X.shape[0]):
        normal_row(seed, stream, np.uint64(c0_start) + np.uint64(i), tag, X[i])


@njit(**_JIT)
def threefry_words(k0, k1, c0, c1):
    """Non-inlined :func:`threefry2x64` for calls from Python (known-answer tests)."""
    return threefry2x64(k0, k1, c0, c1)


def as_key(seed, name: str = "seed") -> np.uint64:
    """A Python integer in ``[0, 2**64)`` as a ``uint64`` key word; ``ValueError``/``TypeError`` naming
    the argument otherwise."""
    import numbers

    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [0, 2**64); got {seed!r} of type "
                        f"{type(seed).__name__}")
    s = int(seed)
    if not 0 <= s < 2 ** 64:
        raise ValueError(f"{name} must be an integer in [0, 2**64); got {s}")
    return np.uint64(s)
