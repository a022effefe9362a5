"""Compiled pseudo-arclength continuation for teacher-student families (CPU, Numba).

A family ``p -> TeacherStudent`` enters as coefficient arrays (:mod:`.family`). :func:`step` does
one point of the continuation: the corrector (chord iterations on the previous point's factor, the
bordered Newton corrector on the exact Hessian where they fail; ``d grad / d p`` by the family's
difference stencil), the tangent, the loss, the pairs of parallel rows and the spectrum nearest
zero (:func:`dynsys.kernels.ldl.spectrum`: the Bunch-Kaufman inertia, block inverse iteration on its
solves, Rayleigh-Ritz). :func:`advance`, the one entry point, runs many plain points per call or one
step as given. The arithmetic follows :mod:`dynsys.continuation.corrector` and
:mod:`dynsys.continuation.spectrum` step for step, so both paths give the same branch.
"""

import math

import numpy as np
from numba import njit

from .._codes import CONVERGED, MAX_STEPS, SINGULAR, STALLED
from ..config import CONTINUATION_CHORD_RATE
from ..systems import teacher_student as ts
from .family import arrays_at, dgrad_dp, grad, hess
from .ldl import bk_solve, bk_solve_many, spectrum
from .linalg import lu, lu_solve
from .network import rows

_JIT = dict(cache=True, fastmath={"reassoc", "contract"})


@njit(**_JIT)
def _row_max(G):
    r = 0.0
    for j in range(G.shape[0]):
        s = 0.0
        for l in range(G.shape[1]):
            s += G[j, l] * G[j, l]
        r = max(r, s)
    return math.sqrt(r)


@njit(**_JIT)
def _solve(J, r, out):
    """``J^-1 r`` into ``out`` by LU (least squares where ``J`` is singular or the solve not finite),
    as :func:`dynsys.continuation.corrector._solve`."""
    N = J.shape[0]
    A = np.empty((N, N))
    Ut = np.empty((N, N))
    piv = np.empty(N, dtype=np.int64)
    ok = lu(J, A, Ut, piv, N) != 0.0
    if ok:
        out[:] = r
        lu_solve(A, Ut, piv, out, N)
        ok = np.all(np.isfinite(out))
    if not ok:
        out[:] = np.linalg.lstsq(J, r)[0]


@njit(**_JIT)
def correct(x0, p0, N, xa, c, cp, rhs, gtol, xtol, max_iter, fam, x, g, H, b, J, LA, LU, piv):
    """Bordered Newton from ``(x0, p0)`` (:func:`dynsys.continuation.corrector.correct`, the same
    iteration): the corrected state into ``x``, its gradient, Hessian and d grad / d p (taken at the
    first iterate) into ``g``, ``H``, ``b``; ``J``, ``LA``, ``LU``, ``piv`` are scratch for the
    bordered Jacobian and its LU factors. Returns ``(status, p, iterations, grad norm)``."""
    cU, cT, ca, cas, cal, srt, quadratic, lo, hi, k, d, nwork = fam
    n = x0.size
    m = N.shape[1]
    M = n + m + 1
    x[:] = x0
    p = p0
    res_prev = np.inf
    J[:, :] = 0.0
    for i in range(n):
        for j in range(m):
            J[i, n + 1 + j] = N[i, j]
            J[n + j, i] = N[i, j]
        J[n + m, i] = c[i]
    J[n + m, n] = cp
    V = np.empty((k, d))
    G = np.empty((k, d))
    G2 = np.empty((k, d))
    work = np.empty(nwork)
    S = np.empty((ts.HESS_SCRATCH_ROWS, max(k, d)))
    nrm = np.empty(max(k, d))
    dz = np.empty(M)
    r_phase = np.empty(m)
    for it in range(max_iter + 1):
        if not lo <= p <= hi:
            return STALLED, p, it, np.inf
        fa = arrays_at(p, cU, cT, ca, cas, cal, srt, False)
        _, st = grad(x, fa, k, d, V, G, work)
        if st == 0:
            st = hess(x, fa, k, d, V, H, S, nrm)
        if st:
            return st, p, it, np.inf
        # d grad / d p at the first iterate only (a chord in the p column, as the general corrector)
        if it == 0 and dgrad_dp(x, p, fam, b, V, G2, work) != 0:
            return SINGULAR, p, it, np.inf
        g[:] = G.reshape(-1)
        gn = _row_max(G)
        rx = 0.0
        for j in range(m):
            s = 0.0
            for i in range(n):
                s += N[i, j] * (x[i] - xa[i])
            r_phase[j] = s
            rx = max(rx, abs(s))
        r_arc = cp * p - rhs
        for i in range(n):
            r_arc += c[i] * x[i]
        rx = max(rx, abs(r_arc))
        if gn <= gtol and rx <= xtol:
            return CONVERGED, p, it, gn
        J[:n, :n] = H
        J[:n, n] = b
        res = max(gn / gtol, rx / xtol)
        if it >= 3 and res >= 0.5 * res_prev or it == max_iter:
            return (MAX_STEPS if it == max_iter else STALLED), p, it, gn
        res_prev = res
        for i in range(n):
            dz[i] = -g[i]
        for j in range(m):
            dz[n + j] = -r_phase[j]
        dz[n + m] = -r_arc
        factored = lu(J, LA, LU, piv, M) != 0.0
        if factored:
            lu_solve(LA, LU, piv, dz, M)
            factored = np.all(np.isfinite(dz))
        if not factored:
            dz[:n] = -g
            dz[n:n + m] = -r_phase
            dz[n + m] = -r_arc
            dz[:] = np.linalg.lstsq(J, dz.copy())[0]
        if not np.all(np.isfinite(dz)):
            return STALLED, p, it, gn
        for i in range(n):
            x[i] += dz[i]
        p += dz[n]
    return MAX_STEPS, p, max_iter, np.inf


