"""Dense solves of the continuation corrector (CPU, Numba): the bordered Jacobian factored once by
the Crout LU of :mod:`dynsys.kernels.linalg` and solved for several right-hand sides, without BLAS
threads (which contend with the caller's on a busy machine) and without allocation per solve."""

import numpy as np
from numba import njit

from . import linalg


@njit(cache=True)
def lu_solve_many(J, R, X):
    """Solve ``J X[:, c] = R[:, c]`` for every column c by one LU of ``J`` (n, n) with partial
    pivoting. Returns the smallest pivot magnitude (0: ``J`` exactly singular, ``X`` left unset)."""
    n = J.shape[0]
    A = np.empty((n, n))
    Ut = np.empty((n, n))
    piv = np.empty(n, dtype=np.int64)
    pmin = linalg.lu(J, A, Ut, piv, n)
    if pmin == 0.0:
        return 0.0
    b = np.empty(n)
    for c in range(R.shape[1]):
        for i in range(n):
            b[i] = R[i, c]
        linalg.lu_solve(A, Ut, piv, b, n)
        for i in range(n):
            X[i, c] = b[i]
    return pmin
