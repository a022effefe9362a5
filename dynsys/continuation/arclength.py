"""Pseudo-arclength continuation of critical points in one parameter: :func:`continuation`.

Predictor: a step ``ds`` along the unit tangent in (state, p), with the tangent's rate of change
over the last step as a second-order term. Corrector (:mod:`.corrector`): the
bordered system with phase conditions for the branch's own null directions, solved first by chord
iterations on the previous point's factored Jacobian (the factor its spectrum already made: one
gradient per iteration), by Newton on the exact Hessian where those do not converge. The step
grows by 1.5 after a corrector that converged in few iterations, shrinks by half after a failure;
below ``step_min`` the branch ends STALLED. At every point the Morse index and nullity come from the
inertia of the Hessian (:mod:`.spectrum`); a change between two points is an event, located by
:mod:`.events`. Reaching ``p_end`` ends the branch with a natural-parameter correction onto
``p = p_end`` exactly.
"""

from __future__ import annotations

import math
import numpy as np

from .. import _validate as v
from .. import progress as _progress
from .._codes import CONVERGED, INTERRUPTED, MAX_STEPS, SINGULAR, STALLED
from ..config import CONTINUATION_CHORD_ITER, EIG_RTOL, PARALLEL_ATOL
from ..critical.newton import refine as _refine
from ..critical.shared import grad_hess, resolve_gtol, row_max, state_shape
from ..results.census import Census, CensusClass
from ..results.critical import CriticalPoint, CriticalSet
from ..results.status import Status
from . import events as _ev
from .. import backends
from . import compiled as _compiled
from .corrector import (MAX_ITER, Evaluator, Point, bordered, chord_correct, correct, initial_tangent, orient,
                        tangent)
from .family import as_family
from .many import follow_all
from .spectrum import null_space, spectrum, start_vectors
from .trace import Node, Trace

_OVERFLOW = ("the {what} at p0 = {p0} is not finite (the family's values overflow there); start from "
             "a p0 where the model's scale is representable")
#: A start whose gradient norm exceeds this times the gradient scale is refused (refine it first).
START_RTOL = 1e-6
#: The bordering equations (phase conditions, arclength) are met to this times ``max(1, max|x|)``.
XTOL_RTOL = 1e-11
#: Corrector iterations at or below which the step grows (Newton's, and the chord's, which
#: converges linearly), and above which it shrinks.
FAST_ITERS = 3
FAST_CHORD_ITERS = 5
SLOW_ITERS = 6
#: Power steps and inverse-iteration sweeps of the spectrum at a point after the first (started
#: from the previous point's vectors: start_vectors' settings for a warm start).
LAM_ITERS = 4
SWEEPS = 1
#: Points the compiled loop takes per call at most (a branch of k = d = 10 takes about 100 us a
#: point: Ctrl-C and the progress bar are seen every few milliseconds).
ADVANCE_CAP = 64
#: The two ways a branch is computed (``Branch.path``): one compiled kernel call per point, or the
#: general Python loop around the compiled field.
COMPILED = "compiled"
GENERAL = "general"


def _predict(A, ds):
    """The predictor at arclength ``ds`` from node A: along its tangent, plus the tangent's rate of
    change over the last step (``A.dt``) where known: ``y_A + ds t + ds^2 dt / 2``. The corrector's
    first residual is then third order in ds, and on a dense branch one chord iteration meets it."""
    n = A.x.size
    if A.dt is None:
        return A.x + ds * A.t[:n], A.p + ds * float(A.t[n])
    y = ds * A.t + (0.5 * ds * ds) * A.dt
    return A.x + y[:n], A.p + float(y[n])