@njit(**_JIT)
def _orient(z, n, t_prev, has_prev, t):
    """``t`` = the (x, p) part of ``z`` normalised, pointing along ``t_prev`` (when ``has_prev``)."""
    s = 0.0
    for i in range(n + 1):
        s += z[i] * z[i]
    s = math.sqrt(s)
    dot = 0.0
    for i in range(n + 1):
        t[i] = z[i] / s
        dot += t[i] * t_prev[i]
    if has_prev and dot < 0.0:
        for i in range(n + 1):
            t[i] = -t[i]


# ------------------------------------------------------------------------------------------------
# The bordered system on the factor of the spectrum (chord corrector, tangent)
# ------------------------------------------------------------------------------------------------

@njit(**_JIT)
def _small_solve(S, y, q):
    """``S^-1 y`` into ``y`` for the small (q, q) ``S`` (overwritten), by Gaussian elimination with
    partial pivoting; False when a pivot is zero or the result is not finite."""
    for k in range(q):
        piv = k
        for i in range(k + 1, q):
            if abs(S[i, k]) > abs(S[piv, k]):
                piv = i
        if S[piv, k] == 0.0:
            return False
        if piv != k:
            for j in range(q):
                S[k, j], S[piv, j] = S[piv, j], S[k, j]
            y[k], y[piv] = y[piv], y[k]
        for i in range(k + 1, q):
            f = S[i, k] / S[k, k]
            for j in range(k, q):
                S[i, j] -= f * S[k, j]
            y[i] -= f * y[k]
    for k in range(q - 1, -1, -1):
        acc = y[k]
        for j in range(k + 1, q):
            acc -= S[k, j] * y[j]
        y[k] = acc / S[k, k]
    return np.all(np.isfinite(y[:q]))


@njit(**_JIT)
def chord_prepare(F, perm, blk, b, N, X, y):
    """The bordering columns solved with the factor ``A = H + tau I`` of :func:`spectrum`:
    ``X[0] = A^-1 b`` and ``X[1 + j] = A^-1 N[:, j]`` (``X`` (m + 1, n); ``y`` (n,) scratch)."""
    n = b.size
    m = N.shape[1]
    X[0] = b
    if m == 0:
        bk_solve(F, perm, blk, X[0], y, n)
        return
    for j in range(m):
        for i in range(n):
            X[1 + j, i] = N[i, j]
    bk_solve_many(F, perm, blk, X, np.empty((m + 1, n)), n, m + 1)


@njit(inline="always", **_JIT)
def _border_dot(N, row, c, v, n):
    """``N[:, row] . v`` for a phase row (``row < m``), ``c . v`` for the last row."""
    acc = 0.0
    if row < N.shape[1]:
        for i in range(n):
            acc += N[i, row] * v[i]
    else:
        for i in range(n):
            acc += c[i] * v[i]
    return acc


