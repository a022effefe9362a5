"""Per-state kernels of the two-layer ReLU teacher-student field (plain arrays in, plain arrays out).

What is computed (docs/math.md sections 1-2; Tian (ICML 2017) Theorem 1, Eqn 5-8): for network rows
``v_j`` (the student's ``w_j + u_j``), teacher rows ``t_k`` (``w*_k + u_k``), top weights ``a``, ``a*``
and leaky slope ``alpha``,

    L = 1/2 [sum_ij a_i a_j kappa_a(v_i, v_j) - 2 sum_jk a_j a*_k kappa_a(v_j, t_k) + sum_kl ...]

with ``kappa_a(u, v) = (1 + alpha^2) kappa(u, v) - 2 alpha kappa(u, -v)`` and
``2 pi kappa(u, v) = |u||v| (sin theta + (pi - theta) cos theta)``.

Every pair of rows enters through three numbers of its angle theta (shared by the loss, both rows'
gradients and the Hessian blocks; the pair (i, j) has one cosine, whichever row asks):

    P(theta) = (1 + alpha^2)(pi - theta) + 2 alpha theta     coefficient of the other row
    Q(theta) = (1 - alpha)^2 sin(theta)                      coefficient of the own direction
    K(theta) = (1 + alpha^2)(sin + (pi - theta) cos) - 2 alpha (sin - theta cos)

so that ``2 pi [(1+alpha^2) g1(w, v) - 2 alpha g1(w, -v)] = P v + Q |v| w/|w|`` (``g1`` of docs/math.md section 2)
and ``2 pi kappa_a(w, v) = |w||v| K``. The Hessian blocks are the ``h1``/``h2`` of docs/math.md section 2 combined the same
way: ``h1(w, -v) = h1(w, v)`` gives the factor ``(1 - alpha)^2`` on the diagonal blocks and
``2 pi [(1+alpha^2) h2(w, v) + 2 alpha h2(w, -v)] = P I + (1 - alpha)^2 R`` off the diagonal, with
``R = s c (u u^T - n n^T) + s^2 (n u^T + u n^T)``.

At ``alpha = 1`` the network is linear (``kappa_1(u, v) = u . v``) and nothing is singular: a separate
branch evaluates ``L = 1/2 |sum a_j v_j - sum a*_k t_k|^2`` so zero rows are allowed there.

Angles: ``arccos`` of the cosine where ``|cos| <= ACOS_SWITCH`` (absolute error below 1.2e-15 there)
and ``2 atan2(|u - v|, |u + v|)`` of the unit vectors beyond it, accurate to roundoff at 0 and pi
(docs/math.md section 2). Status codes: 0 ok, 3 singular (a row norm at or below ``tol``), 4 non-finite.
"""

import math

from numba import njit

from ..config import ACOS_SWITCH

from .._codes import NONFINITE, OK, SINGULAR

_TWO_PI = 2.0 * math.pi
_JIT = dict(cache=True, fastmath={"reassoc", "contract"})


@njit(inline="always", **_JIT)
def _angle_atan2(X, i, ix, Y, j, iy):
    """``(theta, cos, sin)`` of rows ``X[i]``, ``Y[j]`` (inverse norms ``ix``, ``iy``) from the
    half-angle form ``|u - v| = 2 sin(theta/2)``, ``|u + v| = 2 cos(theta/2)``: exact to roundoff."""
    dm = 0.0
    dp = 0.0
    for l in range(X.shape[1]):
        p = X[i, l] * ix
        q = Y[j, l] * iy
        dm += (p - q) * (p - q)
        dp += (p + q) * (p + q)
    r2 = dm + dp
    return 2.0 * math.atan2(math.sqrt(dm), math.sqrt(dp)), (dp - dm) / r2, 2.0 * math.sqrt(dm * dp) / r2


