"""Branch switching at a branch point: start the branches that cross the followed one.

At a simple branch point with crossing eigenvector v the new branch leaves the old one along v
(transverse to it: for a pitchfork p is stationary there). A start is found by the bordered corrector (phase conditions on the branch's own null space) at
``p_event +- dp`` from ``W_event + a v`` for offsets ``a`` of order ``sqrt(dp)`` and ``dp``; each converged point that is
not on the old branch is followed from there. At a symmetric branch point with several crossing
eigenvectors the equivariant branching lemma gives one branch per axial isotropy subgroup: the kernel
directions fixed by a subgroup. Without enumerating the group, the candidate directions are each
crossing eigenvector and the normalised sums and differences of pairs; the starts found are
deduplicated up to the system's symmetry (its ``invariants``), so one branch per class remains.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._codes import CONVERGED
from ..critical.shared import grad_hess, resolve_gtol
from ..critical.symmetry import same_point
from ..results.branch import Branch, Event
from .arclength import continuation
from .corrector import Evaluator, correct
from .family import as_family


def _directions(vectors):
    V = np.asarray(vectors, dtype=float)
    dirs = [V[i] for i in range(V.shape[0])]
    for i in range(V.shape[0]):
        for j in range(i + 1, V.shape[0]):
            for s in (1.0, -1.0):
                u = V[i] + s * V[j]
                dirs.append(u / np.linalg.norm(u))
    return dirs


def switch_branch(family, branch: Branch, event: Event, p_end, *, dp=1e-3, dedup_tol=1e-6,
                  **kwargs) -> tuple:
    """The branches that cross ``branch`` at ``event`` (a branch point), followed towards ``p_end``.

    Parameters
    ----------
    family : Family or callable
        The family that ``branch`` was followed in.
    branch : Branch
    event : Event
        A ``"branch_point"`` or ``"symmetric_branch_point"`` of ``branch``.
    p_end : float
        Where to follow the new branches.
    dp : float
        Parameter offset of the starts (tried on both sides of the event); the offsets along the
        crossing directions are ``sqrt(dp)`` (pitchfork) and ``dp`` (transcritical) scales.
    dedup_tol : float
        Tolerance of :func:`dynsys.same_point` between starts (one branch per class).
    **kwargs
        Passed to :func:`dynsys.continuation`.

    Returns
    -------
    tuple of Branch
        One per new branch found, up to symmetry (empty when none converged).
    """
    fam = as_family(family)
    if not isinstance(event, Event) or event.kind not in ("branch_point", "symmetric_branch_point"):
        raise ValueError(f"event must be a branch point of the branch (kind 'branch_point' or "
                         f"'symmetric_branch_point'); got {getattr(event, 'kind', event)!r}")
    dp = v.real_scalar(dp, "dp", lo=0.0, lo_open=True)
    shape = event.W.shape
    x_e = event.W.reshape(-1)
    n = x_e.size
    size = max(1.0, float(np.max(np.abs(x_e))))
    system_e = fam(event.p)
    gtol = resolve_gtol(system_e, kwargs.get("gtol"))
    # the branch's own null space at the event: the smallest eigenvectors less the crossing ones
    _, H, _ = grad_hess(system_e, event.W)
    lam, vec = np.linalg.eigh(H)
    C = np.asarray(event.vectors, dtype=float).reshape(-1, n)
    m = int(branch.own_nullity)
    cand = vec[:, np.argsort(np.abs(lam))[:m + C.shape[0]]]
    cand = cand - C.T @ (C @ cand)
    N = np.linalg.svd(cand, full_matrices=False)[0][:, :m] if m else np.zeros((n, 0))
    ev = Evaluator(fam, shape)
    # the old branch near the event, as a secant in p (the event lies between these two points)
    i = min(max(event.position, 1), len(branch) - 1)
    dx = (branch.W[i] - branch.W[i - 1]).reshape(-1)
    dq = float(branch.p[i] - branch.p[i - 1])
    slope = dx / dq if dq != 0.0 else np.zeros(n)
    starts = []
    for side in (1.0, -1.0):
        p = event.p + side * dp
        lo, hi = fam.domain
        if not lo <= p <= hi:
            continue
        system = fam(p)
        old = correct(ev, x_e + (p - event.p) * slope, p, N, x_e, np.zeros(n), 1.0, p, gtol=gtol,
                      xtol=1e-11 * size, domain=fam.domain)
        x_old = old.x if old.status == CONVERGED else x_e
        for u in _directions(C):
            for amp in (np.sqrt(dp), 3 * np.sqrt(dp), dp, 0.3 * np.sqrt(dp)):
                for s in (1.0, -1.0):
                    pt = correct(ev, x_e + s * amp * size * u, p, N, x_e, np.zeros(n), 1.0, p, gtol=gtol,
                                 xtol=1e-11 * size, domain=fam.domain)
                    if pt.status != CONVERGED:
                        continue
                    # not the old branch: new ones differ from it along the crossing directions by
                    # O(sqrt(dp)) (pitchfork) or O(dp) (transcritical)
                    if np.max(np.abs(C @ (pt.x - x_old))) <= 0.03 * dp * size:
                        continue
                    W = pt.x.reshape(shape)
                    if any(q == p and same_point(system, W, Wq, dedup_tol) for q, Wq in starts):
                        continue
                    starts.append((p, W))
    return tuple(continuation(fam, W, p, p_end, **kwargs) for p, W in starts)
