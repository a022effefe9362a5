"""Critical points reached by Newton from many seeds: refined, deduplicated up to the system's
symmetry and classified (:func:`find_critical_points`).

The top of the critical layer's one direction of imports: :mod:`.shared` <- :mod:`.newton` <-
:mod:`.classify` <- this module.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import numpy as np

from .. import _validate as v
from .. import progress as _progress
from ..certify import certify as certify_points
from ..clustering import ragged_leader_clusters
from .._codes import INTERRUPTED
from ..config import (DEDUP_RTOL, DEFLATION_MAX_ROOTS, EIG_RTOL, FIND_CHUNK_S, FIND_FIRST_CHUNK, FIND_INTERRUPT_S,
                      LOSS_RTOL, NEWTON_MAX_STEPS, PARALLEL_ATOL)
from ..results import CriticalSet, Status
from . import symmetry
from .classify import EIG_METHODS, classify_at, classify_tolerances
from .newton import deflate, refine
from .shared import as_seeds, check_system, resolve_gtol, state_shape

METHODS = ("newton",)


def find_critical_points(model, seeds, *, method="newton", deflation=False, gtol=None,
                         max_steps=NEWTON_MAX_STEPS, dedup_tol=None, merge_parallel=False,
                         crit_gtol=None, eig_rtol=None, loss_rtol=None, eig_method="auto",
                         parallel_atol=None, backend="parallel", certify=False):
    """Critical points reached by Newton from many seeds, deduplicated up to symmetry and classified.

    Parameters
    ----------
    model : System
        Any system of the protocol (:mod:`dynsys.systems.base`).
    seeds : array_like, a batch (n, ...) of states or one state (shape ``model.state_shape``)
        Flow endpoints, random states, user arrays. Must be finite.
    method : {"newton"}
        Batched damped Newton / Levenberg-Marquardt with the exact Hessian
        (:func:`dynsys.critical.newton.refine`, kernel :mod:`dynsys.kernels.newton`).
    deflation : bool or int
        After each seed's first root, look for up to this many more from the same seed by deflation
        (:func:`dynsys.critical.newton.deflate`; True means ``DEFLATION_MAX_ROOTS``). NumPy speed: for few seeds.
    gtol : float, optional
        Newton's tolerance (row-max norm; default ``NEWTON_GTOL * S``, 1e-12 relative).
    max_steps : int
    dedup_tol : float, optional
        Tolerance on the normalised invariants (default ``DEDUP_RTOL`` = 1e-6); see
        :mod:`dynsys.critical.symmetry`.
    merge_parallel : bool
        Also merge points that differ only in how mass is split between parallel student rows (the same
        network function; a flat family such as a teacher row split between two student rows).
    crit_gtol, eig_rtol, loss_rtol, eig_method, parallel_atol :
        Classification settings (see :func:`dynsys.critical.classify.classify`). A seed whose Newton run
        stalled with its gradient already at or below ``crit_gtol`` still reached a critical point.
    backend : {"parallel", "cpu"}
    certify : bool
        Certify each point (:func:`dynsys.certify`, TeacherStudent models): ``CriticalSet.certificates``.

    Returns
    -------
    CriticalSet
        Distinct points ordered by the first seed that reached each, with per-point seed counts and
        per-seed labels (-1: reached no critical point; see ``status`` and ``residual``). After
        Ctrl-C: the points of the seeds done so far; the others have status ``INTERRUPTED`` and
        label -1. Newton runs in chunks of about ``config.FIND_CHUNK_S`` seconds and stops after
        the running one (a second Ctrl-C abandons it); then deflation is skipped, and deduplication
        and classification of the seeds done get ``config.FIND_INTERRUPT_S`` seconds each (a
        Ctrl-C during them stops them at once).
    """
    check_system(model)
    v.choice(method, "method", METHODS)
    if isinstance(deflation, (bool, np.bool_)):
        n_defl = DEFLATION_MAX_ROOTS if deflation else 0
    else:
        n_defl = v.positive_int(deflation, "deflation", minimum=0)
    dedup_tol = DEDUP_RTOL if dedup_tol is None else v.real_scalar(dedup_tol, "dedup_tol", lo=0.0, lo_open=True)
    tols = classify_tolerances(model, crit_gtol, EIG_RTOL if eig_rtol is None else eig_rtol,
                               LOSS_RTOL if loss_rtol is None else loss_rtol,
                               PARALLEL_ATOL if parallel_atol is None else parallel_atol)
    v.choice(eig_method, "eig_method", EIG_METHODS)
    if not isinstance(certify, (bool, np.bool_)):
        raise TypeError(f"certify must be True or False; got {certify!r}")
    X0, _ = as_seeds(model, seeds)
    shape = state_shape(model)
    S0 = X0.reshape((X0.shape[0],) + shape)
    Wout, status, residual, before, newton_gtol, interrupted = _refine_chunks(model, S0, gtol, max_steps,
                                                                               backend)
    crit_gtol = tols[0]
    reached = (status == Status.CONVERGED) | (((status == Status.STALLED) | (status == Status.MAX_STEPS))
                                              & (residual <= crit_gtol))
    # candidates in seed order: (seed, state); deflated roots follow their seed's own root
    cand_seed = [int(i) for i in np.flatnonzero(reached)]
    cand_W = [Wout[i] for i in cand_seed]
    cand_main = [True] * len(cand_seed)
    if n_defl > 0 and not interrupted:
        known = list(cand_W)
        extra_seed, extra_W = [], []
        try:
            for i in range(S0.shape[0]):
                for _ in range(n_defl):
                    Wn, st = deflate(model, S0[i], known, gtol=gtol, max_steps=max_steps)
                    if Wn is None:
                        break
                    known.append(Wn)
                    extra_seed.append(i)
                    extra_W.append(Wn)
        except KeyboardInterrupt:  # Ctrl-C: the roots deflated so far
            interrupted = True
        order = np.argsort(np.array(cand_seed + extra_seed, dtype=np.int64), kind="stable")
        allW = cand_W + extra_W
        cand_main = [j < len(cand_seed) for j in order]
        cand_seed = [(cand_seed + extra_seed)[j] for j in order]
        cand_W = [allW[j] for j in order]
    inv = _until(cand_W, lambda Wc: symmetry.invariants(model, Wc, merge_parallel=merge_parallel,
                                                         parallel_atol=tols[3]), interrupted)
    if len(inv) < len(cand_W):  # Ctrl-C: the seeds of the candidates not reached are not done
        interrupted = True
        for j in range(len(inv), len(cand_W)):
            if cand_main[j]:
                status[cand_seed[j]] = INTERRUPTED
        cand_seed, cand_W, cand_main = cand_seed[:len(inv)], cand_W[:len(inv)], cand_main[:len(inv)]
    cls, first = ragged_leader_clusters(inv, dedup_tol) if inv else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    labels = np.full(S0.shape[0], -1, dtype=np.int64)
    counts = np.zeros(len(first), dtype=np.int64)
    seen = set()
    for j, c in enumerate(cls):
        s = cand_seed[j]
        if cand_main[j]:
            labels[s] = c
        if (s, int(c)) not in seen:
            seen.add((s, int(c)))
            counts[c] += 1

    def classified(j):
        s = cand_seed[j]
        return classify_at(model, cand_W[j], before[s], status[s] if cand_main[j] else Status.CONVERGED,
                           True, *tols, eig_method=eig_method)
    points = _until(first, classified, interrupted)
    if len(points) < len(first):  # Ctrl-C: the points classified so far; the others' seeds are not done
        gone = labels >= len(points)
        labels[gone] = -1
        status[gone] = INTERRUPTED
        first, counts = first[:len(points)], counts[:len(points)]
    seed_index = np.array([cand_seed[j] for j in first], dtype=np.int64)
    for arr in (counts, seed_index, labels, status, residual):
        arr.setflags(write=False)
    cs = CriticalSet(points=tuple(points), counts=counts, seed_index=seed_index, labels=labels,
                     status=status, residual=residual, gtol=newton_gtol, dedup_tol=dedup_tol)
    if certify and points:
        cs = dataclasses.replace(cs, certificates=certify_points(model, cs))
    return cs


def _refine_chunks(model, S0, gtol, max_steps, backend):
    """:func:`refine` of the seeds ``S0`` in chunks, each under :func:`dynsys.progress.watch`: Ctrl-C
    ends the call after the running chunk, and the seeds not refined keep status ``INTERRUPTED``.

    Chunks change nothing in a seed's result (seeds are independent). The first has
    ``FIND_FIRST_CHUNK`` seeds; later ones about ``FIND_CHUNK_S`` seconds at the rate so far,
    growing at most 4x a time. Returns ``(W, status, residual, residual_before, gtol, interrupted)``.
    """
    gtol = resolve_gtol(model, gtol)
    n = S0.shape[0]
    W = np.array(S0, dtype=float)
    status = np.full(n, INTERRUPTED, dtype=np.int8)
    residual = np.full(n, np.nan)
    before = np.full(n, np.nan)
    stop = np.zeros(1, dtype=np.int8)  # Newton does not poll it: a Ctrl-C waits for the chunk
    lo, size = 0, min(n, FIND_FIRST_CHUNK)
    interrupted = False
    t0 = time.perf_counter()
    try:
        while lo < n:
            hi = min(n, lo + size)
            res, interrupted = _progress.watch(
                functools.partial(refine, model, S0[lo:hi], gtol=gtol, max_steps=max_steps, backend=backend),
                stop, lambda: None)
            if res is not None:
                W[lo:hi] = res.W
                status[lo:hi] = res.status
                residual[lo:hi] = res.residual
                before[lo:hi] = res.residual_before
            if interrupted:
                break
            lo = hi
            rate = lo / max(time.perf_counter() - t0, 1e-9)
            size = max(1, min(4 * size, int(rate * FIND_CHUNK_S)))
    except KeyboardInterrupt:  # Ctrl-C between two chunks: the chunks so far
        interrupted = True
    return W, status, residual, before, gtol, interrupted


def _until(items, fn, interrupted):
    """``[fn(x) for x in items]`` until Ctrl-C, or after an earlier Ctrl-C (``interrupted``) until
    ``FIND_INTERRUPT_S`` seconds have passed: the results so far, a prefix."""
    deadline = time.monotonic() + FIND_INTERRUPT_S if interrupted else math.inf
    out = []
    try:
        for x in items:
            if time.monotonic() > deadline:
                break
            out.append(fn(x))
    except KeyboardInterrupt:
        pass
    return out
