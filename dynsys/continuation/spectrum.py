"""Morse index, nullity and the eigenvalues nearest zero of a symmetric Hessian, without a full
eigendecomposition.

One Bunch-Kaufman factorisation ``P (H + tau I) P^T = L D L^T`` per point (compiled,
:func:`dynsys.kernels.ldl.bk_factor`) gives the index by Sylvester's law of inertia (the
eigenvalues below ``-tau`` are the negative eigenvalues of ``D``), and its solves drive block inverse
iteration for the ``q`` eigenvalues nearest ``-tau``, started from the previous point's vectors (one
sweep suffices along a branch), followed by a Rayleigh-Ritz step. The nullity counts the Ritz values
in ``[-tau, tau]``. ``tau`` is the zero tolerance ``eig_rtol * max|lambda|``, with ``max|lambda|`` from a
few power iterations. The compiled continuation step calls the same kernel.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backends


class Spectrum(NamedTuple):
    """Index, nullity and the eigenpairs nearest zero at one point."""

    index: int              #: eigenvalues below ``-tol``
    nullity: int            #: Ritz values in ``[-tol, tol]``
    eigvals: np.ndarray     #: the ``q`` Ritz values nearest zero, ascending
    vectors: np.ndarray     #: their vectors, (n, q)
    tol: float              #: the zero tolerance used
    lam_max: float          #: estimate of ``max|lambda|``
    top: np.ndarray         #: the power-iteration vector (start of the next estimate)
    factor: tuple           #: ``(F, perm, blk)``: the Bunch-Kaufman factor of ``H + tol I``


def start_vectors(n, q, V0=None, top0=None, sweeps=2, lam_iters=12):
    """``(V0, v0, lam_iters, sweeps)`` as the kernel takes them: the previous point's vectors, or
    fixed pseudo-random ones with more sweeps (and more power iterations without ``top0``)."""
    if V0 is None or V0.shape != (n, q):
        V0 = np.random.default_rng(12345).standard_normal((n, q))
        sweeps = max(sweeps, 6)
    v0 = np.ones(n) / np.sqrt(n) if top0 is None else top0
    return V0, v0, lam_iters if top0 is None else 4, sweeps


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
    V0, v0, lam_iters, sweeps = start_vectors(n, q, V0, top0, sweeps, lam_iters)
    index, nullity, tol, lam, mu, vecs, top, factor = backends.spectrum_near_zero(H, eig_rtol, V0, v0,
                                                                                 lam_iters, sweeps)
    return Spectrum(index, nullity, mu, vecs, tol, lam, top, factor)


def null_space(H, *, eig_rtol, q=8, sweeps=8):
    """Orthonormal basis (n, m) of the eigenvectors of symmetric ``H`` whose eigenvalues are zero to
    ``eig_rtol * max|lambda|``: :func:`spectrum` for the ``q`` eigenpairs nearest zero, ``q`` doubled
    while all of them are zero. Compiled and BLAS-free, unlike a full ``eigh`` (whose BLAS threads, on
    a busy machine, cost a tenth of a second at n = 100)."""
    n = H.shape[0]
    q = min(q, n)
    while True:
        sp = spectrum(H, eig_rtol=eig_rtol, q=q, sweeps=sweeps, lam_iters=30)
        zero = np.abs(sp.eigvals) <= sp.tol
        if int(zero.sum()) < q or q == n:
            return np.ascontiguousarray(sp.vectors[:, zero])
        q = min(2 * q, n)