def _dips(system, A, B, shape):
    """Whether a row's segment from A to B passes much closer to zero than its ends, in a system with
    a singular set: the branch runs into it between the two points (a step would jump over it)."""
    if not system.singular_tol > -math.inf:
        return False
    U = getattr(system, "residual", None)
    a = A.W.reshape(-1, shape[-1]) + (0.0 if U is None else U)
    b = B.W.reshape(-1, shape[-1]) + (0.0 if U is None else U)
    d = b - a
    dd = np.einsum("ij,ij->i", d, d)
    t = np.clip(-np.einsum("ij,ij->i", a, d) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
    closest = np.linalg.norm(a + t[:, None] * d, axis=1)
    ends = np.minimum(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
    return bool(np.any(closest < 0.25 * ends))


def _groups(system, W, atol):
    """The pairs of parallel rows (the test of :func:`dynsys.systems.symmetry.parallel_groups`,
    vectorised: it runs at every point)."""
    if len(np.shape(W)) != 2:
        return ()
    U = getattr(system, "residual", None)
    V = W if U is None else W + U
    nrm = np.linalg.norm(V, axis=1)
    ok = nrm > 0.0
    if ok.sum() < 2:
        return ()
    E = np.where(ok[:, None], V / np.where(ok, nrm, 1.0)[:, None], 0.0)
    du = np.linalg.norm(E[:, None, :] - E[None, :, :], axis=2)
    su = np.linalg.norm(E[:, None, :] + E[None, :, :], axis=2)
    sin = 0.5 * du * su
    short = np.minimum(nrm[:, None], nrm[None, :])
    par = (du < su) & (short * sin <= atol * float(nrm.max())) & ok[:, None] & ok[None, :]
    i, j = np.nonzero(np.triu(par, 1))
    return tuple(zip(i.tolist(), j.tolist()))


class _Run:
    """The state of one continuation run (settings, evaluator, node construction): the general path,
    for any family of any system."""

    path = GENERAL

    def __init__(self, fam, shape, gtol, eig_rtol, n_eig, parallel_atol):
        self.fam = fam
        self.shape = shape
        self.ev = Evaluator(fam, shape)
        self.gtol = gtol
        self.eig_rtol = eig_rtol
        self.n_eig = n_eig
        self.parallel_atol = parallel_atol

    def xtol(self, x):
        return XTOL_RTOL * max(1.0, float(np.max(np.abs(x))))

    def _correct(self, A, x0, p0, N, xa, c, cp, rhs, gtol, newton=False):
        """The chord corrector on A's factor, Newton where it fails (or from the start, without A):
        the corrector's Point. ``newton``: Newton only (the bisection of an event: near a branch
        point the chord leaves the soft direction resolved only to ``gtol`` over the crossing
        eigenvalue, and that error moves the eigenvalue the bisection follows; Newton, accepting the
        interpolated predictor where it already converged, keeps the trials as exact as the
        bracket's ends)."""
        kw = dict(gtol=gtol, xtol=self.xtol(x0), domain=self.fam.domain)
        if A is not None and not newton:
            pt = chord_correct(self.ev, x0, p0, N, xa, c, cp, rhs, A.chord, **kw)
            if pt.status == CONVERGED:
                return pt
        return correct(self.ev, x0, p0, N, xa, c, cp, rhs, **kw)

    def node(self, pt, N_prev, prev, t_prev):
        """A Node at a converged corrector point: the Hessian and ``d grad / d p`` there, the spectrum,
        its factor with the bordering columns (the next corrector's chord), the tangent (the refined
        chord solve, or the factored bordered Jacobian where that falls short), the own basis
        carried along. None when the root is singular."""
        _, H, b, st = self.ev(pt.x, pt.p)
        if st:
            return None
        n = pt.x.size
        m = N_prev.shape[1]
        sp = spectrum(H, eig_rtol=self.eig_rtol, q=m + self.n_eig,
                      V0=None if prev is None else prev.V, top0=None if prev is None else prev.top,
                      sweeps=1)
        X = backends.chord_prepare(sp.factor, b, N_prev)
        chord = sp.factor + (b, X)
        z = backends.chord_tangent(sp.factor + (X,), H, b, N_prev, t_prev, sp.lam_max)
        t = orient(z, n, t_prev) if z is not None else tangent(bordered(H, b, N_prev, t_prev), n, t_prev)
        w = np.sum((sp.vectors.T @ N_prev) ** 2, axis=1) if m else np.zeros(sp.eigvals.size)
        order = np.argsort(-w, kind="stable")
        own, rest = np.sort(order[:m]), np.sort(order[m:])
        N = sp.vectors[:, own]
        W = pt.x.reshape(self.shape)
        system = self.ev.system(pt.p)
        loss = float(system.loss(W, backend="cpu"))
        # the index counts eigenvalues below -tol; the crossing itself is where one changes sign
        index0 = sp.index + int(np.sum((sp.eigvals[rest] < 0.0) & (sp.eigvals[rest] >= -sp.tol)))
        return Node(pt.x.copy(), float(pt.p), t, N, W.copy(), loss, pt.grad_norm, sp.index, index0,
                    sp.nullity, sp.eigvals[rest], sp.vectors[:, rest], sp.vectors, sp.top,
                    _groups(system, W, self.parallel_atol), chord)

    def _finish(self, pt, N_prev, prev, t_prev):
        if pt.status != CONVERGED:
            return None, pt
        node = self.node(pt, N_prev, prev, t_prev)
        return node, (pt if node is not None else pt._replace(status=SINGULAR))

    def start(self, x0, p0, N0, t0):
        """The start node: ``x0`` polished onto the branch at ``p0`` exactly (None if that fails, with
        the corrector's point)."""
        n = x0.size
        pt = self._correct(None, x0, p0, N0, x0, np.zeros(n), 1.0, p0, self.gtol)
        node, pt = self._finish(pt, N0, None, t0)
        return (None if node is None else node._replace(p=float(p0))), pt

    def dips(self, A, B):
        return _dips(self.ev.system(B.p), A, B, self.shape)

    def step_from(self, A, ds, loose=1.0, pred=None):
        """Corrected point at arclength ``ds`` from node A along its tangent (a Node or None, status).

        ``pred`` replaces the tangent predictor by a given ``(x, p)`` (interpolation inside a bracket).
        """
        n = A.x.size
        tx, tp = A.t[:n], float(A.t[n])
        x0, p0 = _predict(A, ds) if pred is None else pred
        pt = self._correct(A, x0, p0, A.N, A.x, tx, tp, float(tx @ A.x + tp * A.p + ds), self.gtol * loose,
                           newton=pred is not None)
        return self._finish(pt, A.N, A, A.t)

    def advance(self, trace, ds, p_end, budget, step_min, step_max):
        """Plain points appended to ``trace`` without this loop's help, and the step after them: none
        on the general path (the compiled path's :meth:`_FastRun.advance` runs many per call)."""
        return ds

    def at_p(self, A, B, p_target):
        """The point with ``p = p_target`` between nodes A and B (natural-parameter corrector)."""
        n = A.x.size
        f = (p_target - A.p) / (B.p - A.p) if B.p != A.p else 1.0
        x0 = A.x + f * (B.x - A.x)
        pt = self._correct(A, x0, p_target, A.N, A.x, np.zeros(n), 1.0, p_target, self.gtol)
        node, _ = self._finish(pt, A.N, A, A.t)
        return None if node is None else node._replace(p=float(p_target))


class _FastRun(_Run):
    """The compiled path, for a teacher-student family the kernel can evaluate at any p
    (:mod:`.compiled`): one kernel call (:func:`dynsys.kernels.arclength.advance`) per run of plain
    points, or per step the Python loop takes itself; the same arithmetic as :class:`_Run`, which
    still serves the events' system evaluations."""

    path = COMPILED

    def __init__(self, fam, shape, gtol, eig_rtol, n_eig, parallel_atol, plan):
        super().__init__(fam, shape, gtol, eig_rtol, n_eig, parallel_atol)
        self.kfam = plan.fam
        k = shape[0]
        self.pairs = np.empty((max(1, k * (k - 1) // 2), 2), dtype=np.int64)
        self.info = np.empty(13)
        self._dips = {}
        self._none = (np.empty((0, 0)), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64),
                      np.empty(0), np.empty((0, 0)))
        self._no_out = (np.empty((0, 0)), *(np.empty(0),) * 4, *(np.empty(0, dtype=np.int64),) * 2,
                        np.empty((0, 0)), np.empty(0))
        self._no_info = np.empty(8)
        self._no_given = (np.empty(0), 0.0, np.empty(0), 0.0, 0.0, False)
        self._kernel = backends.arclength_kernel()

    def _step(self, x0, p0, N, xa, c, cp, rhs, t_prev, gtol, prev, newton=False):
        """A node (or None) and the corrector's Point (its status, p, iterations): one step, as given
        (the kernel with ``cap = 0``)."""
        n = x0.size
        m = N.shape[1]
        q = min(m + self.n_eig, n)
        if prev is None:
            V0, v0, lam_iters, sweeps = start_vectors(n, q, None, None, 1)
        else:  # start_vectors with the previous point's vectors, inlined: this runs at every point
            V0, v0, lam_iters, sweeps = prev.V, prev.top, LAM_ITERS, SWEEPS
        S = self._buffers(n, m, q)
        chord_on = prev is not None and not newton
        # every array here is contiguous by construction (the kernel's signatures are for C arrays)
        t_prev, N = np.ascontiguousarray(t_prev), np.ascontiguousarray(N)
        a = (xa, t_prev, t_prev, N, V0, v0, *(prev.chord if chord_on else self._none), *S[11:])
        info = self.info
        self._kernel(a, 0.0, False, 0, 0, 0, 0.0, 0.0, float(gtol), XTOL_RTOL, MAX_ITER, CONTINUATION_CHORD_ITER,
                     self.kfam, self.eig_rtol, lam_iters, sweeps, self.parallel_atol, 0.0, 0.0, 0, 0, 0, 0,
                     (x0, float(p0), c, float(cp), float(rhs), chord_on), S, S, self._no_out, self._no_info, info)
        st, p, it, gn, index, nullity, _, _, loss, npairs, dips, by_chord, index0 = info.tolist()
        x, t, _, N1, vecs, top, F, perm, blk, b, X, pairs, mu, sel = S
        pt = Point(x, p, None, None, None, None, int(st), int(it), gn, by_chord == 1.0)
        if st != CONVERGED:
            return None, pt
        index, nullity, index0 = int(index), int(nullity), int(index0)
        groups = tuple(tuple(r) for r in pairs[:int(npairs)].tolist()) if npairs else ()
        rest = sel[m:]  # (m = 0: 0..q-1)
        node = Node(x, p, t, N1, x.reshape(self.shape), loss, gn, index, index0, nullity, mu[rest], vecs[:, rest],
                    vecs, top, groups, (F, perm, blk, b, X))
        self._dips = {id(node): dips == 1.0}
        return node, pt

    def advance(self, trace, ds, p_end, budget, step_min, step_max):
        """Plain points by the compiled loop (:func:`dynsys.kernels.arclength.advance`, at most
        ``ADVANCE_CAP`` per call: Ctrl-C and progress are seen between calls), appended to ``trace``;
        the step after them. The loop stops before the first step that is not plain, which the caller
        then takes itself: the branch is the one the caller's loop alone gives."""
        A = trace.last
        cap = min(budget, ADVANCE_CAP)
        if A.chord is None or cap <= 0:
            return ds
        n, m, q = A.x.size, A.N.shape[1], A.V.shape[1]
        sets = [self._buffers(n, m, q) for _ in range(2)]
        pairs = np.array(A.groups, dtype=np.int64).reshape(-1, 2)
        a = (A.x, A.t, A.t if A.dt is None else A.dt, A.N, A.V, A.top, *A.chord, pairs, *sets[0][12:])
        out = (np.empty((cap, n)), np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap),
               np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64), np.empty((cap, q - m)), np.empty(cap))
        info = np.empty(8)
        self._kernel(a, A.p, A.dt is not None, A.index, A.nullity, len(A.groups), float(ds), float(p_end),
                     float(self.gtol), XTOL_RTOL, MAX_ITER, CONTINUATION_CHORD_ITER, self.kfam, self.eig_rtol,
                     LAM_ITERS, SWEEPS, self.parallel_atol, float(step_min), float(step_max), FAST_CHORD_ITERS,
                     FAST_ITERS, SLOW_ITERS, cap, self._no_given, *sets, out, info, self.info)
        count, which, ds, p, loss, gn, index0, nullity = info.tolist()
        count = int(count)
        if count:
            x, t, dt, N, vecs, top, F, perm, blk, b, X, _, mu, sel = sets[int(which)]
            rest = sel[m:]
            last = Node(x, p, t, N, x.reshape(self.shape), loss, gn, A.index, int(index0), int(nullity), mu[rest],
                        vecs[:, rest], vecs, top, A.groups, (F, perm, blk, b, X), dt)
            trace.extend(tuple(c[:count] for c in out), last)
        return ds

    def _buffers(self, n, m, q):
        """One point's arrays for :func:`dynsys.kernels.arclength.advance`."""
        return (np.empty(n), np.empty(n + 1), np.empty(n + 1), np.empty((n, m)), np.empty((n, q)), np.empty(n),
                np.empty((n, n)), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n),
                np.empty((m + 1, n)), np.empty_like(self.pairs), np.empty(q),
                np.empty(q, dtype=np.int64))

    def start(self, x0, p0, N0, t0):
        node, pt = self._step(x0, p0, N0, x0, np.zeros(x0.size), 1.0, p0, t0, self.gtol, None)
        return (None if node is None else node._replace(p=float(p0))), pt

    def step_from(self, A, ds, loose=1.0, pred=None):
        n = A.x.size
        tx, tp = A.t[:n], float(A.t[n])
        x0, p0 = _predict(A, ds) if pred is None else pred
        return self._step(x0, p0, A.N, A.x, tx, tp, float(tx @ A.x + tp * A.p + ds), A.t, self.gtol * loose, A,
                          newton=pred is not None)

    def at_p(self, A, B, p_target):
        n = A.x.size
        f = (p_target - A.p) / (B.p - A.p) if B.p != A.p else 1.0
        x0 = A.x + f * (B.x - A.x)
        node, _ = self._step(x0, p_target, A.N, A.x, np.zeros(n), 1.0, p_target, A.t, self.gtol, A)
        return None if node is None else node._replace(p=float(p_target))

    def dips(self, A, B):
        flag = self._dips.get(id(B))
        return super().dips(A, B) if flag is None else flag


def continuation(family, W0, p0, p_end, *, step=0.01, step_min=1e-6, step_max=0.1, max_points=10_000,
                 gtol=None, eig_rtol=EIG_RTOL, n_eig=4, p_tol=1e-9, refine=False,
                 parallel_atol=PARALLEL_ATOL, kinds=None, path=None, progress=None):
    """Follow the critical point ``W0`` of ``family(p0)`` as p moves towards ``p_end``.

    Pseudo-arclength predictor-corrector on the bordered system (bordered by the start's null space:
    the branch's own null directions, such as symmetry orbits, mass between parallel rows, families
    of critical points): chord iterations on the previous point's factored Jacobian, Newton on the
    exact Hessian where they do not converge fast; adaptive steps, folds passed and recorded; the
    Morse index and nullity at every point from the LDL^T inertia of the Hessian; events (folds, branch points,
    non-smooth points, nullity changes) located to ``p_tol`` (docs/continuation.md).

    Parameters
    ----------
    family : Family or callable
        ``p -> system`` (:class:`dynsys.Family`, one of :mod:`dynsys.families`, or a plain callable).
    W0 : array_like, state shape; or CriticalSet, Census, a batch (n, ...) of states
        A critical point of ``family(p0)``; or many: then one branch per point (per class of a
        census), returned as a tuple.
    p0, p_end : float
        Start and target parameter (either order; both inside the family's domain).
    step, step_min, step_max : float
        Initial, smallest and largest arclength step in (state, p).
    max_points : int
        Points on the branch at most (MAX_STEPS beyond).
    gtol : float, optional
        Row-max gradient tolerance of the corrector (default ``NEWTON_GTOL * grad_scale``).
    eig_rtol : float
        Relative zero tolerance of eigenvalues (``tol = eig_rtol * max|lambda|``), as in classify.
    n_eig : int
        Eigenvalues nearest zero (outside the own null space) recorded per point.
    p_tol : float
        Bracket width in p of located folds and branch points.
    refine : bool
        Refine a start that is not critical by Newton first (else it is refused).
    parallel_atol : float
        Angle within which rows count as parallel (non-smooth events).
    kinds : str or sequence of str, optional
        With many starts, follow only the points (classes) of these kinds (``"spurious_minimum"``).
    path : None, "compiled" or "general"
        How the branch is computed. None (default): the compiled kernel, many points per call,
        when the family is a teacher-student family it can evaluate (every family of
        :mod:`dynsys.families`; see docs/continuation.md), else the general path. ``"general"``
        forces the general path; ``"compiled"`` refuses a family it does not apply to. Both give the
        same branch; ``Branch.path`` says which ran.
    progress : None, bool or reporter
        Progress in thousandths of the way from ``p0`` to ``p_end`` (many starts: in branches).

    Returns
    -------
    Branch, or tuple of Branch for many starts
        Status CONVERGED when the last point is at ``p_end`` exactly; STALLED, MAX_STEPS, SINGULAR or
        INTERRUPTED (Ctrl-C: the branch so far) otherwise.
    """
    fam = as_family(family)
    p0 = fam.check_p(p0, "p0")      # before the family is evaluated at it
    many = isinstance(W0, (Census, CriticalSet)) or (isinstance(W0, (list, tuple)) and W0 and isinstance(
        W0[0], (CensusClass, CriticalPoint)))
    if not many:
        many = v.real_array(W0, "W0").ndim > len(state_shape(fam(p0)))
    if many:
        return follow_all(continuation, family, W0, p0, p_end, kinds=kinds, progress=progress, step=step,
                          step_min=step_min, step_max=step_max, max_points=max_points, gtol=gtol,
                          eig_rtol=eig_rtol, n_eig=n_eig, p_tol=p_tol, refine=refine,
                          parallel_atol=parallel_atol, path=path)
    if kinds is not None:
        raise ValueError("kinds applies to many starts (a CriticalSet, a Census); W0 is one state")
    if path not in (None, COMPILED, GENERAL):
        raise ValueError(f"path must be None (automatic), {COMPILED!r} or {GENERAL!r}; got {path!r}")
    p_end = fam.check_p(p_end, "p_end")
    if p0 == p_end:
        raise ValueError(f"p0 and p_end are both {p0!r}; give an end different from the start")
    step = v.real_scalar(step, "step", lo=0.0, lo_open=True)
    step_min = v.real_scalar(step_min, "step_min", lo=0.0, lo_open=True)
    step_max = v.real_scalar(step_max, "step_max", lo=0.0, lo_open=True)
    if not step_min <= step <= step_max:
        raise ValueError(f"the steps must satisfy step_min <= step <= step_max; got step_min={step_min}, "
                         f"step={step}, step_max={step_max}")
    max_points = v.positive_int(max_points, "max_points", minimum=2)
    eig_rtol = v.real_scalar(eig_rtol, "eig_rtol", lo=0.0, hi=1.0, lo_open=True)
    n_eig = v.positive_int(n_eig, "n_eig")
    p_tol = v.real_scalar(p_tol, "p_tol", lo=0.0, lo_open=True)
    parallel_atol = v.real_scalar(parallel_atol, "parallel_atol", lo=0.0, lo_open=True)
    sys0 = fam(p0)
    shape = state_shape(sys0)
    W0 = v.finite(v.real_array(W0, "W0"), "W0")
    if W0.shape != shape:
        raise ValueError(f"W0 must be one state of shape {shape}; got shape {W0.shape}")
    gtol = resolve_gtol(sys0, gtol)
    gscale = float(sys0.grad_scale)
    G, H, st = grad_hess(sys0, W0)
    if st:
        raise ValueError(f"W0 is {Status(st).name.lower()} at p0 = {p0}: {Status(st).message}")
    if not np.all(np.isfinite(H)):
        raise ValueError(_OVERFLOW.format(what="Hessian", p0=p0))
    if row_max(G) > START_RTOL * gscale:
        if not refine:
            raise ValueError(f"W0 is not a critical point of the family at p0 = {p0}: its gradient norm "
                             f"is {row_max(G):.3g} (row-max), above {START_RTOL:g} * grad_scale. Pass "
                             f"refine=True to refine it by Newton first, or start from a refined point "
                             f"(dynsys.find_critical_points, dynsys.classify)")
        res = _refine(sys0, W0, gtol=gtol)
        if res.status != Status.CONVERGED:
            raise ValueError(f"refining W0 at p0 = {p0} failed ({Status(res.status).name}, gradient norm "
                             f"{res.residual:.3g}); start from a critical point")
        W0 = res.W
        G, H, st = grad_hess(sys0, W0)
    plan = None if path == GENERAL else _compiled.cached_plan(fam, shape, p0, p_end)
    if path == COMPILED and plan is None:
        raise ValueError("path='compiled' needs a teacher-student family without its own dgrad_dp whose "
                         "arrays are constant, affine, quadratic or c0 + c1 cos p + c2 sin p in p (every "
                         "family of dynsys.families); use path=None to choose automatically")
    run = (_Run(fam, shape, gtol, eig_rtol, n_eig, parallel_atol) if plan is None else
           _FastRun(fam, shape, gtol, eig_rtol, n_eig, parallel_atol, plan))
    n = W0.size
    # the branch's own null space, measured once at the start
    N0 = null_space(H, eig_rtol=eig_rtol)
    x0 = W0.reshape(-1).astype(float)
    b0 = fam.dgrad_dp(W0, p0)
    if b0 is None:
        raise ValueError(f"d grad / d p cannot be evaluated at the start (a state near p0 = {p0} is singular)")
    if not np.all(np.isfinite(b0)):
        raise ValueError(_OVERFLOW.format(what="d grad / d p", p0=p0))
    t0 = initial_tangent(H, b0.reshape(-1), N0)
    if t0[n] * (p_end - p0) < 0:
        t0 = -t0
    # polish the start onto the branch at p0 exactly
    start, pt = run.start(x0, p0, N0, t0)
    if start is None:
        raise ValueError(f"W0 could not be polished to a critical point at p0 = {p0} (status "
                         f"{Status(pt.status).name}, gradient norm {pt.grad_norm:.3g}, gtol = {gtol:.3g}: "
                         f"a gtol below the rounding level of the gradient cannot be met)")
    trace = Trace(start)
    evts = []
    status, message = MAX_STEPS, ""
    ds = step
    span = abs(p_end - p0)
    bar = _progress.reporter(progress, 1000, desc="continuation", unit="permille")
    done = 0
    last_fail = CONVERGED
    try:
        while len(trace) < max_points:
            # the plain points in one compiled call (the compiled path); it stops before the first
            # step that needs this loop: a failure, an event, p_end
            ds = run.advance(trace, ds, p_end, max_points - len(trace), step_min, step_max)
            done = _tick(bar, done, trace.last.p, p0, p_end, span)
            if len(trace) >= max_points:
                continue
            A = trace.last
            B, pt = run.step_from(A, ds)
            if B is not None and run.dips(A, B):
                B, pt = None, pt._replace(status=SINGULAR)
            if B is None:
                last_fail = pt.status
                lo, hi = fam.domain
                p_pred = A.p + ds * A.t[n]
                if not lo <= pt.p <= hi or not lo <= p_pred <= hi:
                    edge = lo if p_pred < lo or pt.p < lo else hi
                    # land on the edge at once when it is p_end, else only once the step is small
                    E = (run.at_p(A, A._replace(x=A.x + ds * A.t[:n], p=p_pred), edge)
                         if edge == p_end or ds <= 4 * step_min else None)
                    if E is not None:
                        _add(run, trace, evts, E, p_tol)
                        if edge == p_end:
                            status, message = CONVERGED, f"reached p_end = {p_end:g}"
                        else:
                            status = STALLED
                            message = (f"reached the edge {edge:g} of the family's domain of {fam.name} "
                                       f"before p_end = {p_end:g}")
                        break
                ds *= 0.5
                if ds < step_min:
                    status = SINGULAR if last_fail == SINGULAR else STALLED
                    message = (f"the branch reached the singular set near {fam.name} = {A.p:.6g}"
                               if status == SINGULAR else
                               f"the step fell below step_min = {step_min:g} at {fam.name} = {A.p:.6g} "
                               f"(corrector status {Status(pt.status).name})")
                    break
                continue
            if (B.p - p_end) * (A.p - p_end) <= 0.0:
                E = run.at_p(A, B, p_end)
                if E is None:
                    ds *= 0.5
                    if ds < step_min:
                        status, message = STALLED, f"could not land on p_end = {p_end:g}"
                        break
                    continue
                _add(run, trace, evts, E, p_tol)
                status, message = CONVERGED, f"reached p_end = {p_end:g}"
                break
            _add(run, trace, evts, B, p_tol, ds)
            fast = FAST_CHORD_ITERS if pt.chord else FAST_ITERS
            ds = min(step_max, ds * 1.5) if pt.iters <= fast else (ds * 0.7 if pt.iters > SLOW_ITERS else ds)
            ds = max(ds, step_min)
            done = _tick(bar, done, B.p, p0, p_end, span)
        else:
            message = f"max_points = {max_points} reached"
    except KeyboardInterrupt:
        status, message = INTERRUPTED, "interrupted (Ctrl-C): the branch so far"
    finally:
        bar.close()
    return trace.branch(shape, events=tuple(evts), status=status, own_nullity=int(N0.shape[1]),
                        parameter=fam.name, derivative=fam.derivative, p0=float(p0), p_end=float(p_end),
                        step=float(step), step_min=float(step_min), step_max=float(step_max), gtol=float(gtol),
                        eig_rtol=float(eig_rtol), message=message, path=run.path)


def _tick(bar, done, p, p0, p_end, span):
    """Progress to the thousandth of the way from p0 to p_end that ``p`` reached."""
    now = int(1000 * min(1.0, max(0.0, (p - p0) / (p_end - p0)))) if span else 0
    if now > done:
        bar.update(now - done)
    return max(now, done)


def _add(run, trace, evts, B, p_tol, ds=None):
    """Append node B after the trace's last, with the events between them."""
    A = trace.last
    n = A.x.size
    if ds is None:
        ds = float(np.linalg.norm(np.concatenate([B.x - A.x, [B.p - A.p]])))
    position = len(trace)
    fold = A.t[n] * B.t[n] < 0.0
    system = run.ev.system
    if fold or B.index != A.index:
        if fold:
            def same(node):
                return node.t[n] * A.t[n] > 0.0
        elif A.index0 != B.index0:
            def same(node):
                return node.index0 == A.index0
        else:
            def same(node):
                return node.index == A.index

        bracket = {0.0: A, ds: B}

        def trial(sig):
            # predict by interpolating the bracket's ends: a tangent predictor from A lands on the
            # branches that cross the arclength hyperplane near a branch point
            lo = max(k for k in bracket if k < sig)
            hi = min(k for k in bracket if k > sig)
            f = (sig - lo) / (hi - lo)
            L, R = bracket[lo], bracket[hi]
            x0, p0 = L.x + f * (R.x - L.x), L.p + f * (R.p - L.p)
            node, _ = run.step_from(A, sig, loose=10.0, pred=(x0, p0))
            # a corrector that moved the point further than the bracket is wide jumped to another
            # branch (the tangent is no test here: near a branch point two directions are null)
            if node is None or math.hypot(float(np.linalg.norm(node.x - x0)), node.p - p0) > math.hypot(
                    float(np.linalg.norm(R.x - L.x)), R.p - L.p):
                return None
            bracket[sig] = node
            return node

        n_lo, n_hi, width = _ev.bisect(trial, ds, same, A.p, B.p, p_tol)
        ends = [nd for nd in (n_hi, n_lo) if nd is not None] or [B]
        # a fold is where t_p vanishes: of the bracket's ends, the one nearer to that
        at = min(ends, key=lambda nd: abs(nd.t[n])) if fold else ends[0]
        ncross = max(abs(B.index - A.index), 1)
        if fold:
            kind, symmetric = "fold", False
        else:
            v_cross = at.vec[:, int(np.argmin(np.abs(at.eig)))]
            symmetric = ncross >= 2 or _ev.is_pitchfork(system(at.p), at.W, v_cross,
                                                            float(system(at.p).grad_scale))
            kind = "symmetric_branch_point" if symmetric else "branch_point"
        evts.append(_ev.make_event(kind, at, position, A.index, B.index, ncross, width, symmetric))
    elif B.nullity > A.nullity and B.nullity > A.N.shape[1]:
        evts.append(_ev.make_event("nullity_change", B, position, A.index, B.index,
                                   B.nullity - A.N.shape[1], 0.0))
    if B.groups != A.groups:
        evts.append(_ev.make_event("nonsmooth", B, position, A.index, B.index, 1, 0.0,
                                   groups=(A.groups, B.groups)))
    trace.add(B._replace(dt=(B.t - A.t) / ds) if ds > 0.0 else B, ds)
