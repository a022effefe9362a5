"""Dense symmetric linear algebra of the continuation step: microseconds per call, one thread.

Run (NumPy/SciPy's BLAS is slowed by OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE on these machines; unset both
for this command only, never in tests or CI, so the SciPy figures are fair ones)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_linalg.py

For n in 50, 100, 200 on a random symmetric indefinite matrix (``A + A^T``: many 2x2 pivots) and
a positive definite one (``A A^T + n I``: no pivoting): :func:`dynsys.kernels.ldl.bk_factor`
(the Bunch-Kaufman LDL^T whose inertia gives the Morse index; the copy of its input included, it
factors in place), :func:`~dynsys.kernels.ldl.bk_solve` per right-hand side,
:func:`~dynsys.kernels.ldl.bk_solve_many` for five right-hand sides (the inverse-iteration
sweep of :func:`~dynsys.kernels.ldl.spectrum`) and per right-hand side,
:func:`dynsys.kernels.linalg.cholesky` (positive definite only), and SciPy's ``scipy.linalg.ldl``
(LAPACK ``dsytrf`` plus SciPy's unpacking) and ``lu_factor`` (``dgetrf``) for comparison. Each figure
is the best of several rounds (the machine may be shared). Prints only.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

from _common import best_time, machine
from dynsys.kernels import ldl
from dynsys.kernels import linalg

Q = 5


def _us(fn):
    return best_time(fn, repeat=7, min_time=0.1) * 1e6


def main():
    print(machine())
    print("SciPy's BLAS limited to one thread, like the kernels")
    rng = np.random.default_rng(0)
    head = (f"{'n':>4} {'matrix':>6} | {'bk_factor':>9} {'bk_solve':>8} {'many/5':>7} {'many/rhs':>8} "
            f"{'cholesky':>8} | {'sp.ldl':>7} {'sp.lu_factor':>12}   (us per call)")
    print(head)
    for n in (50, 100, 200):
        A = rng.standard_normal((n, n))
        for name, S in (("indef", A + A.T), ("pd", A @ A.T + n * np.eye(n))):
            F0 = np.triu(S)
            F = F0.copy()
            perm = np.empty(n, dtype=np.int64)
            blk = np.empty(n, dtype=np.int64)

            def factor():
                F[:] = F0
                ldl.bk_factor(F, perm, blk, n)

            factor()
            b = rng.standard_normal(n)
            y = np.empty(n)
            B = rng.standard_normal((Q, n))
            Y = np.empty((Q, n))
            t_fac = _us(factor)
            t_solve = _us(lambda: ldl.bk_solve(F, perm, blk, b, y, n))
            t_many = _us(lambda: ldl.bk_solve_many(F, perm, blk, B, Y, n, Q))
            if name == "pd":
                C = np.empty((n, n))
                t_chol = f"{_us(lambda: linalg.cholesky(S, C, n)):8.1f}"
            else:
                t_chol = f"{'-':>8}"
            t_ldl = _us(lambda: scipy.linalg.ldl(S, lower=False, check_finite=False))
            t_lu = _us(lambda: scipy.linalg.lu_factor(S, check_finite=False))
            print(f"{n:>4} {name:>6} | {t_fac:9.1f} {t_solve:8.2f} {t_many:7.2f} {t_many / Q:8.2f} "
                  f"{t_chol} | {t_ldl:7.1f} {t_lu:12.1f}")


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
