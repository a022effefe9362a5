"""Integrate or descend a batch of initial states: gradient descent and gradient-flow integrators.

:func:`flow` runs each trajectory of a batch to its own stop inside one compiled kernel
(:mod:`dynsys.kernels.integrators`). It is three picklable steps that a chunked store calls itself
(docs/engine.md): :func:`plan_flow` validates into a :class:`FlowPlan`, :func:`run_flow_chunk` runs
trajectories ``lo:hi`` of it, :func:`package` assembles the chunks into a :class:`FlowResult`.
:func:`run_flow` runs the chunks on a worker thread, with progress while the kernel runs and, on
Ctrl-C, a partial result that keeps every finished trajectory.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import _validate as v
from . import backends, config
from . import progress as _progress
from ._codes import METHOD_CODES, NORM_CODES
from .results import FlowResult, Status
from .flow_plan import FlowChunk, FlowPlan, frozen_arrays, plan_flow, readonly
from .systems.teacher_student import work_size



def flow(model, W0, *, method="gd", step=0.1, t1=None, rtol=1e-8, atol=1e-10, gtol=1e-9,
         norm="row_max", max_steps=10**6, save=None, backend="parallel", chunk_size=None,
         progress=None, throw=False, polish=None, plateau_gtol=None):
    """Run gradient descent, or integrate the gradient flow, from each initial state to its own stop.

    Parameters
    ----------
    model : TeacherStudent
        The field (``dynsys.TeacherStudent``).
    W0 : array_like, shape (k, d) or (n, k, d)
        Initial state or batch of initial states (finite).
    method : {"gd", "euler", "rk4", "dopri5"}
        ``"gd"``: the papers' gradient descent map ``W <- W - step grad L(W)``, an object of study in
        its own right: any ``step > 0`` is run as given (above about ``2 / lambda_max`` it diverges
        and is reported DIVERGED, not rescued). ``"euler"``, ``"rk4"``: fixed-step integration of
        the flow ``dW/dt = -grad L`` with ``dt = step`` (euler is the same map as gd; it lands on
        ``t1`` with a shortened last step). ``"dopri5"``: adaptive Dormand-Prince 5(4) with a step
        size per trajectory (``step`` the initial dt) and error control ``rtol``, ``atol``.
    step : float
        Step size / dt (> 0).
    t1 : float, optional
        Final time (> 0): a trajectory that reaches it stops with T1_REACHED. gd takes whole steps,
        so it stops at ``ceil(t1 / step) * step``. Default: no time limit.
    rtol, atol : float
        dopri5's relative and absolute error tolerances (> 0).
    gtol : float
        Stop (CONVERGED) when the gradient norm, in ``norm``, is below ``gtol`` (> 0).
    norm : {"row_max", "fro"}
        Stopping norm: ``"row_max"`` is the largest per-row norm ``max_j |dL/dw_j|`` (the census
        rule, up to its 2 pi factor), ``"fro"`` the Frobenius norm. ``grad_norm`` is reported in it,
        and the divergence test uses it too.
    max_steps : int
        Stop (MAX_STEPS) after this many steps (>= 1).
    save : None, int or array_like of float
        ``None`` (default, fastest): final states only. An int ``s``: every ``s``-th step, plus the
        initial and the final state. An increasing array of times in ``[0, t1]``: dopri5 evaluates
        its 4th-order continuous extension at each time; gd, euler and rk4 record the state at the
        nearest step (``ts`` holds the step's own time). The buffers (n, n_saves, k, d) are
        allocated up front and limited to ``config.FLOW_SAVE_MAX_BYTES``; slots a trajectory never
        reaches (it stopped earlier) hold NaN.
    backend : {"parallel", "cpu", "cuda"}
        ``"parallel"``: all cores; ``"cpu"``: one thread (bitwise the same results); ``"cuda"``:
        the CUDA integrators (final states only: no ``save``, ``polish`` or plateau time).
    chunk_size : int, optional
        Trajectories per kernel call (default ``config.FLOW_CHUNK_SIZE``); results do not depend on it.
    progress : None, bool or reporter
        Progress bar, moved while the kernel runs (see :mod:`dynsys.progress`; ``None`` shows one
        for long calls when stderr is a terminal).
    throw : bool
        Raise ``ValueError`` naming the first trajectory that ended other than CONVERGED or
        T1_REACHED (and re-raise ``KeyboardInterrupt``) instead of returning statuses.
    polish : None or bool
        dopri5 only: once a trajectory's gradient is within ``config.FLOW_POLISH_FLOOR_FACTOR`` of
        its error-control floor, finish with gd steps of length ``1 / B`` (``B`` an upper bound on the
        Hessian's spectral norm at that state, so the steps are stable) until ``gtol``. ``None``
        (default): on for dopri5 with the CPU backends (the CUDA integrators have no polish), since
        without it the default ``gtol`` lies below dopri5's floor (see Warns); False for the others.
    plateau_gtol : float, optional
        Gradient-norm threshold of the plateau time (default ``config.FLOW_PLATEAU_GTOL``).

    Returns
    -------
    FlowResult
        ``W``, ``loss``, ``grad_norm``, ``steps``, ``t``, ``status``, ``plateau_time`` (and ``ts``,
        ``Ws`` when saved; ``n_rejected``, ``n_polish`` for dopri5). Scalar-shaped fields for a
        single state. After Ctrl-C (within a step of each running trajectory): ``interrupted`` is
        True, finished trajectories keep their results, the others are INTERRUPTED at the state
        they had reached (``n_interrupted`` of them).

    Raises
    ------
    ValueError, TypeError
        Bad arguments (each message names the argument); with ``throw=True``, a trajectory that
        failed.

    Warns
    -----
    RuntimeWarning
        dopri5 with ``gtol`` below the estimated floor ``lambda (rtol max|W*+U| + atol)`` (see
        ``_floor_estimate``), ``polish=False`` and no ``t1``: an adaptive integrator cannot push the
        gradient below about ``lambda_max`` times its error tolerance, so such trajectories would
        crawl to ``max_steps``. (Measured at k = d = 10, W* = I, rtol 1e-8: every trajectory
        reached gtol = 1e-8, and 7 of 20 stalled at gtol = 1e-9; the estimate there is 5e-8.)

    Notes
    -----
    Each trajectory stops at the first of: a singular or non-finite state (SINGULAR, NONFINITE),
    gradient norm below ``gtol`` (CONVERGED), state norm above ``config.FLOW_DIVERGENCE_FACTOR *
    (1 + |W* + U|)`` in the stopping norm (DIVERGED), ``t1`` (T1_REACHED), ``max_steps`` (MAX_STEPS).
    One failing trajectory never stops the batch. gd and euler use one gradient evaluation per step,
    rk4 four, dopri5 six per accepted step (FSAL).
    """
    return _flow(model, W0, method=method, step=step, t1=t1, rtol=rtol, atol=atol, gtol=gtol,
                 norm=norm, max_steps=max_steps, save=save, backend=backend, chunk_size=chunk_size,
                 progress=progress, throw=throw, polish=polish, plateau_gtol=plateau_gtol)


def _flow(model, W0, *, method, step, t1, rtol, atol, gtol, norm, max_steps, save, backend,
          chunk_size, progress, throw, polish, plateau_gtol, adaptive=True):
    """:func:`flow`; ``adaptive=False`` runs dopri5 at the fixed step ``step`` (order tests)."""
    plan = plan_flow(model, W0, method=method, step=step, t1=t1, rtol=rtol, atol=atol, gtol=gtol,
                     norm=norm, max_steps=max_steps, save=save, backend=backend, polish=polish,
                     plateau_gtol=plateau_gtol, adaptive=adaptive, _stacklevel=4)
    chunk_size = v.positive_int(config.FLOW_CHUNK_SIZE if chunk_size is None else chunk_size,
                                "chunk_size")
    _progress.check(progress)
    if not isinstance(throw, (bool, np.bool_)):
        raise TypeError(f"throw must be True or False; got {throw!r}")
    if plan.backend == "cuda":
        return _flow_cuda(plan, throw)
    chunks, interrupted = run_flow(plan, chunk_size=chunk_size, progress=progress)
    if interrupted and throw:
        raise KeyboardInterrupt
    res = package(plan, chunks, interrupted=interrupted)
    if throw:
        _raise_first_bad(np.atleast_1d(np.asarray(res.status)), plan.single)
    return res


def run_flow_chunk(plan: FlowPlan, lo: int, hi: int, *, stop=None, done=None, steps=None) -> FlowChunk:
    """Run trajectories ``lo:hi`` of ``plan`` on this thread (all cores for ``backend="parallel"``).

    Parameters
    ----------
    plan : FlowPlan
    lo, hi : int
        ``0 <= lo < hi <= plan.n``.
    stop : ndarray of int8, shape (1,), optional
        Interrupt flag: once another thread sets ``stop[0] = 1``, every unfinished trajectory of the
        chunk ends at its current state with status INTERRUPTED (within one step).
    done : ndarray of int8, shape (hi - lo,), optional
        Set to 1 for each trajectory as it stops (progress for another thread to read).
    steps : ndarray of int64, shape (hi - lo,), optional
        Zeros, to become the chunk's ``steps``: while the kernel runs, each trajectory's step count
        is stored there every 1024 steps (progress inside long trajectories).

    Returns
    -------
    FlowChunk
        Trajectory ``lo + i`` of the plan is row ``i``; bitwise what a whole-batch call computes.
    """
    if plan.backend == "cuda":
        raise ValueError("run_flow_chunk runs the CPU integrators; a backend='cuda' plan runs whole "
                         "through dynsys.flow")
    if not 0 <= lo < hi <= plan.n:
        raise ValueError(f"need 0 <= lo < hi <= plan.n = {plan.n}; got lo = {lo}, hi = {hi}")
    m, k, d = hi - lo, plan.W0.shape[1], plan.W0.shape[2]
    stop = np.zeros(1, dtype=np.int8) if stop is None else stop
    done = np.zeros(m, dtype=np.int8) if done is None else done
    ns = plan.n_saves
    out = FlowChunk(lo=lo, hi=hi, W=np.empty((m, k, d)), loss=np.empty(m), grad_norm=np.empty(m),
                    steps=np.zeros(m, dtype=np.int64) if steps is None else steps, t=np.zeros(m),
                    status=np.empty(m, dtype=np.int8),
                    plateau_time=np.zeros(m), extra=np.zeros((m, 2), dtype=np.int64),
                    ts=np.full((m, ns), np.nan), Ws=np.full((m, ns, k, d), np.nan))
    # One mutability for every call (read-only), whatever pickling did to the plan: Numba compiles
    # one specialisation per array mutability.
    W0 = readonly(plan.W0[lo:hi])
    fa = frozen_arrays(plan.arrays)
    nwork = work_size(k, fa.T.shape[0], d)
    t1f = math.inf if plan.t1 is None else plan.t1
    outs = (out.W, out.loss, out.grad_norm, out.steps, out.t, out.status, out.plateau_time)
    if plan.method == "dopri5":
        backends.flow_dopri5(plan.backend, W0, fa, plan.step, t1f, plan.gtol, NORM_CODES[plan.norm],
                             plan.max_steps, plan.div_limit, plan.plateau_gtol, plan.rtol, plan.atol,
                             plan.adaptive, plan.polish, config.FLOW_POLISH_FLOOR_FACTOR,
                             plan.save_mode, plan.save_every, readonly(plan.save_times), *outs,
                             out.extra, out.ts, out.Ws, nwork, stop, done)
    else:
        backends.flow_fixed(plan.backend, METHOD_CODES[plan.method], W0, fa, plan.step, plan.n1, t1f,
                            plan.gtol, NORM_CODES[plan.norm], plan.max_steps, plan.div_limit,
                            plan.plateau_gtol, plan.save_mode, plan.save_every,
                            readonly(plan.save_idx), *outs, out.ts, out.Ws, nwork, stop, done)
    return out


def run_flow(plan: FlowPlan, *, chunk_size=None, progress=None):
    """Run every chunk of ``plan`` on a worker thread, with progress and Ctrl-C handled here.

    Returns ``(chunks, interrupted)``: the chunks run (all of them unless interrupted; the one that
    was running when Ctrl-C came holds its finished trajectories and INTERRUPTED ones at their
    current states) and whether Ctrl-C stopped the run. Must be called from the main thread for
    Ctrl-C to reach it.
    """
    n = plan.n
    chunk_size = config.FLOW_CHUNK_SIZE if chunk_size is None else chunk_size
    bar = _progress.reporter(progress, n, f"flow ({plan.method})", "traj")
    stop = np.zeros(1, dtype=np.int8)
    chunks = []
    interrupted = False
    try:
        for lo in range(0, n, chunk_size):
            hi = min(n, lo + chunk_size)
            done = np.zeros(hi - lo, dtype=np.int8)
            steps = np.zeros(hi - lo, dtype=np.int64)
            chunk, interrupted = _progress.watch(
                functools.partial(run_flow_chunk, plan, lo, hi, stop=stop, done=done, steps=steps),
                stop, _progress.DoneCounter(bar, done, steps))
            if chunk is not None:
                chunks.append(chunk)
            if interrupted:
                break
    except KeyboardInterrupt:  # Ctrl-C between two chunks: the chunks so far
        interrupted = True
    finally:
        bar.close()
    return chunks, interrupted


def package(plan: FlowPlan, chunks, *, interrupted=False) -> FlowResult:
    """Assemble chunks of ``plan`` (any order) into one :class:`~dynsys.results.FlowResult`.

    Trajectories that no chunk covers were never started: they are reported INTERRUPTED at ``W0``
    with NaN loss and gradient norm, 0 steps. ``interrupted`` marks the result as stopped by Ctrl-C
    (it is also set whenever a trajectory is INTERRUPTED).
    """
    n, k, d = plan.W0.shape
    chunks = sorted(chunks, key=lambda c: c.lo)
    if len(chunks) == 1 and chunks[0].lo == 0 and chunks[0].hi == n:
        c = chunks[0]
        W, loss, gnorm, steps, t, status = c.W, c.loss, c.grad_norm, c.steps, c.t, c.status
        plateau, extra, ts, Ws = c.plateau_time, c.extra, c.ts, c.Ws
    else:
        ns = plan.n_saves
        W = np.array(plan.W0, dtype=float)
        loss = np.full(n, np.nan)
        gnorm = np.full(n, np.nan)
        steps = np.zeros(n, dtype=np.int64)
        t = np.zeros(n)
        status = np.full(n, Status.INTERRUPTED, dtype=np.int8)
        plateau = np.zeros(n)
        extra = np.zeros((n, 2), dtype=np.int64)
        ts = np.full((n, ns), np.nan)
        Ws = np.full((n, ns, k, d), np.nan)
        for c in chunks:
            s = slice(c.lo, c.hi)
            W[s], loss[s], gnorm[s], steps[s], t[s] = c.W, c.loss, c.grad_norm, c.steps, c.t
            status[s], plateau[s], extra[s], ts[s], Ws[s] = c.status, c.plateau_time, c.extra, c.ts, c.Ws
    n_int = int(np.count_nonzero(status == Status.INTERRUPTED))
    dop = plan.method == "dopri5"
    saved = plan.save_mode != 0
    return _package(plan.single, W, loss, gnorm, steps, t, status, plateau, ts if saved else None,
                    Ws if saved else None, plan.method, plan.step, plan.norm,
                    extra[:, 0].copy() if dop else None,
                    extra[:, 1].copy() if dop and plan.polish else None,
                    bool(interrupted or n_int > 0))


def _raise_first_bad(status, single):
    bad = np.flatnonzero((status != Status.CONVERGED) & (status != Status.T1_REACHED))
    if bad.size:
        b = int(bad[0])
        s = Status(int(status[b]))
        where = "the trajectory" if single else f"trajectory {b}"
        raise ValueError(f"{where} ended with status {s.name}: {s.message}. Fix: {s.fix}. "
                         f"({bad.size} of {status.size} trajectories failed; pass throw=False for "
                         f"per-trajectory statuses.)")


def _package(single, W, loss, gnorm, steps, t, status, plateau, ts, Ws, method, step, norm,
             n_rej, n_pol, interrupted=False):
    arrays = [W, loss, gnorm, steps, t, status, plateau, ts, Ws, n_rej, n_pol]
    for x in arrays:
        if x is not None:
            x.setflags(write=False)
    if single:
        W, ts, Ws = W[0], (None if ts is None else ts[0]), (None if Ws is None else Ws[0])
        loss, gnorm, t, plateau = float(loss[0]), float(gnorm[0]), float(t[0]), float(plateau[0])
        steps, status = int(steps[0]), Status(int(status[0]))
        n_rej = None if n_rej is None else int(n_rej[0])
        n_pol = None if n_pol is None else int(n_pol[0])
    return FlowResult(W=W, loss=loss, grad_norm=gnorm, steps=steps, t=t, status=status,
                      plateau_time=plateau, ts=ts, Ws=Ws, method=method, step=step, norm=norm,
                      n_rejected=n_rej, n_polish=n_pol, interrupted=interrupted)


def _flow_cuda(plan, throw):
    W, loss, gnorm, steps, t, status = backends.flow_cuda(
        plan.method, plan.W0, plan.arrays, plan.step, math.inf if plan.t1 is None else plan.t1, plan.gtol,
        NORM_CODES[plan.norm], plan.max_steps, plan.div_limit, plan.rtol, plan.atol)
    W, loss, gnorm = np.asarray(W), np.asarray(loss), np.asarray(gnorm)
    steps, t = np.asarray(steps, dtype=np.int64), np.asarray(t)
    status = np.asarray(status, dtype=np.int8)
    if throw:
        _raise_first_bad(status, plan.single)
    return _package(plan.single, W, loss, gnorm, steps, t, status, np.full(status.shape, np.nan),
                    None, None, plan.method, plan.step, plan.norm, None, None)
