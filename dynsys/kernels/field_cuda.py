"""CUDA twins of the teacher-student loss and gradient (``backend="cuda"``).

Same mathematics and statuses as the CPU per-state kernel
:func:`dynsys.systems.teacher_student.loss_grad` (its module docstring: the pair coefficients
``P, Q, K`` that share one angle per pair between the loss and both rows' gradients, the accurate-angle
rule, the ``alpha = 1`` linear branch; ``../MATH.md`` sections 1-2, paper ``000`` Theorem 1, Eqn 5-8).
Imported only by :func:`dynsys.backends.cuda_kernels`, after it has checked that a GPU is there.

Two kernel shapes, chosen by :func:`kernel_shape` from ``k * d`` (``CUDA_BLOCK_KERNEL_MIN_KD``):

``"thread"`` (small ``k * d``): one state per thread, grid-stride loop over states. The batch axis is
    last in device memory (``(k, d, n)``: neighbouring threads read neighbouring addresses), made by a
    tiled shared-memory transpose on the device and undone the same way for the gradient. Norms and the
    per-row scalars live in per-thread local arrays of compile-time size: every kernel is compiled for
    its exact ``(k, d, k*, dtype, residual?, gradient?, alpha == 1?)`` by a cached factory (closures
    over typed constants). The loops run to the arrays' shapes, or, with ``CUDA_KERNEL_UNROLL``, to the
    compile-time sizes (unrolled: fewer instructions, many more registers). Sums in the CPU's order.

``"block"`` (large ``k * d``): one state per block of ``CUDA_BLOCK_KERNEL_THREADS`` threads, grid-stride
    over states. The state's rows, the teacher rows, the norms and a coefficient table form the block's
    workspace (in dynamic shared memory when it fits, else in a per-block slice of a global scratch
    array). Two phases, no atomics, deterministic: (1) the ``k(k-1)/2 + k k*`` pairs are spread over the
    threads; each computes its angle once and stores the pair's two gradient coefficients
    (``a_j a_i P`` for the other row, ``a_j a_i Q`` for the own direction) and adds its loss term to a
    per-thread partial sum; (2) after a barrier each thread computes whole output entries
    ``G[j, l] = (sum_i F[j, i] v_i[l] - sum_q F*[j, q] t_q[l] + sc_j v_j[l]) / 2 pi``. The loss is a
    fixed-tree block reduction of the partial sums.

Precision: the kernel runs in the dtype of ``W`` (float64 or float32); the model's arrays are cast to
it, every constant in the kernels is typed (no silent float64 promotion in the float32 kernels).
Agreement with the CPU kernel, relative to the size of the terms (``S^2`` for the loss and ``|a_j| S``
for row j of the gradient, ``S = sum_j |a_j| |v_j| + sum_q |a*_q| |t_q|``; near a critical point the
results are small differences of such terms, so the scale is the terms', not the result's): float64
within 1e-12 (asserted by ``tests/test_cuda.py``; 1e-16 measured in the simulator), float32 within 1e-4
(asserted; a few 1e-8 measured in the simulator, which does not reproduce float32 arithmetic exactly).

Repeatable bitwise for a given launch: no atomics, fixed reduction trees. Gradient entries do not depend
on the launch configuration; the block kernel's loss depends in its last bits on the threads per block
(the order of the partial sums), and the two shapes differ from each other in the last bits.

Statuses: 0 ok, 3 singular (a row norm at or below ``tol``), 4 non-finite (a row holds NaN/Inf or its
norm overflows, as on the CPU; in addition a state whose loss or gradient comes out non-finite is
reported 4 instead of returned, which matters for float32 overflow). Bad states have loss 0 and G 0.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numba
import numpy as np
from numba import cuda

from ..config import (
    ACOS_SWITCH,
    CUDA_BLOCK_KERNEL_MIN_KD,
    CUDA_BLOCK_KERNEL_THREADS,
    CUDA_BLOCKS_PER_SM,
    CUDA_CHUNK_BYTES,
    CUDA_SHARED_WORKSPACE_MAX_BYTES,
    CUDA_KERNEL_UNROLL,
    CUDA_THREADS_PER_BLOCK,
)

OK = 0
SINGULAR = 3
NONFINITE = 4

SHAPES = ("thread", "block")
WORKSPACES = ("auto", "shared", "global")

_TILE = 32  # transpose tile (TILE x TILE values through shared memory)
_TILE_ROWS = 8  # threads per tile column: a block is TILE x TILE_ROWS threads


# ----------------------------------------------------------------------------------------- helpers
def kernel_shape(k: int, d: int) -> str:
    """``"block"`` (one state per block) when ``k * d > CUDA_BLOCK_KERNEL_MIN_KD``, else ``"thread"``."""
    return "block" if k * d > CUDA_BLOCK_KERNEL_MIN_KD else "thread"


def _consts(dtype):
    """Typed constants for the kernels of one precision (literals would promote float32 to float64)."""
    f = np.dtype(dtype).type
    return dict(ZERO=f(0.0), ONE=f(1.0), TWO=f(2.0), HALF=f(0.5), PI=f(math.pi),
                TWO_PI=f(2.0 * math.pi), INV2PI=f(1.0 / (2.0 * math.pi)), SW=f(ACOS_SWITCH))


_CONST_NAMES = ("ZERO", "ONE", "TWO", "HALF", "PI", "TWO_PI", "INV2PI", "SW")


def _device_attr(name: str, default: int) -> int:
    try:
        return int(getattr(cuda.get_current_device(), name))
    except Exception:  # the simulator's device has no attributes
        return default


# ------------------------------------------------------------------------------------- transpose
@functools.cache
def _transpose_kernel(dtype_name: str):
    """``dst (C, R) = src (R, C).T`` through shared-memory tiles (coalesced reads and writes).

    Grid ``(ceil(R / TILE), ceil(C / TILE))``: the long axis (the batch) of either layout is the
    source's rows or columns; ``rows_on_x`` says which one the grid's x axis (no 65535 limit) walks.
    """
    nf = numba.from_dtype(np.dtype(dtype_name))
    TILE, ROWS = _TILE, _TILE_ROWS
    PADDED = _TILE + 1  # a tile column falls in different banks (a compile-time constant for the shape)

    def transpose(src, dst, rows_on_x):
        tile = cuda.shared.array((TILE, PADDED), nf)
        if rows_on_x:
            r0 = cuda.blockIdx.x * TILE
            c0 = cuda.blockIdx.y * TILE
        else:
            r0 = cuda.blockIdx.y * TILE
            c0 = cuda.blockIdx.x * TILE
        tx = cuda.threadIdx.x
        R = src.shape[0]
        C = src.shape[1]
        for t in range(cuda.threadIdx.y, TILE, ROWS):
            i = r0 + t
            j = c0 + tx
            if i < R and j < C:
                tile[t, tx] = src[i, j]
        cuda.syncthreads()
        for t in range(cuda.threadIdx.y, TILE, ROWS):
            i = c0 + t
            j = r0 + tx
            if i < C and j < R:
                dst[i, j] = tile[tx, t]

    return cuda.jit(transpose)


def _transpose(src, dst, long_axis_rows: bool, stream):
    """Launch the tiled transpose of device ``src`` (R, C) into ``dst`` (C, R)."""
    R, C = src.shape
    gr = (R + _TILE - 1) // _TILE
    gc = (C + _TILE - 1) // _TILE
    grid = (gr, gc) if long_axis_rows else (gc, gr)
    _transpose_kernel(src.dtype.name)[grid, (_TILE, _TILE_ROWS), stream](src, dst, 1 if long_axis_rows else 0)


# ------------------------------------------------------------------------------ one state per thread
@functools.cache
def _loss_grad_batch_cuda_thread(k: int, d: int, ks: int, dtype_name: str, has_u: bool, want_grad: bool,
                                 linear: bool, unroll: bool):
    """Kernel ``(Wt, U, T, tn, a, a_star, alpha, const, tol, loss, Gt, status)`` for one shape.

    ``Wt`` and ``Gt`` are ``(k, d, n)``: state ``b`` is column ``b``, so a warp's reads and writes of one
    entry are contiguous. The order of every sum is the CPU kernel's. ``unroll``: loop bounds are
    compile-time constants (the compiler unrolls the row loops: fewer instructions, far more registers)
    instead of the arrays' shapes; the local arrays have compile-time sizes either way.
    """
    nf = numba.from_dtype(np.dtype(dtype_name))
    c = _consts(dtype_name)
    ZERO, ONE, TWO, HALF, PI, TWO_PI, INV2PI, SW = (c[x] for x in _CONST_NAMES)
    K, D, KS, HAS_U, WANT_G, UNROLL = k, d, ks, has_u, want_grad, unroll

    @cuda.jit(device=True, inline=True)
    def bounds(W, T):
        if UNROLL:
            return K, D, KS
        return W.shape[0], W.shape[1], T.shape[0]

    @cuda.jit(device=True, inline=True)
    def v(W, U, j, l, b):
        x = W[j, l, b]
        if HAS_U:
            x += U[j, l]
        return x

    @cuda.jit(device=True, inline=True)
    def zero_state(loss, G, status, b, st, nk, nd):
        loss[b] = ZERO
        status[b] = st
        if WANT_G:
            for j in range(nk):
                for l in range(nd):
                    G[j, l, b] = ZERO

    @cuda.jit(device=True, inline=True)
    def coefficients(theta, cs, s, alpha):
        om = ONE - alpha
        opa = ONE + alpha * alpha
        P = opa * (PI - theta) + TWO * alpha * theta
        Q = om * om * s
        Kc = opa * (s + (PI - theta) * cs) - TWO * alpha * (s - theta * cs)
        return P, Q, Kc

    def nonlinear(W, U, T, tn, a, a_star, alpha, const, tol, loss, G, status):
        nrm = cuda.local.array(K, nf)
        sc = cuda.local.array(K, nf)
        nk, nd, nks = bounds(W, T)
        n = W.shape[2]
        for b in range(cuda.grid(1), n, cuda.gridsize(1)):
            st = OK
            for j in range(nk):
                acc = ZERO
                for l in range(nd):
                    x = v(W, U, j, l, b)
                    acc += x * x
                r = math.sqrt(acc)
                nrm[j] = r
                if not math.isfinite(r):
                    st = NONFINITE
            if st == OK:
                for j in range(nk):
                    if nrm[j] <= tol:
                        st = SINGULAR
            if st != OK:
                zero_state(loss, G, status, b, st, nk, nd)
                continue
            opa = ONE + alpha * alpha
            acc = ZERO  # 2 pi times the loss, less the constant
            for j in range(nk):
                sc[j] = PI * a[j] * a[j] * opa
                acc += HALF * sc[j] * nrm[j] * nrm[j]
            if WANT_G:
                for j in range(nk):
                    for l in range(nd):
                        G[j, l, b] = ZERO
            for j in range(nk):
                nj = nrm[j]
                for i in range(j):
                    ni = nrm[i]
                    dot = ZERO
                    for l in range(nd):
                        dot += v(W, U, j, l, b) * v(W, U, i, l, b)
                    cs = dot / (nj * ni)
                    if -SW <= cs and cs <= SW:
                        theta = math.acos(cs)
                        s = math.sqrt(ONE - cs * cs)
                    else:
                        ix = ONE / nj
                        iy = ONE / ni
                        dm = ZERO
                        dp = ZERO
                        for l in range(nd):
                            x = v(W, U, j, l, b) * ix
                            y = v(W, U, i, l, b) * iy
                            dm += (x - y) * (x - y)
                            dp += (x + y) * (x + y)
                        theta = TWO * math.atan2(math.sqrt(dm), math.sqrt(dp))
                        cs = math.cos(theta)
                        s = math.sin(theta)
                    P, Q, Kc = coefficients(theta, cs, s, alpha)
                    aa = a[j] * a[i]
                    acc += aa * nj * ni * Kc
                    if WANT_G:
                        f = aa * P
                        for l in range(nd):
                            G[j, l, b] += f * v(W, U, i, l, b)
                            G[i, l, b] += f * v(W, U, j, l, b)
                        sc[j] += aa * Q * ni / nj
                        sc[i] += aa * Q * nj / ni
                for q in range(nks):
                    tq = tn[q]
                    if tq == ZERO:
                        continue
                    dot = ZERO
                    for l in range(nd):
                        dot += v(W, U, j, l, b) * T[q, l]
                    cs = dot / (nj * tq)
                    if -SW <= cs and cs <= SW:
                        theta = math.acos(cs)
                        s = math.sqrt(ONE - cs * cs)
                    else:
                        ix = ONE / nj
                        iy = ONE / tq
                        dm = ZERO
                        dp = ZERO
                        for l in range(nd):
                            x = v(W, U, j, l, b) * ix
                            y = T[q, l] * iy
                            dm += (x - y) * (x - y)
                            dp += (x + y) * (x + y)
                        theta = TWO * math.atan2(math.sqrt(dm), math.sqrt(dp))
                        cs = math.cos(theta)
                        s = math.sin(theta)
                    P, Q, Kc = coefficients(theta, cs, s, alpha)
                    aa = a[j] * a_star[q]
                    acc -= aa * nj * tq * Kc
                    if WANT_G:
                        f = aa * P
                        for l in range(nd):
                            G[j, l, b] -= f * T[q, l]
                        sc[j] -= aa * Q * tq / nj
            L = acc / TWO_PI + const
            bad = not math.isfinite(L)
            if WANT_G:
                for j in range(nk):
                    for l in range(nd):
                        g = (G[j, l, b] + sc[j] * v(W, U, j, l, b)) * INV2PI
                        G[j, l, b] = g
                        if not math.isfinite(g):
                            bad = True
            if bad:
                zero_state(loss, G, status, b, NONFINITE, nk, nd)
            else:
                loss[b] = L
                status[b] = OK

    def linear_kernel(W, U, T, tn, a, a_star, alpha, const, tol, loss, G, status):
        r = cuda.local.array(D, nf)
        nk, nd, nks = bounds(W, T)
        n = W.shape[2]
        for b in range(cuda.grid(1), n, cuda.gridsize(1)):
            bad = False
            for j in range(nk):
                for l in range(nd):
                    if not math.isfinite(v(W, U, j, l, b)):
                        bad = True
            if bad:
                zero_state(loss, G, status, b, NONFINITE, nk, nd)
                continue
            for l in range(nd):
                acc = ZERO
                for j in range(nk):
                    acc += a[j] * v(W, U, j, l, b)
                for q in range(nks):
                    acc -= a_star[q] * T[q, l]
                r[l] = acc
            L = ZERO
            for l in range(nd):
                L += r[l] * r[l]
            L = HALF * L
            bad = not math.isfinite(L)
            if WANT_G:
                for j in range(nk):
                    for l in range(nd):
                        g = a[j] * r[l]
                        G[j, l, b] = g
                        if not math.isfinite(g):
                            bad = True
            if bad:
                zero_state(loss, G, status, b, NONFINITE, nk, nd)
            else:
                loss[b] = L
                status[b] = OK

    return cuda.jit(linear_kernel if linear else nonlinear)


# ------------------------------------------------------------------------------- one state per block
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
    K, D, KS, KD, NT, HAS_U, WANT_G, SHARED, UNROLL = k, d, ks, k * d, nt, has_u, want_grad, shared, unroll
    DP, OV, OT, ON, OSC, OFV, OFT, OHT, OR, ORED = (lay.DP, lay.V, lay.T, lay.N, lay.SC, lay.FV, lay.FT,
                                                  lay.HT, lay.R, lay.RED)
    NPV = k * (k - 1) // 2
    NPAIRS = NPV + k * ks

    @cuda.jit(device=True, inline=True)
    def bounds(a, T):
        if UNROLL:
            return K, D, KS
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
            j = e // D
            l = e - j * D
            x = W[b, e]
            if HAS_U:
                x += U[j, l]
            ws[OV + j * DP + l] = x

    @cuda.jit(device=True, inline=True)
    def load_teacher(ws, T, tid):
        """The teacher rows, once per block (the states that follow reuse them)."""
        for e in range(tid, KS * D, NT):
            q = e // D
            l = e - q * D
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
            for j in range(tid, K, NT):
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
                    j = (p - NPV) // KS
                    i = p - NPV - j * KS  # the teacher row q
                    ro = OT + i * DP
                    no = tn[i]
                    aa = -(a[j] * a_star[i])
                    if no == ZERO:
                        if WANT_G:
                            ws[OFT + j * KS + i] = ZERO
                            ws[OHT + j * KS + i] = ZERO
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
                        ws[OFV + j * K + i] = aa * P
                        ws[OFV + i * K + j] = aa * Q
                    else:
                        ws[OFT + j * KS + i] = aa * P
                        ws[OHT + j * KS + i] = aa * Q * no
            L = block_sum(ws, part, tid) / TWO_PI + const
            bad = 0 if math.isfinite(L) else 1
            if WANT_G:
                for j in range(tid, K, NT):
                    t = ZERO
                    for i in range(nk):
                        if i < j:
                            t += ws[OFV + i * K + j] * ws[ON + i]
                        elif i > j:
                            t += ws[OFV + j * K + i] * ws[ON + i]
                    for q in range(nks):
                        t += ws[OHT + j * KS + q]
                    ws[OSC + j] = PI * a[j] * a[j] * opa + t / ws[ON + j]
                cuda.syncthreads()
                for e in range(tid, KD, NT):
                    j = e // D
                    l = e - j * D
                    g = ZERO
                    for i in range(j):
                        g += ws[OFV + j * K + i] * ws[OV + i * DP + l]
                    for i in range(j + 1, nk):
                        g += ws[OFV + i * K + j] * ws[OV + i * DP + l]
                    for q in range(nks):
                        g += ws[OFT + j * KS + q] * ws[OT + q * DP + l]
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
                j = e // D
                if not math.isfinite(ws[OV + j * DP + e - j * D]):
                    nonfin = 1
            nonfin = cuda.syncthreads_or(nonfin)
            if nonfin != 0:
                zero_state(loss, G, status, b, NONFINITE, tid)
                continue
            part = ZERO
            for l in range(tid, D, NT):
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
                    j = e // D
                    g = a[j] * ws[OR + e - j * D]
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


@functools.cache
def _opt_in_shared(kernel, nbytes: int) -> bool:
    """Let ``kernel`` use ``nbytes`` (> 48 KiB) of dynamic shared memory; False where that fails."""
    try:
        from numba.cuda.cudadrv import driver
        from numba.cuda.cudadrv.driver import binding

        attr = binding.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        for overload in kernel.overloads.values():
            f = overload._codelibrary.get_cufunc()
            driver.cuKernelSetAttribute(attr, nbytes, f.handle, f.device.id)
        return True
    except Exception:  # old driver, simulator, or numba-cuda internals moved: use global workspace
        return False


# --------------------------------------------------------------------------------------- device API
class DeviceField(NamedTuple):
    """The model on the device, cast to one precision (from :func:`device_field`)."""

    U: object  # (k, d), or (1, 1) dummy without a residual
    T: object  # (k*, d)
    tn: object  # (k*,)
    a: object  # (k,)
    a_star: object  # (k*,)
    alpha: object  # scalars typed as the precision
    const: object
    tol: object
    k: int
    d: int
    k_star: int
    has_u: bool
    linear: bool  # alpha == 1 (decided in float64, before the cast)
    dtype: np.dtype


def device_field(U, T, tn, a, a_star, alpha, const, tol, dtype, *, k=None, stream=0) -> DeviceField:
    """Copy the model's arrays (``TeacherStudent.arrays``) to the device in ``dtype``.

    ``k`` is needed only without a residual (``U`` then is an empty array).
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64; got {dtype}")
    T = np.asarray(T)
    ks, d = T.shape
    has_u = np.asarray(U).shape[0] > 0
    kk = np.asarray(U).shape[0] if has_u else (len(a) if k is None else k)

    def put(x):
        return cuda.to_device(np.ascontiguousarray(x, dtype=dtype), stream=stream)

    Ud = put(U) if has_u else put(np.zeros((1, 1)))
    f = dtype.type
    return DeviceField(Ud, put(T), put(tn), put(a), put(a_star), f(alpha), f(const), f(tol),
                       int(kk), int(d), int(ks), bool(has_u), float(alpha) == 1.0, dtype)