@njit(**_JIT)
def chord_solve(F, perm, blk, X, N, c, cp, r, out, y):
    """Solve ``[[A, b, N], [N^T, 0, 0], [c^T, cp, 0]] out = r`` (unknowns ``x, p, mu``) by block
    elimination on the factored ``A`` (``X`` from :func:`chord_prepare`): ``u = A^-1 r_x``; the
    (m + 1) x (m + 1) Schur complement ``D - C^T X^T`` gives ``(p, mu)``; ``x = u - X^T (p, mu)``.
    False when the Schur complement is singular or the result not finite (``y`` (n,) scratch)."""
    n = X.shape[1]
    m = N.shape[1]
    q = m + 1
    nonzero = False
    for i in range(n):
        out[i] = r[i]
        nonzero = nonzero or r[i] != 0.0
    u = out[:n]
    if nonzero:  # the tangent's right-hand side is zero here: u = 0 without a solve
        bk_solve(F, perm, blk, u, y, n)
    S = np.empty((q, q))
    z = np.empty(q)
    for row in range(q):
        z[row] = r[n + row] - _border_dot(N, row, c, u, n)
        for col in range(q):
            S[row, col] = (cp if row == m and col == 0 else 0.0) - _border_dot(N, row, c, X[col], n)
    if not _small_solve(S, z, q):
        return False
    for col in range(q):
        Xc = X[col]
        zc = z[col]
        for i in range(n):
            u[i] -= Xc[i] * zc
    for j in range(q):
        out[n + j] = z[j]
    return np.all(np.isfinite(out))


@njit(**_JIT)
def chord_tangent(F, perm, blk, X, H, b, N, trow, lam, z, y):
    """``J z = e_last`` for the bordered Jacobian at the root, ``[[H, b, N], [N^T, 0, 0], [trow^T, 0]]``:
    :func:`chord_solve` on the factor of ``H + tau I``, refined against ``H`` itself (each step
    removes all but about ``tau / |lambda|`` of the error, lambda the smallest eigenvalue the
    bordering leaves). Returns whether the residual reached 1e-12 of ``|J| |z|`` within three
    refinements; the caller factors ``J`` itself when it did not (near a fold or branch point)."""
    n = H.shape[0]
    m = N.shape[1]
    M = n + m + 1
    r = np.zeros(M)
    r[M - 1] = 1.0
    if not chord_solve(F, perm, blk, X, N, trow, trow[n], r, z, y):
        return False
    bmax = 0.0
    for i in range(n):
        bmax = max(bmax, abs(b[i]))
    dz = np.empty(M)
    for it in range(4):
        for i in range(n):
            Hi = H[i]
            acc = b[i] * z[n]
            for j in range(n):
                acc += Hi[j] * z[j]
            for j in range(m):
                acc += N[i, j] * z[n + 1 + j]
            r[i] = acc
        for j in range(m):
            r[n + j] = _border_dot(N, j, trow, z, n)
        r[M - 1] = _border_dot(N, m, trow, z, n) + trow[n] * z[n] - 1.0
        rmax = 0.0
        zmax = 0.0
        for i in range(M):
            rmax = max(rmax, abs(r[i]))
            zmax = max(zmax, abs(z[i]))
        if rmax <= 1e-12 * (lam + bmax + 1.0) * zmax:
            return True
        if it == 3 or not chord_solve(F, perm, blk, X, N, trow, trow[n], r, dz, y):
            return False
        for i in range(M):
            z[i] -= dz[i]
    return False


