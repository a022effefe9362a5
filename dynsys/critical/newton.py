"""Newton refinement of many seeds at once, deflation (several roots from one seed), and the bordered
Newton corrector (extra unknowns and equations, for continuation).

:func:`refine` validates the seeds, hands them to the batched kernel
(:func:`dynsys.kernels.newton.newton_batch`: damped Newton with LDL^T/LU, Broyden steps, a
Levenberg-Marquardt fallback, stall detection; see that module) and returns a :class:`NewtonResult`.
It takes any system of the protocol (:mod:`dynsys.systems.base`); one without a kernel view (the
reduced dynamics, a system of yours) is refined by :func:`dense_newton` in NumPy.

:func:`deflate` finds further roots from one seed by deflation (Farrell, Birkisson and Funke, SIAM J.
Sci. Comput. 37 (2015) A2026): Newton on ``M(x) grad L(x)`` with
``M(x) = prod_i (|x - r_i|^-p + sigma)`` over the known roots ``r_i`` never converges to an ``r_i``,
and its step is the plain Newton step ``dx`` scaled by ``1 / (1 - grad(log M) . dx)`` (their Eqn
3.4), so it costs one plain Newton step. It runs in NumPy (few roots, few seeds) and hands over to
the kernel once the gradient is small.

:func:`bordered_newton` solves ``grad L_p(x) = 0`` together with ``m`` extra equations ``r(x, p) = 0``
in ``m`` extra unknowns ``p`` (a parameter and, for pseudo-arclength continuation, the arclength
equation): Newton on the bordered Jacobian ``[[H, b], [C, E]]``.

Tolerances are in the row-max norm (largest per-row Euclidean norm of the gradient) and, by default,
relative to the system's gradient scale ``S`` (``dynsys.config.NEWTON_GTOL * S``).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .. import _validate as v
from .. import backends
from ..config import (DEFLATION_HANDOVER_GTOL, DEFLATION_POWER, DEFLATION_SHIFT,
                      NEWTON_ARMIJO, NEWTON_BROYDEN_GATE, NEWTON_CHORD_RATIO, NEWTON_CHORD_STEPS,
                      NEWTON_GTOL, NEWTON_LDLT_PIVOT_RTOL, NEWTON_LDLT_RESID_RTOL, NEWTON_LM_SCALE_MIN,
                      NEWTON_LOCAL, NEWTON_LS_MAX, NEWTON_MAX_STEPS, NEWTON_MU_MAX, NEWTON_MU_MIN,
                      NEWTON_NONMONOTONE, NEWTON_PIVOT_RTOL, NEWTON_STALL_FACTOR, NEWTON_STALL_WINDOW,
                      NEWTON_SWITCH)
from ..results import Status
from .shared import as_seeds, check_system, grad_hess, kernel_view, resolve_gtol, row_max, state_shape


class NewtonResult(NamedTuple):
    """Per-seed outcome of :func:`refine` (arrays over the seeds, in seed order)."""

    W: np.ndarray               #: refined states, shape of the seeds
    status: np.ndarray          #: int8 Status per seed
    residual: np.ndarray        #: row-max gradient norm at the end (NaN for a singular seed)
    residual_before: np.ndarray  #: row-max gradient norm at the seed (NaN for a singular seed)
    steps: np.ndarray           #: accepted steps per seed (Newton, chord and LM steps)
    hessians: np.ndarray        #: Hessian evaluations (factorisations) per seed
    gtol: float                 #: the absolute tolerance used


def _max_steps(x) -> int:
    """``max_steps`` as an int in [0, int64 max] (the kernels count in int64)."""
    x = v.positive_int(x, "max_steps", minimum=0)
    if x > np.iinfo(np.int64).max:
        raise ValueError(f"max_steps must be at most {np.iinfo(np.int64).max} (the kernels' int64 counter); "
                         f"got {x}")
    return x


def newton_params(gtol, gscale, max_steps, stall_window, stall_factor, chord_steps,
                  nonmonotone=NEWTON_NONMONOTONE, local=NEWTON_LOCAL) -> backends.NewtonParams:
    """The kernel's :class:`~dynsys.kernels.newton.NewtonParams`: the given settings, the rest from
    ``dynsys.config``."""
    return backends.NewtonParams(gtol=float(gtol), gscale=float(gscale), stall_factor=float(stall_factor),
                           pivot_rtol=float(NEWTON_PIVOT_RTOL), chord_ratio=float(NEWTON_CHORD_RATIO),
                           armijo=float(NEWTON_ARMIJO), newton_switch=float(NEWTON_SWITCH),
                           mu_min=float(NEWTON_MU_MIN), mu_max=float(NEWTON_MU_MAX),
                           lm_scale_min=float(NEWTON_LM_SCALE_MIN), local=float(local),
                           broyden_gate=float(NEWTON_BROYDEN_GATE), ldlt_pivot=float(NEWTON_LDLT_PIVOT_RTOL),
                           ldlt_resid=float(NEWTON_LDLT_RESID_RTOL), max_steps=int(max_steps),
                           stall_window=int(stall_window), chord_max=int(chord_steps),
                           ls_max=int(NEWTON_LS_MAX), nonmonotone=int(nonmonotone))


def refine(system, seeds, *, gtol=None, max_steps=NEWTON_MAX_STEPS, stall_window=NEWTON_STALL_WINDOW,
           stall_factor=NEWTON_STALL_FACTOR, chord_steps=NEWTON_CHORD_STEPS,
           nonmonotone=NEWTON_NONMONOTONE, backend="parallel"):
    """Refine seeds to roots of the gradient (critical points of any index) by damped Newton.

    Parameters
    ----------
    system : System
        Any system of the protocol (:mod:`dynsys.systems.base`): a TeacherStudent, a toy, the
        reduced dynamics, yours.
    seeds : array_like, one state or a batch (n, ...) of states
        Shape ``system.state_shape`` ((k, d) for a TeacherStudent, (2,) for a toy) or a batch.
        Starting states: flow endpoints, random states, user arrays. Must be finite.
    gtol : float, optional
        Absolute tolerance on the row-max gradient norm; default ``NEWTON_GTOL * grad_scale(system)``
        (1e-12 relative). Reached where conditioning allows; a seed that cannot reach it ends STALLED
        or MAX_STEPS with its residual reported.
    max_steps : int
        Accepted steps per seed (Newton, chord and Levenberg-Marquardt steps all count).
    stall_window, stall_factor : int, float
        STALLED when the gradient norm has not fallen by ``stall_factor`` (in (0, 1)) over the last
        ``stall_window`` steps.
    chord_steps : int
        Chord steps (reusing a factorisation) allowed after each full Newton step; 0 gives plain
        Newton (quadratic convergence visible step by step).
    nonmonotone : int
        Memory of the nonmonotone line search (``dynsys.config.NEWTON_NONMONOTONE``): a Newton step
        must lower ``|grad|^2`` below its largest value over the current and the last
        ``nonmonotone`` iterates; 0 is the classical monotone rule. At most ``stall_window``.
    backend : {"parallel", "cpu"}
        All cores, or one thread (the same compiled loop: bitwise-equal results).

    A system without a kernel view is refined seed by seed by :func:`dense_newton` (only ``gtol`` and
    ``max_steps`` apply).

    Returns
    -------
    NewtonResult
        ``W`` shaped like ``seeds``; per seed ``status`` (CONVERGED, MAX_STEPS, STALLED, SINGULAR for
        a seed on the singular set, NONFINITE), ``residual``, ``residual_before``, ``steps``.
    """
    check_system(system)
    backends.check(backend)
    if backend == "cuda":
        raise ValueError("Newton has no CUDA kernel; use backend='parallel' (all CPU cores) or 'cpu'")
    X0, single = as_seeds(system, seeds)
    gtol = resolve_gtol(system, gtol)
    max_steps = _max_steps(max_steps)
    stall_window = v.positive_int(stall_window, "stall_window")
    stall_factor = v.real_scalar(stall_factor, "stall_factor", lo=0.0, hi=1.0, lo_open=True)
    chord_steps = v.positive_int(chord_steps, "chord_steps", minimum=0)
    nonmonotone = v.positive_int(nonmonotone, "nonmonotone", minimum=0)
    if nonmonotone > stall_window:
        raise ValueError(f"nonmonotone must be at most stall_window ({stall_window}); got {nonmonotone}")
    n = X0.shape[0]
    X = np.empty_like(X0)
    res0 = np.empty(n)
    res = np.empty(n)
    steps = np.empty(n, dtype=np.int64)
    nhess = np.empty(n, dtype=np.int64)
    status = np.empty(n, dtype=np.int8)
    shape = state_shape(system)
    view = kernel_view(system)
    if view is not None:
        par = newton_params(gtol, system.grad_scale, max_steps, stall_window, stall_factor, chord_steps,
                            nonmonotone=nonmonotone)
        backends.newton(backend, X0, view.code, view.arrays, par, X, res0, res, steps, nhess, status,
                        view.nwork)
    else:
        def grad(x):
            (_, G), st = system.loss_and_grad(x, backend="cpu", return_status=True)
            return np.asarray(G, dtype=float), int(st)

        def hess(x):
            return system.hessian(x, backend="cpu")

        for b in range(n):
            x, status[b], res0[b], res[b], steps[b], nhess[b] = dense_newton(
                grad, hess, X0[b].reshape(shape), gtol=gtol, max_steps=max_steps)
            X[b] = x.reshape(X.shape[1:])
    W = X.reshape((n,) + shape)
    if single:
        return NewtonResult(W[0], Status(int(status[0])), float(res[0]), float(res0[0]), int(steps[0]),
                            int(nhess[0]), gtol)
    return NewtonResult(W, status, res, res0, steps, nhess, gtol)


def dense_newton(grad, hess, x0, *, gtol, max_steps, min_step=1e-6, rcond=1e-13):
    """Newton in NumPy for one state: the least-squares step (null directions of a family of critical
    points get no step) with backtracking until the row-max gradient norm falls.

    For systems without a kernel view and for the saddle searches' duck-typed models: few states,
    small dimension, so clarity beats speed.

    Parameters
    ----------
    grad : callable
        ``grad(x) -> (g, status)``: the gradient shaped like ``x`` and an int status (0 ok).
    hess : callable
        ``hess(x) -> H``: the Hessian of the flattened state, (n, n).
    x0 : ndarray
    gtol : float
        Row-max gradient norm at which the state is a root.
    max_steps : int
    min_step : float
        Halve the step until it is this small; no decrease by then is STALLED.

    Returns
    -------
    x, status, residual_before, residual, steps, hessians
        Residuals are row-max gradient norms (NaN where the gradient is undefined).
    """
    x = np.array(x0, dtype=float)
    shape = x.shape
    g_vec, st = grad(x)
    if st:
        return x, st, np.nan, np.nan, 0, 0
    r0 = row_max(g_vec)
    nh = 0
    for it in range(max_steps):
        g = row_max(g_vec)
        if g <= gtol:
            return x, int(Status.CONVERGED), r0, g, it, nh
        H = np.asarray(hess(x), dtype=float).reshape(x.size, x.size)
        nh += 1
        dx = np.linalg.lstsq(H, g_vec.ravel(), rcond=rcond)[0].reshape(shape)
        t = 1.0
        while t > min_step:
            xt = x - t * dx
            gt, stt = grad(xt)
            if stt == 0 and row_max(gt) < g:
                break
            t *= 0.5
        else:
            return x, int(Status.STALLED), r0, g, it, nh
        x, g_vec = xt, gt
    g = row_max(g_vec)
    return x, int(Status.CONVERGED if g <= gtol else Status.MAX_STEPS), r0, g, max_steps, nh


def deflate(system, seed, roots, *, gtol=None, max_steps=NEWTON_MAX_STEPS, power=DEFLATION_POWER,
            shift=DEFLATION_SHIFT):
    """One more root from ``seed``, avoiding the known ``roots`` (deflated Newton, then plain Newton).

    Parameters
    ----------
    system : System
    seed : array_like, one state
    roots : sequence of arrays, each one state
        Known roots ``r_i``; the deflation operator is ``M(x) = prod_i (|x - r_i|^-power + shift)``.
    gtol : float, optional
        Final tolerance of the plain Newton polish (default as in :func:`refine`).

    Returns
    -------
    W : ndarray or None
        The new root, refined by :func:`refine` to ``gtol``; None when the deflated iteration fails
        (singular, no decrease, or ``max_steps``) or ends at a known root.
    status : Status
        CONVERGED for a new root, else the reason it failed.
    """
    check_system(system)
    X0, single = as_seeds(system, seed, "seed")
    if not single and X0.shape[0] != 1:
        raise ValueError("seed must be one state")
    gtol = resolve_gtol(system, gtol)
    power = v.real_scalar(power, "power", lo=0.0, lo_open=True)
    shift = v.real_scalar(shift, "shift", lo=0.0)
    shape = state_shape(system)
    R = [np.asarray(r, dtype=float).reshape(-1) for r in roots]
    x = X0[0].reshape(-1).copy()
    handover = DEFLATION_HANDOVER_GTOL * system.grad_scale

    def merit(y):
        G, _, st = grad_hess(system, y.reshape(shape), want_H=False)
        if st != 0:
            return None, None
        g = G.reshape(-1)
        return g, float(_deflation_factor(y, R, power, shift)[0] ** 2 * (g @ g))

    g, phi = merit(x)
    if g is None:
        return None, Status.SINGULAR
    status = Status.MAX_STEPS
    for _ in range(max_steps):
        if row_max(g.reshape(shape)) <= handover:
            status = Status.CONVERGED
            break
        _, H, st = grad_hess(system, x.reshape(shape))
        if st != 0:
            return None, Status(st)
        try:
            dx = np.linalg.solve(H, -g)
        except np.linalg.LinAlgError:
            dx = np.linalg.lstsq(H, -g, rcond=None)[0]
        _, dlogM = _deflation_factor(x, R, power, shift)
        den = 1.0 - float(dlogM @ dx)
        step = dx / den if abs(den) > 1e-12 else dx
        t = 1.0
        for _ in range(NEWTON_LS_MAX + 1):
            gt, phit = merit(x + t * step)
            if gt is not None and phit < phi:
                break
            t *= 0.5
        else:
            return None, Status.STALLED
        x = x + t * step
        g, phi = gt, phit
    if status != Status.CONVERGED:
        return None, status
    res = refine(system, x.reshape(shape), gtol=gtol, max_steps=max_steps)
    if res.status != Status.CONVERGED:
        return None, res.status
    W = res.W
    for r in R:
        # the polish can slide back onto a known root (deflation only repels the deflated iterate)
        if np.max(np.abs(W.reshape(-1) - r)) <= 1e-8 * (1.0 + np.max(np.abs(r))):
            return None, Status.STALLED
    return W, Status.CONVERGED


def _deflation_factor(x, R, power, shift):
    """``M(x)`` and ``grad log M(x)`` of the deflation operator (Farrell et al. 2015, Eqn 2.3)."""
    M = 1.0
    dlog = np.zeros_like(x)
    for r in R:
        e = x - r
        n2 = float(e @ e)
        if n2 == 0.0:
            return np.inf, dlog
        m = n2 ** (-power / 2.0) + shift
        M *= m
        dlog += (-power * n2 ** (-power / 2.0 - 1.0) / m) * e
    return M, dlog


class BorderedResult(NamedTuple):
    """Outcome of :func:`bordered_newton`."""

    W: np.ndarray        #: the state, shaped like the start
    p: np.ndarray        #: the extra unknowns, shape (m,)
    status: Status       #: CONVERGED, MAX_STEPS, STALLED (no decrease), SINGULAR or NONFINITE
    grad_norm: float     #: row-max norm of ``grad L_p(W)`` at the end
    extra_norm: float    #: max-norm of the extra equations ``r(W, p)`` at the end
    steps: int           #: accepted Newton steps


def _dgrad_dp_fd(system_of_p, W, p, g_shape):
    """Central differences of the gradient in each extra unknown: ``b[:, i] ~ d grad / dp_i``."""
    m = p.size
    b = np.empty((int(np.prod(g_shape)), m))
    for i in range(m):
        h = 1e-6 * max(1.0, abs(float(p[i])))
        e = np.zeros(m)
        e[i] = h
        gp, _, sp = grad_hess(system_of_p(p + e), W, want_H=False)
        gm, _, sm = grad_hess(system_of_p(p - e), W, want_H=False)
        if sp or sm:
            return None
        b[:, i] = (gp - gm).reshape(-1) / (2.0 * h)
    return b


def bordered_newton(system_of_p: Callable, extra: Callable, W0, p0, *, dgrad_dp: Callable | None = None,
                    gtol=None, extra_tol=NEWTON_GTOL, max_steps=NEWTON_MAX_STEPS) -> BorderedResult:
    """Newton on a bordered system: ``grad L_p(W) = 0`` and ``r(W, p) = 0`` for the state W and m
    extra unknowns p (the corrector of pseudo-arclength continuation).

    Each step solves ``[[H, b], [C, E]] [dx; dp] = -[g; r]`` with ``H`` the exact Hessian and ``g``
    the gradient of the system at ``p``, ``b = d g / d p`` (n, m), and ``C = dr/dW`` (m, n),
    ``E = dr/dp`` (m, m) from ``extra``; a singular bordered matrix gets the least-squares step. The
    step is halved (up to ``NEWTON_LS_MAX`` times) until ``|g|^2 + |r|^2`` falls.

    Parameters
    ----------
    system_of_p : callable
        ``p -> system`` (any system of the protocol), ``p`` an array of shape (m,): the family.
    extra : callable
        ``(W, p) -> (r, C, E)``: the m extra equations (shape (m,)), their derivatives in the
        flattened state (m, n) and in p (m, m). For a natural-parameter step to ``p1``:
        ``r = p - p1``, ``C = 0``, ``E = I``; for pseudo-arclength with tangent ``(t_x, t_p)`` and
        predictor ``(W_pred, p_pred)``: ``r = t_x . (W - W_pred) + t_p . (p - p_pred)``, ``C = t_x``,
        ``E = t_p``.
    W0, p0 : array_like
        Start (the predictor); ``p0`` a float or shape (m,).
    dgrad_dp : callable, optional
        ``(W, p) -> b`` (n, m), the derivative of the gradient in p; default central differences of
        the gradient with ``h = 1e-6 max(1, |p_i|)`` (2 m gradients per step; the Newton step is
        then inexact, the residual is not, so the root is as accurate and convergence is still
        fast). ``p +- h`` must lie in the family's domain: at its edge (``alpha = 0``) pass
        ``dgrad_dp``.
    gtol : float, optional
        Row-max gradient tolerance (default ``NEWTON_GTOL * grad_scale`` of the system at ``p0``).
    extra_tol : float
        Max-norm tolerance on ``r`` (absolute: the caller scales its equations).
    max_steps : int

    Returns
    -------
    BorderedResult
    """
    p = np.atleast_1d(np.array(p0, dtype=float)).reshape(-1)
    if p.size == 0 or not np.all(np.isfinite(p)):
        raise ValueError(f"p0 must be a finite float or a non-empty 1-d array; got {p0!r}")
    system = check_system(system_of_p(p.copy()))
    X0, single = as_seeds(system, W0, "W0")
    if not single:
        raise ValueError(f"W0 must be one state of shape {state_shape(system)}; got shape {np.shape(W0)}")
    shape = state_shape(system)
    gtol = resolve_gtol(system, gtol)
    extra_tol = v.real_scalar(extra_tol, "extra_tol", lo=0.0, lo_open=True)
    max_steps = _max_steps(max_steps)
    m = p.size
    W = X0[0].reshape(shape).copy()

    def evaluate(W, p):
        """(g, r, C, E, merit, status) at (W, p)."""
        g, _, st = grad_hess(system_of_p(p.copy()), W, want_H=False)
        if st:
            return None, None, None, None, np.inf, st
        r, C, E = extra(W, p.copy())
        r = np.asarray(r, dtype=float).reshape(m)
        C = np.asarray(C, dtype=float).reshape(m, W.size)
        E = np.asarray(E, dtype=float).reshape(m, m)
        gv = g.reshape(-1)
        return g, r, C, E, float(gv @ gv + r @ r), 0

    g, r, C, E, phi, st = evaluate(W, p)
    if st:
        return BorderedResult(W, p, Status(st), np.nan, np.nan, 0)
    steps = 0
    while True:
        gn, rn = row_max(g), float(np.max(np.abs(r)))
        if gn <= gtol and rn <= extra_tol:
            return BorderedResult(W, p, Status.CONVERGED, gn, rn, steps)
        if steps >= max_steps:
            return BorderedResult(W, p, Status.MAX_STEPS, gn, rn, steps)
        _, H, st = grad_hess(system_of_p(p.copy()), W)
        b = (_dgrad_dp_fd(system_of_p, W, p, shape) if dgrad_dp is None
             else np.asarray(dgrad_dp(W, p.copy()), dtype=float).reshape(W.size, m))
        if st or b is None:
            return BorderedResult(W, p, Status(st or Status.SINGULAR), gn, rn, steps)
        J = np.block([[H, b], [C, E]])
        F = np.concatenate([g.reshape(-1), r])
        try:
            delta = np.linalg.solve(J, -F)
        except np.linalg.LinAlgError:
            delta = np.linalg.lstsq(J, -F, rcond=None)[0]
        t = 1.0
        for _ in range(NEWTON_LS_MAX + 1):
            Wt = W + t * delta[:W.size].reshape(shape)
            pt = p + t * delta[W.size:]
            gt, rt, Ct, Et, phit, stt = evaluate(Wt, pt)
            if stt == 0 and phit < phi:
                break
            t *= 0.5
        else:
            return BorderedResult(W, p, Status.STALLED, gn, rn, steps)
        W, p, g, r, C, E, phi = Wt, pt, gt, rt, Ct, Et, phit
        steps += 1
