"""Monte Carlo kernels: sample means and variances of per-input quantities, chunked and deterministic.

Samples are processed in *blocks* of ``B`` consecutive sample indices (``config.MC_BLOCK``); block ``b``
holds samples ``[b B, min((b + 1) B, N))`` whatever the chunking. Each block is summarised serially
by Welford's update (count, mean, sum of squared deviations ``M2``), one block per
iteration, and the block summaries are merged in sample order by pairwise (binary-counter) merging
with Chan, Golub and LeVeque's formula

    n = na + nb,  delta = mean_b - mean_a,  mean = mean_a + delta nb / n,  M2 = M2a + M2b + delta^2 na nb / n

so the merge tree depends only on N and B: the result is bitwise the same for every thread count and
every chunk size (a chunk is any whole number of blocks), and the variance is accurate (no
cancellation of raw sums of squares). The merge stack lives in caller-owned arrays between chunks.
The blocks of a chunk are spread over threads by :func:`threaded`.

Inputs x come either from the counter-based generator (:mod:`.rng`, sample i of stream (seed, 0) at
counter ``(i, TAG_MC << 32 | j)``) or from a caller-supplied array holding the chunk's samples.
"""

import numba
import numpy as np
from numba import njit

from ..progress import compile_notice
from . import pool, rng
from .network import forward, output, rows

_JIT = dict(cache=True)

#: Input modes of the chunk kernels.
MODE_GAUSSIAN = 0
MODE_UNIFORM = 1
MODE_ARRAY = 2

#: Enough merge-stack levels for any N below 2**63 samples.
STACK_DEPTH = 64


