"""Branch switching at a branch point: start the branches that cross the followed one.

At a branch point with crossing eigenspace E the new branches leave the old one along E (transverse
to it: for a pitchfork p is stationary there). When the system knows symmetries that fix the branch
point (``System.symmetries``), the equivariant branching lemma gives the directions: one line per
axial isotropy subgroup of the group acting on E (:mod:`.equivariant`), tried with both signs. A
branch point without symmetry and a one-dimensional E is the case of the trivial subgroup (its line
is E). Otherwise (no axial subgroup found) the candidates are each crossing eigenvector and the
normalised sums and differences of pairs. A start is found by the bordered corrector (phase
conditions on the branch's own null space) at ``p_event +- dp`` from ``W_event + a u`` for offsets
``a`` of order ``sqrt(dp)`` (pitchfork) and ``dp`` (transcritical); a converged point that is not on the
old branch (and, for a subgroup, is fixed by it and lies on its side of the line) is a start. Starts
are deduplicated up to the system's invariants (:func:`dynsys.same_point`) and each class is followed;
the result also labels every start by its class modulo the branch point's symmetry group.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from .. import _validate as v
from .._codes import CONVERGED
from ..critical.shared import grad_hess, resolve_gtol
from ..critical.symmetry import same_point
from ..results.branch import Branch, Event, Switching
from .arclength import continuation
from .corrector import Evaluator, correct
from .equivariant import axial_subgroups
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


class _Setting(NamedTuple):
    """What both :func:`isotropy` and :func:`switch_branch` compute at the event."""

    ev: Evaluator
    slope: np.ndarray       #: the old branch's dx/dp near the event (a secant)
    C: np.ndarray           #: crossing eigenvectors, orthonormal rows (q, n)
    N: np.ndarray           #: the branch's own null space at the event (n, m)
    order: int              #: order of the group acting on the crossing eigenspace
    axial: tuple            #: of equivariant.Axial
    event: Event            #: the event with C as its vectors and its subgroups
    gtol: float
    size: float


def _check(branch, event):
    if not isinstance(branch, Branch):
        raise TypeError(f"branch must be the Branch the event was found on (a dynsys.continuation "
                        f"result); got {type(branch).__name__}")
    if not isinstance(event, Event):
        raise TypeError(f"event must be an Event of the branch (branch.events); got {type(event).__name__}")
    if event.kind not in ("branch_point", "symmetric_branch_point"):
        raise ValueError(f"event must be a branch point of the branch (kind 'branch_point' or "
                         f"'symmetric_branch_point'); got {getattr(event, 'kind', event)!r}")


def _setting(fam, branch, event, sym_tol, gtol) -> _Setting:
    shape = event.W.shape
    n = event.W.size
    size = max(1.0, float(np.max(np.abs(event.W))))
    system_e = fam(event.p)
    gtol = resolve_gtol(system_e, gtol)
    ev = Evaluator(fam, shape)
    # the old branch near the event, as a secant in p (the event lies between these two points)
    i = min(max(event.position, 1), len(branch) - 1)
    dx = (branch.W[i] - branch.W[i - 1]).reshape(-1)
    dq = float(branch.p[i] - branch.p[i - 1])
    slope = dx / dq if dq != 0.0 else np.zeros(n)
    C, N = _kernel_and_own(fam, branch, event, ev, slope, gtol, size)
    # the crossing eigenvalues as Rayleigh quotients, ascending like the event's
    _, H, _ = grad_hess(system_e, event.W)
    eig = np.einsum("in,nm,im->i", C, H, C)
    C, eig = C[np.argsort(eig)], np.sort(eig)
    order, gens, axial = axial_subgroups(system_e, event.W, C, tol=sym_tol)
    out = dataclasses.replace(event, vectors=C.copy(), eigvals=eig, group_order=int(order),
                              group_generators=gens, subgroups=tuple(a.result for a in axial))
    return _Setting(ev, slope, C, N, int(order), axial, out, gtol, size)


def isotropy(family, branch: Branch, event: Event, *, sym_tol=1e-6, gtol=None) -> Event:
    """The event with its symmetry: the crossing eigenvectors separated from the branch's own null
    directions, the order of the symmetry group acting on them and its axial isotropy subgroups.

    Parameters
    ----------
    family : Family or callable
        The family that ``branch`` was followed in.
    branch : Branch
    event : Event
        A ``"branch_point"`` or ``"symmetric_branch_point"`` of ``branch``.
    sym_tol : float
        Tolerance of the symmetries that fix the branch point (``System.symmetries``) and of their
        action on the crossing eigenspace.
    gtol : float, optional
        Corrector tolerance (the default of :func:`dynsys.continuation`).

    Returns
    -------
    Event
        A copy with ``vectors``, ``eigvals``, ``group_order`` and ``subgroups`` filled in
        (docs/continuation.md, "Symmetric branch points").
    """
    _check(branch, event)
    sym_tol = v.real_scalar(sym_tol, "sym_tol", lo=0.0, lo_open=True)
    return _setting(as_family(family), branch, event, sym_tol, gtol).event


def switch_branch(family, branch: Branch, event: Event, p_end, *, dp=1e-3, dedup_tol=1e-6, sym_tol=1e-6,
                  conjugates=True, **kwargs) -> Switching:
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
        Tolerance of :func:`dynsys.same_point` between starts (one branch followed per class).
    sym_tol : float
        Tolerance of the symmetries that fix the branch point and of their action on the crossing
        eigenspace (:func:`isotropy`).
    conjugates : bool
        Follow starts that are images of each other under the branch point's symmetry group but not
        equal up to the system's invariants (True); or one start per class modulo that group too.
    **kwargs
        Passed to :func:`dynsys.continuation`.

    Returns
    -------
    Switching
        The event with its axial subgroups, every start found with its subgroup, sign and class up to
        symmetry, and the branches followed (it iterates over them; empty when no start converged).
    """
    fam = as_family(family)
    _check(branch, event)
    dp = v.real_scalar(dp, "dp", lo=0.0, lo_open=True)
    sym_tol = v.real_scalar(sym_tol, "sym_tol", lo=0.0, lo_open=True)
    st = _setting(fam, branch, event, sym_tol, kwargs.get("gtol"))
    C, N, axial, size = st.C, st.N, st.axial, st.size
    shape = event.W.shape
    x_e = event.W.reshape(-1)
    n = x_e.size
    if axial:
        seeds = [(i, s, s * a.result.direction) for i, a in enumerate(axial) for s in (1, -1)]
    else:
        seeds = [(-1, s, s * u) for u in _directions(C) for s in (1, -1)]
    found = []  # (p, W, subgroup, sign)
    lo, hi = fam.domain
    for side in (1.0, -1.0):
        p = event.p + side * dp
        if not lo <= p <= hi:
            continue
        old = correct(st.ev, x_e + (p - event.p) * st.slope, p, N, x_e, np.zeros(n), 1.0, p, gtol=st.gtol,
                      xtol=1e-11 * size, domain=fam.domain)
        x_old = old.x if old.status == CONVERGED else x_e
        for sub, sign, u in seeds:
            for amp in (np.sqrt(dp), 3 * np.sqrt(dp), dp, 0.3 * np.sqrt(dp)):
                pt = correct(st.ev, x_e + amp * size * u, p, N, x_e, np.zeros(n), 1.0, p, gtol=st.gtol,
                             xtol=1e-11 * size, domain=fam.domain)
                if pt.status != CONVERGED:
                    continue
                # not the old branch: new ones differ from it along the crossing directions by
                # O(sqrt(dp)) (pitchfork) or O(dp) (transcritical)
                if np.max(np.abs(C @ (pt.x - x_old))) <= 0.03 * dp * size:
                    continue
                if sub >= 0 and not _on_line(axial[sub], pt.x - x_e, C, sign):
                    continue
                if any(q == p and np.max(np.abs(pt.x - Wq.reshape(-1))) <= 1e-8 * size
                       for q, Wq, _, _ in found):
                    continue
                found.append((p, pt.x.reshape(shape), sub, sign))
                if sub >= 0:
                    break  # one start per subgroup, sign and side
    # classes modulo the branch point's group (by the orbit of the signed line a start was switched
    # onto), and the branches followed: one per class of the system's invariants
    classes = {}
    cls, rep_of, reps, rep_class = [], [], [], {}
    for p, W, sub, sign in found:
        key = (np.sign(p - event.p), axial[sub].orbit[(sub, sign)]) if sub >= 0 else None
        j = next((b for b, (q, Wq) in enumerate(reps) if q == p and same_point(fam(p), W, Wq, dedup_tol)),
                 None)
        if j is None and not conjugates and key in rep_class:
            j = rep_class[key]
        if j is None:
            j = len(reps)
            reps.append((p, W))
        rep_class.setdefault(key, j)
        rep_of.append(j)
        cls.append(classes.setdefault(key if key is not None else ("same_point", j), len(classes)))
    branches = tuple(continuation(fam, W, p, p_end, **kwargs) for p, W in reps)
    return Switching(event=st.event, subgroups=st.event.subgroups, branches=branches,
                     starts=np.array([f[1] for f in found]).reshape((len(found),) + shape),
                     start_p=np.array([f[0] for f in found], dtype=float),
                     start_subgroup=np.array([f[2] for f in found], dtype=np.int64),
                     start_sign=np.array([f[3] for f in found], dtype=np.int64),
                     start_class=np.array(cls, dtype=np.int64), start_branch=np.array(rep_of, dtype=np.int64))