def loss_grad_device(W, field: DeviceField, want_grad: bool, *, shape=None, threads=None, workspace="auto",
                     blocks=None, unroll=None, stream=0):
    """Loss (n,), gradient (n, k, d) (or (n, 0, 0)) and int8 status (n,) of a device batch ``W``.

    Parameters
    ----------
    W : device array, shape (n, k, d), dtype ``field.dtype``, C-contiguous
    field : DeviceField
    want_grad : bool
    shape : {None, "thread", "block"}
        Kernel shape; None picks it by :func:`kernel_shape`.
    threads : int, optional
        Threads per block (default ``CUDA_THREADS_PER_BLOCK`` / ``CUDA_BLOCK_KERNEL_THREADS``); a
        power of two for the block kernel.
    workspace : {"auto", "shared", "global"}
        Block kernel only: where a block keeps its state (shared memory when it fits in
        ``CUDA_SHARED_WORKSPACE_MAX_BYTES`` for "auto"; "shared" opts in to the device's maximum).
    blocks : int, optional
        At most this many blocks (the kernels grid-stride over the rest); for tests.
    unroll : bool, optional
        Compile the kernels' loops for the constant k, d, k* (default ``CUDA_KERNEL_UNROLL``).

    Returns
    -------
    loss, G, status : device arrays
    """
    n, k, d = W.shape
    if (k, d) != (field.k, field.d):
        raise ValueError(f"W must have shape (n, {field.k}, {field.d}) to match the model; got {W.shape}")
    if np.dtype(W.dtype) != field.dtype:
        raise TypeError(f"W has dtype {W.dtype} but the device model is {field.dtype}")
    shape = kernel_shape(k, d) if shape is None else shape
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES} or None; got {shape!r}")
    if workspace not in WORKSPACES:
        raise ValueError(f"workspace must be one of {WORKSPACES}; got {workspace!r}")
    dt = field.dtype
    linear = field.linear
    loss = cuda.device_array(n, dtype=dt, stream=stream)
    status = cuda.device_array(n, dtype=np.int8, stream=stream)
    G = cuda.device_array((n, k, d) if want_grad else (n, 0, 0), dtype=dt, stream=stream)
    args = (field.U, field.T, field.tn, field.a, field.a_star, field.alpha, field.const, field.tol)
    if shape == "thread":
        tpb = CUDA_THREADS_PER_BLOCK if threads is None else int(threads)
        if tpb < 1:
            raise ValueError(f"threads must be a positive number of threads per block; got {tpb}")
        kern = _loss_grad_batch_cuda_thread(k, d, field.k_star, dt.name, field.has_u, bool(want_grad), linear,
                                            CUDA_KERNEL_UNROLL if unroll is None else bool(unroll))
        Wt = cuda.device_array((k * d, n), dtype=dt, stream=stream)
        _transpose(W.reshape(n, k * d), Wt, True, stream)
        Gt = cuda.device_array((k * d, n) if want_grad else (1, 1), dtype=dt, stream=stream)
        nb = max(1, min((n + tpb - 1) // tpb, 2**31 - 1, blocks or 2**31 - 1))
        kern[nb, tpb, stream](Wt.reshape(k, d, n), *args, loss,
                              Gt.reshape(k, d, n) if want_grad else Gt.reshape(1, 1, 1), status)
        if want_grad:
            _transpose(Gt, G.reshape(n, k * d), False, stream)
        return loss, G, status
    nt = CUDA_BLOCK_KERNEL_THREADS if threads is None else int(threads)
    if nt < 1 or nt & (nt - 1):
        raise ValueError(f"threads must be a power of two for the block kernel; got {nt}")
    nb = max(1, min(n, CUDA_BLOCKS_PER_SM * _device_attr("MULTIPROCESSOR_COUNT", 1), blocks or n))
    lay = _layout(k, d, field.k_star, nt, bool(want_grad), linear)
    nbytes = lay.size * dt.itemsize
    if workspace == "auto":
        use_shared = nbytes <= CUDA_SHARED_WORKSPACE_MAX_BYTES
    elif workspace == "shared":
        use_shared = nbytes <= 48 * 1024 or nbytes <= _device_attr("MAX_SHARED_MEMORY_PER_BLOCK_OPTIN", 0)
    else:
        use_shared = False
    spec = (k, d, field.k_star, dt.name, field.has_u, bool(want_grad), linear, nt)
    unroll = CUDA_KERNEL_UNROLL if unroll is None else bool(unroll)
    kern, _ = _loss_grad_batch_cuda_block(*spec, use_shared, unroll)
    G2 = G.reshape(n, k * d) if want_grad else cuda.device_array((1, 1), dtype=dt, stream=stream)
    call = args + (loss, G2, status)
    if use_shared:
        scratch = cuda.device_array((1, 1), dtype=dt, stream=stream)
        if nbytes > 48 * 1024:
            kern.compile(tuple(numba.typeof(x) for x in (W.reshape(n, k * d),) + call + (scratch,)))
            if not _opt_in_shared(kern, nbytes):
                use_shared = False
                kern, _ = _loss_grad_batch_cuda_block(*spec, False, unroll)
        if use_shared:
            kern[nb, nt, stream, nbytes](W.reshape(n, k * d), *call, scratch)
            return loss, G, status
    scratch = cuda.device_array((nb, lay.size), dtype=dt, stream=stream)
    kern[nb, nt, stream](W.reshape(n, k * d), *call, scratch)
    return loss, G, status


# ----------------------------------------------------------------------------------------- host API
def loss_grad(W, U, T, tn, a, a_star, alpha, const, tol, want_grad, *, shape=None, threads=None,
              workspace="auto", blocks=None, unroll=None):
    """Loss, gradient and status of a host batch on the GPU (the twin of the CPU batch driver).

    Parameters
    ----------
    W : ndarray, shape (n, k, d), float64 or float32
        Network weights; the kernels run in this dtype.
    U, T, tn, a, a_star, alpha, const, tol
        The model (``TeacherStudent.arrays``), float64; cast to ``W``'s dtype. ``U`` is (k, d) or an
        empty (0, 0) array without a residual.
    want_grad : bool
    shape, threads, workspace, blocks, unroll
        See :func:`loss_grad_device`.

    Returns
    -------
    loss : ndarray (n,), dtype of W
    G : ndarray (n, k, d), dtype of W, or (n, 0, 0) unless ``want_grad``
    status : ndarray (n,), int8 (0 ok, 3 singular, 4 non-finite; bad states zeroed)
    """
    W = np.asarray(W)
    if W.dtype not in (np.float32, np.float64):
        raise TypeError(f"W must be float64 or float32 for backend='cuda'; got {W.dtype}")
    W = np.ascontiguousarray(W)
    n, k, d = W.shape
    dt = W.dtype
    field = device_field(U, T, tn, a, a_star, alpha, const, tol, dt, k=k)
    loss = np.empty(n, dtype=dt)
    G = np.empty((n, k, d) if want_grad else (n, 0, 0), dtype=dt)
    status = np.empty(n, dtype=np.int8)
    chunk = max(1, CUDA_CHUNK_BYTES // max(1, k * d * dt.itemsize))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        dW = cuda.to_device(W[lo:hi])
        dl, dG, ds = loss_grad_device(dW, field, want_grad, shape=shape, threads=threads, workspace=workspace,
                                      blocks=blocks, unroll=unroll)
        dl.copy_to_host(loss[lo:hi])
        ds.copy_to_host(status[lo:hi])
        if want_grad:
            dG.copy_to_host(G[lo:hi])
    return loss, G, status