@njit(**_JIT)
def chord_correct(x0, p0, N, xa, c, cp, rhs, gtol, xtol, max_iter, fam, F, perm, blk, b, X, x, g):
    """The corrector of :func:`correct` with the previous point's bordered Jacobian in place of the
    current one (:func:`chord_solve` on that point's factor and ``d grad / d p`` ``b``; its ``X`` is
    reused when there are no phase conditions, and made again for the basis ``N`` the corrector
    borders with when there are): one gradient per iteration, no Hessian and no factorisation. A
    residual that does not fall to ``CONTINUATION_CHORD_RATE`` of the last at every iteration ends
    it (STALLED: the caller runs :func:`correct`). Returns ``(status, p, iterations, grad norm, loss)``; the state
    into ``x``, its gradient into ``g``."""
    cU, cT, ca, cas, cal, srt, quadratic, lo, hi, k, d, nwork = fam
    n = x0.size
    m = N.shape[1]
    M = n + m + 1
    x[:] = x0
    p = p0
    V = np.empty((k, d))
    G = np.empty((k, d))
    work = np.empty(nwork)
    r = np.empty(M)
    dz = np.empty(M)
    y = np.empty(n)
    if m > 0:
        X = np.empty((m + 1, n))
        chord_prepare(F, perm, blk, b, N, X, y)
    res_prev = np.inf
    for it in range(max_iter + 1):
        if not lo <= p <= hi:
            return STALLED, p, it, np.inf, 0.0
        fa = arrays_at(p, cU, cT, ca, cas, cal, srt, False)
        loss, st = grad(x, fa, k, d, V, G, work)
        if st:
            return st, p, it, np.inf, 0.0
        gn = _row_max(G)
        rx = 0.0
        for j in range(m):
            s = 0.0
            for i in range(n):
                s += N[i, j] * (x[i] - xa[i])
            r[n + j] = -s
            rx = max(rx, abs(s))
        r_arc = cp * p - rhs
        for i in range(n):
            r_arc += c[i] * x[i]
        rx = max(rx, abs(r_arc))
        if gn <= gtol and rx <= xtol:
            g[:] = G.reshape(-1)
            return CONVERGED, p, it, gn, loss + ts.teacher_energy(fa.T, fa.tn, fa.a_star, fa.alpha)
        res = max(gn / gtol, rx / xtol)
        if it >= 1 and res > CONTINUATION_CHORD_RATE * res_prev or it == max_iter:
            return STALLED, p, it, gn, 0.0
        res_prev = res
        Gf = G.reshape(-1)
        for i in range(n):
            r[i] = -Gf[i]
        r[n + m] = -r_arc
        if not chord_solve(F, perm, blk, X, N, c, cp, r, dz, y):
            return STALLED, p, it, gn, 0.0
        for i in range(n):
            x[i] += dz[i]
        p += dz[n]
    return STALLED, p, max_iter, np.inf, 0.0


@njit(**_JIT)
def _pairs(x, U, k, d, atol, pairs):
    """Pairs (i < j) of parallel rows of ``x + U`` into ``pairs`` (the test of
    :func:`dynsys.continuation.runs._groups`); returns their number."""
    X = x.reshape((k, d))
    V = np.empty((k, d))
    Vb = rows(X, U, V)
    nrm = np.empty(k)
    big = 0.0
    nok = 0
    for j in range(k):
        s = 0.0
        for l in range(d):
            s += Vb[j, l] * Vb[j, l]
        nrm[j] = math.sqrt(s)
        big = max(big, nrm[j])
        nok += nrm[j] > 0.0
    if nok < 2:
        return 0
    npairs = 0
    for i in range(k):
        if not nrm[i] > 0.0:
            continue
        for j in range(i + 1, k):
            if not nrm[j] > 0.0:
                continue
            du = 0.0
            su = 0.0
            for l in range(d):
                ei = Vb[i, l] / nrm[i]
                ej = Vb[j, l] / nrm[j]
                du += (ei - ej) * (ei - ej)
                su += (ei + ej) * (ei + ej)
            du = math.sqrt(du)
            su = math.sqrt(su)
            if du < su and min(nrm[i], nrm[j]) * (0.5 * du * su) <= atol * big:
                pairs[npairs, 0] = i
                pairs[npairs, 1] = j
                npairs += 1
    return npairs


@njit(**_JIT)
def _dips(xa, xb, U, k, d):
    """Whether a row's segment from ``xa`` to ``xb`` (plus ``U``) passes much closer to zero than its
    ends (:func:`dynsys.continuation.runs._dips`)."""
    A = xa.reshape((k, d))
    B = xb.reshape((k, d))
    res = U.shape[0] != 0
    for j in range(k):
        aa = 0.0
        ad = 0.0
        dd = 0.0
        bb = 0.0
        for l in range(d):
            a = A[j, l] + (U[j, l] if res else 0.0)
            b = B[j, l] + (U[j, l] if res else 0.0)
            aa += a * a
            bb += b * b
            ad += a * (b - a)
            dd += (b - a) * (b - a)
        t = min(1.0, max(0.0, -ad / (dd if dd > 0.0 else 1.0)))
        closest = math.sqrt(max(0.0, aa + 2.0 * t * ad + t * t * dd))
        if closest < 0.25 * min(math.sqrt(aa), math.sqrt(bb)):
            return True
    return False


