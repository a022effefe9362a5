"""A verbatim copy of ``dynsys.systems.teacher_student.hessian`` as it was before its write order changed
(each off-diagonal block written with a strided mirror, the whole matrix zero-filled first): the new
layout must reproduce it bit for bit. Same JIT flags and the same inlined helpers, so the two kernels
compile the same arithmetic and differ only in where and when each entry is stored."""

import math

from numba import njit

from dynsys._codes import NONFINITE, OK
from dynsys.systems.teacher_student import _JIT, _TWO_PI, _frame, row_norms

@njit(**_JIT)
def hessian_old(V, T, tn, a, a_star, alpha, tol, H, S, nrm):
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
    H[:, :] = 0.0
    om2 = (1.0 - alpha) * (1.0 - alpha)
    opa = 1.0 + alpha * alpha
    if alpha == 1.0:
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
        return status
    u = S[0]
    p = S[1]
    q = S[2]
    al = S[2]  # q is free again once row i's Gram term is added
    be = S[3]
    sig = S[4]
    inv2pi = 1.0 / _TWO_PI
    for j in range(k):
        sig[j] = 0.0
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
                for l in range(d):
                    ul = u[l]
                    pl = p[l]
                    for m in range(d):
                        x = ul * al[m] + pl * be[m]
                        H[rj + l, ri + m] = x
                        H[ri + m, rj + l] = x
                for l in range(d):
                    x = H[rj + l, ri + l] + diag
                    H[rj + l, ri + l] = x
                    H[ri + l, rj + l] = x
            else:
                for l in range(d):
                    H[rj + l, ri + l] = diag
                    H[ri + l, rj + l] = diag
        for t in range(T.shape[0]):
            if tn[t] == 0.0:
                continue
            theta, c, s = _frame(V, j, nrm[j], T, t, tn[t], u, p)
            if s > 0.0:
                f = -om2 * a[j] * a_star[t] * tn[t] / nrm[j] * inv2pi
                sig[j] += f * s
                _gram_add(H, rj, p, f / s, d)
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


@njit(inline="always", **_JIT)
def _gram_add(H, r0, p, w, d):
    """``H[block (r0, r0)] += w p p^T``, lower triangle only (the caller mirrors it)."""
    for l in range(d):
        wl = w * p[l]
        for m in range(l + 1):
            H[r0 + l, r0 + m] += wl * p[m]