def threaded(kernel, n: int, *args) -> None:
    """``kernel(lo, hi, *args)`` over ``[0, n)`` in contiguous ranges on ``numba.get_num_threads()``
    threads (``kernel`` is ``nogil``; each range writes only its own rows).

    Why threads around a serial kernel rather than ``prange``: a ``parallel=True`` driver re-optimises
    the whole inlined call tree of its body (the RNG, the loss kernel, the assignment solver), which
    cost several seconds of compilation per driver here; the results are the same (bitwise) for any
    thread count either way, since every row is computed by one thread from its own counters.
    """
    compile_notice(kernel, "sampling")
    nt = min(numba.get_num_threads(), n)
    if nt <= 1:
        kernel(0, n, *args)
        return
    nparts = min(n, 4 * nt)
    pool.run_ranges(lambda lo, hi: kernel(lo, hi, *args),
                    [(i * n // nparts, (i + 1) * n // nparts) for i in range(nparts)], nt)


def new_stack(p: int):
    """Empty merge stack for ``p`` quantities.

    Returns ``(mean (64, p), M2 (64, p), n (64,), level (64,), top (1,))``.
    """
    return (np.zeros((STACK_DEPTH, p)), np.zeros((STACK_DEPTH, p)), np.zeros(STACK_DEPTH),
            np.zeros(STACK_DEPTH, dtype=np.int64), np.zeros(1, dtype=np.int64))


@njit(inline="always", **_JIT)
def _merge_into(Am, A2, na, Bm, B2, nb):
    """Chan's pairwise merge of summary B into summary A (arrays ``Am``, ``A2`` updated in place)."""
    n = na + nb
    fb = nb / n
    fab = na * nb / n
    for q in range(Am.shape[0]):
        delta = Bm[q] - Am[q]
        Am[q] = Am[q] + delta * fb
        A2[q] = A2[q] + B2[q] + delta * delta * fab
    return n


@njit(**_JIT)
def push_blocks(mean, m2, cnt, nblk, S_mean, S_m2, S_n, S_lvl, top):
    """Push the first ``nblk`` block summaries, in order, onto the binary-counter merge stack."""
    t = top[0]
    for b in range(nblk):
        S_mean[t, :] = mean[b]
        S_m2[t, :] = m2[b]
        S_n[t] = cnt[b]
        S_lvl[t] = 0
        t += 1
        while t >= 2 and S_lvl[t - 1] == S_lvl[t - 2]:
            S_n[t - 2] = _merge_into(S_mean[t - 2], S_m2[t - 2], S_n[t - 2], S_mean[t - 1], S_m2[t - 1],
                                     S_n[t - 1])
            S_lvl[t - 2] += 1
            t -= 1
    top[0] = t


@njit(**_JIT)
def finish_stack(S_mean, S_m2, S_n, top):
    """Merge what is left on the stack (newest into the one below, down to the bottom); returns n.

    The result is in ``S_mean[0]``, ``S_m2[0]``.
    """
    t = top[0]
    while t >= 2:
        S_n[t - 2] = _merge_into(S_mean[t - 2], S_m2[t - 2], S_n[t - 2], S_mean[t - 1], S_m2[t - 1],
                                 S_n[t - 1])
        t -= 1
    top[0] = t
    return S_n[0]


@njit(inline="always", **_JIT)
def _draw(mode, seed, i, X, r, x):
    """Sample i into ``x``: from the counter stream (modes 0, 1) or row r of ``X`` (mode 2)."""
    if mode == MODE_GAUSSIAN:
        rng.normal_row(seed, np.uint64(0), np.uint64(i), rng.TAG_MC, x)
    elif mode == MODE_UNIFORM:
        rng.uniform_row(seed, np.uint64(0), np.uint64(i), rng.TAG_MC, -0.5, 0.5, x)
    else:
        for l in range(x.shape[0]):
            x[l] = X[r, l]


@njit(inline="always", **_JIT)
def _open_block(mb, vb, blk0, b, B, n_total):
    """Zero the summary (``mb``, ``vb``) of block ``b`` of the chunk starting at block ``blk0``; returns
    the block's sample range ``[i0, i1)`` and the chunk's first sample index."""
    mb[:] = 0.0
    vb[:] = 0.0
    i0 = (blk0 + b) * B
    return i0, min(i0 + B, n_total), blk0 * B


@njit(inline="always", **_JIT)
def _welford(mean, m2, q, value, inv_n):
    delta = value - mean[q]
    mean[q] += delta * inv_n
    m2[q] += delta * (value - mean[q])


@njit(nogil=True, **_JIT)
def model_blocks(lo, hi, mode, X, seed, blk0, n_total, B, W, A, mean, m2, cnt):
    """Block summaries of the per-sample loss and gradient at the state ``W`` (k, d) of the model
    ``A`` (:class:`~dynsys.systems.base.FieldArrays`) for blocks ``blk0 + lo .. blk0 + hi - 1`` of the
    sample sequence, into rows ``lo .. hi - 1`` of ``mean``, ``m2``, ``cnt``.

    Per sample x (docs/math.md sections 1 and 6; Tian (ICML 2017) Eqn 3 divided by N): with network rows
    ``V = W + U``, ``h_j = v_j . x``, ``r = g(x; T) - g(x; V)``, the quantities are ``r^2 / 2``
    (column 0 of ``mean``/``m2``) and ``-r a_j sigma'(h_j) x_l`` (column ``1 + j d + l``),
    ``sigma'(0) = alpha``. ``X`` holds the chunk's samples in mode 2 (row 0 is sample ``blk0 B``); it
    is ignored otherwise.
    """
    V = rows(W, A.U, np.empty(W.shape))
    for b in range(lo, hi):
        cnt[b] = _model_block(mode, X, seed, blk0, b, n_total, B, V, A.T, A.a, A.a_star, A.alpha,
                              mean[b], m2[b])


@njit(inline="always", **_JIT)
def _model_block(mode, X, seed, blk0, b, n_total, B, V, T, a, a_star, alpha, mb, vb):
    k, d = V.shape
    x = np.empty(d)
    s = np.empty(k)
    i0, i1, base = _open_block(mb, vb, blk0, b, B, n_total)
    for i in range(i0, i1):
        _draw(mode, seed, i, X, i - base, x)
        r = output(T, a_star, alpha, x) - forward(V, a, alpha, x, s)
        inv_n = 1.0 / (i - i0 + 1)
        _welford(mb, vb, 0, 0.5 * r * r, inv_n)
        for j in range(k):
            c = -r * s[j]
            o = 1 + j * d
            for l in range(d):
                _welford(mb, vb, o + l, c * x[l], inv_n)
    return i1 - i0


@njit(nogil=True, **_JIT)
def gating_blocks(lo, hi, mode, X, seed, blk0, n_total, B, E, Wg, mean, m2, cnt):
    """Block summaries of ``x 1{e_q . x > 0} relu(w_q . x)`` for every pair q (column ``q d + l``),
    blocks as in :func:`model_blocks`.

    The sample mean estimates Tian's (ICML 2017) ``E[F(e, w)] / N`` (Theorem 1), for all pairs on the same
    inputs (one data matrix X, as in the paper's Sec 7.1).
    """
    for b in range(lo, hi):
        cnt[b] = _gating_block(mode, X, seed, blk0, b, n_total, B, E, Wg, mean[b], m2[b])


@njit(inline="always", **_JIT)
def _gating_block(mode, X, seed, blk0, b, n_total, B, E, Wg, mb, vb):
    npair, d = E.shape
    x = np.empty(d)
    i0, i1, base = _open_block(mb, vb, blk0, b, B, n_total)
    for i in range(i0, i1):
        _draw(mode, seed, i, X, i - base, x)
        inv_n = 1.0 / (i - i0 + 1)
        for q in range(npair):
            he = 0.0
            hw = 0.0
            for l in range(d):
                he += E[q, l] * x[l]
                hw += Wg[q, l] * x[l]
            c = hw if (he > 0.0 and hw > 0.0) else 0.0
            o = q * d
            for l in range(d):
                _welford(mb, vb, o + l, c * x[l], inv_n)
    return i1 - i0
