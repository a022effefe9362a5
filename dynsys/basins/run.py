"""Basin maps: flow every initialisation, classify every endpoint, label it.

:func:`basins` is three picklable steps, like :func:`dynsys.flow` and :func:`dynsys.census`
(docs/engine.md), so that a store or a dask worker runs any chunk anywhere:

    plan  = plan_basins(model, sampler, ...)     # validate -> frozen, picklable BasinPlan
    chunk = run_basin_chunk(plan, lo, hi)        # flow + batched classification of cells lo:hi
    res   = package_basins(plan, chunks)         # canonical labels, fractions -> BasinResult

A chunk's outcome depends on the plan and its range only; labels are assigned when the result is
packaged, from every cell at once (:mod:`dynsys.basins.labels`), so they do not depend on the
chunks, their order, a resume or the executor. docs/basins.md explains the choices.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings

import numpy as np

from .. import _validate as v
from .. import backends
from .. import progress as _progress
from .._codes import (CONVERGED, DIVERGED, ENTERED, INTERRUPTED, LABEL_NOT_COMPUTED, LABEL_SADDLE,
                      MAX_STEPS, METHOD_CODES, NONFINITE, NORM_CODES, SINGULAR)
from .._version import __version__
from ..config import (BASINS_MAX_CELLS, CENSUS_POINT_RTOL, CRITICAL_GTOL, DEDUP_RTOL, EIG_RTOL, ENTRY_EVERY,
                      FLOW_DIVERGENCE_FACTOR, FLOW_POLISH_FLOOR_FACTOR, LOSS_RTOL, PARALLEL_ATOL)
from ..chunkstore import model_identity, run_local
from ..clustering import leader_clusters
from ..critical import wilson_interval
from ..critical.shared import check_system, kernel_shape, row_max, tolerances
from ..flow import plan_flow, run_flow_chunk
from ..flow_plan import frozen_arrays, readonly
from ..model import TeacherStudent
from ..results.basins import Attractor, BasinResult
from ..systems.teacher_student import work_size
from .entry import EntryBalls, certify, row_symmetric
from .entry import frozen as frozen_entry
from .labels import KINDS, Ends, Tolerances, canonical_labels, classify_ends
from .samplers import Sampler, as_sampler

#: Chunks of about this share of the cells by default (a kill loses at most one chunk per worker).
CHUNK_SHARE = 0.01
#: Bounds of the default chunk size: small chunks waste the parallel kernels, large ones memory.
CHUNK_MIN, CHUNK_MAX = 256, 16384
#: Format of a basin plan's identity (a store written under another format is refused).
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True, eq=False)
class BasinPlan:
    """A validated :func:`basins` call, ready to run in chunks anywhere (picklable).

    ``identity()`` is everything a cell's outcome depends on (model, sampler, method and its
    parameters, tolerances, package version) as a JSON-able dict: a store compares it before
    writing a chunk.
    """

    model: object
    sampler: Sampler
    method: str
    step: float
    gtol: float
    norm: str
    max_steps: int
    rtol: float
    atol: float
    backend: str
    tol: Tolerances
    chunk_size: int
    entry: EntryBalls | None = None

    @property
    def n(self) -> int:
        return self.sampler.n

    def chunks(self):
        """The ``(lo, hi)`` ranges of the chunks, in order."""
        return [(lo, min(self.n, lo + self.chunk_size)) for lo in range(0, self.n, self.chunk_size)]

    def identity(self) -> dict:
        ident = {"format": "dynsys-basins", "format_version": FORMAT_VERSION, "dynsys_version": __version__,
                "model": model_identity(self.model), "sampler": self.sampler.describe(),
                "flow": {"method": self.method, "step": self.step, "gtol": self.gtol, "norm": self.norm,
                         "max_steps": self.max_steps, "rtol": self.rtol, "atol": self.atol},
                "tolerances": dataclasses.asdict(self.tol), "n": self.n, "chunk_size": self.chunk_size,
                "state_shape": list(self.model.state_shape)}
        if self.entry is not None:  # only then: stores written without label on entry stay valid
            ident["entry"] = self.entry.identity()
        return ident


@dataclasses.dataclass(frozen=True, eq=False)
class BasinChunk:
    """Outcomes of cells ``lo:hi`` of a :class:`BasinPlan` (arrays of ``hi - lo`` rows).

    ``ends`` holds each cell's outcome before labelling (:class:`dynsys.basins.labels.Ends`).
    ``complete`` is False when Ctrl-C stopped the chunk (some cells are not computed): a store never
    keeps such a chunk.
    """

    lo: int
    hi: int
    status: np.ndarray
    steps: np.ndarray
    ends: Ends
    flow_time: float
    classify_time: float

    @property
    def complete(self) -> bool:
        return not bool(np.any(self.status == INTERRUPTED))


def default_chunk_size(n: int) -> int:
    """About ``CHUNK_SHARE`` of ``n`` cells, within ``[CHUNK_MIN, CHUNK_MAX]`` (and at most ``n``)."""
    return max(1, min(n, max(CHUNK_MIN, min(CHUNK_MAX, math.ceil(CHUNK_SHARE * n)))))


def plan_basins(model, sampler, *, method="gd", step=0.1, gtol=1e-9, norm="row_max", max_steps=10**6,
                rtol=1e-8, atol=1e-10, backend="parallel", chunk_size=None, critical_gtol=None,
                eig_rtol=EIG_RTOL, loss_rtol=LOSS_RTOL, parallel_atol=PARALLEL_ATOL,
                point_rtol=CENSUS_POINT_RTOL, class_rtol=DEDUP_RTOL, entry=None, attractors=None) -> BasinPlan:
    """Validate the arguments of :func:`basins` (same names and meaning) into a :class:`BasinPlan`.

    With label on entry (``entry=True``, or ``None`` where it applies) the plan carries the certified
    balls (:func:`dynsys.basins.entry.certify` at the plan's step, or flow balls for rk4/dopri5,
    centred on the teacher permutations and the minima of ``attractors``); a plan whose balls are
    all uncertified runs without.
    """
    check_system(model)
    if isinstance(sampler, Sampler):
        sampler.check(model)
    else:
        raise TypeError(f"sampler must be a dynsys.basins sampler (Grid, Xavier, Gaussian, Ball, "
                        f"TeacherNoise, Spheres, or reduced_plane/teacher_slice); got {type(sampler).__name__}. "
                        f"Pass an array of starts as W0 instead of a sampler.")
    if backend not in ("parallel", "cpu"):
        raise ValueError(f"backend must be 'parallel' or 'cpu' for basins (chunks run on the CPU "
                         f"integrators); got {backend!r}")
    if isinstance(model, TeacherStudent):
        fp = plan_flow(model, np.zeros(model.state_shape), method=method, step=step, gtol=gtol, norm=norm,
                       max_steps=max_steps, rtol=rtol, atol=atol, backend=backend, _stacklevel=4)
        method, step, gtol, norm, max_steps = fp.method, fp.step, fp.gtol, fp.norm, fp.max_steps
        rtol, atol = fp.rtol, fp.atol
    else:
        if method != "gd":
            raise ValueError(f"a system other than a TeacherStudent flows by gradient descent only "
                             f"(method='gd'); got method={method!r}")
        step = v.real_scalar(step, "step", lo=0.0, lo_open=True)
        gtol = v.real_scalar(gtol, "gtol", lo=0.0, lo_open=True)
        max_steps = v.positive_int(max_steps, "max_steps")
        rtol, atol = float(rtol), float(atol)
    cg, eig_rtol, loss_rtol, parallel_atol = tolerances(model, critical_gtol, eig_rtol, loss_rtol,
                                                        parallel_atol, CRITICAL_GTOL)
    point_rtol = v.real_scalar(point_rtol, "point_rtol", lo=0.0, lo_open=True)
    class_rtol = v.real_scalar(class_rtol, "class_rtol", lo=0.0, lo_open=True)
    n = sampler.n
    if n > BASINS_MAX_CELLS:
        raise ValueError(f"the sampler has n = {n} starts, above config.BASINS_MAX_CELLS = {BASINS_MAX_CELLS}: "
                         f"map fewer cells (a smaller n or grid shape)")
    chunk_size = default_chunk_size(n) if chunk_size is None else min(n, v.positive_int(chunk_size, "chunk_size"))
    if entry is not None and not isinstance(entry, (bool, np.bool_)):
        # other forms (e.g. balls given by the caller) are not built: True, False or None only
        raise TypeError(f"entry must be True, False or None (automatic; other forms of label on entry are "
                        f"not implemented); got {entry!r}")
    balls = None
    flow = method in ("rk4", "dopri5")
    # the flow methods test at every accepted step (a test costs a few percent of one of their steps)
    every = 1 if flow else ENTRY_EVERY
    if entry is None:
        if isinstance(model, TeacherStudent) and (attractors is not None or row_symmetric(model)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                balls = certify(model, float(step), attractors, every=every, flow=flow)
            if balls.n_balls == 0:
                balls = None
    elif entry:
        balls = certify(model, float(step), attractors, every=every, stacklevel=4, flow=flow)
    return BasinPlan(model=model, sampler=sampler, method=method, step=float(step), gtol=float(gtol),
                     norm=norm, max_steps=int(max_steps), rtol=float(rtol), atol=float(atol),
                     backend=backend, tol=Tolerances(cg, eig_rtol, loss_rtol, parallel_atol, point_rtol,
                                                     class_rtol),
                     chunk_size=int(chunk_size), entry=balls)


def run_basin_chunk(plan: BasinPlan, lo: int, hi: int, *, stop=None, done=None) -> BasinChunk:
    """Flow cells ``lo:hi`` of ``plan`` and classify their endpoints (one batch per chunk).

    ``stop`` (int8 (1,)) interrupts the flow as in :func:`dynsys.flow.run_flow_chunk` (the cells
    not finished are ``LABEL_NOT_COMPUTED``); ``done`` (int8 (hi - lo,)) gets a 1 per cell as its
    flow ends. The outcome depends on the plan and the cell indices only.

    With label on entry (``plan.entry``) a run that enters a certified ball stops there with
    status ``ENTERED`` and its steps so far; its endpoint is classified as the ball's centre (the
    minimum it provably converges to), so its outcome, loss and ``lambda_min`` are the centre's.
    """
    if not (0 <= lo < hi <= plan.n):
        raise ValueError(f"need 0 <= lo < hi <= plan.n = {plan.n}; got lo = {lo}, hi = {hi}")
    W0 = plan.sampler.points(plan.model, lo, hi)
    t0 = time.perf_counter()
    if plan.entry is not None:
        W, status, steps = _flow_entry(plan, W0, stop, done)
    elif isinstance(plan.model, TeacherStudent):
        fp = plan_flow(plan.model, W0, method=plan.method, step=plan.step, gtol=plan.gtol, norm=plan.norm,
                       max_steps=plan.max_steps, rtol=plan.rtol, atol=plan.atol, backend=plan.backend)
        fc = run_flow_chunk(fp, 0, hi - lo, stop=stop, done=done)
        W, status, steps = fc.W, fc.status, fc.steps
    else:
        W, status, steps = _descend(plan, W0, stop, done)
    t1 = time.perf_counter()
    if plan.entry is not None:
        ends = _classify_entered(plan, W, status)
    else:
        ends = classify_ends(plan.model, W, status, plan.tol, backend=plan.backend)
    return BasinChunk(lo=lo, hi=hi, status=np.asarray(status, dtype=np.int8),
                      steps=np.asarray(steps, dtype=np.int64), ends=ends, flow_time=t1 - t0,
                      classify_time=time.perf_counter() - t1)


def _classify_entered(plan, W, status):
    """:func:`classify_ends` where an entered run's endpoint is its ball's centre (a minimum,
    classified like a converged endpoint): each distinct centre is classified once, and the other
    cells as usual. Per cell, the outcome is what classifying every cell would give (the
    classification of one point does not depend on the batch it is in)."""
    inb = np.flatnonzero(status == ENTERED)
    rest = np.flatnonzero(status != ENTERED)
    ends = classify_ends(plan.model, W[rest], status[rest], plan.tol, backend=plan.backend)
    m = W.shape[0]
    if inb.size:
        flat = W[inb].reshape(inb.size, -1)
        _, first, back = np.unique(flat, axis=0, return_index=True, return_inverse=True)
        ce = classify_ends(plan.model, W[inb[first]], np.full(first.size, CONVERGED, dtype=np.int8), plan.tol,
                           backend=plan.backend)
    parts = []
    for f in dataclasses.fields(Ends):
        a = getattr(ends, f.name)
        out = np.empty((m,) + a.shape[1:], dtype=a.dtype)
        out[rest] = a
        if inb.size:
            out[inb] = getattr(ce, f.name)[back.reshape(-1)]
        parts.append(out)
    return Ends(*parts)


def _flow_entry(plan, W0, stop, done):
    """The flow of ``plan`` with the entry test inside the kernel (gd/euler:
    :mod:`dynsys.kernels.gd_entry`; rk4, dopri5: :mod:`dynsys.kernels.ode_entry`, the plain
    integrators' arguments plus the balls): ``W`` (the endpoint, or the centre of the ball a run
    entered), ``status`` and ``steps``."""
    fp = plan_flow(plan.model, W0, method=plan.method, step=plan.step, gtol=plan.gtol, norm=plan.norm,
                   max_steps=plan.max_steps, rtol=plan.rtol, atol=plan.atol, backend=plan.backend)
    m, k, d = fp.W0.shape
    stop = np.zeros(1, dtype=np.int8) if stop is None else stop
    done = np.zeros(m, dtype=np.int8) if done is None else done
    W = np.empty((m, k, d))
    steps = np.zeros(m, dtype=np.int64)
    status = np.empty(m, dtype=np.int8)
    fa = frozen_arrays(fp.arrays)
    eb = frozen_entry(plan.entry.kernel)
    nwork = work_size(k, fa.T.shape[0], d)
    if fp.method in ("gd", "euler"):
        backends.flow_gd_entry(plan.backend, readonly(fp.W0), fa, eb, fp.step, fp.gtol, NORM_CODES[fp.norm],
                               fp.max_steps, fp.div_limit, W, steps, status, nwork, stop, done)
        return W, status, steps
    # the outputs a plain flow chunk has (no saves; basins keeps W, status and steps)
    outs = (W, np.empty(m), np.empty(m), steps, np.zeros(m), status, np.zeros(m))
    nosave = (np.full((m, 0), np.nan), np.full((m, 0, k, d), np.nan))
    t1f = math.inf if fp.t1 is None else fp.t1
    if fp.method == "dopri5":
        backends.flow_dopri5_entry(plan.backend, readonly(fp.W0), fa, eb, fp.step, t1f, fp.gtol,
                                   NORM_CODES[fp.norm], fp.max_steps, fp.div_limit, fp.plateau_gtol, fp.rtol,
                                   fp.atol, fp.adaptive, fp.polish, FLOW_POLISH_FLOOR_FACTOR, fp.save_mode,
                                   fp.save_every, readonly(fp.save_times), *outs, np.zeros((m, 2), dtype=np.int64),
                                   *nosave, nwork, stop, done)
    else:
        backends.flow_fixed_entry(plan.backend, METHOD_CODES[fp.method], readonly(fp.W0), fa, eb, fp.step, fp.n1,
                                  t1f, fp.gtol, NORM_CODES[fp.norm], fp.max_steps, fp.div_limit, fp.plateau_gtol,
                                  fp.save_mode, fp.save_every, readonly(fp.save_idx), *outs, *nosave, nwork,
                                  stop, done)
    return W, status, steps


def _descend(plan, W0, stop, done):
    """Gradient descent of a system without compiled flows, vectorised over the chunk in NumPy.

    The stopping tests of the compiled flows: singular or non-finite state, row-max gradient norm
    at most ``gtol``, state norm above ``FLOW_DIVERGENCE_FACTOR`` (times 2: a toy has no teacher
    scale), ``max_steps``.
    """
    model = plan.model
    m = W0.shape[0]
    kshape = (m,) + kernel_shape(tuple(model.state_shape))
    W = np.array(W0, dtype=float)
    status = np.full(m, MAX_STEPS, dtype=np.int8)
    steps = np.zeros(m, dtype=np.int64)
    live = np.arange(m)
    limit = 2.0 * FLOW_DIVERGENCE_FACTOR
    for s in range(plan.max_steps + 1):
        if live.size == 0:
            break
        X = W[live]
        rn = np.max(np.linalg.norm(X.reshape((live.size,) + kshape[1:]), axis=-1), axis=1)
        G, st = model.grad(X, backend="cpu", return_status=True)
        st = np.asarray(st)
        gn = row_max(np.asarray(G).reshape((live.size,) + kshape[1:]))
        bad = st != 0
        ended = np.zeros(live.size, dtype=bool)
        for mask, code in ((bad & (st == SINGULAR), SINGULAR), (bad & (st != SINGULAR), NONFINITE),
                           (~bad & (gn <= plan.gtol), CONVERGED), (~bad & (rn > limit), DIVERGED)):
            new = mask & ~ended
            status[live[new]] = code
            ended |= new
        if stop is not None and stop[0]:
            status[live[~ended]] = INTERRUPTED
            ended[:] = True
        if s == plan.max_steps:
            ended[:] = True
        steps[live] = s
        if done is not None:
            done[live[ended]] = 1
        go = ~ended
        W[live[go]] = X[go] - plan.step * np.asarray(G)[go]
        live = live[go]
    return W, status, steps


def package_basins(plan: BasinPlan, chunks, *, attractors=None, interrupted=False) -> BasinResult:
    """Canonical labels of the cells of ``chunks`` (any order), fractions and intervals.

    Cells no chunk covers are ``LABEL_NOT_COMPUTED``; fractions are over the other cells.
    ``attractors``: known attractors (``BasinResult.attractors`` of an earlier map) keep their labels.
    """
    model, n = plan.model, plan.n
    shape = tuple(model.state_shape)
    rows = kernel_shape(shape)[0]
    outcome = np.full(n, LABEL_NOT_COMPUTED, dtype=np.int8)
    assign = np.full((n, rows), -1, dtype=np.int16)
    loss = np.full(n, np.nan)
    lam = np.full(n, np.nan)
    W = np.full((n,) + shape, np.nan)
    steps = np.zeros(n, dtype=np.int64)
    status = np.full(n, INTERRUPTED, dtype=np.int8)
    t_flow = t_cls = 0.0
    for c in sorted(chunks, key=lambda c: c.lo):
        s = slice(c.lo, c.hi)
        e = c.ends
        outcome[s], assign[s], loss[s], lam[s], W[s] = e.outcome, e.assign, e.loss, e.lambda_min, e.W
        steps[s], status[s] = c.steps, c.status
        t_flow += c.flow_time
        t_cls += c.classify_time
    t0 = time.perf_counter()
    known = None if attractors is None else _known(attractors)
    tab = canonical_labels(model, outcome, assign, W, loss, plan.tol, known)
    labels = tab.labels
    n_nc = int(np.sum(labels == LABEL_NOT_COMPUTED))
    n_done = n - n_nc

    def share(c):
        return (c / n_done if n_done else math.nan), (wilson_interval(c, n_done) if n_done else (0.0, 1.0))

    counts = np.bincount(labels[labels >= 0], minlength=len(tab.kind)) if len(tab.kind) else np.zeros(0, int)
    atts = []
    for lab, kind in enumerate(tab.kind):
        f = int(tab.first_cell[lab])
        asg = tab.assign[lab]
        perm = None
        if asg is not None:
            asg = np.array(asg, dtype=np.int16)
            asg.setflags(write=False)
            if sorted(asg.tolist()) == list(range(asg.size)):
                perm = asg
        Wr = np.array(tab.W[lab])
        Wr.setflags(write=False)
        fr, iv = share(int(counts[lab]))
        sel = labels == lab
        atts.append(Attractor(
            label=lab, kind=kind, class_id=int(tab.class_id[lab]),
            loss=float(loss[f]) if f >= 0 else float(known[lab].loss),
            lambda_min=float(lam[f]) if f >= 0 else float(known[lab].lambda_min), W=Wr, assignment=asg,
            permutation=perm,
            count=int(counts[lab]), fraction=fr, interval=iv, first_cell=f,
            mean_steps=float(np.mean(steps[sel])) if counts[lab] else math.nan))
    reserved = np.array([int(np.sum(labels == -(j + 1))) for j in range(-LABEL_NOT_COMPUTED)], dtype=np.int64)
    # -5 (not computed) is outside every fraction: no interval
    res_iv = np.array([share(int(c))[1] for c in reserved[:-1]] + [(math.nan, math.nan)],
                      dtype=float).reshape(-1, 2)
    n_cls = int(tab.class_id.max()) + 1 if tab.class_id.size else 0
    ccount = np.zeros(n_cls, dtype=np.int64)
    np.add.at(ccount, tab.class_id, counts)
    civ = np.array([share(int(c))[1] for c in ccount], dtype=float).reshape(-1, 2)
    kcount = np.array([sum(int(counts[lab]) for lab, kd in enumerate(tab.kind) if kd == k) for k in KINDS],
                      dtype=np.int64)
    kiv = np.array([share(int(c))[1] for c in kcount], dtype=float).reshape(-1, 2)
    sad_pts, sad_counts = _saddle_points(W, labels, plan.tol)
    for arr in (labels, loss, lam, steps, status, reserved, res_iv, ccount, civ, kcount, kiv, sad_pts,
                sad_counts):
        arr.setflags(write=False)
    k, d = (model.k, model.d) if isinstance(model, TeacherStudent) else (0, 0)
    gs = plan.sampler.grid_shape
    return BasinResult(labels=labels, attractors=tuple(atts), reserved_counts=reserved,
                       reserved_intervals=res_iv, class_counts=ccount, class_interval_bounds=civ,
                       kind_counts=kcount, kind_interval_bounds=kiv, saddle_points=sad_pts,
                       saddle_counts=sad_counts,
                       loss=loss, lambda_min=lam, steps=steps, status=status,
                       grid_shape=None if gs is None else tuple(int(x) for x in gs),
                       sampler=plan.sampler.describe(), method=plan.method, step=plan.step, gtol=plan.gtol,
                       max_steps=plan.max_steps, k=k, d=d, flow_time=t_flow,
                       classify_time=t_cls + time.perf_counter() - t0,
                       interrupted=bool(interrupted or n_nc > 0))


def _saddle_points(W, labels, tol):
    """Distinct saddle endpoints (leader rule in cell order, entries to ``point_rtol (1 + max|W|)``)
    and how many cells reached each."""
    cells = np.flatnonzero(labels == LABEL_SADDLE)
    shape = W.shape[1:]
    if cells.size == 0:
        return np.zeros((0,) + shape), np.zeros(0, dtype=np.int64)
    X = W[cells].reshape(cells.size, -1)
    lab, first = leader_clusters(X, tol.point_rtol * (1.0 + float(np.max(np.abs(X)))))
    return np.array(W[cells[first]]), np.bincount(lab, minlength=first.size).astype(np.int64)


def _known(attractors):
    atts = getattr(attractors, "attractors", attractors)
    try:
        atts = tuple(atts)
    except TypeError:
        raise TypeError(f"attractors must be a BasinResult or its attractors (a sequence of "
                        f"Attractor); got {type(attractors).__name__}") from None
    for i, a in enumerate(atts):
        if not isinstance(a, Attractor):
            raise TypeError(f"attractors[{i}] must be an Attractor; got {type(a).__name__}")
        if a.kind not in KINDS:
            raise ValueError(f"attractors[{i}].kind = {a.kind!r} is not one of {KINDS}")
    return atts


def basins(model, W0, *, method="gd", step=0.1, gtol=1e-9, norm="row_max", max_steps=10**6, rtol=1e-8,
           atol=1e-10, backend="parallel", attractors=None, chunk_size=None, store=None, executor=None,
           progress=None, entry=None, **tolerances_) -> BasinResult:
    """Flow every initialisation, classify every endpoint, and label it by the attractor it reached.

    Parameters
    ----------
    model : TeacherStudent or System
        The field; a system without compiled flows (a toy) is descended by gradient descent in NumPy.
    W0 : Sampler or array_like, shape (n,) + state shape
        The initialisations: a sampler (:mod:`dynsys.basins.samplers`: ``Grid``, ``reduced_plane``,
        ``teacher_slice``, ``Xavier``, ``Gaussian``, ``Ball``, ``TeacherNoise``, ``Spheres``) or
        the starts themselves.
    method, step, gtol, norm, max_steps, rtol, atol, backend :
        The flow (:func:`dynsys.flow`; ``backend`` "parallel" or "cpu": bitwise the same labels).
    attractors : BasinResult or sequence of Attractor, optional
        Known attractors (e.g. of the map at a neighbouring parameter): reached again, they keep
        their labels, so labels match across maps.
    chunk_size : int, optional
        Cells per chunk (default about 1% of the cells, within [256, 16384]); a chunk is flowed and
        classified as one batch. Labels never depend on it. A store keeps the chunk size it was
        created with.
    store : str or path-like, optional
        A Zarr store (a folder): created if missing, else resumed: only its missing chunks are
        computed, and the result is bitwise that of an unbroken run. A store written for another
        model, sampler, flow or package version is refused (:class:`dynsys.basins.store.StoreMismatch`).
    executor : dask.distributed.Client, optional
        Run the chunks on its workers (each writes its chunks to ``store`` when one is given).
        Labels are identical to the local run. Default: the local cores, no server.
    progress : None, bool or reporter
        Progress bar over the cells (:mod:`dynsys.progress`).
    entry : bool or None, default None
        Label on entry: a run stops as soon as it is inside a certified ball of a minimum and
        takes that minimum's label. For ``"gd"``/``"euler"`` a ball where gradient descent at
        ``step`` provably contracts to the minimum, tested inside the gd kernel every
        ``ENTRY_EVERY`` steps; for ``"rk4"``/``"dopri5"`` a ball where the Hessian stays positive
        definite (the exact flow cannot leave it), shrunk by ``ENTRY_FLOW_MARGIN`` for the
        integration error and tested at every accepted step. Balls are centred on the teacher
        permutations (``k = k*``) and on the minima of ``attractors`` when given. Labels are those
        of full runs; an entered run has status ``ENTERED``, its steps up to entry, and the loss
        and ``lambda_min`` of the minimum (docs/basins.md). A minimum whose ball cannot be
        certified gets none (a warning says so).
        ``None`` (the default): on (every method) for a TeacherStudent whose teacher permutations
        share one certified ball (``k = k*``, equal top weights) or when ``attractors`` are given,
        off otherwise, without warnings.
    **tolerances_ :
        Classification tolerances: ``critical_gtol`` (default ``CRITICAL_GTOL * grad_scale``),
        ``eig_rtol``, ``loss_rtol``, ``parallel_atol`` (as in :func:`dynsys.classify`),
        ``point_rtol`` (two endpoints are one point), ``class_rtol`` (two points are one symmetry
        class).

    Returns
    -------
    BasinResult
        ``labels`` (per cell), ``attractors``, ``fractions`` and ``intervals`` (per label, 95%
        Wilson), ``class_fractions``, ``label_map``, ``boundary`` and ``entropy()`` for grids.
        After Ctrl-C: the cells finished so far (the others ``LABEL_NOT_COMPUTED``; a store keeps
        every completed chunk).
    """
    allowed = {"critical_gtol", "eig_rtol", "loss_rtol", "parallel_atol", "point_rtol", "class_rtol"}
    extra = set(tolerances_) - allowed
    if extra:
        raise TypeError(f"basins() got unexpected keyword arguments {sorted(extra)}; the tolerances "
                        f"are {sorted(allowed)}")
    check_system(model)
    sampler = as_sampler(model, W0)
    plan = plan_basins(model, sampler, method=method, step=step, gtol=gtol, norm=norm, max_steps=max_steps,
                       rtol=rtol, atol=atol, backend=backend, chunk_size=chunk_size, entry=entry,
                       attractors=None if attractors is None else _known(attractors), **tolerances_)
    _progress.check(progress)
    if attractors is not None:
        _known(attractors)
    st = None
    if store is not None:
        from .store import BasinStore
        st = BasinStore.open(store, plan)
        plan = st.plan
    todo = plan.chunks() if st is None else st.missing()
    if executor is not None:
        from .executor import run_chunks
        chunks, interrupted = run_chunks(executor, plan, todo, st, progress)
    else:
        chunks, interrupted = _run_local(plan, todo, st, progress)
    if st is not None:
        chunks = st.read_chunks()
    return package_basins(plan, chunks, attractors=attractors, interrupted=interrupted)


def _run_local(plan, todo, store, progress):
    """Run the chunks ``todo`` here with progress and Ctrl-C; write each complete one to ``store``."""
    return run_local(functools.partial(run_basin_chunk, plan), todo, store, progress, "basins", "cell",
                     lambda chunk: chunk.complete)


__all__ = ["BasinChunk", "BasinPlan", "basins", "default_chunk_size",
           "package_basins", "plan_basins", "run_basin_chunk"]
