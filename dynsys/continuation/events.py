"""Events along a branch: where they are (bisection on the crossing quantity) and what they are.

Between two accepted points the Morse index, the sign of the tangent's p-component, the nullity and
the groups of parallel rows are compared. A fold is bracketed by the sign change of ``t_p``, a branch
point by the change of index; both are bisected in arclength (each trial point corrected onto the
branch) until the bracket is below ``p_tol`` in p. A single crossing is called symmetric when the
cubic coefficient of the reduced bifurcation equation, ``L'''[v, v, v]`` along the crossing
eigenvector v, vanishes (as a symmetry that maps v to -v forces: a pitchfork); two or more
eigenvalues crossing at once are symmetric too (docs/continuation.md).
"""

from __future__ import annotations

import numpy as np

from ..critical.shared import grad_hess
from ..results.branch import Event

#: Relative size of ``L'''[v, v, v]`` below which a single crossing counts as a pitchfork.
PITCHFORK_RTOL = 1e-3
#: Bisection steps at most (each one corrector call).
MAX_BISECT = 80


def cubic_coefficient(system, W, v):
    """``(L'''[v, v, v], |L'''[v, v, .]|)`` by central differences of the gradient along the unit
    vector ``v`` (flattened) at the critical point ``W``."""
    shape = np.shape(W)
    eps = 1e-3 * max(1.0, float(np.max(np.abs(W))))
    x = np.asarray(W, dtype=float).reshape(-1)
    out = []
    for s in (1.0, -1.0, 0.0):
        g, _, st = grad_hess(system, (x + s * eps * v).reshape(shape), want_H=False)
        if st:
            return np.nan, np.nan
        out.append(g.reshape(-1))
    second = (out[0] + out[1] - 2.0 * out[2]) / eps ** 2
    return float(v @ second), float(np.linalg.norm(second))


def is_pitchfork(system, W, v, grad_scale) -> bool:
    c3, scale = cubic_coefficient(system, W, v)
    if not np.isfinite(c3):
        return False
    return abs(c3) <= PITCHFORK_RTOL * scale + 1e-9 * grad_scale


def bisect(trial, sigma_hi, same_as_start, p_lo, p_hi, p_tol):
    """Bisection on arclength ``sigma`` in ``(0, sigma_hi)``.

    ``trial(sigma)`` returns a node (or None when the corrector fails there); ``same_as_start(node)``
    says whether it is on the start's side. Returns ``(node_lo, node_hi, width_in_p)``, either node
    None when never evaluated.
    """
    lo, hi = 0.0, sigma_hi
    n_lo = n_hi = None
    for _ in range(MAX_BISECT):
        if abs(p_hi - p_lo) <= p_tol and hi - lo <= 1e-9 * max(1.0, sigma_hi):
            break
        mid = 0.5 * (lo + hi)
        node = trial(mid)
        if node is None:
            break
        if same_as_start(node):
            lo, n_lo, p_lo = mid, node, node.p
        else:
            hi, n_hi, p_hi = mid, node, node.p
    return n_lo, n_hi, abs(p_hi - p_lo)


def make_event(kind, node, position, before, after, ncross, width, symmetric=False, groups=((), ())):
    """An :class:`Event` at ``node`` with its ``ncross`` crossing eigenpairs (nearest zero)."""
    order = np.argsort(np.abs(node.eig))[:max(ncross, 1)]
    order = order[np.argsort(node.eig[order])]
    return Event(p=float(node.p), kind=kind, index_before=int(before), index_after=int(after),
                 nullity=int(node.nullity), W=node.W.copy(), loss=float(node.loss),
                 eigvals=node.eig[order].copy(), vectors=node.vec[:, order].T.copy(),
                 position=int(position), p_tol=float(width), symmetric=bool(symmetric),
                 groups_before=tuple(tuple(g) for g in groups[0]),
                 groups_after=tuple(tuple(g) for g in groups[1]))
