"""The one-state-per-block CUDA kernel of the loss and gradient (the ``"block"`` shape of
:mod:`dynsys.kernels.cuda.field`, which launches it and describes the mathematics and precision), and the
layout of its per-block workspace.

Large ``k * d``: one state per block of ``CUDA_BLOCK_KERNEL_THREADS`` threads, grid-stride
over states. The state's rows, the teacher rows, the norms and a coefficient table form the block's
workspace (in dynamic shared memory when it fits, else in a per-block slice of a global scratch
array). Two phases, no atomics, deterministic: (1) the ``k(k-1)/2 + k k*`` pairs are spread over the
threads; each computes its angle once and stores the pair's two gradient coefficients
(``a_j a_i P`` for the other row, ``a_j a_i Q`` for the own direction) and adds its loss term to a
per-thread partial sum; (2) after a barrier each thread computes whole output entries
``G[j, l] = (sum_i F[j, i] v_i[l] - sum_q F*[j, q] t_q[l] + sc_j v_j[l]) / 2 pi``. The loss is a
fixed-tree block reduction of the partial sums.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numba
import numpy as np
from numba import cuda

from .constants import _CONST_NAMES, NONFINITE, OK, SINGULAR, _consts


class _Layout(NamedTuple):
    """Offsets (in elements) of the block workspace; ``size`` elements in all."""

    DP: int  # row stride of V and T (odd: the rows of a warp's pairs fall in different banks)
    V: int
    T: int
    N: int  # norms (k)
    SC: int  # per-row own-direction coefficients (k)
    FV: int  # k x k: a_j a_i P(theta_ji) below the diagonal (j > i), a_j a_i Q above (at [i, j])
    FT: int  # k x k*: -a_j a*_q P
    HT: int  # k x k*: -a_j a*_q Q |t_q|
    R: int  # linear branch: the residual vector r (d)
    RED: int  # per-thread partial sums of the loss (threads)
    size: int


def _layout(k, d, ks, nt, want_grad, linear) -> _Layout:
    dp = d | 1
    off = 0

    def take(size):
        nonlocal off
        start = off
        off += size
        return start

    V = take(k * dp)
    T = take(ks * dp)
    if linear:
        N = SC = FV = FT = HT = 0
        R = take(d)
    else:
        R = 0
        N = take(k)
        SC = take(k if want_grad else 0)
        FV = take(k * k if want_grad else 0)
        FT = take(k * ks if want_grad else 0)
        HT = take(k * ks if want_grad else 0)
    RED = take(nt)
    return _Layout(dp, V, T, N, SC, FV, FT, HT, R, RED, off)


@functools.cache
def _loss_grad_batch_cuda_block(k: int, d: int, ks: int, dtype_name: str, has_u: bool, want_grad: bool,
                                linear: bool, nt: int, shared: bool, unroll: bool):
    """Kernel ``(W2, U, T, tn, a, a_star, alpha, const, tol, loss, G2, status, scratch)``.

    ``W2``, ``G2`` are the batch as ``(n, k * d)``; ``scratch`` is ``(blocks, layout.size)`` when the
    workspace is global, a dummy otherwise (the workspace is then dynamic shared memory of
    ``layout.size`` elements). ``nt`` threads per block, a power of two (tree reduction). ``unroll``
    as for the thread kernel (the workspace offsets are compile-time constants either way).
    """
    nf = numba.from_dtype(np.dtype(dtype_name))
    c = _consts(dtype_name)
    ZERO, ONE, TWO, HALF, PI, TWO_PI, INV2PI, SW = (c[x] for x in _CONST_NAMES)
    lay = _layout(k, d, ks, nt, want_grad, linear)
    NK, ND, NKS, KD, NT, HAS_U, WANT_G, SHARED, UNROLL = k, d, ks, k * d, nt, has_u, want_grad, shared, unroll
    DP, OV, OT, ON, OSC, OFV, OFT, OHT, OR, ORED = (lay.DP, lay.V, lay.T, lay.N, lay.SC, lay.FV, lay.FT,
                                                  lay.HT, lay.R, lay.RED)
    NPV = k * (k - 1) // 2
    NPAIRS = NPV + k * ks

    @cuda.jit(device=True, inline=True)
    def bounds(a, T):
        if UNROLL:
            return NK, ND, NKS
        return a.shape[0], T.shape[1], T.shape[0]

    @cuda.jit(device=True, inline=True)
    def workspace(scratch):
        if SHARED:
            return cuda.shared.array(0, nf)
        return scratch[cuda.blockIdx.x]

    @cuda.jit(device=True, inline=True)
    def load_state(ws, W, U, T, b, tid):
        """The state's network rows ``W[b] (+ U)`` into the workspace, rows at stride DP."""
        for e in range(tid, KD, NT):
            j = e // ND
            l = e - j * ND
            x = W[b, e]
            if HAS_U:
                x += U[j, l]
            ws[OV + j * DP + l] = x

    @cuda.jit(device=True, inline=True)
    def load_teacher(ws, T, tid):
        """The teacher rows, once per block (the states that follow reuse them)."""
        for e in range(tid, NKS * ND, NT):
            q = e // ND
            l = e - q * ND
            ws[OT + q * DP + l] = T[q, l]

    @cuda.jit(device=True, inline=True)
    def block_sum(ws, part, tid):
        """Fixed-tree sum of every thread's ``part`` (deterministic); all threads get the result."""
        ws[ORED + tid] = part
        cuda.syncthreads()
        s = NT // 2
        while s > 0:
            if tid < s:
                ws[ORED + tid] += ws[ORED + tid + s]
            cuda.syncthreads()
            s //= 2
        return ws[ORED]

    @cuda.jit(device=True, inline=True)
    def zero_state(loss, G, status, b, st, tid):
        if WANT_G:
            for e in range(tid, KD, NT):
                G[b, e] = ZERO
        if tid == 0:
            loss[b] = ZERO
            status[b] = st

    def nonlinear(W, U, T, tn, a, a_star, alpha, const, tol, loss, G, status, scratch):
        ws = workspace(scratch)
        nk, nd, nks = bounds(a, T)
        tid = cuda.threadIdx.x
        load_teacher(ws, T, tid)
        opa = ONE + alpha * alpha
        om = ONE - alpha
        n = W.shape[0]
        for b in range(cuda.blockIdx.x, n, cuda.gridDim.x):
            load_state(ws, W, U, T, b, tid)
            cuda.syncthreads()
            part = ZERO  # this thread's share of 2 pi (loss - const)
            nonfin = 0
            sing = 0
            for j in range(tid, NK, NT):
                acc = ZERO
                for l in range(nd):
                    x = ws[OV + j * DP + l]
                    acc += x * x
                r = math.sqrt(acc)
                ws[ON + j] = r
                if not math.isfinite(r):
                    nonfin = 1
                if r <= tol:
                    sing = 1
                part += HALF * (PI * a[j] * a[j] * opa) * r * r
            nonfin = cuda.syncthreads_or(nonfin)
            sing = cuda.syncthreads_or(sing)
            if nonfin != 0 or sing != 0:
                zero_state(loss, G, status, b, NONFINITE if nonfin != 0 else SINGULAR, tid)
                continue
            for p in range(tid, NPAIRS, NT):
                if p < NPV:
                    # p-th pair (j, i), i < j, of the strict lower triangle, row by row
                    j = int((ONE + math.sqrt(nf(8 * p + 1))) * HALF)
                    while j * (j - 1) // 2 > p:
                        j -= 1
                    while j * (j + 1) // 2 <= p:
                        j += 1
                    i = p - j * (j - 1) // 2
                    ro = OV + i * DP
                    no = ws[ON + i]
                    aa = a[j] * a[i]
                else:
                    j = (p - NPV) // NKS
                    i = p - NPV - j * NKS  # the teacher row q
                    ro = OT + i * DP
                    no = tn[i]
                    aa = -(a[j] * a_star[i])
                    if no == ZERO:
                        if WANT_G:
                            ws[OFT + j * NKS + i] = ZERO
                            ws[OHT + j * NKS + i] = ZERO
                        continue
                rj = OV + j * DP
                nj = ws[ON + j]
                dot = ZERO
                for l in range(nd):
                    dot += ws[rj + l] * ws[ro + l]
                cs = dot / (nj * no)
                if -SW <= cs and cs <= SW:
                    theta = math.acos(cs)
                    s = math.sqrt(ONE - cs * cs)
                else:
                    ix = ONE / nj
                    iy = ONE / no
                    dm = ZERO
                    dq = ZERO
                    for l in range(nd):
                        x = ws[rj + l] * ix
                        y = ws[ro + l] * iy
                        dm += (x - y) * (x - y)
                        dq += (x + y) * (x + y)
                    theta = TWO * math.atan2(math.sqrt(dm), math.sqrt(dq))
                    cs = math.cos(theta)
                    s = math.sin(theta)
                P = opa * (PI - theta) + TWO * alpha * theta
                Q = om * om * s
                Kc = opa * (s + (PI - theta) * cs) - TWO * alpha * (s - theta * cs)
                part += aa * nj * no * Kc
                if WANT_G:
                    if p < NPV:
                        ws[OFV + j * NK + i] = aa * P
                        ws[OFV + i * NK + j] = aa * Q
                    else:
                        ws[OFT + j * NKS + i] = aa * P
                        ws[OHT + j * NKS + i] = aa * Q * no
            L = block_sum(ws, part, tid) / TWO_PI + const
            bad = 0 if math.isfinite(L) else 1
            if WANT_G:
                for j in range(tid, NK, NT):
                    t = ZERO
                    for i in range(nk):
                        if i < j:
                            t += ws[OFV + i * NK + j] * ws[ON + i]
                        elif i > j:
                            t += ws[OFV + j * NK + i] * ws[ON + i]
                    for q in range(nks):
                        t += ws[OHT + j * NKS + q]
                    ws[OSC + j] = PI * a[j] * a[j] * opa + t / ws[ON + j]
                cuda.syncthreads()
                for e in range(tid, KD, NT):
                    j = e // ND
                    l = e - j * ND
                    g = ZERO
                    for i in range(j):
                        g += ws[OFV + j * NK + i] * ws[OV + i * DP + l]
                    for i in range(j + 1, nk):
                        g += ws[OFV + i * NK + j] * ws[OV + i * DP + l]
                    for q in range(nks):
                        g += ws[OFT + j * NKS + q] * ws[OT + q * DP + l]
                    g = (g + ws[OSC + j] * ws[OV + j * DP + l]) * INV2PI
                    G[b, e] = g
                    if not math.isfinite(g):
                        bad = 1
            # also the barrier that protects the workspace from the next state's loads
            bad = cuda.syncthreads_or(bad)
            if bad != 0:
                zero_state(loss, G, status, b, NONFINITE, tid)
            elif tid == 0:
                loss[b] = L
                status[b] = OK

    def linear_kernel(W, U, T, tn, a, a_star, alpha, const, tol, loss, G, status, scratch):
        ws = workspace(scratch)
        nk, nd, nks = bounds(a, T)
        tid = cuda.threadIdx.x
        load_teacher(ws, T, tid)
        n = W.shape[0]
        for b in range(cuda.blockIdx.x, n, cuda.gridDim.x):
            load_state(ws, W, U, T, b, tid)
            nonfin = 0
            for e in range(tid, KD, NT):
                j = e // ND
                if not math.isfinite(ws[OV + j * DP + e - j * ND]):
                    nonfin = 1
            nonfin = cuda.syncthreads_or(nonfin)
            if nonfin != 0:
                zero_state(loss, G, status, b, NONFINITE, tid)
                continue
            part = ZERO
            for l in range(tid, ND, NT):
                acc = ZERO
                for j in range(nk):
                    acc += a[j] * ws[OV + j * DP + l]
                for q in range(nks):
                    acc -= a_star[q] * ws[OT + q * DP + l]
                ws[OR + l] = acc
                part += acc * acc
            L = HALF * block_sum(ws, part, tid)  # its barriers also publish r
            bad = 0 if math.isfinite(L) else 1
            if WANT_G:
                for e in range(tid, KD, NT):
                    j = e // ND
                    g = a[j] * ws[OR + e - j * ND]
                    G[b, e] = g
                    if not math.isfinite(g):
                        bad = 1
            bad = cuda.syncthreads_or(bad)
            if bad != 0:
                zero_state(loss, G, status, b, NONFINITE, tid)
            elif tid == 0:
                loss[b] = L
                status[b] = OK

    return cuda.jit(linear_kernel if linear else nonlinear), lay
