"""Census of minima: where gradient descent from random starts ends, with fractions and intervals.

:func:`census` runs gradient descent (:func:`dynsys.flow`, ``method="gd"``) from ``n_runs`` random
starts, refines every converged endpoint by Newton and classifies it (:func:`dynsys.critical.classify`),
groups the minima into classes of distinct minima up to the model's symmetry, and reports each class's
fraction of runs with a 95% Wilson score interval, its loss, smallest Hessian eigenvalue, gradient norm
after refinement and orbit multiplicity (how many distinct symmetric copies the runs reached).
:func:`census_sweep` does this for the orthonormal teacher ``W* = I_k`` over several k, the experiment of
Safran and Shamir, "Spurious local minima are common in two-layer ReLU neural networks", ICML 2018.

Stopping rule. dynsys stops gradient descent when the largest row norm of ``grad L`` is at most ``gtol``
(default 1e-9). The protocol of Safran and Shamir (ICML 2018), as dynsys reads it, stops when every
neuron's gradient satisfies ``|2 pi grad_{w_j} L| <= 1e-9`` (their closed-form gradient is written
without dynsys's ``1/(2 pi)``; not re-checked against their code here). The default rule is therefore
``2 pi`` looser than theirs, and ``gtol=1e-9 / (2 pi)`` reproduces theirs. Endpoints are refined by
Newton either way, so the reported minima have gradient norms near roundoff under both rules; the rule
changes only how far gradient descent itself runs (at k = 2 and k = 9 the class of every run was the
same under both rules in the checks behind this module).

Random starts. Run ``r`` starts from ``numpy.random.default_rng([seed, r])``: entries N(0, 1/d)
(``init="xavier"``) or uniform on ``[-sqrt(3/d), sqrt(3/d)]`` (``"xavier_uniform"``, the same variance),
drawn as one (k, d) array. A run's start depends on ``(seed, r)`` only: not on ``n_runs``, the chunk
size or the thread count (the first n runs of a larger census are the same n runs).

Classes up to symmetry (docs/math.md section 4). The loss is invariant under permutations of student rows
with equal top weights and, for ``W* = I``, under ``W -> P W Q^T``. Minima of one kind are put in one
class when their :func:`dynsys.critical.symmetry.invariants` (loss, sorted row norms, Gram spectra,
sorted teacher overlaps, ...) agree to ``class_rtol``, computed with parallel student rows merged into
one row: a flat family of minima that differ only in how mass is split between parallel rows (an
over-parameterised student) is one class. All global minima form one class (the teacher's function).
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
from ..certify import certify as certify_points
from ..clustering import ragged_leader_clusters
from .._codes import (LABEL_DIVERGED, LABEL_NOT_COMPUTED, LABEL_SADDLE, LABEL_SINGULAR,
                      LABEL_UNCONVERGED)
from ..config import CENSUS_CHUNK_S, CENSUS_FIRST_CHUNK, CENSUS_MAX_RUNS, CENSUS_POINT_RTOL, CENSUS_Z, DEDUP_RTOL
from ..flow import flow, plan_flow, run_flow_chunk
from ..model import TeacherStudent
from ..results import Census, CensusClass, CensusSweep, Status
from .classify import classify
from .newton import refine as newton_refine
from .census_counts import Member, distinct_states, n_functions
from .symmetry import invariants

INITS = ("xavier", "xavier_uniform")
MINIMUM_KINDS = ("global_minimum", "spurious_minimum", "minimum", "degenerate")

_RUNS_WHY = "config.CENSUS_MAX_RUNS: a census keeps about 40 bytes per run; split a larger one by seed"


def wilson_interval(count, n, z=CENSUS_Z):
    """Wilson score interval of a binomial proportion (Wilson, JASA 22, 209 (1927)).

    Parameters
    ----------
    count : int
        Successes, ``0 <= count <= n``.
    n : int
        Trials (> 0).
    z : float
        Normal quantile (1.959964 for 95%).

    Returns
    -------
    (lo, hi) : tuple of float
        ``(p + z^2/(2n) -+ z sqrt(p (1-p)/n + z^2/(4 n^2))) / (1 + z^2/n)`` with ``p = count / n``,
        clipped to [0, 1]; it contains ``p`` and never collapses to a point at 0 or n successes.
    """
    n = v.positive_int(n, "n")
    count = v.positive_int(count, "count", minimum=0)
    if count > n:
        raise ValueError(f"count must be <= n; got count = {count}, n = {n}")
    z = v.real_scalar(z, "z", lo=0.0)
    p = count / n
    z2n = z * z / n
    centre = (p + 0.5 * z2n) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / n + 0.25 * z2n / n) / (1.0 + z2n)
    lo = 0.0 if count == 0 else max(0.0, centre - half)
    hi = 1.0 if count == n else min(1.0, centre + half)
    return lo, hi


def random_starts(k, d, n_runs, *, init="xavier", seed=0, first=0) -> np.ndarray:
    """The census's initial states of runs ``first .. first + n_runs - 1``, shape (n_runs, k, d).

    Run r starts from ``default_rng([seed, r])`` alone, so any range of runs can be drawn on its own
    (``random_starts(k, d, 100, first=100)`` equals ``random_starts(k, d, 1000)[100:200]``).
    ``init="xavier"``: entries N(0, 1/d); ``"xavier_uniform"``: uniform on ``[-sqrt(3/d), sqrt(3/d)]``.
    """
    k = v.positive_int(k, "k")
    d = v.positive_int(d, "d")
    n_runs = v.positive_int(n_runs, "n_runs", maximum=CENSUS_MAX_RUNS, why=_RUNS_WHY)
    init = v.choice(init, "init", INITS)
    seed = v.positive_int(seed, "seed", minimum=0)
    first = v.positive_int(first, "first", minimum=0)
    out = np.empty((n_runs, k, d))
    sd = 1.0 / math.sqrt(d)
    for i in range(n_runs):
        rng = np.random.default_rng([seed, first + i])
        if init == "xavier":
            out[i] = rng.normal(0.0, sd, (k, d))
        else:
            out[i] = rng.uniform(-math.sqrt(3.0) * sd, math.sqrt(3.0) * sd, (k, d))
    return out


# ------------------------------------------------------------------------------------------------
# Census
# ------------------------------------------------------------------------------------------------

def census(model, n_runs=None, *, init="xavier", step=0.1, gtol=1e-9, seed=0, norm="row_max",
           max_steps=10**6, backend="parallel", chunk_size=None, progress=None, refine=True,
           class_rtol=DEDUP_RTOL, point_rtol=CENSUS_POINT_RTOL, certify=False, store=None,
           executor=None) -> Census:
    """Gradient descent from random starts; classes of the minima reached, with fractions and intervals.

    Parameters
    ----------
    model : TeacherStudent
    n_runs : int
        Number of runs (random starts). May be omitted when ``init`` is an array.
    init : {"xavier", "xavier_uniform"} or array_like, shape (n_runs, k, d)
        Random starts (see the module docstring: run r uses ``default_rng([seed, r])``) or the starts.
    step : float
        Gradient-descent step on ``L``.
    gtol : float
        Gradient descent stops when the gradient norm (in ``norm``) is at most ``gtol``. The default
        ``1e-9`` in ``row_max`` is ``2 pi`` looser than Safran and Shamir's per-neuron rule;
        ``gtol=1e-9 / (2 * math.pi)`` reproduces theirs.
    seed : int
        Seed of the random starts (>= 0).
    norm : {"row_max", "fro"}
        Stopping norm (also of the reported gradient norms).
    max_steps : int
        Gradient-descent steps per run; runs that use them all are "unconverged".
    backend : {"parallel", "cpu", "cuda"}
        Of gradient descent (:func:`dynsys.flow`); Newton refinement runs on the CPU.
    chunk_size : int, optional
        Runs per chunk (gradient descent, refinement and classification of those runs); default:
        chunks of about ``config.CENSUS_CHUNK_S`` seconds, or with ``store`` or ``executor`` about
        1% of the runs (:func:`dynsys.critical.census_store.default_chunk_size`). Results do not
        depend on it.
    progress : None, bool or reporter
        Progress bar over the runs (see :mod:`dynsys.progress`).
    refine : bool
        Newton-refine each endpoint before classifying it (the default; ``False`` classifies the
        gradient-descent endpoints as they are).
    class_rtol : float
        Two minima of one kind are one class when their symmetry invariants (the loss relative to the
        teacher energy, row norms relative to the largest teacher row, ...) agree to ``class_rtol``.
    point_rtol : float
        Two endpoints are one point of weight space (for ``multiplicity``) when their entries agree to
        ``point_rtol (1 + max|W|)``.
    certify : bool
        Certify each class's representative (:func:`dynsys.certify`): ``Census.certificates``.
    store : str or path-like, optional
        A Zarr store (a folder) of the runs' outcomes: created if missing, else resumed: only its
        missing chunks are computed, and the census is bitwise that of an unbroken run (a killed
        job loses at most its running chunks; docs/trust.md). A store written for another model,
        starts, gradient descent or package version is refused
        (:class:`dynsys.chunkstore.StoreMismatch`); it keeps the chunk size it was created with.
    executor : dask.distributed.Client, optional
        Run the chunks on its workers (each writes its chunks to ``store`` when one is given); the
        census is bitwise the local one. Default: the local cores, no server.

    Returns
    -------
    Census
        ``classes`` (by increasing loss), ``spurious_fraction`` with ``spurious_interval``,
        ``n_saddle``, ``n_unconverged``, ``n_failed``, ``n_interrupted``, per-run ``labels``, ``loss``,
        ``grad_norm``, ``lambda_min`` and ``steps``, the arguments, and ``table()``. After Ctrl-C the
        census of the runs that finished (see ``Census.n_interrupted``).

    Notes
    -----
    Runs as :func:`plan_census` -> :func:`run_census_chunk` per chunk -> :func:`package_census`
    (docs/engine.md), the pieces a resumable or distributed census calls itself.
    """
    plan = plan_census(model, n_runs, init=init, step=step, gtol=gtol, seed=seed, norm=norm,
                       max_steps=max_steps, backend=backend, refine=refine, class_rtol=class_rtol,
                       point_rtol=point_rtol)
    if not isinstance(certify, (bool, np.bool_)):
        raise TypeError(f"certify must be True or False; got {certify!r}")
    if chunk_size is not None:
        chunk_size = v.positive_int(chunk_size, "chunk_size")
    _progress.check(progress)
    if store is not None or executor is not None:
        # census_store imports this module; zarr and dask load only with it
        from .census_store import run_chunked

        chunks, _ = run_chunked(plan, chunk_size, store, executor, progress)
        return _certified(model, package_census(plan, chunks), certify)
    n = plan.n_runs
    bar = _progress.reporter(progress, n, "census", "run")
    stop = np.zeros(1, dtype=np.int8)
    chunks = []
    lo = 0
    size = chunk_size or min(n, CENSUS_FIRST_CHUNK)
    t_start = time.perf_counter()
    try:
        while lo < n:
            hi = min(n, lo + size)
            done = np.zeros(hi - lo, dtype=np.int8)
            chunk, interrupted = _progress.watch(
                functools.partial(run_census_chunk, plan, lo, hi, stop=stop, done=done), stop,
                _progress.DoneCounter(bar, done))
            if chunk is not None:
                chunks.append(chunk)
            if interrupted:
                break
            lo = hi
            if chunk_size is None:
                # chunks of about CENSUS_CHUNK_S seconds at the rate so far, growing at most 4x a time
                rate = lo / max(time.perf_counter() - t_start, 1e-9)
                size = max(1, min(4 * size, int(rate * CENSUS_CHUNK_S)))
    except KeyboardInterrupt:  # Ctrl-C between two chunks: the chunks so far
        pass
    finally:
        bar.close()
    return _certified(model, package_census(plan, chunks), certify)


def _certified(model, c, certify):
    if certify and c.classes:
        c = dataclasses.replace(c, certificates=certify_points(model, c))
    return c


@dataclasses.dataclass(frozen=True, eq=False)
class CensusPlan:
    """A validated :func:`census` call, ready to run in chunks of runs anywhere (picklable).

    Run ``r``'s start depends only on ``(seed, r)`` (:func:`random_starts`), or is ``starts[r]`` when
    the starts were given, so chunks run in any order, process or session give the same census.
    """

    model: object
    n_runs: int
    init: str                    #: "xavier", "xavier_uniform", or "array" (starts given)
    seed: int | None
    starts: np.ndarray | None    #: the given starts (init == "array")
    step: float
    gtol: float
    norm: str
    max_steps: int
    backend: str
    refine: bool
    class_rtol: float
    point_rtol: float

    def starts_of(self, lo: int, hi: int) -> np.ndarray:
        """Initial states of runs ``lo:hi``."""
        if self.starts is not None:
            return np.array(self.starts[lo:hi])
        return random_starts(self.model.k, self.model.d, hi - lo, init=self.init, seed=self.seed,
                             first=lo)


@dataclasses.dataclass(frozen=True, eq=False)
class CensusChunk:
    """Per-run outcome of runs ``lo:hi`` of a :class:`CensusPlan` (arrays of ``hi - lo`` rows).

    ``labels`` holds the reserved labels (diverged, unconverged, singular, saddle, not computed for
    runs interrupted before they finished); runs that ended at a minimum are ``members`` (with their
    run index) and get their class label in :func:`package_census`.
    """

    lo: int
    hi: int
    labels: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    lambda_min: np.ndarray
    steps: np.ndarray
    members: tuple
    flow_time: float
    classify_time: float


def plan_census(model, n_runs=None, *, init="xavier", step=0.1, gtol=1e-9, seed=0, norm="row_max",
                max_steps=10**6, backend="parallel", refine=True, class_rtol=DEDUP_RTOL,
                point_rtol=CENSUS_POINT_RTOL) -> CensusPlan:
    """Validate the arguments of :func:`census` (same names and meaning) into a :class:`CensusPlan`."""
    if not isinstance(model, TeacherStudent):
        raise TypeError(f"model must be a dynsys.TeacherStudent; got {type(model).__name__}")
    k, d = model.k, model.d
    starts = None
    if isinstance(init, str):
        v.choice(init, "init", INITS)
        if n_runs is None:
            raise TypeError("census() needs n_runs (the number of random starts) unless init is an "
                            "array of starts")
        n_runs = v.positive_int(n_runs, "n_runs", maximum=CENSUS_MAX_RUNS, why=_RUNS_WHY)
        seed = v.positive_int(seed, "seed", minimum=0)
        init_name = init
    else:
        starts = v.finite(v.real_array(init, "init"), "init")
        if starts.ndim != 3 or starts.shape[1:] != (k, d) or starts.shape[0] == 0:
            raise ValueError(f"init must be 'xavier', 'xavier_uniform' or an array of starts of shape "
                             f"(n_runs, k, d) = (n_runs, {k}, {d}); got shape {starts.shape}")
        if n_runs is not None and v.positive_int(n_runs, "n_runs") != starts.shape[0]:
            raise ValueError(f"n_runs = {n_runs} does not match the {starts.shape[0]} starts given in init")
        n_runs = starts.shape[0]
        starts = np.array(starts)
        starts.setflags(write=False)
        init_name = "array"
        seed = None
    class_rtol = v.real_scalar(class_rtol, "class_rtol", lo=0.0, lo_open=True)
    point_rtol = v.real_scalar(point_rtol, "point_rtol", lo=0.0, lo_open=True)
    if not isinstance(refine, (bool, np.bool_)):
        raise TypeError(f"refine must be True or False; got {refine!r}")
    # the flow arguments, checked once here (each chunk plans its own flow)
    fp = plan_flow(model, np.zeros((k, d)) if starts is None else starts[0], method="gd", step=step,
                   gtol=gtol, norm=norm, max_steps=max_steps, backend=backend)
    return CensusPlan(model=model, n_runs=n_runs, init=init_name, seed=seed, starts=starts,
                      step=fp.step, gtol=fp.gtol, norm=fp.norm, max_steps=fp.max_steps,
                      backend=fp.backend, refine=bool(refine), class_rtol=class_rtol,
                      point_rtol=point_rtol)


def run_census_chunk(plan: CensusPlan, lo: int, hi: int, *, stop=None, done=None) -> CensusChunk:
    """Gradient descent, Newton refinement and classification of runs ``lo:hi`` of ``plan``.

    ``stop`` (int8 (1,)) interrupts gradient descent as in :func:`dynsys.flow.run_flow_chunk`; the
    runs that had finished are still refined and classified, the others are labelled
    ``LABEL_NOT_COMPUTED``. ``done`` (int8 (hi - lo,)) gets a 1 for each run as its gradient descent
    ends (progress). Every run's outcome depends on the plan and its index only.
    """
    if not 0 <= lo < hi <= plan.n_runs:
        raise ValueError(f"need 0 <= lo < hi <= plan.n_runs = {plan.n_runs}; got lo = {lo}, hi = {hi}")
    model, backend = plan.model, plan.backend
    m = hi - lo
    W0 = plan.starts_of(lo, hi)
    t0 = time.perf_counter()
    if backend == "cuda":
        fr = flow(model, W0, method="gd", step=plan.step, gtol=plan.gtol, norm=plan.norm,
                  max_steps=plan.max_steps, backend=backend, progress=False)
        status, ends, steps = np.asarray(fr.status), np.asarray(fr.W), np.asarray(fr.steps)
        if done is not None:
            done[:] = 1
    else:
        fp = plan_flow(model, W0, method="gd", step=plan.step, gtol=plan.gtol, norm=plan.norm,
                       max_steps=plan.max_steps, backend=backend)
        fc = run_flow_chunk(fp, 0, m, stop=stop, done=done)
        status, ends, steps = fc.status, fc.W, fc.steps
    t1 = time.perf_counter()

    labels = np.full(m, LABEL_UNCONVERGED, dtype=np.int64)
    loss = np.full(m, np.nan)
    gnorm = np.full(m, np.nan)
    lam = np.full(m, np.nan)
    labels[(status == Status.DIVERGED) | (status == Status.NONFINITE)] = LABEL_DIVERGED
    labels[status == Status.SINGULAR] = LABEL_SINGULAR
    labels[status == Status.INTERRUPTED] = LABEL_NOT_COMPUTED
    conv = np.flatnonzero(status == Status.CONVERGED)
    ends = ends[conv]
    if plan.refine and conv.size:
        # One batched Newton call over the chunk's endpoints (all cores), then classification as refined.
        ends = np.asarray(newton_refine(model, ends, backend=backend if backend != "cuda" else "parallel").W)
    members = []
    cps = []
    # One state at a time: on one thread (waking a thread pool per tiny call costs far more than the
    # call itself on a busy machine).
    with backends.threads("cpu"):
        for Wr in ends:
            cps.append(classify(model, Wr, refine=False))
    for r, cp in zip(conv, cps):
        kind = str(cp.kind)
        if kind == "singular":
            labels[r] = LABEL_SINGULAR
            continue
        loss[r], gnorm[r] = float(cp.loss), float(cp.grad_norm)
        eig = np.asarray(cp.eigvals)
        lam[r] = float(eig[0]) if eig.size else np.nan
        if kind == "not_critical":
            labels[r] = LABEL_UNCONVERGED
        elif kind == "saddle":
            labels[r] = LABEL_SADDLE
        elif kind in MINIMUM_KINDS:
            members.append(Member(lo + int(r), cp))
        else:  # a kind this module does not know: count it as not converged, and say so
            warnings.warn(f"census: run {lo + r} ended at a point of unknown kind {kind!r}; counted as "
                          f"not converged", RuntimeWarning, stacklevel=2)
    return CensusChunk(lo=lo, hi=hi, labels=labels, loss=loss, grad_norm=gnorm, lambda_min=lam,
                       steps=np.asarray(steps, dtype=np.int64), members=tuple(members),
                       flow_time=t1 - t0, classify_time=time.perf_counter() - t1)


def package_census(plan: CensusPlan, chunks) -> Census:
    """Group the minima of ``chunks`` (any order) into classes; fractions and intervals over runs.

    Runs that no chunk covers, and runs interrupted before they finished, are ``n_interrupted``
    (label ``LABEL_NOT_COMPUTED``); fractions and intervals are then over the finished runs.
    """
    model = plan.model
    n_runs = plan.n_runs
    t0 = time.perf_counter()
    chunks = sorted(chunks, key=lambda c: c.lo)
    labels = np.full(n_runs, LABEL_NOT_COMPUTED, dtype=np.int64)
    loss = np.full(n_runs, np.nan)
    gnorm = np.full(n_runs, np.nan)
    lam = np.full(n_runs, np.nan)
    steps = np.zeros(n_runs, dtype=np.int64)
    members: list[Member] = []
    for c in chunks:
        s = slice(c.lo, c.hi)
        labels[s], loss[s], gnorm[s], lam[s], steps[s] = c.labels, c.loss, c.grad_norm, c.lambda_min, c.steps
        members.extend(c.members)
    n_int = int(np.sum(labels == LABEL_NOT_COMPUTED))
    n_done = n_runs - n_int

    # Classes up to symmetry: invariants of the network function (parallel rows merged, so a flat
    # family of split rows is one class), grouped per kind; all global minima are one class.
    reps: list[Member] = []
    groups: list[list[Member]] = []
    for kind in MINIMUM_KINDS:
        mk = [mb for mb in members if mb.kind == kind]
        if not mk:
            continue
        if kind == "global_minimum":
            lab, first = np.zeros(len(mk), dtype=np.int64), np.zeros(1, dtype=np.int64)
        else:
            lab, first = ragged_leader_clusters([invariants(model, mb.W, merge_parallel=True) for mb in mk],
                               plan.class_rtol)
        for c, f in enumerate(first):
            reps.append(mk[int(f)])
            groups.append([mb for mb, l_ in zip(mk, lab) if l_ == c])
    order = sorted(range(len(reps)), key=lambda g: (reps[g].loss, reps[g].run))
    classes = []
    for new, g in enumerate(order):
        grp = groups[g]
        rep = reps[g]
        runs = np.array([mb.run for mb in grp])
        labels[runs] = new
        pts = np.stack([mb.W for mb in grp])
        count = len(grp)
        classes.append(CensusClass(
            kind=rep.kind, count=count, fraction=count / n_done, interval=wilson_interval(count, n_done),
            loss=rep.loss, lambda_min=float(rep.eig[0]), lambda_max=float(rep.eig[-1]),
            grad_norm=float(max(mb.grad_norm for mb in grp)),
            multiplicity=distinct_states(pts, plan.point_rtol),
            n_functions=n_functions(model, pts, plan.point_rtol),
            nullity=rep.nullity, W=rep.W, first_run=rep.run))

    n_spur = sum(c.count for c in classes if c.kind == "spurious_minimum")
    n_glob = sum(c.count for c in classes if c.kind == "global_minimum")

    def share(count):
        if n_done == 0:
            return math.nan, (0.0, 1.0)
        return count / n_done, wilson_interval(count, n_done)

    spur, spur_iv = share(n_spur)
    glob, glob_iv = share(n_glob)
    for arr in (labels, loss, gnorm, lam, steps):
        arr.setflags(write=False)
    return Census(
        classes=tuple(classes), labels=labels, n_runs=n_runs,
        n_saddle=int(np.sum(labels == LABEL_SADDLE)), n_unconverged=int(np.sum(labels == LABEL_UNCONVERGED)),
        n_failed=int(np.sum((labels == LABEL_DIVERGED) | (labels == LABEL_SINGULAR))),
        spurious_fraction=spur, spurious_interval=spur_iv,
        global_fraction=glob, global_interval=glob_iv,
        loss=loss, grad_norm=gnorm, lambda_min=lam, steps=steps,
        k=model.k, k_star=model.k_star, d=model.d, step=float(plan.step), gtol=float(plan.gtol),
        norm=plan.norm, max_steps=int(plan.max_steps), seed=plan.seed, init=plan.init,
        flow_time=sum(c.flow_time for c in chunks),
        classify_time=sum(c.classify_time for c in chunks) + time.perf_counter() - t0,
        n_interrupted=n_int)


class _Shared:
    """One progress bar over several calls: forwards updates, ignores the calls' ``close``."""

    def __init__(self, bar):
        self._bar = bar

    def update(self, n):
        self._bar.update(n)

    def close(self):
        pass


