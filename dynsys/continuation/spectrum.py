"""Morse index, nullity and the eigenvalues nearest zero of a symmetric Hessian, without a full
eigendecomposition.

One Bunch-Kaufman factorisation ``H + tau I = L D L^T`` (LAPACK ``dsytrf``) per point gives the
index by Sylvester's law of inertia (the eigenvalues below ``-tau`` are the negative eigenvalues of
``D``), and its solves drive block inverse iteration for the ``q`` eigenvalues nearest ``-tau``,
started from the previous point's vectors (two sweeps suffice along a branch), followed by a
Rayleigh-Ritz step. The nullity counts the Ritz values in ``[-tau, tau]``. ``tau`` is the zero
tolerance ``eig_rtol * max|lambda|``, with ``max|lambda|`` from a few power iterations.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.linalg import lapack


class Spectrum(NamedTuple):
    """Index, nullity and the eigenpairs nearest zero at one point."""

    index: int              #: eigenvalues below ``-tol``
    nullity: int            #: Ritz values in ``[-tol, tol]``
    eigvals: np.ndarray     #: the ``q`` Ritz values nearest zero, ascending
    vectors: np.ndarray     #: their vectors, (n, q)
    tol: float              #: the zero tolerance used
    lam_max: float          #: estimate of ``max|lambda|``
    top: np.ndarray         #: the power-iteration vector (start of the next estimate)


def _inertia_negative(F, ipiv) -> int:
    """Negative eigenvalues of D in a lower Bunch-Kaufman factor (``dsytrf(lower=1)``)."""
    n = F.shape[0]
    neg = 0
    k = 0
    while k < n:
        if ipiv[k] > 0:
            neg += F[k, k] < 0.0
            k += 1
        else:  # a 2x2 block at (k, k+1)
            a, b, c = F[k, k], F[k + 1, k], F[k + 1, k + 1]
            det = a * c - b * b
            neg += 1 if det < 0.0 else (2 if a + c < 0.0 else 0)
            k += 2
    return int(neg)


def lam_max_estimate(H, v0=None, iters=12):
    """``max|lambda|`` of symmetric ``H`` by power iteration (from ``v0``); returns (value, vector)."""
    n = H.shape[0]
    v = np.ones(n) / np.sqrt(n) if v0 is None else v0 / np.linalg.norm(v0)
    lam = 0.0
    for _ in range(iters):
        w = H @ v
        nw = float(np.linalg.norm(w))
        if nw == 0.0:
            return 0.0, v
        lam = nw
        v = w / nw
    return lam, v


def spectrum(H, *, eig_rtol, q, V0=None, top0=None, sweeps=2, lam_iters=12):
    """:class:`Spectrum` of the symmetric matrix ``H`` (n, n).

    Parameters
    ----------
    H : ndarray, (n, n)
    eig_rtol : float
        Relative zero tolerance (``tol = eig_rtol * max|lambda|``).
    q : int
        Eigenpairs nearest zero to compute (at most n).
    V0 : ndarray (n, q), optional
        Start vectors (the previous point's); random when None (then more sweeps).
    top0 : ndarray (n,), optional
        Start of the power iteration.
    """
    n = H.shape[0]
    q = min(q, n)
    lam, top = lam_max_estimate(H, top0, lam_iters if top0 is None else 4)
    scale = lam if lam > 0.0 else 1.0
    tol = eig_rtol * scale
    A = np.array(H, order="F")
    A[np.diag_indices(n)] += tol
    F, ipiv, info = lapack.dsytrf(A, lower=1)
    index = _inertia_negative(F, ipiv)
    if V0 is None or V0.shape != (n, q):
        V0 = np.random.default_rng(12345).standard_normal((n, q))
        sweeps = max(sweeps, 6)
    Q = np.linalg.qr(V0)[0]
    if info == 0:
        for _ in range(sweeps):
            Z, inf2 = lapack.dsytrs(F, ipiv, Q, lower=1)[:2]
            if inf2 != 0 or not np.all(np.isfinite(Z)):
                break
            Q = np.linalg.qr(Z)[0]
    else:
        # H + tol I exactly singular: -tol is an eigenvalue; a tiny extra shift keeps the solves finite
        A[np.diag_indices(n)] += tol
        F2, ipiv2, _ = lapack.dsytrf(A, lower=1)
        for _ in range(sweeps):
            Q = np.linalg.qr(lapack.dsytrs(F2, ipiv2, Q, lower=1)[0])[0]
    R = Q.T @ H @ Q
    mu, Y = np.linalg.eigh(0.5 * (R + R.T))
    vecs = Q @ Y
    nullity = int(np.sum(np.abs(mu) <= tol))
    return Spectrum(index, nullity, mu, vecs, tol, lam, top)
