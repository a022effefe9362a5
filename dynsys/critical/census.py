"""Census of minima: where gradient descent from random starts ends, with fractions and intervals.

:func:`census` runs gradient descent (:func:`dynsys.flow`, ``method="gd"``) from ``n_runs`` random
starts, refines every converged endpoint by Newton and classifies it (:func:`dynsys.critical.classify`),
groups the minima into classes of distinct minima up to the model's symmetry, and reports each class's
fraction of runs with a 95% Wilson score interval, its loss, smallest Hessian eigenvalue, gradient norm
after refinement and orbit multiplicity (how many distinct symmetric copies the runs reached).
:func:`census_sweep` does this for the orthonormal teacher ``W* = I_k`` over several k, the experiment of
Safran and Shamir, "Spurious local minima are common in two-layer ReLU neural networks", ICML 2018.

Stopping rule. dynsys stops gradient descent when the largest row norm of ``grad L`` is at most ``gtol``
(default 1e-9). The protocol of Safran and Shamir, as the project's issue states it, stops when every
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

Classes up to symmetry (MATH.md section 4). The loss is invariant under permutations of student rows
with equal top weights and, for ``W* = I``, under ``W -> P W Q^T``. Minima of one kind are put in one
class when their :func:`dynsys.critical.symmetry.invariants` (loss, sorted row norms, Gram spectra,
sorted teacher overlaps, ...) agree to ``class_rtol``, computed with parallel student rows merged into
one row: a flat family of minima that differ only in how mass is split between parallel rows (an
over-parameterised student) is one class. All global minima form one class (the teacher's function).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from .. import _validate as v
from .. import backends
from .. import progress as _progress
from ..clustering import leader_clusters, ragged_leader_clusters
from .._codes import LABEL_DIVERGED, LABEL_SADDLE, LABEL_SINGULAR, LABEL_UNCONVERGED
from ..config import CENSUS_POINT_RTOL, CENSUS_Z, DEDUP_RTOL, PARALLEL_ATOL
from ..flow import flow
from ..model import TeacherStudent
from ..results import Census, CensusClass, CensusSweep, Status
from ..systems.symmetry import parallel_groups
from .classify import classify
from .newton import refine as newton_refine
from .symmetry import invariants

INITS = ("xavier", "xavier_uniform")
MINIMUM_KINDS = ("global_minimum", "spurious_minimum", "minimum", "degenerate")


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


def random_starts(k, d, n_runs, *, init="xavier", seed=0) -> np.ndarray:
    """The census's initial states, shape (n_runs, k, d): run r from ``default_rng([seed, r])``.

    ``init="xavier"``: entries N(0, 1/d); ``"xavier_uniform"``: uniform on ``[-sqrt(3/d), sqrt(3/d)]``.
    """
    k = v.positive_int(k, "k")
    d = v.positive_int(d, "d")
    n_runs = v.positive_int(n_runs, "n_runs")
    init = v.choice(init, "init", INITS)
    seed = v.positive_int(seed, "seed", minimum=0)
    out = np.empty((n_runs, k, d))
    sd = 1.0 / math.sqrt(d)
    for r in range(n_runs):
        rng = np.random.default_rng([seed, r])
        if init == "xavier":
            out[r] = rng.normal(0.0, sd, (k, d))
        else:
            out[r] = rng.uniform(-math.sqrt(3.0) * sd, math.sqrt(3.0) * sd, (k, d))
    return out


# ------------------------------------------------------------------------------------------------
# Grouping
# ------------------------------------------------------------------------------------------------

class _Member:
    __slots__ = ("run", "W", "loss", "eig", "kind", "nullity", "grad_norm")

    def __init__(self, run, cp):
        self.run = run
        self.W = np.asarray(cp.W, dtype=float)
        self.loss = float(cp.loss)
        self.eig = np.asarray(cp.eigvals, dtype=float)
        self.kind = str(cp.kind)
        self.nullity = int(cp.nullity)
        self.grad_norm = float(cp.grad_norm)


def _distinct(points: np.ndarray, rtol: float) -> int:
    """Number of distinct states among ``points`` (m, k, d): two are one when their largest entrywise
    difference is at most ``rtol (1 + max|W|)`` (:func:`dynsys.clustering.leader_clusters`)."""
    m = len(points)
    if m == 0:
        return 0
    X = points.reshape(m, -1)
    return len(leader_clusters(X, rtol * (1.0 + float(np.max(np.abs(X)))))[1])


def _canonical_rows(W: np.ndarray, a: np.ndarray, rtol: float) -> np.ndarray:
    """``W`` with its rows sorted by (top weight, rounded entries): states that differ only by
    relabelling hidden units with equal top weights get one canonical form."""
    scale = rtol * (1.0 + float(np.max(np.abs(W)))) if W.size else 1.0
    keys = np.round(W / scale)
    order = np.lexsort(tuple(keys[:, c] for c in range(W.shape[1] - 1, -1, -1)) + (a,))
    return W[order]


def _function_form(model, W: np.ndarray, rtol: float) -> np.ndarray:
    """Canonical form of the network function of ``W``: each group of parallel network rows
    ``v_j = w_j + u_j`` merged into one row ``sum a_j v_j`` (``(sum a_j |v_j|) e`` for exactly parallel
    rows; rows whose contributions cancel dropped), with the sign of ``sum a_j |v_j|`` as a first
    column and as the top weight, rows sorted as in :func:`_canonical_rows`."""
    V = W if model.residual is None else W + model.residual
    a = np.asarray(model.a, dtype=float)
    rows, signs = [], []
    for g in parallel_groups(V, PARALLEL_ATOL, active=a != 0.0):
        # The summed contribution, not |.| times one member's direction: rows of a group that are
        # parallel only to the gradient tolerance deviate in opposite directions, and the sum cancels it.
        r = a[g] @ V[g]
        c = float(np.linalg.norm(r))
        if c > 0.0:
            sg = math.copysign(1.0, float(np.sum(a[g] * np.linalg.norm(V[g], axis=1))))
            rows.append(sg * r)
            signs.append(sg)
    if not rows:
        return np.zeros((0, V.shape[1] + 1))
    # The sign travels as a first column, so it is both the leading sort key and part of the form.
    return _canonical_rows(np.column_stack([signs, rows]), np.array(signs), rtol)


def _n_functions(model, Ws, rtol: float) -> int:
    """Distinct network functions among the states ``Ws`` (up to relabelling hidden units)."""
    forms = [_function_form(model, W, rtol) for W in Ws]
    total = 0
    for shape in sorted({f.shape for f in forms}):
        total += _distinct(np.stack([f for f in forms if f.shape == shape]), rtol)
    return total


# ------------------------------------------------------------------------------------------------
# Census
# ------------------------------------------------------------------------------------------------

def census(model, n_runs=None, *, init="xavier", step=0.1, gtol=1e-9, seed=0, norm="row_max",
           max_steps=10**6, backend="parallel", chunk_size=None, progress=None, refine=True,
           class_rtol=DEDUP_RTOL, point_rtol=CENSUS_POINT_RTOL) -> Census:
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
    backend, chunk_size, progress :
        Passed to :func:`dynsys.flow`.
    refine : bool
        Newton-refine each endpoint before classifying it (the default; ``False`` classifies the
        gradient-descent endpoints as they are).
    class_rtol : float
        Two minima of one kind are one class when their symmetry invariants (the loss relative to the
        teacher energy, row norms relative to the largest teacher row, ...) agree to ``class_rtol``.
    point_rtol : float
        Two endpoints are one point of weight space (for ``multiplicity``) when their entries agree to
        ``point_rtol (1 + max|W|)``.

    Returns
    -------
    Census
        ``classes`` (by increasing loss), ``spurious_fraction`` with ``spurious_interval``,
        ``n_saddle``, ``n_unconverged``, ``n_failed``, per-run ``labels``, ``loss``, ``grad_norm``,
        ``lambda_min`` and ``steps``, the arguments, and ``table()``.
    """
    if not isinstance(model, TeacherStudent):
        raise TypeError(f"model must be a dynsys.TeacherStudent; got {type(model).__name__}")
    k, d = model.k, model.d
    if isinstance(init, str):
        v.choice(init, "init", INITS)
        if n_runs is None:
            raise TypeError("census() needs n_runs (the number of random starts) unless init is an "
                            "array of starts")
        n_runs = v.positive_int(n_runs, "n_runs")
        seed = v.positive_int(seed, "seed", minimum=0)
        W0 = random_starts(k, d, n_runs, init=init, seed=seed)
        init_name = init
    else:
        W0 = v.finite(v.real_array(init, "init"), "init")
        if W0.ndim != 3 or W0.shape[1:] != (k, d) or W0.shape[0] == 0:
            raise ValueError(f"init must be 'xavier', 'xavier_uniform' or an array of starts of shape "
                             f"(n_runs, k, d) = (n_runs, {k}, {d}); got shape {W0.shape}")
        if n_runs is not None and v.positive_int(n_runs, "n_runs") != W0.shape[0]:
            raise ValueError(f"n_runs = {n_runs} does not match the {W0.shape[0]} starts given in init")
        n_runs = W0.shape[0]
        init_name = "array"
    class_rtol = v.real_scalar(class_rtol, "class_rtol", lo=0.0, lo_open=True)
    point_rtol = v.real_scalar(point_rtol, "point_rtol", lo=0.0, lo_open=True)
    if not isinstance(refine, (bool, np.bool_)):
        raise TypeError(f"refine must be True or False; got {refine!r}")

    t0 = time.perf_counter()
    fr = flow(model, W0, method="gd", step=step, gtol=gtol, norm=norm, max_steps=max_steps,
              backend=backend, chunk_size=chunk_size, progress=progress)
    t1 = time.perf_counter()
    labels = np.full(n_runs, LABEL_UNCONVERGED, dtype=np.int64)
    loss = np.full(n_runs, np.nan)
    gnorm = np.full(n_runs, np.nan)
    lam = np.full(n_runs, np.nan)
    status = np.asarray(fr.status)
    labels[(status == Status.DIVERGED) | (status == Status.NONFINITE)] = LABEL_DIVERGED
    labels[status == Status.SINGULAR] = LABEL_SINGULAR
    conv = np.flatnonzero(status == Status.CONVERGED)
    ends = np.asarray(fr.W)[conv]
    if refine and conv.size:
        # One batched Newton call over all endpoints (all cores), then classification as refined.
        ends = np.asarray(newton_refine(model, ends, backend=backend if backend != "cuda" else "parallel").W)
    members: list[_Member] = []
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
            members.append(_Member(int(r), cp))
        else:  # a kind this module does not know: count it as not converged, and say so
            warnings.warn(f"census: run {r} ended at a point of unknown kind {kind!r}; counted as "
                          f"not converged", RuntimeWarning, stacklevel=2)

    # Classes up to symmetry: invariants of the network function (parallel rows merged, so a flat
    # family of split rows is one class), grouped per kind; all global minima are one class.
    reps: list[_Member] = []
    groups: list[list[_Member]] = []
    for kind in MINIMUM_KINDS:
        mk = [mb for mb in members if mb.kind == kind]
        if not mk:
            continue
        if kind == "global_minimum":
            lab, first = np.zeros(len(mk), dtype=np.int64), np.zeros(1, dtype=np.int64)
        else:
            lab, first = ragged_leader_clusters([invariants(model, mb.W, merge_parallel=True) for mb in mk], class_rtol)
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
            kind=rep.kind, count=count, fraction=count / n_runs, interval=wilson_interval(count, n_runs),
            loss=rep.loss, lambda_min=float(rep.eig[0]), lambda_max=float(rep.eig[-1]),
            grad_norm=float(max(mb.grad_norm for mb in grp)),
            multiplicity=_distinct(pts, point_rtol), n_functions=_n_functions(model, pts, point_rtol),
            nullity=rep.nullity, W=rep.W, first_run=rep.run))
    t2 = time.perf_counter()

    n_spur = sum(c.count for c in classes if c.kind == "spurious_minimum")
    n_glob = sum(c.count for c in classes if c.kind == "global_minimum")
    for arr in (labels, loss, gnorm, lam):
        arr.setflags(write=False)
    return Census(
        classes=tuple(classes), labels=labels, n_runs=n_runs,
        n_saddle=int(np.sum(labels == LABEL_SADDLE)), n_unconverged=int(np.sum(labels == LABEL_UNCONVERGED)),
        n_failed=int(np.sum((labels == LABEL_DIVERGED) | (labels == LABEL_SINGULAR))),
        spurious_fraction=n_spur / n_runs, spurious_interval=wilson_interval(n_spur, n_runs),
        global_fraction=n_glob / n_runs, global_interval=wilson_interval(n_glob, n_runs),
        loss=loss, grad_norm=gnorm, lambda_min=lam, steps=np.asarray(fr.steps),
        k=k, k_star=model.k_star, d=d, step=float(step), gtol=float(gtol), norm=norm,
        max_steps=int(max_steps), seed=seed if init_name != "array" else None, init=init_name,
        flow_time=t1 - t0, classify_time=t2 - t1)


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
        against k with 95% Wilson intervals.
    """
    try:
        ks = tuple(ks)
    except TypeError:
        raise TypeError(f"ks must be an iterable of positive integers; got {ks!r}") from None
    if not ks:
        raise ValueError("ks must hold at least one k")
    ks = tuple(v.positive_int(k, "ks[i]") for k in ks)
    n_runs = v.positive_int(n_runs, "n_runs")
    k_extra = v.positive_int(k_extra, "k_extra", minimum=0)
    if "n_runs" in kwargs or "model" in kwargs:
        raise TypeError("census_sweep builds the models itself; pass ks and n_runs only")
    bar = _progress.reporter(progress, len(ks) * n_runs, "census sweep", "run")
    shared = _Shared(bar)
    out = []
    try:
        for k in ks:
            model = TeacherStudent(np.eye(k), k=k + k_extra)
            out.append(census(model, n_runs, init=init, step=step, gtol=gtol, seed=seed,
                              progress=shared, **kwargs))
    finally:
        bar.close()
    return CensusSweep(ks=ks, k_extra=k_extra, censuses=tuple(out))
