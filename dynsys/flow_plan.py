"""The validated plan of a :func:`dynsys.flow` call: :func:`plan_flow` -> :class:`FlowPlan`.

A plan holds everything a flow's result depends on (the starts, the model's arrays, every integrator
parameter and the save plan), frozen and picklable, so that any process can run any chunk of it
(:func:`dynsys.flow.run_flow_chunk`; ``docs/engine.md``). :class:`FlowChunk` is what a chunk returns.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import warnings

import numpy as np

from . import _validate as v
from . import backends, config
from .systems.base import FieldArrays

METHODS = ("gd", "euler", "rk4", "dopri5")
NORMS = ("row_max", "fro")
_NEVER = np.iinfo(np.int64).max // 2


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
              norm="row_max", max_steps=10**6, save=None, backend="parallel", polish=None,
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
    if max_steps > _NEVER:
        # The kernels count steps in int64; a larger Python int would compile a second (uint64) kernel.
        raise ValueError(f"max_steps must be at most {_NEVER}; got {max_steps}")
    if t1 is not None and t1 / step >= _NEVER:
        raise ValueError(f"t1 / step must be below {_NEVER:.3g} (the step counter's range); got t1 = "
                         f"{t1:g} with step = {step:g}: lower t1 or raise step")
    if polish is None:
        # dopri5's error control cannot push the gradient below about lambda_max (rtol |W| + atol)
        # (about 4e-8 at W* = I_8, rtol 1e-8): without the gd finish, trajectories aimed at the
        # default gtol 1e-9 crawl to max_steps (k = d = 8: 12 of 100 starts at 2e4 steps, against
        # all 100 converged in a third of the time with it). The CUDA integrators have no polish.
        polish = method == "dopri5" and backend != "cuda" and bool(adaptive)
    if not isinstance(polish, (bool, np.bool_)):
        raise TypeError(f"polish must be None (automatic), True or False; got {polish!r}")
    if polish and method != "dopri5":
        raise ValueError(f"polish=True applies to method='dopri5' only (got method={method!r}); "
                         f"gd, euler and rk4 reach gtol without it")
    W0b, single = _states(model, W0, allow_float32=backend == "cuda")
    n, k, d = W0b.shape
    arr = frozen_arrays(model.arrays)
    T_net = arr.T
    t_norm = (np.sqrt((T_net * T_net).sum(axis=1)).max() if norm == "row_max"
              else np.sqrt((T_net * T_net).sum()))
    div_limit = config.FLOW_DIVERGENCE_FACTOR * (1.0 + float(t_norm))

    if method == "dopri5" and not polish and t1 is None and adaptive:
        floor = _floor_estimate(arr, rtol, atol)
        if gtol < floor:
            warnings.warn(f"gtol = {gtol:.3g} is below the error-control floor of dopri5, about "
                          f"lambda_max (rtol |W| + atol) = {floor:.3g} here: trajectories may not reach "
                          f"gtol before max_steps. Pass polish=True (backend 'parallel' or 'cpu') to "
                          f"finish with stable gd steps, or tighten rtol/atol, or raise gtol.",
                          RuntimeWarning, stacklevel=_stacklevel)
    if backend == "cuda" and (save is not None or polish):
        raise ValueError("backend='cuda' returns final states only: use save=None and polish=False, "
                         "or backend='parallel'")

    _check_memory(n, k, d)
    n1 = _NEVER if t1 is None else max(1, math.ceil(t1 / step * (1.0 - 4.0 * np.finfo(float).eps)))
    save_mode, save_every, save_times, save_idx, ns = _save_plan(save, method, step, t1, n1,
                                                                 max_steps, n, k, d)
    return FlowPlan(W0=readonly(W0b), arrays=arr, single=single, method=method, norm=norm, backend=backend,
                    step=step, t1=t1, n1=n1, gtol=gtol, max_steps=max_steps, div_limit=div_limit,
                    plateau_gtol=plateau_gtol, rtol=rtol, atol=atol, adaptive=bool(adaptive),
                    polish=bool(polish), save_mode=save_mode, save_every=save_every,
                    save_times=readonly(save_times), save_idx=readonly(save_idx), n_saves=ns)


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


def readonly(x):
    """A read-only view of ``x``."""
    x = x.view()
    x.setflags(write=False)
    return x


def frozen_arrays(arr: FieldArrays) -> FieldArrays:
    """``arr`` with read-only arrays and Python floats: one kernel signature for every model and for
    plans that went through pickle (which makes arrays writable)."""
    return FieldArrays(readonly(np.asarray(arr.U, dtype=float)), readonly(np.asarray(arr.T, dtype=float)),
                       readonly(np.asarray(arr.tn, dtype=float)), readonly(np.asarray(arr.a, dtype=float)),
                       readonly(np.asarray(arr.a_star, dtype=float)), float(arr.alpha),
                       float(arr.const), float(arr.tol))


def _floor_estimate(arr, rtol, atol) -> float:
    """Gradient norm below which dopri5's error control stalls: ``lambda (rtol |W| + atol)``.

    ``lambda = (1 + alpha^2)/2 max_j |a_j| sum_i |a_i|`` estimates the Hessian's largest eigenvalue
    near a minimum (the diagonal block ``a_j^2 (1+alpha^2)/2`` plus the off-diagonal ``h2`` blocks,
    about ``(1+alpha^2)/2`` each near coincident or matched rows; docs/math.md section 2), and
    ``|W| ~ max_k |w*_k + u_k|`` the scale of the state there. An order-of-magnitude estimate.
    """
    a = np.abs(arr.a)
    lam = 0.5 * (1.0 + arr.alpha ** 2) * float(a.max() * a.sum())
    scale = float(arr.tn.max()) if arr.tn.size else 1.0
    return lam * (rtol * scale + atol)


def _available_memory():
    """Bytes the system can give without swapping (Linux MemAvailable, which counts reclaimable page
    cache; else free pages), or None where neither is known."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_memory(n, k, d):
    """Refuse a batch whose outputs (final states and per-trajectory scalars) exceed the free memory."""
    need = n * (k * d + 12) * 8
    free = _available_memory()
    if free is None:
        return
    if need > free:
        raise ValueError(f"W0 holds {n} trajectories whose results need about {need / 2**30:.1f} GiB, more "
                         f"than the {free / 2**30:.1f} GiB of available memory: pass fewer trajectories per call")


def _save_plan(save, method, step, t1, n1, max_steps, n, k, d):
    """``(mode, every, times, idx, n_saves)`` for the kernels; checks memory against the limit."""
    empty_f = np.zeros(0)
    empty_i = np.zeros(0, dtype=np.int64)
    if save is None:
        return 0, 1, empty_f, empty_i, 0
    if isinstance(save, (bool, np.bool_)):
        raise TypeError("save must be None, an int s (every s-th step) or an array of times; got a bool")
    if isinstance(save, numbers.Real) and not isinstance(save, numbers.Integral):
        raise TypeError(f"save must be None, an int s (every s-th step) or an array of times; got the "
                        f"number {save!r} (for one save time t pass [t])")
    if isinstance(save, numbers.Integral):
        every = v.positive_int(save, "save", maximum=_NEVER, why="the kernels' int64 step counter")
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
