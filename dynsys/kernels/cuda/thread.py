"""The one-state-per-thread CUDA kernel of the loss and gradient (the ``"thread"`` shape of
:mod:`dynsys.kernels.cuda.field`, which launches it and describes the mathematics and precision).

Small ``k * d``: one state per thread, grid-stride loop over states. The batch axis is
last in device memory (``(k, d, n)``: neighbouring threads read neighbouring addresses), made by a
tiled shared-memory transpose on the device and undone the same way for the gradient. Norms and the
per-row scalars live in per-thread local arrays of compile-time size: every kernel is compiled for
its exact ``(k, d, k*, dtype, residual?, gradient?, alpha == 1?)`` by a cached factory (closures
over typed constants). The loops run to the arrays' shapes, or, with ``CUDA_KERNEL_UNROLL``, to the
compile-time sizes (unrolled: fewer instructions, many more registers). Sums in the CPU's order.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from .constants import _CONST_NAMES, NONFINITE, OK, SINGULAR, _consts


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
