"""The entry test of label on entry: which certified ball (:mod:`dynsys.basins.entry`) a state lies in.

Shared by the gd entry kernel (:mod:`dynsys.kernels.gd_entry`) and the entry variants of the
rk4 and dopri5 integrators (:mod:`dynsys.kernels.integrators`, driven by
:mod:`dynsys.kernels.ode_entry`); it imports no integrator, so both can import it.
"""

import math

from numba import njit

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
def _to_centre(X, hit, near, T, U, C):
    """Overwrite ``X`` with the centre of ball ``hit`` (as returned by :func:`_entered`)."""
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            if hit == -2:
                X[j, l] = T[near[j], l] - (U[j, l] if U.shape[0] else 0.0)
            else:
                X[j, l] = C[hit, j, l]
