"""The counter-based generator (dynsys.kernels.rng): known answers, distributions, independence,
determinism.

Statistical checks use 10**6 draws and fixed seeds, so they are deterministic; thresholds are set so
that a correct generator fails them with probability below about 1e-4 (and a broken one, e.g. a
stuck bit or a correlated stream, fails by orders of magnitude).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dynsys.kernels import rng

N_DRAWS = 10**6
#: KS / chi-square tests: reject below this p-value.
P_MIN = 1e-4
#: |sample correlation| of independent streams: 5 standard errors (1/sqrt(n) each).
CORR_NSE = 5.0

U64 = np.uint64


def _uniforms(seed, stream, n=N_DRAWS, tag=0):
    out = np.empty(n)
    rng.fill_uniform(U64(seed), U64(stream), tag, out)
    return out


def _normals(seed, stream, n=N_DRAWS, tag=0):
    out = np.empty(n)
    rng.fill_normal(U64(seed), U64(stream), tag, out)
    return out


# Random123's published known-answer vectors for Threefry-2x64-20 (tests/kat_vectors):
# (counter, key, output), two 64-bit words each.
_M = 0xFFFFFFFFFFFFFFFF
KAT = [
    ((0, 0), (0, 0), (0xC2B6E3A8C2C69865, 0x6F81ED42F350084D)),
    ((_M, _M), (_M, _M), (0xE02CB7C4D95D277A, 0xD06633D0893B8B68)),
    ((0x243F6A8885A308D3, 0x13198A2E03707344), (0xA4093822299F31D0, 0x082EFA98EC4E6C89),
     (0x263C7D30BB0F0AF1, 0x56BE8361D3311526)),
]


@pytest.mark.parametrize("ctr, key, expected", KAT)
def test_threefry_known_answers(ctr, key, expected):
    y = rng.threefry_words(U64(key[0]), U64(key[1]), U64(ctr[0]), U64(ctr[1]))
    assert (int(y[0]), int(y[1])) == expected


def test_to_unit_extremes_stay_open():
    assert rng.to_unit(U64(0)) == 2.0**-53
    assert rng.to_unit(U64(2**64 - 1)) == 1.0 - 2.0**-53


def test_uniform_open_interval_and_ks():
    u = _uniforms(0, 0)
    assert u.min() > 0.0 and u.max() < 1.0
    # every value is the midpoint (m + 1/2) 2^-52 of a cell, exactly
    m = u * 2.0**52 - 0.5
    assert np.array_equal(m, np.floor(m))
    assert stats.kstest(u, "uniform").pvalue > P_MIN
    # low bits are random too: the last 8 of the 52 bits are uniform on 0..255
    low = (m.astype(np.int64) & 255)
    counts = np.bincount(low, minlength=256)
    assert stats.chisquare(counts).pvalue > P_MIN


def test_normal_moments_and_ks():
    z = _normals(1, 0)
    n = z.size
    assert abs(z.mean()) < 5.0 / np.sqrt(n)
    assert abs(z.var() - 1.0) < 5.0 * np.sqrt(2.0 / n)
    assert abs(stats.skew(z)) < 5.0 * np.sqrt(6.0 / n)
    assert abs(stats.kurtosis(z)) < 5.0 * np.sqrt(24.0 / n)
    assert stats.kstest(z, "norm").pvalue > P_MIN
    # the two Box-Muller outputs of one counter are uncorrelated, and so are their squares
    z0, z1 = z[0::2], z[1::2]
    lim = CORR_NSE / np.sqrt(z0.size)
    assert abs(np.corrcoef(z0, z1)[0, 1]) < lim
    assert abs(np.corrcoef(z0**2, z1**2)[0, 1]) < lim


@pytest.mark.parametrize("other", [(0, 1), (1, 0), (0, 2**32), (2**63, 0)])
def test_adjacent_streams_and_seeds_uncorrelated(other):
    """Streams (seed, stream) that differ in one key word give uncorrelated draws at equal counters."""
    a = _normals(0, 0)
    b = _normals(*other)
    lim = CORR_NSE / np.sqrt(a.size)
    assert abs(np.corrcoef(a, b)[0, 1]) < lim
    assert abs(np.corrcoef(np.abs(a), np.abs(b))[0, 1]) < lim
    # lag-1 within a stream
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < lim


def test_tags_give_different_streams():
    a = _uniforms(3, 5, n=10_000, tag=rng.TAG_DATA)
    b = _uniforms(3, 5, n=10_000, tag=rng.TAG_MC)
    assert not np.any(a == b)
    assert abs(np.corrcoef(a, b)[0, 1]) < CORR_NSE / np.sqrt(a.size)


def test_determinism_and_chunk_independence():
    a = _normals(7, 11, n=10_001)
    b = _normals(7, 11, n=10_001)
    assert np.array_equal(a, b)
    # rows of a data matrix depend only on their index: filling in two pieces gives the same matrix
    d = 7
    X = np.empty((1000, d))
    rng.fill_normal_rows(U64(5), U64(2), rng.TAG_DATA, 0, X)
    Y = np.empty((1000, d))
    rng.fill_normal_rows(U64(5), U64(2), rng.TAG_DATA, 0, Y[:313])
    rng.fill_normal_rows(U64(5), U64(2), rng.TAG_DATA, 313, Y[313:])
    assert np.array_equal(X, Y)
    # an odd d uses the first output of the last pair; an even d both
    X8 = np.empty((10, d + 1))
    rng.fill_normal_rows(U64(5), U64(2), rng.TAG_DATA, 0, X8)
    assert np.array_equal(X8[:, :d], X[:10])


def test_randbelow_uniform():
    m = 7
    n = 70_000
    draws = _randbelow_many(9, 1, m, n)
    assert draws.min() == 0 and draws.max() == m - 1
    assert stats.chisquare(np.bincount(draws, minlength=m)).pvalue > P_MIN


def _randbelow_many(seed, stream, m, n):
    from numba import njit

    @njit
    def many(seed, stream, m, n):
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            out[i] = rng.randbelow(seed, stream, np.uint64(i), np.uint64(0), m)
        return out

    return many(U64(seed), U64(stream), m, n)


def test_as_key_validates():
    assert rng.as_key(2**64 - 1) == U64(2**64 - 1)
    with pytest.raises(ValueError, match="seed"):
        rng.as_key(-1)
    with pytest.raises(ValueError, match="seed"):
        rng.as_key(2**64)
    with pytest.raises(TypeError, match="seed"):
        rng.as_key(1.5)
    with pytest.raises(TypeError, match="seed"):
        rng.as_key(True)


@pytest.mark.cuda
def test_cuda_device_calls_match_cpu():
    """The same functions called from a CUDA kernel (compiled as device functions): the integer words,
    uniforms and integers bitwise, the Box-Muller normals to a few ulps (the GPU's log/sin/cos are not
    glibc's)."""
    cuda = pytest.importorskip("numba.cuda")
    from numba.cuda import config as cuda_config

    if getattr(cuda_config, "ENABLE_CUDASIM", False):
        pytest.skip("the CUDA simulator runs the CPU-compiled functions: nothing to compare")
    if not cuda.is_available():
        pytest.skip("no CUDA GPU")
    from numba import njit

    def body(i, w, u, z, j):
        y0, y1 = rng.threefry2x64(U64(3), U64(4), np.uint64(i), U64(5))
        w[i, 0] = y0
        w[i, 1] = y1
        u[i] = rng.to_unit(y0)
        z0, z1 = rng.normal2(U64(3), U64(4), np.uint64(i), U64(5))
        z[i, 0] = z0
        z[i, 1] = z1
        j[i] = rng.randbelow(U64(3), U64(4), np.uint64(i), U64(5), 1000)

    cpu_body = njit(body)

    @njit
    def cpu(w, u, z, j):
        for i in range(u.shape[0]):
            cpu_body(i, w, u, z, j)

    gpu_body = cuda.jit(device=True)(body)

    @cuda.jit
    def gpu(w, u, z, j):
        for i in range(u.shape[0]):   # one thread: the point is the device code, not speed
            gpu_body(i, w, u, z, j)

    n = 512
    outs_c = (np.empty((n, 2), np.uint64), np.empty(n), np.empty((n, 2)), np.empty(n, np.int64))
    cpu(*outs_c)
    d_outs = [cuda.to_device(np.zeros_like(a)) for a in outs_c]
    gpu[1, 1](*d_outs)
    w, u, z, j = (a.copy_to_host() for a in d_outs)
    assert np.array_equal(w, outs_c[0]) and np.array_equal(u, outs_c[1]) and np.array_equal(j, outs_c[3])
    np.testing.assert_allclose(z, outs_c[2], rtol=1e-14, atol=1e-14)
