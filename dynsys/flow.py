"""Integrate or descend a batch of initial states: gradient descent and gradient-flow integrators.

:func:`flow` runs each trajectory of a batch to its own stop inside one compiled kernel
(:mod:`dynsys.kernels.integrators`). It is three picklable steps that a chunked store calls itself
(docs/engine.md): :func:`plan_flow` validates into a :class:`FlowPlan`, :func:`run_flow_chunk` runs
trajectories ``lo:hi`` of it, :func:`package` assembles the chunks into a :class:`FlowResult`.
:func:`run_flow` runs the chunks on a worker thread, with progress while the kernel runs and, on
Ctrl-C, a partial result that keeps every finished trajectory.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import warnings

import numpy as np

from . import _validate as v
from . import backends, config
from . import progress as _progress
from ._codes import METHOD_CODES, NORM_CODES
from .results import FlowResult, Status
from .systems.base import FieldArrays
from .systems.teacher_student import work_size

METHODS = ("gd", "euler", "rk4", "dopri5")
NORMS = ("row_max", "fro")
_NEVER = np.iinfo(np.int64).max // 2


def flow(model, W0, *, method="gd", step=0.1, t1=None, rtol=1e-8, atol=1e-10, gtol=1e-9,
         norm="row_max", max_steps=10**6, save=None, backend="parallel", chunk_size=None,
         progress=None, throw=False, polish=False, plateau_gtol=None):
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
    polish : bool
        dopri5 only: once a trajectory's gradient is within ``config.FLOW_POLISH_FLOOR_FACTOR`` of
        its error-control floor, finish with gd steps of length ``1 / B`` (``B`` an upper bound on the
        Hessian's spectral norm at that state, so the steps are stable) until ``gtol``.
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
        ``_floor_estimate``), no ``polish`` and no ``t1``: an adaptive integrator cannot push the
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


@dataclasses.dataclass(frozen=True)
class FlowPlan:
    """A validated :func:`flow` call, ready to run in chunks anywhere (picklable, no closures).

    Made by :func:`plan_flow`; :func:`run_flow_chunk` runs trajectories ``lo:hi`` of it and
    :func:`package` assembles the chunks into a :class:`~dynsys.results.FlowResult`. Everything a
    trajectory's result depends on is here, so a chunk run in another process (a dask worker, a
    later session resuming a store) is bitwise the chunk this process would have run.
    """

    W0: np.ndarray           #: initial states (n, k, d), float64 (float32 kept for backend="cuda")
    arrays: FieldArrays      #: the model's kernel arrays
    single: bool             #: W0 was one state (the result drops the batch axis)
    method: str
    norm: str
    backend: str
    step: float
    t1: float | None         #: the caller's t1 (None: no time limit)
    n1: int                  #: step count at which t1 is reached (huge without t1)
    gtol: float
    max_steps: int
    div_limit: float
    plateau_gtol: float
    rtol: float
    atol: float
    adaptive: bool
    polish: bool
    save_mode: int           #: 0 none, 1 every save_every-th step, 2 at save_times / save_idx
    save_every: int
    save_times: np.ndarray
    save_idx: np.ndarray
    n_saves: int

    @property
    def n(self) -> int:
        """Trajectories in the plan."""
        return self.W0.shape[0]


@dataclasses.dataclass(frozen=True)
class FlowChunk:
    """Outputs of trajectories ``lo:hi`` of a :class:`FlowPlan` (arrays with ``hi - lo`` rows)."""

    lo: int
    hi: int
    W: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    t: np.ndarray
    status: np.ndarray
    plateau_time: np.ndarray
    extra: np.ndarray        #: (m, 2) int64: dopri5's rejected and polish step counts
    ts: np.ndarray           #: (m, n_saves)
    Ws: np.ndarray           #: (m, n_saves, k, d)


def plan_flow(model, W0, *, method="gd", step=0.1, t1=None, rtol=1e-8, atol=1e-10, gtol=1e-9,
              norm="row_max", max_steps=10**6, save=None, backend="parallel", polish=False,
              plateau_gtol=None, adaptive=True, _stacklevel=2) -> FlowPlan:
    """Validate the arguments of :func:`flow` (same names, same meaning) into a :class:`FlowPlan`."""
    if not hasattr(model, "arrays") or not hasattr(model, "W_star"):
        raise TypeError(f"model must be a dynsys.TeacherStudent; got {type(model).__name__}")
    method = v.choice(method, "method", METHODS)
    norm = v.choice(norm, "norm", NORMS)
    backend = backends.check(backend)
    step = v.real_scalar(step, "step", lo=0.0, lo_open=True)
    if t1 is not None:
        t1 = v.real_scalar(t1, "t1", lo=0.0, lo_open=True)
    rtol = v.real_scalar(rtol, "rtol", lo=0.0, lo_open=True)
    atol = v.real_scalar(atol, "atol", lo=0.0, lo_open=True)
    gtol = v.real_scalar(gtol, "gtol", lo=0.0, lo_open=True)
    plateau_gtol = v.real_scalar(config.FLOW_PLATEAU_GTOL if plateau_gtol is None else plateau_gtol,
                                 "plateau_gtol", lo=0.0, lo_open=True)
    max_steps = v.positive_int(max_steps, "max_steps")
    if not isinstance(polish, (bool, np.bool_)):
        raise TypeError(f"polish must be True or False; got {polish!r}")
    if polish and method != "dopri5":
        raise ValueError(f"polish=True applies to method='dopri5' only (got method={method!r}); "
                         f"gd, euler and rk4 reach gtol without it")
    W0b, single = _states(model, W0, allow_float32=backend == "cuda")
    n, k, d = W0b.shape
    arr = _frozen(model.arrays)
    T_net = arr.T
    t_norm = (np.sqrt((T_net * T_net).sum(axis=1)).max() if norm == "row_max"
              else np.sqrt((T_net * T_net).sum()))
    div_limit = config.FLOW_DIVERGENCE_FACTOR * (1.0 + float(t_norm))

    if method == "dopri5" and not polish and t1 is None and adaptive:
        floor = _floor_estimate(arr, rtol, atol)
        if gtol < floor:
            warnings.warn(f"gtol = {gtol:.3g} is below the error-control floor of dopri5, about "
                          f"lambda_max (rtol |W| + atol) = {floor:.3g} here: trajectories may not reach "
                          f"gtol before max_steps. Pass polish=True to finish with stable gd steps, or "
                          f"tighten rtol/atol, or raise gtol.", RuntimeWarning, stacklevel=_stacklevel)
    if backend == "cuda" and (save is not None or polish):
        raise ValueError("backend='cuda' returns final states only: use save=None and polish=False, "
                         "or backend='parallel'")

    n1 = _NEVER if t1 is None else max(1, math.ceil(t1 / step * (1.0 - 4.0 * np.finfo(float).eps)))
    save_mode, save_every, save_times, save_idx, ns = _save_plan(save, method, step, t1, n1,
                                                                 max_steps, n, k, d)
    return FlowPlan(W0=_readonly(W0b), arrays=arr, single=single, method=method, norm=norm, backend=backend,
                    step=step, t1=t1, n1=n1, gtol=gtol, max_steps=max_steps, div_limit=div_limit,
                    plateau_gtol=plateau_gtol, rtol=rtol, atol=atol, adaptive=bool(adaptive),
                    polish=bool(polish), save_mode=save_mode, save_every=save_every,
                    save_times=_readonly(save_times), save_idx=_readonly(save_idx), n_saves=ns)


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
    W0 = _readonly(plan.W0[lo:hi])
    fa = _frozen(plan.arrays)
    nwork = work_size(k, fa.T.shape[0], d)
    t1f = math.inf if plan.t1 is None else plan.t1
    outs = (out.W, out.loss, out.grad_norm, out.steps, out.t, out.status, out.plateau_time)
    if plan.method == "dopri5":
        backends.flow_dopri5(plan.backend, W0, fa, plan.step, t1f, plan.gtol, NORM_CODES[plan.norm],
                             plan.max_steps, plan.div_limit, plan.plateau_gtol, plan.rtol, plan.atol,
                             plan.adaptive, plan.polish, config.FLOW_POLISH_FLOOR_FACTOR,
                             plan.save_mode, plan.save_every, _readonly(plan.save_times), *outs,
                             out.extra, out.ts, out.Ws, nwork, stop, done)
    else:
        backends.flow_fixed(plan.backend, METHOD_CODES[plan.method], W0, fa, plan.step, plan.n1, t1f,
                            plan.gtol, NORM_CODES[plan.norm], plan.max_steps, plan.div_limit,
                            plan.plateau_gtol, plan.save_mode, plan.save_every,
                            _readonly(plan.save_idx), *outs, out.ts, out.Ws, nwork, stop, done)
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


def _states(model, W0, allow_float32=False):
    W0 = v.real_array(W0, "W0", allow_float32=allow_float32)
    k, d = model.k, model.d
    if W0.ndim not in (2, 3) or W0.shape[-2:] != (k, d):
        raise ValueError(f"W0 must have shape (k, d) = ({k}, {d}) or a batch (n, {k}, {d}); "
                         f"got shape {W0.shape}")
    if W0.ndim == 3 and W0.shape[0] == 0:
        raise ValueError(f"W0 is an empty batch (shape {W0.shape}); pass at least one state")
    v.finite(W0, "W0")
    single = W0.ndim == 2
    return np.ascontiguousarray(W0[None] if single else W0), single


def _readonly(x):
    """A read-only view of ``x``."""
    x = x.view()
    x.setflags(write=False)
    return x


def _frozen(arr: FieldArrays) -> FieldArrays:
    """``arr`` with read-only arrays and Python floats: one kernel signature for every model and for
    plans that went through pickle (which makes arrays writable)."""
    return FieldArrays(_readonly(np.asarray(arr.U, dtype=float)), _readonly(np.asarray(arr.T, dtype=float)),
                       _readonly(np.asarray(arr.tn, dtype=float)), _readonly(np.asarray(arr.a, dtype=float)),
                       _readonly(np.asarray(arr.a_star, dtype=float)), float(arr.alpha),
                       float(arr.const), float(arr.tol))


def _floor_estimate(arr, rtol, atol) -> float:
    """Gradient norm below which dopri5's error control stalls: ``lambda (rtol |W| + atol)``.

    ``lambda = (1 + alpha^2)/2 max_j |a_j| sum_i |a_i|`` estimates the Hessian's largest eigenvalue
    near a minimum (the diagonal block ``a_j^2 (1+alpha^2)/2`` plus the off-diagonal ``h2`` blocks,
    about ``(1+alpha^2)/2`` each near coincident or matched rows; MATH.md section 2), and
    ``|W| ~ max_k |w*_k + u_k|`` the scale of the state there. An order-of-magnitude estimate.
    """
    a = np.abs(arr.a)
    lam = 0.5 * (1.0 + arr.alpha ** 2) * float(a.max() * a.sum())
    scale = float(arr.tn.max()) if arr.tn.size else 1.0
    return lam * (rtol * scale + atol)


def _save_plan(save, method, step, t1, n1, max_steps, n, k, d):
    """``(mode, every, times, idx, n_saves)`` for the kernels; checks memory against the limit."""
    empty_f = np.zeros(0)
    empty_i = np.zeros(0, dtype=np.int64)
    if save is None:
        return 0, 1, empty_f, empty_i, 0
    if isinstance(save, (bool, np.bool_)):
        raise TypeError("save must be None, an int s (every s-th step) or an array of times; got a bool")
    if isinstance(save, numbers.Integral):
        every = v.positive_int(save, "save")
        reach = max_steps if method == "dopri5" else min(max_steps, n1)
        ns = reach // every + 2
        mode, times, idx = 1, empty_f, empty_i
    else:
        times = v.finite(v.real_array(save, "save"), "save")
        if times.ndim != 1 or times.size == 0:
            raise ValueError(f"save times must be a non-empty 1-d array; got shape {times.shape}")
        if times[0] < 0.0 or np.any(np.diff(times) <= 0.0):
            raise ValueError("save times must be >= 0 and strictly increasing")
        if t1 is not None and times[-1] > t1:
            raise ValueError(f"save times must lie in [0, t1] = [0, {t1}]; the last is {times[-1]}")
        every, ns, mode = 1, times.size, 2
        idx = empty_i
        if method != "dopri5":
            idx = np.minimum(np.rint(times / step), min(n1, _NEVER)).astype(np.int64)
    need = n * ns * (k * d + 1) * 8
    if need > config.FLOW_SAVE_MAX_BYTES:
        raise ValueError(f"save={_short(save)} needs {need / 2**30:.2f} GiB for {n} trajectories x "
                         f"{ns} saves of ({k}, {d}) states, above config.FLOW_SAVE_MAX_BYTES = "
                         f"{config.FLOW_SAVE_MAX_BYTES / 2**30:.2f} GiB: save less often (a larger s "
                         f"or fewer times), lower max_steps or t1, or pass fewer trajectories per call")
    return mode, every, times, idx, ns


def _short(save):
    return repr(save) if isinstance(save, numbers.Integral) else f"<{np.size(save)} times>"


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
