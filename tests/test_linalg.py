"""The Newton kernel's dense linear algebra (dynsys.kernels.linalg), max-abs scan included, against NumPy.

Sizes cover the remainder paths of the four-row blocked loops (n mod 4 = 0..3) and the n = k d of
the benchmarks (100).
"""

import numpy as np
import pytest

from dynsys.kernels import linalg

SIZES = (1, 2, 3, 5, 8, 13, 30, 100)
SOLVE_RTOL = 1e-9   # residual of a solve relative to |A| |x| (condition numbers here below 1e4)


def _sym(rng, n, definite):
    A = rng.standard_normal((n, n))
    if definite:
        return A @ A.T + n * np.eye(n)
    # indefinite but with eigenvalues away from 0, so the solve's residual is a fair test
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n)
    return (Q * lam) @ Q.T


def _residual(A, x, b):
    return np.abs(A @ x - b).max() / (np.abs(A).max() * np.abs(x).max() * A.shape[0])


@pytest.mark.parametrize("n", SIZES)
def test_cholesky_matches_numpy_and_solves(n):
    rng = np.random.default_rng(n)
    A = _sym(rng, n, True)
    F = np.empty((n, n))
    pmin = linalg.cholesky(A, F, n)
    L = np.linalg.cholesky(A)
    assert np.allclose(np.tril(F), L, rtol=1e-12, atol=1e-12 * np.abs(L).max())
    assert np.array_equal(np.triu(F, 1), np.tril(F, -1).T)  # L^T mirrored above
    assert pmin == pytest.approx(np.min(np.diag(L)) ** 2, rel=1e-12)
    b = rng.standard_normal(n)
    x = b.copy()
    linalg.cholesky_solve(F, x, n)
    assert _residual(A, x, b) < SOLVE_RTOL


def test_cholesky_reports_indefinite():
    A = np.diag([1.0, 2.0, -1.0, 3.0])
    assert linalg.cholesky(A, np.empty((4, 4)), 4) == -1.0


@pytest.mark.parametrize("definite", [True, False])
@pytest.mark.parametrize("n", SIZES)
def test_ldlt_inertia_pivots_and_solve(n, definite):
    rng = np.random.default_rng(100 + n)
    A = _sym(rng, n, definite)
    F, E = np.empty((n, n)), np.empty((n, n))
    pmin, nneg = linalg.ldlt(A, F, E, n, 0.0)
    Lu = np.tril(F, -1) + np.eye(n)
    D = np.diag(F)
    assert np.allclose(Lu @ np.diag(D) @ Lu.T, A, atol=1e-10 * np.abs(A).max())
    assert np.array_equal(np.triu(F, 1), np.tril(F, -1).T)
    assert pmin == np.abs(D).min()
    # Sylvester: the pivots' signs are the eigenvalues' signs
    assert nneg == int(np.sum(np.linalg.eigvalsh(A) < 0)) == int(np.sum(D < 0))
    b = rng.standard_normal(n)
    x = b.copy()
    linalg.ldlt_solve(F, x, n)
    assert _residual(A, x, b) < SOLVE_RTOL


def test_ldlt_stops_at_a_small_pivot():
    A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 2.0], [0.0, 2.0, 1.0]])  # second pivot is 0
    pmin, nneg = linalg.ldlt(A, np.empty((3, 3)), np.empty((3, 3)), 3, 1e-12)
    assert pmin == -1.0 and nneg == 0


@pytest.mark.parametrize("n", SIZES)
def test_lu_solves(n):
    rng = np.random.default_rng(200 + n)
    A = rng.standard_normal((n, n)) + n * np.eye(n) * rng.choice([-1.0, 1.0])
    F, Ut, piv = np.empty((n, n)), np.empty((n, n)), np.empty(n, dtype=np.int64)
    assert linalg.lu(A, F, Ut, piv, n) > 0.0
    b = rng.standard_normal(n)
    x = b.copy()
    linalg.lu_solve(F, Ut, piv, x, n)
    assert _residual(A, x, b) < SOLVE_RTOL


@pytest.mark.parametrize("n", SIZES)
def test_dot4_is_four_dots(n):
    rng = np.random.default_rng(300 + n)
    A = rng.standard_normal((n + 6, n))
    e = rng.standard_normal(n)
    got = linalg.dot4(A, 2, e, n)
    assert np.allclose(got, A[2:6] @ e, rtol=1e-13, atol=1e-13 * n)


def test_maxabs_equals_numpy_over_all_magnitudes():
    rng = np.random.default_rng(5)
    for n in SIZES:
        for _ in range(20):
            H = rng.standard_normal((n, n)) * 10.0 ** rng.uniform(-300, 300, (n, n))
            assert linalg.maxabs(H, n) == np.abs(H).max()
    assert linalg.maxabs(np.zeros((3, 3)), 3) == 0.0
    assert linalg.maxabs(-np.zeros((3, 3)), 3) == 0.0


def test_maxabs_propagates_nan_and_inf():
    H = np.ones((6, 6))
    H[4, 1] = -np.inf
    assert linalg.maxabs(H, 6) == np.inf
    H[2, 5] = np.nan
    assert np.isnan(linalg.maxabs(H, 6))