@njit(inline="always", **_JIT)
def pair_angle(X, i, nx, Y, j, ny, dot):
    """Angle between rows ``X[i]`` and ``Y[j]`` (norms ``nx``, ``ny``, dot product ``dot``).

    Returns ``(theta, cos, sin)``, accurate to roundoff over [0, pi]: ``arccos`` where
    ``|cos| <= ACOS_SWITCH``, the atan2 half-angle form beyond.
    """
    c = dot / (nx * ny)
    if -ACOS_SWITCH <= c <= ACOS_SWITCH:
        return math.acos(c), c, math.sqrt((1.0 - c) * (1.0 + c))
    return _angle_atan2(X, i, 1.0 / nx, Y, j, 1.0 / ny)


@njit(inline="always", **_JIT)
def pair_coefficients(theta, c, s, alpha):
    """``(P, Q, K)`` of the module docstring for one pair (``K`` is named ``Kc`` in code, apart from
    the integrators' stage gradients ``K``)."""
    om = 1.0 - alpha
    opa = 1.0 + alpha * alpha
    P = opa * (math.pi - theta) + 2.0 * alpha * theta
    Q = om * om * s
    Kc = opa * (s + (math.pi - theta) * c) - 2.0 * alpha * (s - theta * c)
    return P, Q, Kc


@njit(inline="always", **_JIT)
def _dot(X, i, Y, j):
    acc = 0.0
    for l in range(X.shape[1]):
        acc += X[i, l] * Y[j, l]
    return acc