@njit(**_JIT)
def _select_own(vecs, N, mu, tol, sel):
    """The own null directions among the Ritz vectors: ``sel`` = the ``m`` indices with the largest
    ``sum_j (vecs[:, i] . N[:, j])^2`` (ties in index order), ascending, then the rest ascending.
    Returns how many of the rest have a Ritz value in ``[-tol, 0)``."""
    n, q = vecs.shape
    m = N.shape[1]
    w = np.zeros(q)
    for i in range(q):
        for j in range(m):
            s = 0.0
            for l in range(n):
                s += vecs[l, i] * N[l, j]
            w[i] += s * s
    order = np.argsort(-w, kind="mergesort")
    sel[:m] = np.sort(order[:m])
    sel[m:] = np.sort(order[m:])
    extra = 0
    for i in range(m, q):
        e = mu[sel[i]]
        if e < 0.0 and e >= -tol:
            extra += 1
    return extra


@njit(**_JIT)
def step(x0, p0, N, xa, c, cp, rhs, t_prev, gtol, xtol_rel, max_iter, chord_iter, fam, eig_rtol, V0, v0,
         lam_iters, sweeps, par_atol, x_prev, chord, Fa, perma, blka, ba, Xa, x, t, mu, vecs, top, sel, pairs,
         F, perm, blk, b, X, info):
    """One point of the continuation in one call.

    The corrector: :func:`chord_correct` on the previous point's factor (``Fa``, ``perma``, ``blka``,
    ``ba``, ``Xa``) when ``chord``, at most ``chord_iter`` iterations; Newton on the exact Hessian
    (:func:`correct`) from the same predictor when that fails or there is no previous factor. At the
    root: the Hessian, ``d grad / d p``, the spectrum (:func:`spectrum`, its factor into ``F``,
    ``perm``, ``blk``, ``d grad / d p`` into ``b`` and the bordering columns ``b``, ``N`` solved with
    the factor into ``X``: the next point's chord), the tangent (:func:`chord_tangent` with the last
    row ``t_prev``, along which it is oriented; a factored ``J`` where that does not reach rounding
    level), the loss, the pairs of parallel rows (:func:`_pairs`) and whether the rows dip towards
    zero from ``x_prev``. Called by :func:`advance`, its one entry point. The bordering equations are met to
    ``xtol_rel * max(1, max|x0|)``.

    Of the ``q`` Ritz vectors, the ``m`` that overlap ``N`` most are the branch's own null directions
    (carried to the next point): ``sel`` receives their indices, ascending, then the others'.
    ``info`` (float64, 13) receives ``status, p, iterations, grad norm, index, nullity, tau,
    max|lambda|, loss, pairs, dips, chord, index0`` (``chord`` 1 when the chord corrector converged,
    and the iterations then are its own, else Newton's; ``index0`` the index with the eigenvalues
    in ``[-tau, 0)`` outside the own directions counted too: the bisection's); the arrays are set
    only when the status is CONVERGED.
    """
    cU, cT, ca, cas, cal, srt, quadratic, lo, hi, k, d, nwork = fam
    n = x0.size
    m = N.shape[1]
    M = n + m + 1
    xmax = 1.0
    for i in range(n):
        xmax = max(xmax, abs(x0[i]))
    xtol = xtol_rel * xmax
    g = np.empty(n)
    H = np.empty((n, n))
    V = np.empty((k, d))
    G = np.empty((k, d))
    work = np.empty(nwork)
    S = np.empty((ts.HESS_SCRATCH_ROWS, max(k, d)))
    nrm = np.empty(max(k, d))
    st = -1
    loss = 0.0
    if chord:
        st, p, it, gn, loss = chord_correct(x0, p0, N, xa, c, cp, rhs, gtol, xtol, chord_iter, fam, Fa, perma,
                                            blka, ba, Xa, x, g)
    info[11] = 1.0 if st == CONVERGED else 0.0
    newton = st != CONVERGED
    if newton:
        J = np.empty((M, M))
        LA = np.empty((M, M))
        LU = np.empty((M, M))
        piv = np.empty(M, dtype=np.int64)
        st, p, it, gn = correct(x0, p0, N, xa, c, cp, rhs, gtol, xtol, max_iter, fam, x, g, H, b, J, LA,
                                   LU, piv)

    info[0] = st
    info[1] = p
    info[2] = it
    info[3] = gn
    if st != CONVERGED:
        return
    fa = arrays_at(p, cU, cT, ca, cas, cal, srt, newton)
    if newton:
        loss, _ = grad(x, fa, k, d, V, G, work)
    else:
        st = hess(x, fa, k, d, V, H, S, nrm)
    if st == 0:
        st = dgrad_dp(x, p, fam, b, V, G, work)
    if st != 0:
        info[0] = SINGULAR
        return
    index, nullity, tol, lam = spectrum(H, eig_rtol, V0, v0, lam_iters, sweeps, mu, vecs, top, F, perm, blk)
    y = np.empty(n)
    chord_prepare(F, perm, blk, b, N, X, y)
    z = np.empty(M)
    if not chord_tangent(F, perm, blk, X, H, b, N, t_prev, lam, z, y):
        J = np.zeros((M, M))
        for i in range(n):
            for j in range(n):
                J[i, j] = H[i, j]
            J[i, n] = b[i]
            for j in range(m):
                J[i, n + 1 + j] = N[i, j]
                J[n + j, i] = N[i, j]
        for i in range(n + 1):
            J[M - 1, i] = t_prev[i]
        e = np.zeros(M)
        e[M - 1] = 1.0
        _solve(J, e, z)
    _orient(z, n, t_prev, True, t)
    info[4] = index
    info[5] = nullity
    info[6] = tol
    info[7] = lam
    info[8] = loss
    info[9] = _pairs(x, fa.U, k, d, par_atol, pairs)
    info[10] = 1.0 if _dips(x_prev, x, fa.U, k, d) else 0.0
    info[12] = index + _select_own(vecs, N, mu, tol, sel)


