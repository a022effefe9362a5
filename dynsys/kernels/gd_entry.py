"""Gradient descent with label on entry: the gd map of :mod:`dynsys.kernels.integrators`, stopping a
trajectory once it is inside a certified ball of a minimum (:mod:`dynsys.basins.entry`).

A sibling of ``_fixed_batch`` rather than an option of it, so that the plain integrators keep their
code and their compiled signatures. A trajectory that enters no ball is bitwise the gd trajectory of
``_fixed_batch`` (the same field call, the same update, the same stopping tests in the same order,
``t1`` unset): same endpoint, steps and status. The entry test runs every ``every`` steps, after the
stopping tests and before the update, and only while the squared gradient norm is at most
``g2max`` (no ball holds a larger one). An entered trajectory gets status ``ENTERED``, its steps so
far, and the ball's centre as its state ``W[b]``.
"""

from numba import njit, prange
import numpy as np

from .._codes import CONVERGED as _CONVERGED
from .._codes import DIVERGED as _DIVERGED
from .._codes import ENTERED as _ENTERED
from .._codes import INTERRUPTED as _INTERRUPTED
from .._codes import MAX_STEPS as _MAX_STEPS
from .._codes import NONFINITE as _NONFINITE
from .entry_balls import _entered, _to_centre
from .integrators import _PROGRESS_MASK, _eval, _gd_update, _norm2
from .network import rows

_JIT = dict(cache=True)


@njit(**_JIT)
def _gd_entry_one(b, W0, fa, eb, step, gtol, norm_code, max_steps, div_limit, W, steps, status, nwork,
                  stop):
    U, T, tn, a, a_star, alpha, const, tol = fa
    k, d = W0.shape[1], W0.shape[2]
    X = W[b]
    X[:, :] = W0[b]
    V = np.empty((k, d))
    G = np.empty((k, d))
    work = np.empty(nwork)
    near = np.empty(k, dtype=np.int64)
    used = np.empty(T.shape[0], dtype=np.bool_)
    every = eb.every
    g2max = eb.g2max
    n = 0
    st = _CONVERGED
    gtol2 = gtol * gtol
    div2 = div_limit * div_limit
    xn2 = _norm2(X, U, norm_code)
    next_test = 0
    while True:
        _, st = _eval(X, U, V, T, tn, a, a_star, alpha, const, tol, G, work)
        if st != 0:
            break
        g2 = _norm2(G, U[:0], norm_code)
        if g2 < gtol2 or g2 == 0.0:
            break
        if not g2 == g2:
            st = _NONFINITE
            break
        if xn2 > div2:
            st = _DIVERGED
            break
        if n >= max_steps:
            st = _MAX_STEPS
            break
        if stop[0] != 0:
            st = _INTERRUPTED
            break
        if n & _PROGRESS_MASK == 0:
            steps[b] = n
        if n >= next_test and g2 <= g2max:
            next_test = n + every
            hit = _entered(X, rows(X, U, V), T, eb, near, used)
            if hit != -1:
                # the state becomes the minimum the run provably converges to
                _to_centre(X, hit, near, T, U, eb.C)
                st = _ENTERED
                break
        xn2 = _gd_update(X, G, step, U, norm_code)
        n += 1
    steps[b] = n
    status[b] = st


@njit(parallel=True, nogil=True, **_JIT)
def _gd_entry_batch(W0, fa, eb, step, gtol, norm_code, max_steps, div_limit, W, steps, status, nwork,
                    stop, done):
    """gd with label on entry for a batch ``W0`` (n, k, d).

    ``fa`` the model's FieldArrays, ``eb`` the balls (:class:`dynsys.basins.entry.EntryArrays`),
    ``step``, ``gtol`` (in the norm ``norm_code``), ``max_steps``, ``div_limit`` as for
    ``_fixed_batch``. Outputs: ``W`` (n, k, d) endpoint or entered ball's centre, ``steps`` (n,)
    int64, ``status`` (n,) int8; ``stop`` (1,) and ``done`` (n,) int8 as for ``_fixed_batch``.
    """
    for b in prange(W0.shape[0]):
        _gd_entry_one(b, W0, fa, eb, step, gtol, norm_code, max_steps, div_limit, W, steps, status, nwork,
                      stop)
        done[b] = 1
