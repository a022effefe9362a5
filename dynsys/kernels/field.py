"""Batched CPU drivers of the teacher-student field: one compiled loop over states.

Each driver takes a batch ``W`` (n, k, d), the model's arrays as one
:class:`~dynsys.systems.base.FieldArrays` ``A`` (residual ``U`` or an empty array, teacher rows ``T``
with norms ``tn``, ``a``, ``a_star``, ``alpha``, constant, singular tolerance), preallocated outputs and
a block count ``nb`` (:func:`blocks`), and writes a status per state. Numba types the named tuple by its
fields, so a model layout is one compiled signature per driver (cached on disk like the others). Each
driver is one ``prange`` over blocks of states, scratch allocated once per block, so threads write only
their own rows. The serial backend runs the same compiled loop on one thread
(``numba.set_num_threads(1)``): one kernel, so the two backends agree bitwise by construction.
"""

import numba
from numba import njit, prange
import numpy as np

from ..systems import teacher_student as ts
from .network import rows

_JIT = dict(cache=True)


def blocks(n: int) -> int:
    """How many blocks to split n states into: a few per thread, for load balance."""
    return max(1, min(n, 8 * numba.get_num_threads()))


@njit(inline="always", **_JIT)
def _span(blk, n, nb):
    """States ``[lo, hi)`` of block ``blk`` of ``nb``."""
    return blk * n // nb, (blk + 1) * n // nb


@njit(parallel=True, **_JIT)
def _loss_grad_batch(W, A, want_grad, loss, G, status, nb, nwork):
    n, k, d = W.shape
    U, T, tn, a, a_star, alpha, const, tol = A
    for blk in prange(nb):
        lo, hi = _span(blk, n, nb)
        V = np.empty((k, d))
        work = np.empty(nwork)
        for b in range(lo, hi):
            Vb = rows(W[b], U, V)
            loss[b], status[b] = ts.loss_grad(Vb, T, tn, a, a_star, alpha, const, tol,
                                              want_grad, G[b], work)


@njit(parallel=True, **_JIT)
def _hessian_batch(W, A, H, status, nb):
    n, k, d = W.shape
    U, T, tn, a, a_star, alpha, const, tol = A
    for blk in prange(nb):
        lo, hi = _span(blk, n, nb)
        V = np.empty((k, d))
        m = max(k, d)
        S = np.empty((ts.HESS_SCRATCH_ROWS, m))
        nrm = np.empty(m)
        for b in range(lo, hi):
            Vb = rows(W[b], U, V)
            status[b] = ts.hessian(Vb, T, tn, a, a_star, alpha, tol, H[b], S, nrm)


@njit(parallel=True, **_JIT)
def _hvp_batch(W, X, A, out, status, nb):
    n, k, d = W.shape
    U, T, tn, a, a_star, alpha, const, tol = A
    for blk in prange(nb):
        lo, hi = _span(blk, n, nb)
        V = np.empty((k, d))
        m = max(k, d)
        u = np.empty(m)
        p = np.empty(m)
        nrm = np.empty(m)
        for b in range(lo, hi):
            Vb = rows(W[b], U, V)
            status[b] = ts.hvp(Vb, X[b], T, tn, a, a_star, alpha, tol, out[b], u, p, nrm)


@njit(parallel=True, **_JIT)
def _grad_a_batch(W, A, out, status, nb):
    n, k, d = W.shape
    U, T, tn, a, a_star, alpha, const, tol = A
    for blk in prange(nb):
        lo, hi = _span(blk, n, nb)
        V = np.empty((k, d))
        nrm = np.empty(max(k, d))
        for b in range(lo, hi):
            Vb = rows(W[b], U, V)
            status[b] = ts.grad_a(Vb, T, tn, a, a_star, alpha, tol, out[b], nrm)
