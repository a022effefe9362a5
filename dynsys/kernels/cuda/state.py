"""Per-state device functions: the loss and gradient of one state held in a thread's local arrays
(:func:`_state_field`) and the squared stopping norms (:func:`_norms`).

:func:`_state_field` follows the CPU kernel :func:`dynsys.systems.teacher_student.loss_grad` in source
order (one angle per pair, arccos or the atan2 form past ``ACOS_SWITCH``, the alpha = 1 branch). It is
the one field of the one-state-per-thread code: the field kernel of :mod:`dynsys.kernels.cuda.thread`
copies each state into local arrays and calls it, and the integrators of
:mod:`dynsys.kernels.cuda.integrators` call it once per stage.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda

from .constants import _CONST_NAMES, NONFINITE, OK, SINGULAR, _consts


@functools.cache
def _state_field(k: int, d: int, ks: int, dtype_name: str, has_u: bool, linear: bool, unroll: bool,
                 want_grad: bool):
    """Device function ``field(Z, U, T, tn, a, a_star, alpha, const, tol, G, s, nrm, inv, sc)``.

    Loss and gradient at the network rows ``Z + U`` (``Z`` a (k, d) local array; ``U`` ignored without
    a residual) into ``G[s]`` (``G`` an (S, k, d) local array); ``nrm`` (max(k, d)), ``inv``, ``sc``
    (k) are scratch. Returns ``(loss, status)``: 0 ok, 3 singular (a row norm at or below ``tol``),
    4 non-finite (a non-finite row, or a non-finite loss or gradient); on a bad status the loss is 0
    and ``G[s]`` is zero. Formulas and order of the sums: :func:`dynsys.systems.teacher_student.loss_grad`.
    Without ``want_grad`` the gradient is neither formed nor written (``G`` is untouched) and only the
    loss decides a non-finite status.
    """
    c = _consts(dtype_name)
    ZERO, ONE, TWO, HALF, PI, TWO_PI, INV2PI, SW = (c[x] for x in _CONST_NAMES)
    NK, ND, NKS, HAS_U, LINEAR, UNROLL, WANT_G = k, d, ks, has_u, linear, unroll, want_grad

    @cuda.jit(device=True, inline=True)
    def bounds(a, T):
        if UNROLL:
            return NK, ND, NKS
        return a.shape[0], T.shape[1], T.shape[0]

    @cuda.jit(device=True, inline=True)
    def v(Z, U, j, l):
        x = Z[j, l]
        if HAS_U:
            x += U[j, l]
        return x

    @cuda.jit(device=True, inline=True)
    def zero_grad(G, s, nk, nd):
        for j in range(nk):
            for l in range(nd):
                G[s, j, l] = ZERO

    @cuda.jit(device=True, inline=True)
    def linear_field(Z, U, T, a, a_star, G, s, r, nk, nd, nks):
        # alpha = 1: L = |r|^2 / 2, r = sum_j a_j v_j - sum_q a*_q t_q, grad_j = a_j r (no singular set)
        for j in range(nk):
            for l in range(nd):
                if not math.isfinite(v(Z, U, j, l)):
                    return ZERO, NONFINITE
        for l in range(nd):
            acc = ZERO
            for j in range(nk):
                acc += a[j] * v(Z, U, j, l)
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
                    G[s, j, l] = g
                    if not math.isfinite(g):
                        bad = True
        if bad:
            if WANT_G:
                zero_grad(G, s, nk, nd)
            return ZERO, NONFINITE
        return L, OK

    @cuda.jit(device=True, inline=True)
    def angle_atan2(Z, U, j, ix, T, q, iy, teacher):
        # half-angle form |x - y| = 2 sin(theta/2), |x + y| = 2 cos(theta/2) of the unit vectors
        dm = ZERO
        dp = ZERO
        for l in range(ND if UNROLL else T.shape[1]):
            x = v(Z, U, j, l) * ix
            y = (T[q, l] if teacher else v(Z, U, q, l)) * iy
            dm += (x - y) * (x - y)
            dp += (x + y) * (x + y)
        r2 = dm + dp
        return TWO * math.atan2(math.sqrt(dm), math.sqrt(dp)), (dp - dm) / r2, TWO * math.sqrt(dm * dp) / r2

    @cuda.jit(device=True, inline=True)
    def pair_terms(th, cs, sn, aa, alpha, opa, om2):
        # Kc (the loss's kernel K, times 2 pi / |x||y|), a a' P (other row), a a' Q (own direction)
        Kc = opa * (sn + (PI - th) * cs) - TWO * alpha * (sn - th * cs)
        return Kc, aa * (opa * (PI - th) + TWO * alpha * th), aa * om2 * sn

    def field(Z, U, T, tn, a, a_star, alpha, const, tol, G, s, nrm, inv, sc):
        nk, nd, nks = bounds(a, T)
        if WANT_G:
            zero_grad(G, s, nk, nd)
        if LINEAR:
            return linear_field(Z, U, T, a, a_star, G, s, nrm, nk, nd, nks)
        st = OK
        for j in range(nk):
            acc = ZERO
            for l in range(nd):
                x = v(Z, U, j, l)
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
            return ZERO, st
        opa = ONE + alpha * alpha
        om2 = (ONE - alpha) * (ONE - alpha)
        for j in range(nk):
            inv[j] = ONE / nrm[j]
            sc[j] = PI * a[j] * a[j] * opa
        acc = ZERO  # 2 pi times the loss, less the constant
        for j in range(nk):
            nj = nrm[j]
            ij = inv[j]
            for i in range(j):
                dot = ZERO
                for l in range(nd):
                    dot += v(Z, U, j, l) * v(Z, U, i, l)
                cs = dot * ij * inv[i]
                if -SW <= cs and cs <= SW:
                    th = math.acos(cs)
                    sn = math.sqrt((ONE - cs) * (ONE + cs))
                else:
                    th, cs, sn = angle_atan2(Z, U, j, ij, T, i, inv[i], False)
                aa = a[j] * a[i]
                Kc, f, g = pair_terms(th, cs, sn, aa, alpha, opa, om2)
                acc += aa * nj * nrm[i] * Kc
                if WANT_G:
                    for l in range(nd):
                        G[s, j, l] += f * v(Z, U, i, l)
                        G[s, i, l] += f * v(Z, U, j, l)
                    sc[j] += g * nrm[i] * ij
                    sc[i] += g * nj * inv[i]
            for q in range(nks):
                tq = tn[q]
                if tq == ZERO:  # a zero teacher row contributes nothing
                    continue
                dot = ZERO
                for l in range(nd):
                    dot += v(Z, U, j, l) * T[q, l]
                cs = dot * ij / tq
                if -SW <= cs and cs <= SW:
                    th = math.acos(cs)
                    sn = math.sqrt((ONE - cs) * (ONE + cs))
                else:
                    th, cs, sn = angle_atan2(Z, U, j, ij, T, q, ONE / tq, True)
                aa = -(a[j] * a_star[q])
                Kc, f, g = pair_terms(th, cs, sn, aa, alpha, opa, om2)
                acc += aa * nj * tq * Kc
                if WANT_G:
                    for l in range(nd):
                        G[s, j, l] += f * T[q, l]
                    sc[j] += g * tq * ij
        for j in range(nk):
            acc += HALF * (PI * a[j] * a[j] * opa) * nrm[j] * nrm[j]
        L = acc / TWO_PI + const
        bad = not math.isfinite(L)
        if WANT_G:
            for j in range(nk):
                for l in range(nd):
                    gg = (G[s, j, l] + sc[j] * v(Z, U, j, l)) * INV2PI
                    G[s, j, l] = gg
                    if not math.isfinite(gg):
                        bad = True
        if bad:
            if WANT_G:
                zero_grad(G, s, nk, nd)
            return ZERO, NONFINITE
        return L, OK

    return cuda.jit(device=True, inline=True)(field)


@functools.cache
def _norms(k: int, d: int, dtype_name: str, has_u: bool, norm_code: int, unroll: bool):
    """Device functions ``net_norm2(X, U)`` (squared stopping norm of ``X + U``) and
    ``grad_norm2(G, s)`` (of ``G[s]``), as :func:`dynsys.kernels.integrators._norm2`."""
    ZERO = np.dtype(dtype_name).type(0.0)
    NK, ND, HAS_U, FRO, UNROLL = k, d, has_u, norm_code == 1, unroll

    @cuda.jit(device=True, inline=True)
    def net_norm2(X, U, a, T):
        nk = NK if UNROLL else a.shape[0]
        nd = ND if UNROLL else T.shape[1]
        acc = ZERO
        best = ZERO
        for j in range(nk):
            r = ZERO
            for l in range(nd):
                x = X[j, l]
                if HAS_U:
                    x += U[j, l]
                r += x * x
            acc += r
            if not r <= best:  # a NaN row makes the result NaN
                best = r
        return acc if FRO else best

    @cuda.jit(device=True, inline=True)
    def grad_norm2(G, s, a, T):
        nk = NK if UNROLL else a.shape[0]
        nd = ND if UNROLL else T.shape[1]
        acc = ZERO
        best = ZERO
        for j in range(nk):
            r = ZERO
            for l in range(nd):
                r += G[s, j, l] * G[s, j, l]
            acc += r
            if not r <= best:
                best = r
        return acc if FRO else best

    return net_norm2, grad_norm2


# ------------------------------------------------------------------------------- gd / euler / rk4