@njit(inline="always", **_JIT)
def _dot4(X, i, Y, j):
    """Dot products of row ``X[i]`` with rows ``Y[j]`` .. ``Y[j + 3]``: one load of ``X[i, l]`` serves
    four independent accumulation chains (a loop over one short row stays scalar)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for l in range(X.shape[1]):
        x = X[i, l]
        s0 += x * Y[j, l]
        s1 += x * Y[j + 1, l]
        s2 += x * Y[j + 2, l]
        s3 += x * Y[j + 3, l]
    return s0, s1, s2, s3


@njit(**_JIT)
def row_norms(V, tol, nrm):
    """Fill ``nrm`` with the row norms of ``V``; return the status of the state (see module)."""
    for j in range(V.shape[0]):
        r = math.sqrt(_dot(V, j, V, j))
        nrm[j] = r
        if not math.isfinite(r):
            return NONFINITE
    for j in range(V.shape[0]):
        if nrm[j] <= tol:
            return SINGULAR
    return OK


@njit(**_JIT)
def _linear_loss_grad(V, T, a, a_star, want_grad, G, r):
    """alpha = 1: ``L = |r|^2 / 2`` with ``r = sum_j a_j v_j - sum_k a*_k t_k``, ``grad_j = a_j r``."""
    d = V.shape[1]
    for l in range(d):
        acc = 0.0
        for j in range(V.shape[0]):
            acc += a[j] * V[j, l]
        for k in range(T.shape[0]):
            acc -= a_star[k] * T[k, l]
        r[l] = acc
    loss = 0.0
    for l in range(d):
        loss += r[l] * r[l]
    if want_grad:
        for j in range(V.shape[0]):
            for l in range(d):
                G[j, l] = a[j] * r[l]
    return 0.5 * loss


# asin(t) = t + t^3 R(t^2) on [0, 1/2]: least-squares fit of R on Chebyshev nodes (50-digit
# reference, mpmath); max relative error of asin 2.2e-16 on [0, 1/2]. Pure arithmetic, so the
# angle loop below vectorises (numba has no vector libm here).
_ASIN_R = (0.16666666666666669, 0.0749999999999834, 0.04464285714653523, 0.03038194412500875,
           0.022372173467043486, 0.017352380709839098, 0.01397138708310213, 0.011477517005507167,
           0.01033337215296726, 0.005413184483715509, 0.01751883397953867, -0.015032162599250314,
           0.028878362746452394)
(_R0, _R1, _R2, _R3, _R4, _R5, _R6, _R7, _R8, _R9, _R10, _R11, _R12) = _ASIN_R


@njit(inline="always", **_JIT)
def acos_poly(c):
    """``arccos(c)`` for c in [-1, 1], branch-free (selects only), to a few ulp.

    ``|c| <= 1/2``: ``pi/2 - asin(c)``; beyond: ``arccos(|c|) = 2 asin(sqrt((1 - |c|) / 2))``
    (``1 - |c|`` is exact there), reflected for negative c. One polynomial serves both.
    """
    y = abs(c)
    big = y > 0.5
    sq = math.sqrt(0.5 * (1.0 - y))
    t = sq if big else y
    z = t * t
    r = _R12
    r = r * z + _R11
    r = r * z + _R10
    r = r * z + _R9
    r = r * z + _R8
    r = r * z + _R7
    r = r * z + _R6
    r = r * z + _R5
    r = r * z + _R4
    r = r * z + _R3
    r = r * z + _R2
    r = r * z + _R1
    r = r * z + _R0
    a = t + t * z * r
    far = 2.0 * a if c > 0.0 else math.pi - 2.0 * a
    near = 0.5 * math.pi - a if c > 0.0 else 0.5 * math.pi + a
    return far if big else near


def work_size(k: int, k_star: int, d: int) -> int:
    """Length of the ``work`` buffer :func:`loss_grad` needs for a state of k rows, k* teacher rows."""
    p = k + k_star
    return max(3 * k * p + d * p + 5 * p, d)


@njit(**_JIT)
def loss_grad(V, T, tn, a, a_star, alpha, const, tol, want_grad, G, work):
    """Loss (returned) and, if ``want_grad``, gradient into ``G`` (k, d) for network rows ``V``.

    ``T`` (k*, d) teacher rows with norms ``tn``; ``const`` the teacher-teacher term of the loss;
    ``work`` a C-contiguous float64 scratch buffer of length :func:`work_size` ``(k, k*, d)``.
    Returns ``(loss, status)``; on a bad status the loss is 0 and ``G`` is zero.

    Layout (docs/field.md, "The bulk kernel"): every quantity of a pair lives in a dense
    (k, k* + k) matrix, row j against the partners ``z_c = [t_1 .. t_k*, v_1 .. v_k]``, so that the
    angle and coefficient stages are flat loops over k (k* + k) entries, which the compiler
    vectorises (loops over one row, k* + k or d long, stay scalar at k = d = 10). The student-student
    block holds each pair twice (the cosine is computed once and mirrored) and its diagonal the
    pair of a row with itself, cosine 1 and angle exactly 0, where ``P = (1 + alpha^2) pi`` and
    ``K = (1 + alpha^2) pi`` are the row's own terms of gradient and loss (the row's weight of 1/2 on
    the loss of the student block gives each pair once and the own term its 1/2). The gradient is
    then ``a_j sum_c P_jc az_c z_c + a_j (1 - alpha)^2 / |v_j| sum_c az_c |z_c| sin(theta_jc) v_j``
    (``az`` = ``-a*`` and ``a``), one reduction over the partners per entry of G against a
    transposed, weighted copy of the partners (docs/math.md section 2).
    """
    k = V.shape[0]
    d = V.shape[1]
    ks = T.shape[0]
    if alpha == 1.0:
        if want_grad:
            G[:, :] = 0.0
        for j in range(k):
            for l in range(d):
                if not math.isfinite(V[j, l]):
                    return 0.0, NONFINITE
        return _linear_loss_grad(V, T, a, a_star, want_grad, G, work), OK
    P = ks + k
    kP = k * P
    # one reshape (a call into numba's runtime) for all matrices: cosines, angles, sines, partners
    W2 = work[0:3 * kP + d * P].reshape((3 * k + d, P))
    cs = W2[0:k]           # cosines, then P(theta)
    th = W2[k:2 * k]       # angles, then K(theta)
    sn = W2[2 * k:3 * k]   # sines
    Zw = W2[3 * k:]        # (d, P): a_z z_c, transposed
    csf = work[0:kP]
    thf = work[kP:2 * kP]
    snf = work[2 * kP:3 * kP]
    o = 3 * kP + d * P
    zn = work[o:o + P]                # partner norms
    izn = work[o + P:o + 2 * P]       # their inverses (0 for a zero teacher row)
    az = work[o + 2 * P:o + 3 * P]    # -a*_k (0 for a zero teacher row), a_i
    wK = work[o + 3 * P:o + 4 * P]    # loss weights az |z| (1/2 on the student block)
    wQ = work[o + 4 * P:o + 5 * P]    # sine weights az |z|
    status = row_norms(V, tol, zn[ks:])
    if status != OK:
        if want_grad:
            G[:, :] = 0.0
        return 0.0, status
    for q in range(ks):
        nz = tn[q] != 0.0  # a zero teacher row contributes nothing
        zn[q] = tn[q]
        izn[q] = 1.0 / tn[q] if nz else 0.0
        az[q] = -a_star[q] if nz else 0.0
        wQ[q] = az[q] * tn[q]
        wK[q] = wQ[q]
    for i in range(k):
        izn[ks + i] = 1.0 / zn[ks + i]
        az[ks + i] = a[i]
        wQ[ks + i] = a[i] * zn[ks + i]
        wK[ks + i] = 0.5 * wQ[ks + i]
    for j in range(k):
        ij = izn[ks + j]
        m = ks - ks % 4
        for q in range(0, m, 4):
            s0, s1, s2, s3 = _dot4(V, j, T, q)
            cs[j, q] = s0 * ij * izn[q]
            cs[j, q + 1] = s1 * ij * izn[q + 1]
            cs[j, q + 2] = s2 * ij * izn[q + 2]
            cs[j, q + 3] = s3 * ij * izn[q + 3]
        for q in range(m, ks):
            cs[j, q] = _dot(V, j, T, q) * ij * izn[q]
        m = j - j % 4
        for i in range(0, m, 4):
            s0, s1, s2, s3 = _dot4(V, j, V, i)
            cs[j, ks + i] = s0 * ij * izn[ks + i]
            cs[j, ks + i + 1] = s1 * ij * izn[ks + i + 1]
            cs[j, ks + i + 2] = s2 * ij * izn[ks + i + 2]
            cs[j, ks + i + 3] = s3 * ij * izn[ks + i + 3]
        for i in range(m, j):
            cs[j, ks + i] = _dot(V, j, V, i) * ij * izn[ks + i]
        for i in range(j):
            cs[i, ks + j] = cs[j, ks + i]
        cs[j, ks + j] = 1.0
    for p in range(kP):
        c = min(1.0, max(-1.0, csf[p]))
        thf[p] = acos_poly(c)
        snf[p] = math.sqrt((1.0 - c) * (1.0 + c))
    # near 0 and pi the cosine has lost the angle's digits: take it from the rows (docs/math.md
    # section 2). The k diagonal entries are exactly 1 with angle exactly 0 and are left alone.
    nbig = 0
    for p in range(kP):
        nbig += abs(csf[p]) > ACOS_SWITCH
    if nbig > k:
        for j in range(k):
            ij = izn[ks + j]
            for q in range(ks):
                if abs(cs[j, q]) > ACOS_SWITCH:
                    th[j, q], cs[j, q], sn[j, q] = _angle_atan2(V, j, ij, T, q, izn[q])
            for i in range(k):
                if i != j and abs(cs[j, ks + i]) > ACOS_SWITCH:
                    th[j, ks + i], cs[j, ks + i], sn[j, ks + i] = _angle_atan2(V, j, ij, V, i, izn[ks + i])
    opa = 1.0 + alpha * alpha
    om2 = (1.0 - alpha) * (1.0 - alpha)
    for p in range(kP):
        t = thf[p]
        c = csf[p]
        s = snf[p]
        thf[p] = opa * (s + (math.pi - t) * c) - 2.0 * alpha * (s - t * c)
        csf[p] = opa * (math.pi - t) + 2.0 * alpha * t
    inv2pi = 1.0 / _TWO_PI
    if want_grad:
        for l in range(d):
            for q in range(ks):
                Zw[l, q] = T[q, l] * az[q]
            for i in range(k):
                Zw[l, ks + i] = V[i, l] * a[i]
    loss = 0.0
    for j in range(k):
        lk = 0.0
        for c in range(P):
            lk += wK[c] * th[j, c]
        loss += a[j] * zn[ks + j] * lk
        if want_grad:
            lq = 0.0
            for c in range(P):
                lq += wQ[c] * sn[j, c]
            aj = a[j]
            own = aj * om2 * izn[ks + j] * lq
            m = d - d % 4
            for l in range(0, m, 4):
                g0, g1, g2, g3 = _dot4(cs, j, Zw, l)
                G[j, l] = (aj * g0 + own * V[j, l]) * inv2pi
                G[j, l + 1] = (aj * g1 + own * V[j, l + 1]) * inv2pi
                G[j, l + 2] = (aj * g2 + own * V[j, l + 2]) * inv2pi
                G[j, l + 3] = (aj * g3 + own * V[j, l + 3]) * inv2pi
            for l in range(m, d):
                G[j, l] = (aj * _dot(cs, j, Zw, l) + own * V[j, l]) * inv2pi
    return loss * inv2pi + const, OK


@njit(**_JIT)
def teacher_energy(T, tn, a_star, alpha):
    """``1/2 sum_kl a*_k a*_l kappa_a(t_k, t_l)``: the loss of the zero network (constant term)."""
    acc = 0.0
    opa = 1.0 + alpha * alpha
    for k in range(T.shape[0]):
        acc += 0.5 * a_star[k] * a_star[k] * opa * tn[k] * tn[k] * math.pi
        if tn[k] == 0.0:
            continue
        for q in range(k):
            if tn[q] == 0.0:
                continue
            theta, c, s = pair_angle(T, k, tn[k], T, q, tn[q], _dot(T, k, T, q))
            P, Q, Kc = pair_coefficients(theta, c, s, alpha)
            acc += a_star[k] * a_star[q] * tn[k] * tn[q] * Kc
    return acc / _TWO_PI


@njit(**_JIT)
def grad_a(V, T, tn, a, a_star, alpha, tol, out, nrm):
    """``dL/da_j = sum_i a_i kappa_a(v_j, v_i) - sum_k a*_k kappa_a(v_j, t_k)`` into ``out`` (k)."""
    k = V.shape[0]
    if alpha == 1.0:
        for j in range(k):
            acc = 0.0
            for i in range(k):
                acc += a[i] * _dot(V, j, V, i)
            for q in range(T.shape[0]):
                acc -= a_star[q] * _dot(V, j, T, q)
            out[j] = acc
            if not math.isfinite(acc):
                out[:] = 0.0
                return NONFINITE
        return OK
    status = row_norms(V, tol, nrm)
    if status != OK:
        out[:] = 0.0
        return status
    opa = 1.0 + alpha * alpha
    for j in range(k):
        out[j] = a[j] * opa * nrm[j] * nrm[j] * 0.5
    for j in range(k):
        for i in range(j):
            theta, c, s = pair_angle(V, j, nrm[j], V, i, nrm[i], _dot(V, j, V, i))
            P, Q, Kc = pair_coefficients(theta, c, s, alpha)
            kap = nrm[j] * nrm[i] * Kc / _TWO_PI
            out[j] += a[i] * kap
            out[i] += a[j] * kap
        for q in range(T.shape[0]):
            if tn[q] == 0.0:
                continue
            theta, c, s = pair_angle(V, j, nrm[j], T, q, tn[q], _dot(V, j, T, q))
            P, Q, Kc = pair_coefficients(theta, c, s, alpha)
            out[j] -= a_star[q] * nrm[j] * tn[q] * Kc / _TWO_PI
    return OK


#: Below this sin(theta) the frame vector p of :func:`_frame` is re-orthogonalised and rescaled to
#: length s (above it the rounding error of p is below eps relative to the blocks it enters).
_FRAME_SNAP = 1e-6


@njit(inline="always", **_JIT)
def _frame(X, i, nx, Y, j, ny, Uj, p):
    """Unit vector ``u`` of ``X[i]`` into ``Uj`` and ``p = s n = v~ - c u`` into ``p``; (theta, c, s).

    ``n`` is the unit vector of the h1/h2 blocks of docs/math.md section 2; ``p`` is formed directly so the blocks
    need no division by ``s`` except in ``p p^T / s``, which vanishes with ``s`` (guarded at 0).
    """
    theta, c, s = pair_angle(X, i, nx, Y, j, ny, _dot(X, i, Y, j))
    ix = 1.0 / nx
    iy = 1.0 / ny
    for l in range(X.shape[1]):
        Uj[l] = X[i, l] * ix
        p[l] = Y[j, l] * iy - c * X[i, l] * ix
    if 0.0 < s < _FRAME_SNAP:
        # p carries an absolute rounding error of order eps (more under fused multiply-adds), s only a
        # relative one: for nearly parallel rows p p^T / s would blow that error up by eps / s (to O(1)
        # at s ~ 1e-33). Put p exactly orthogonal to u with length s, so p p^T / s = s n n^T stays
        # O(s) and the blocks tend to their limits at s = 0 (docs/math.md section 2).
        pu = 0.0
        for l in range(X.shape[1]):
            pu += p[l] * Uj[l]
        pn = 0.0
        for l in range(X.shape[1]):
            p[l] -= pu * Uj[l]
            pn += p[l] * p[l]
        f = s / math.sqrt(pn) if pn > 0.0 else 0.0
        for l in range(X.shape[1]):
            p[l] *= f
    return theta, c, s


#: Rows of the Hessian's scratch array (shape ``(HESS_SCRATCH_ROWS, max(k, d))``).
HESS_SCRATCH_ROWS = 5


@njit(**_JIT)
def hessian(V, T, tn, a, a_star, alpha, tol, H, S, nrm):
    """Exact Hessian (k d, k d) into ``H``, row-major in (row j, coordinate); returns the status.

    ``S`` is scratch of shape ``(HESS_SCRATCH_ROWS, max(k, d))``, ``nrm`` of length ``max(k, d)``.
    Blocks of docs/math.md section 2 (checked there against finite differences): with ``u`` the unit
    vector of ``v_j`` and ``p = v~_i - c u`` (``|p| = s``),

        2 pi h1(v_j, v_i) = |v_i|/|v_j| (s (I - u u^T) + p p^T / s)
        2 pi h2(v_j, v_i) = (pi - theta) I + s c u u^T - (c / s) p p^T + s (p u^T + u p^T)

    both continuous at s = 0 (h1 -> 0, h2 -> (pi - theta) I / (2 pi)) but not differentiable.

    Cost: ``u`` is the same for every h1 term of row j, so a diagonal block is
    ``sig_j (I - u u^T) + sum_i w_i p_i p_i^T`` with the scalar ``sig_j = sum_i f_i s_i``: one
    multiply-add per entry and partner (the weighted Gram matrix of the ``p_i``, never expanded in
    ``v~_i`` and ``u``, which would cancel catastrophically as ``s -> 0``), lower triangle mirrored. An
    off-diagonal block is the rank-2 ``P I + u alpha^T + p beta^T`` (two multiply-adds per entry),
    written once and transposed into its mirror: H is exactly symmetric, one angle per pair.
    """
    k = V.shape[0]
    d = V.shape[1]
    om2 = (1.0 - alpha) * (1.0 - alpha)
    opa = 1.0 + alpha * alpha
    if alpha == 1.0:
        H[:, :] = 0.0
        for j in range(k):
            for l in range(d):
                if not math.isfinite(V[j, l]):
                    return NONFINITE
        for j in range(k):
            for i in range(k):
                for l in range(d):
                    H[j * d + l, i * d + l] = a[j] * a[i]
        return OK
    status = row_norms(V, tol, nrm)
    if status != OK:
        H[:, :] = 0.0
        return status
    u = S[0]
    p = S[1]
    q = S[2]
    al = S[2]  # q is free again once row i's Gram term is added
    be = S[3]
    sig = S[4]
    inv2pi = 1.0 / _TWO_PI
    # every lower off-diagonal block is written whole below and copied into its mirror at the end, so
    # only the diagonal blocks' lower triangles, which accumulate, start from zero
    for j in range(k):
        sig[j] = 0.0
        rj = j * d
        for l in range(d):
            for m in range(l + 1):
                H[rj + l, rj + m] = 0.0
    for j in range(k):
        rj = j * d
        for i in range(j):
            theta, c, s = _frame(V, j, nrm[j], V, i, nrm[i], u, p)
            aa = a[j] * a[i]
            ri = i * d
            diag = aa * (opa * (math.pi - theta) + 2.0 * alpha * theta) * inv2pi
            if s > 0.0:  # (om2 > 0: alpha = 1 returned above)
                # h1 of row j (frame u, p) and of row i (frame v~_i = p + c u, p' = s^2 u - c p)
                fj = om2 * aa * nrm[i] / nrm[j] * inv2pi
                fi = om2 * aa * nrm[j] / nrm[i] * inv2pi
                sig[j] += fj * s
                sig[i] += fi * s
                _gram_add(H, rj, p, fj / s, d)
                s2 = s * s
                for l in range(d):
                    q[l] = s2 * u[l] - c * p[l]
                _gram_add(H, ri, q, fi / s, d)
                # R = f (s c u u^T - (c/s) p p^T + s (p u^T + u p^T)) = u al^T + p be^T
                f = om2 * aa * inv2pi
                cs = c / s
                for l in range(d):
                    al[l] = f * s * (c * u[l] + p[l])
                    be[l] = f * (s * u[l] - cs * p[l])
                # block (j, i) only, row by row (contiguous stores); its transpose (i, j) is copied
                # in one pass at the end, so H is exactly symmetric
                for l in range(d):
                    ul = u[l]
                    pl = p[l]
                    for m in range(d):
                        H[rj + l, ri + m] = ul * al[m] + pl * be[m]
                    H[rj + l, ri + l] += diag
            else:
                for l in range(d):
                    for m in range(d):
                        H[rj + l, ri + m] = 0.0
                    H[rj + l, ri + l] = diag
        for t in range(T.shape[0]):
            if tn[t] == 0.0:
                continue
            theta, c, s = _frame(V, j, nrm[j], T, t, tn[t], u, p)
            if s > 0.0:
                f = -om2 * a[j] * a_star[t] * tn[t] / nrm[j] * inv2pi
                sig[j] += f * s
                _gram_add(H, rj, p, f / s, d)
    # off-diagonal blocks lower -> upper, block by block (views: indices from range() need no
    # negative-index wraparound)
    for j in range(k):
        for i in range(j):
            Bji = H[j * d:(j + 1) * d, i * d:(i + 1) * d]
            Bij = H[i * d:(i + 1) * d, j * d:(j + 1) * d]
            for l in range(d):
                for m in range(d):
                    Bij[m, l] = Bji[l, m]
    # diagonal blocks: sig_j (I - u u^T), the constant 1/2 a_j^2 (1 + alpha^2) I, lower -> upper
    for j in range(k):
        rj = j * d
        ij = 1.0 / nrm[j]
        sj = sig[j]
        cj = 0.5 * a[j] * a[j] * opa + sj
        for l in range(d):
            ul = V[j, l] * ij
            for m in range(l):
                H[rj + l, rj + m] -= sj * ul * (V[j, m] * ij)
                H[rj + m, rj + l] = H[rj + l, rj + m]
            H[rj + l, rj + l] += cj - sj * ul * ul
    return OK


@njit(cache=True, fastmath={"contract"})
def _gram_add(H, r0, p, w, d):
    """``H[block (r0, r0)] += w p p^T``, lower triangle only (the caller mirrors it).

    Compiled on its own and without ``reassoc``: inlined into the Hessian kernel with it, LLVM
    rewrote the caller's ``w = f / s`` times ``p[l] p[m]`` into ``f p[l] p[m] / s``, a division per
    entry, which took half the kernel's time at k = d = 10. Here each entry is one fused
    multiply-add of ``w p[l]`` and ``p[m]``, indexed through a view of the block (indices from
    ``range`` need no negative-index wraparound; ``r0 + m`` did).
    """
    B = H[r0:r0 + d, r0:r0 + d]
    for l in range(d):
        wl = w * p[l]
        for m in range(l + 1):
            B[l, m] += wl * p[m]


@njit(inline="always", **_JIT)
def _h1_times(out, j, X, u, p, s, f, d):
    """``out[j] += f (s (I - u u^T) + p p^T / s) X[j]``: an h1 block times a row, in O(d)."""
    ux = 0.0
    px = 0.0
    for l in range(d):
        ux += u[l] * X[j, l]
        px += p[l] * X[j, l]
    for l in range(d):
        out[j, l] += f * (s * (X[j, l] - u[l] * ux) + p[l] * px / s)


@njit(**_JIT)
def hvp(V, X, T, tn, a, a_star, alpha, tol, out, u, p, nrm):
    """Hessian-vector product ``H x`` into ``out`` (k, d) without forming H; returns the status.

    Same blocks as :func:`hessian`, each applied in O(d): ``O(k (k + k*) d)`` per product.
    """
    k = V.shape[0]
    d = V.shape[1]
    out[:, :] = 0.0
    om2 = (1.0 - alpha) * (1.0 - alpha)
    opa = 1.0 + alpha * alpha
    if alpha == 1.0:
        for l in range(d):
            acc = 0.0
            for i in range(k):
                acc += a[i] * X[i, l]
            for j in range(k):
                out[j, l] = a[j] * acc
        for j in range(k):
            for l in range(d):
                if not math.isfinite(V[j, l]):
                    out[:, :] = 0.0
                    return NONFINITE
        return OK
    status = row_norms(V, tol, nrm)
    if status != OK:
        return status
    inv2pi = 1.0 / _TWO_PI
    for j in range(k):
        for l in range(d):
            out[j, l] = 0.5 * a[j] * a[j] * opa * X[j, l]
        for i in range(k):
            if i == j:
                continue
            theta, c, s = _frame(V, j, nrm[j], V, i, nrm[i], u, p)
            P = opa * (math.pi - theta) + 2.0 * alpha * theta
            aa = a[j] * a[i]
            for l in range(d):
                out[j, l] += aa * P * inv2pi * X[i, l]
            if om2 != 0.0 and s != 0.0:
                _h1_times(out, j, X, u, p, s, om2 * aa * nrm[i] / nrm[j] * inv2pi, d)
                f2 = om2 * aa * inv2pi
                ux = 0.0
                px = 0.0
                for l in range(d):
                    ux += u[l] * X[i, l]
                    px += p[l] * X[i, l]
                for l in range(d):
                    out[j, l] += f2 * (s * c * u[l] * ux - c / s * p[l] * px
                                       + s * (p[l] * ux + u[l] * px))
        if om2 != 0.0:
            for q in range(T.shape[0]):
                if tn[q] == 0.0:
                    continue
                theta, c, s = _frame(V, j, nrm[j], T, q, tn[q], u, p)
                if s != 0.0:
                    _h1_times(out, j, X, u, p, s, -om2 * a[j] * a_star[q] * tn[q] / nrm[j] * inv2pi, d)
    return OK