def _kernel_and_own(fam, branch, event, ev, slope, gtol, size):
    """Orthonormal bases of the crossing eigenspace (rows, (q, n)) and of the branch's own null space
    (columns, (n, m)) at the event.

    At the event both belong to the eigenvalues nearest zero, a cluster S of dimension m + q that a
    full eigendecomposition gives to roundoff, but inside S the crossing eigenvalues are only about
    ``p_tol`` from zero, so its eigenvectors mix the two freely. The own null space is exact at
    critical points of the branch a little away from the event (there the crossing eigenvalues are
    clearly nonzero): it is measured at ``p_event +- delta`` on the branch, the two projectors
    averaged (the error is then second order in delta) and restricted to S; the crossing space is the
    rest of S.
    """
    n = event.W.size
    x_e = event.W.reshape(-1)
    m = int(branch.own_nullity)
    q = int(np.asarray(event.vectors).reshape(-1, n).shape[0])
    _, H, _ = grad_hess(fam(event.p), event.W)
    lam, vec = np.linalg.eigh(H)
    S = vec[:, np.argsort(np.abs(lam))[:m + q]]
    if m == 0:
        return S.T.copy(), np.zeros((n, 0))

    def own(H_p):
        lp, Vp = np.linalg.eigh(H_p)
        return Vp[:, np.argsort(np.abs(lp))[:m]]

    # a rough own space from the branch's point before the event (a step away), to border Newton
    i = min(max(event.position, 1), len(branch) - 1)
    _, H_a, _ = grad_hess(fam(float(branch.p[i - 1])), branch.W[i - 1])
    N0 = np.linalg.svd(S @ (S.T @ own(H_a)), full_matrices=False)[0][:, :m]
    delta = 1e-4 * max(1.0, abs(event.p))
    lo, hi = fam.domain
    P = np.zeros((m + q, m + q))
    for side in (1.0, -1.0):
        p = event.p + side * delta
        if not lo <= p <= hi:
            continue
        pt = correct(ev, x_e + (p - event.p) * slope, p, N0, x_e, np.zeros(n), 1.0, p, gtol=gtol,
                     xtol=1e-11 * size, domain=fam.domain)
        if pt.status == CONVERGED:
            Y = S.T @ own(pt.H)
            P += Y @ Y.T
    if not P.any():
        Y = S.T @ N0
        P = Y @ Y.T
    _, U = np.linalg.eigh(P)
    return (S @ U[:, :q]).T, S @ U[:, q:]


def _on_line(ax, dx, C, sign):
    """Whether the displacement ``dx`` from the branch point has the subgroup's symmetry and leaves on
    the ``sign`` side of its line (its component in the kernel points along ``sign`` times the
    subgroup's direction)."""
    scale = float(np.linalg.norm(dx))
    if any(np.linalg.norm(M @ dx - dx) > 1e-6 * scale for M in ax.fixers):
        return False
    return float(sign * (ax.result.direction @ dx)) >= 0.9 * float(np.linalg.norm(C @ dx))
