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

import math

from numba import njit, prange
import numpy as np

from .._codes import CONVERGED as _CONVERGED
from .._codes import DIVERGED as _DIVERGED
from .._codes import ENTERED as _ENTERED
from .._codes import INTERRUPTED as _INTERRUPTED
from .._codes import MAX_STEPS as _MAX_STEPS
from .._codes import NONFINITE as _NONFINITE
from .integrators import _PROGRESS_MASK, _eval, _gd_update, _norm2
from .network import rows

_JIT = dict(cache=True)


@njit(**_JIT)
def _dist2(X, C, b, bound):
    """``|X - C[b]|^2``, stopping early once above ``bound`` (the test only needs ``< bound``)."""
    acc = 0.0
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            e = X[j, l] - C[b, j, l]
            acc += e * e
        if acc >= bound:
            return acc
    return acc


@njit(**_JIT)
def _entered(X, V, T, eb, near, used):
    """The ball that state ``X`` (network rows ``V``) lies in: -2 a teacher permutation (its matching
    left in ``near``), ``b >= 0`` explicit ball ``b``, -1 none."""
    _, perm_r2, C, r2, keys, key_ball, direct, z, proj, rd, _, _ = eb
    k, ks = V.shape[0], T.shape[0]
    dist = 0.0
    key = 0
    mult = 1
    for i in range(ks):
        used[i] = False
    is_perm = k == ks
    for j in range(k):
        best = math.inf
        bi = 0
        for i in range(ks):
            acc = 0.0
            for l in range(V.shape[1]):
                e = V[j, l] - T[i, l]
                acc += e * e
            if acc < best:
                best = acc
                bi = i
        near[j] = bi
        if used[bi]:
            is_perm = False
        used[bi] = True
        dist += best
        key += bi * mult
        mult *= ks
    if is_perm and dist < perm_r2:
        return -2
    if keys.shape[0] > 0:
        lo, hi = 0, keys.shape[0]
        while lo < hi:
            mid = (lo + hi) // 2
            if keys[mid] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < keys.shape[0] and keys[lo] == key:
            b = key_ball[lo]
            if _dist2(X, C, b, r2[b]) < r2[b]:
                return b
    if direct.shape[0] > 0:
        # only the balls whose centre projects within rd of X's projection (|<X - c, z>| <= |X - c|)
        p = 0.0
        for j in range(k):
            for l in range(V.shape[1]):
                p += X[j, l] * z[j, l]
        lo, hi = 0, proj.shape[0]
        while lo < hi:
            mid = (lo + hi) // 2
            if proj[mid] < p - rd:
                lo = mid + 1
            else:
                hi = mid
        q = lo
        while q < proj.shape[0] and proj[q] <= p + rd:
            b = direct[q]
            if _dist2(X, C, b, r2[b]) < r2[b]:
                return b
            q += 1
    return -1


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
                for j in range(k):
                    for l in range(d):
                        if hit == -2:
                            X[j, l] = T[near[j], l] - (U[j, l] if U.shape[0] else 0.0)
                        else:
                            X[j, l] = eb.C[hit, j, l]
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