def census_sweep(ks, n_runs, *, k_extra=0, init="xavier", step=0.1, gtol=1e-9, seed=0, progress=None,
                 **kwargs) -> CensusSweep:
    """Censuses of the orthonormal teacher ``W* = I_k`` (d = k) for each k, student width ``k + k_extra``.

    Parameters
    ----------
    ks : iterable of int
        Teacher widths (each >= 1).
    n_runs : int
        Runs per k.
    k_extra : int
        Extra student rows: 0 is the exactly parameterised case, 1 the over-parameterised one that the
        literature also tabulates.
    init, step, gtol, seed :
        As for :func:`census` (the same ``seed`` for every k; the starts differ in shape anyway).
    progress : None, bool or reporter
        One bar over all ``len(ks) * n_runs`` runs.
    **kwargs :
        Passed to :func:`census` (``norm``, ``max_steps``, ``backend``, ``chunk_size``, ``refine``, ...).

    Returns
    -------
    CensusSweep
        ``ks``, ``k_extra``, ``censuses``; ``table()`` and ``plot(ax=None)`` of the spurious fraction
        against k with 95% Wilson intervals. After Ctrl-C: the ks done so far, the last census partial.
    """
    try:
        ks = tuple(ks)
    except TypeError:
        raise TypeError(f"ks must be an iterable of positive integers; got {ks!r}") from None
    if not ks:
        raise ValueError("ks must hold at least one k")
    ks = tuple(v.positive_int(k, "ks[i]") for k in ks)
    n_runs = v.positive_int(n_runs, "n_runs", maximum=CENSUS_MAX_RUNS, why=_RUNS_WHY)
    k_extra = v.positive_int(k_extra, "k_extra", minimum=0)
    if "n_runs" in kwargs or "model" in kwargs:
        raise TypeError("census_sweep builds the models itself; pass ks and n_runs only")
    if "store" in kwargs:
        raise TypeError("census_sweep does not take store= (a store holds one census): call census(model, "
                        "n_runs, store=...) for each k with its own store")
    bar = _progress.reporter(progress, len(ks) * n_runs, "census sweep", "run")
    shared = _Shared(bar)
    out = []
    try:
        for k in ks:
            model = TeacherStudent(np.eye(k), k=k + k_extra)
            out.append(census(model, n_runs, init=init, step=step, gtol=gtol, seed=seed,
                              progress=shared, **kwargs))
            if out[-1].n_interrupted:  # Ctrl-C: the censuses so far, the last one partial
                break
    finally:
        bar.close()
    return CensusSweep(ks=ks[:len(out)], k_extra=k_extra, censuses=tuple(out))
