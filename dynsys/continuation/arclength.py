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
``p = p_end`` exactly. How each point is computed (the general or the compiled path) is
:mod:`.runs`; the branch so far is a :class:`~.trace.Trace`.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validate as v
from .. import progress as _progress
from .._codes import CONVERGED, INTERRUPTED, MAX_STEPS, SINGULAR, STALLED
from ..config import EIG_RTOL, PARALLEL_ATOL
from ..critical.newton import refine as _refine
from ..critical.shared import grad_hess, resolve_gtol, row_max, state_shape
from ..results.census import Census, CensusClass
from ..results.critical import CriticalPoint, CriticalSet
from ..results.status import Status
from . import compiled as _compiled
from . import events as _ev
from .corrector import initial_tangent
from .family import as_family
from .many import follow_all
from .runs import COMPILED, FAST_CHORD_ITERS, FAST_ITERS, GENERAL, SLOW_ITERS, FastRun, Run
from .spectrum import null_space
from .trace import Trace

_OVERFLOW = ("the {what} at p0 = {p0} is not finite (the family's values overflow there); start from "
             "a p0 where the model's scale is representable")
#: A start whose gradient norm exceeds this times the gradient scale is refused (refine it first).
START_RTOL = 1e-6


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
    run = (Run(fam, shape, gtol, eig_rtol, n_eig, parallel_atol) if plan is None else
           FastRun(fam, shape, gtol, eig_rtol, n_eig, parallel_atol, plan))
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
