"""Dense linear algebra on preallocated buffers for the Newton kernel (CPU, Numba).

Cholesky, LDL^T without pivoting and a Crout LU with partial pivoting, with their solves, written out
(the inner loops are contiguous dot products, so they vectorise) rather than called through
``np.linalg``: no allocation per call, no nested BLAS threads inside the worker threads, and results
independent of the thread count.
"""

import math

from numba import njit

_JIT = dict(cache=True, fastmath={"reassoc", "contract"})


@njit(**_JIT)
def dot(x, y, m):
    """``sum_{q < m} x_q y_q``."""
    s = 0.0
    for q in range(m):
        s += x[q] * y[q]
    return s


@njit(**_JIT)
def cholesky(H, F, n):
    """Cholesky factor of ``H`` into ``F`` (L in the lower triangle, L^T in the upper); returns the
    smallest squared pivot, or -1 if ``H`` is not positive definite (to working precision). Reads
    only the lower triangle of ``H``."""
    pmin = math.inf
    for j in range(n):
        fj = F[j]
        s = H[j, j] - dot(fj, fj, j)
        if not s > 0.0:
            return -1.0
        pmin = min(pmin, s)
        r = math.sqrt(s)
        fj[j] = r
        inv = 1.0 / r
        for i in range(j + 1, n):
            lij = (H[i, j] - dot(F[i], fj, j)) * inv
            F[i, j] = lij
            fj[i] = lij  # L^T in the upper triangle: the backward solve then reads rows
    return pmin


@njit(**_JIT)
def cholesky_solve(F, b, n):
    """Solve ``L L^T x = b`` in place (``F`` from :func:`cholesky`: L below, L^T above the diagonal)."""
    for i in range(n):
        b[i] = (b[i] - dot(F[i], b, i)) / F[i, i]
    for i in range(n - 1, -1, -1):
        fi = F[i]
        s = 0.0
        for j in range(i + 1, n):
            s += fi[j] * b[j]
        b[i] = (b[i] - s) / fi[i]


@njit(**_JIT)
def lu(H, A, Ut, piv, n):
    """Crout LU with partial pivoting, ``P H = L U``: unit-lower L in ``A``, U transposed in ``Ut``.

    Returns the smallest ``|U_kk|`` (0 if exactly singular). Storing U by columns makes every inner
    loop a contiguous dot product.
    """
    for i in range(n):
        for j in range(n):
            A[i, j] = H[i, j]
    pmin = math.inf
    for k in range(n):
        uk = Ut[k]
        for i in range(k, n):
            A[i, k] -= dot(A[i], uk, k)
        big = abs(A[k, k])
        ip = k
        for i in range(k + 1, n):
            val = abs(A[i, k])
            if val > big:
                big = val
                ip = i
        piv[k] = ip
        pmin = min(pmin, big)
        if big == 0.0:
            return 0.0
        if ip != k:
            for j in range(n):
                tmp = A[k, j]
                A[k, j] = A[ip, j]
                A[ip, j] = tmp
        ukk = A[k, k]
        Ut[k, k] = ukk
        ak = A[k]
        for j in range(k + 1, n):
            Ut[j, k] = A[k, j] - dot(ak, Ut[j], k)
        inv = 1.0 / ukk
        for i in range(k + 1, n):
            A[i, k] *= inv
    return pmin


@njit(**_JIT)
def lu_solve(A, Ut, piv, b, n):
    """Solve ``H x = b`` in place from the factors of :func:`lu`."""
    for k in range(n):
        ip = piv[k]
        if ip != k:
            tmp = b[k]
            b[k] = b[ip]
            b[ip] = tmp
    for i in range(n):
        b[i] -= dot(A[i], b, i)
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= Ut[j, i] * b[j]
        b[i] = s / Ut[i, i]


@njit(**_JIT)
def ldlt(H, F, E, n, piv_min):
    """``H = L D L^T`` without pivoting (symmetric indefinite): unit L below the diagonal of ``F``,
    D on it, L^T above; ``E`` scratch (rows of L D). Half the work of :func:`lu`.

    Without pivoting it can break down or grow; returns False when a pivot has ``|D_jj| <= piv_min``
    (the caller then uses LU, and checks the solve's residual in any case).
    """
    for j in range(n):
        fj = F[j]
        ej = E[j]
        for i in range(j):
            c = H[j, i] - dot(fj, E[i], i)
            ej[i] = c
            fj[i] = c * E[i, i]  # E's diagonal holds 1 / D: no division in the O(n^2) loop
        dj = H[j, j] - dot(fj, ej, j)
        if not abs(dj) > piv_min:
            return False
        fj[j] = dj
        ej[j] = 1.0 / dj
        for i in range(j):
            F[i, j] = fj[i]
    return True


@njit(**_JIT)
def ldlt_solve(F, b, n):
    """Solve ``L D L^T x = b`` in place from :func:`ldlt`."""
    for i in range(n):
        b[i] -= dot(F[i], b, i)
    for i in range(n):
        b[i] /= F[i, i]
    for i in range(n - 1, -1, -1):
        fi = F[i]
        s = 0.0
        for j in range(i + 1, n):
            s += fi[j] * b[j]
        b[i] -= s