@njit(inline="always", **_JIT)
def _own_basis(vecs, sel, N):
    """The own null basis at a new point: the Ritz vectors ``sel[:m]`` into ``N`` (n, m)."""
    for j in range(N.shape[1]):
        s = sel[j]
        for i in range(N.shape[0]):
            N[i, j] = vecs[i, s]


@njit(**_JIT)
def advance(A, p, has_dt, index, nullity, npairs, ds, p_end, gtol, xtol_rel, max_iter, chord_iter, fam, eig_rtol,
            lam_iters, sweeps, par_atol, step_min, step_max, fast_chord, fast_newton, slow, cap, given, S0, S1, out,
            info, pinfo):
    """Points of the continuation, many in one call: :func:`step` repeated from the point ``A`` while
    each step is a plain one, at most ``cap`` points; or (``cap = 0``) one step as given.

    A point is ``(x, t, dt, N, vecs, top, F, perm, blk, b, X, pairs, mu, sel)`` (``dt`` the
    tangent's rate of change, used by the predictor when ``has_dt``; ``N`` the own null basis;
    ``vecs``, ``top`` the start of the next spectrum, with ``lam_iters`` power steps and ``sweeps``
    inverse-iteration sweeps; ``F`` to ``X`` the next chord; ``pairs``, ``mu`` and ``sel`` are not
    read for A). ``S0`` and ``S1`` are two such sets of buffers, written alternately.

    ``cap = 0``: the one step :func:`step` takes from ``given = (x0, p0, c, cp, rhs, chord)`` (its
    predictor, arclength row and whether the chord runs on A's factor), whatever it gives: the
    caller's steps that are not plain (the start, an event's bisection trials, the landing on
    ``p_end``). Its arrays go to ``S0`` (the own basis included), its ``info`` to ``pinfo``.

    ``cap > 0``: the predictor from A (``y_A + ds t + ds^2 dt / 2``) and the loop, which stops
    before the first step that is not plain, so that the caller takes it in full
    (:func:`dynsys.continuation.arclength.continuation`: events, step halving, landing on
    ``p_end``): a corrector that fails, a row that dips towards zero, ``p_end`` reached or passed, a
    fold (the tangent's p component changes sign), a change of the Morse index, a nullity above both
    the last point's and the own null space's, a change of the pairs of parallel rows. After each
    accepted point the step grows by 1.5 (iterations at most ``fast_chord``, or ``fast_newton`` when
    the chord failed), shrinks by 0.7 (above ``slow``) and stays in ``[step_min, step_max]``: the
    caller's rule, so the branch is the one the caller's loop gives. ``out = (x, p, ds, loss,
    grad_norm, index, nullity, eig, t_p)`` receives the accepted points, one row each; ``info``
    (float64, 8): ``count, which, ds, p, loss, grad norm, index0, nullity``, ``which`` the buffer
    set (0, 1) holding the last accepted point (-1: none accepted).

    One entry point for both: a second kernel calling :func:`step` would compile it again (Numba
    optimises a callee anew inside every caller's module: 15 s).
    """
    n = A[0].size
    m = A[3].shape[1]
    if cap == 0:
        x0, p0, c, cp, rhs, chord = given
        xa, ta, _, Na, Va, topa, Fa, perma, blka, ba, Xa, _, _, _ = A
        xb, tb, _, Nb, vb, topb, Fb, permb, blkb, bb, Xb, pairsb, mub, selb = S0
        step(x0, p0, Na, xa, c, cp, rhs, ta, gtol, xtol_rel, max_iter, chord_iter, fam, eig_rtol, Va, topa,
             lam_iters, sweeps, par_atol, xa, chord, Fa, perma, blka, ba, Xa, xb, tb, mub, vb, topb, selb, pairsb,
             Fb, permb, blkb, bb, Xb, pinfo)
        if pinfo[0] == CONVERGED:
            _own_basis(vb, selb, Nb)
        return
    o_x, o_p, o_ds, o_loss, o_gn, o_index, o_nullity, o_eig, o_tp = out
    q = S0[4].shape[1]
    x0 = np.empty(n)
    c = np.empty(n)
    count = 0
    which = -1
    index0 = -1
    loss = 0.0
    gn = 0.0
    chord = cap > 0     # a variable: a literal True would give step a second signature to compile
    while count < cap:
        xa, ta, dta, Na, Va, topa, Fa, perma, blka, ba, Xa, pairsa, _, _ = A
        B = S1 if which == 0 else S0
        xb, tb, dtb, Nb, vb, topb, Fb, permb, blkb, bb, Xb, pairsb, mub, selb = B
        # the predictor and the arclength row, as continuation's _predict and step_from
        h = 0.5 * ds * ds
        for i in range(n):
            x0[i] = xa[i] + (ds * ta[i] + h * dta[i] if has_dt else ds * ta[i])
            c[i] = ta[i]
        p0 = p + (ds * ta[n] + h * dta[n] if has_dt else ds * ta[n])
        rhs = np.dot(c, xa) + ta[n] * p + ds
        step(x0, p0, Na, xa, c, ta[n], rhs, ta, gtol, xtol_rel, max_iter, chord_iter, fam, eig_rtol, Va, topa,
             lam_iters, sweeps, par_atol, xa, chord, Fa, perma, blka, ba, Xa, xb, tb, mub, vb, topb, selb, pairsb,
             Fb, permb, blkb, bb, Xb, pinfo)
        if pinfo[0] != CONVERGED or pinfo[10] == 1.0:
            break
        pb = pinfo[1]
        if (pb - p_end) * (p - p_end) <= 0.0 or ta[n] * tb[n] < 0.0:
            break
        ib, nb, npb = int(pinfo[4]), int(pinfo[5]), int(pinfo[9])
        if ib != index or (nb > nullity and nb > m) or npb != npairs:
            break
        same = True
        for r in range(npb):
            same = same and pairsb[r, 0] == pairsa[r, 0] and pairsb[r, 1] == pairsa[r, 1]
        if not same:
            break
        # accepted
        _own_basis(vb, selb, Nb)
        for i in range(n + 1):
            dtb[i] = (tb[i] - ta[i]) / ds
        o_x[count, :] = xb
        o_p[count] = pb
        o_ds[count] = ds
        loss = pinfo[8]
        gn = pinfo[3]
        o_loss[count] = loss
        o_gn[count] = gn
        o_index[count] = ib
        o_nullity[count] = nb
        for j in range(q - m):
            o_eig[count, j] = mub[selb[m + j]]
        o_tp[count] = tb[n]
        count += 1
        fast = fast_chord if pinfo[11] == 1.0 else fast_newton
        it = pinfo[2]
        if it <= fast:
            ds = min(step_max, ds * 1.5)
        elif it > slow:
            ds = ds * 0.7
        ds = max(ds, step_min)
        p, nullity, index0 = pb, nb, int(pinfo[12])
        has_dt = True
        which = 0 if which != 0 else 1
        A = B
    info[0] = count
    info[1] = which
    info[2] = ds
    info[3] = p
    info[4] = loss
    info[5] = gn
    info[6] = index0
    info[7] = nullity
