"""Labels of a basin map: the batched classification of a chunk's endpoints, and canonical labels.

Two steps, split so that the first is per chunk (any process, any order) and the second sees every
cell once (docs/basins.md):

1. :func:`classify_ends` (per chunk) refines the chunk's converged endpoints by one batched Newton
   call, then forms all their Hessians in one batched call and their spectra in one batched
   ``eigvalsh``, and gives each cell an *outcome*: a reserved label (diverged, not converged,
   singular, saddle, not computed) or the kind of minimum it reached (the precedence of
   :func:`dynsys.classify`, docs/math.md section 4), with the teacher row each student row matches
   for a global minimum. Every endpoint's Hessian is checked: a saddle is never an attractor.
2. :func:`canonical_labels` (at packaging) turns outcomes into attractor labels that do not depend
   on chunks, order, resume or executor: global minima by the rank of their assignment of student
   rows to teacher rows (lexicographic; for k = k* a permutation), other minima as points of weight
   space grouped into symmetry classes, ordered by class and then by the first cell that reached
   them. Known attractors passed in keep their labels.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._codes import (CONVERGED, DIVERGED, INTERRUPTED, LABEL_DIVERGED, LABEL_NOT_COMPUTED,
                      LABEL_SADDLE, LABEL_SINGULAR, LABEL_UNCONVERGED, NONFINITE, SINGULAR)
from ..clustering import leader_clusters, ragged_leader_clusters
from ..critical.classify import teacher_match
from ..critical.newton import refine as newton_refine
from ..critical.shared import kernel_shape
from ..results.basins import KINDS

#: Outcome codes of a cell that reached a minimum (>= 0), indices of ``KINDS`` (the one list of
#: kinds, shared with the result); reserved labels are the negative codes.
GLOBAL, SPURIOUS, MINIMUM, DEGENERATE = range(4)


@dataclasses.dataclass(frozen=True)
class Tolerances:
    """Classification tolerances of a basin map (validated by :func:`dynsys.basins.plan_basins`)."""

    gtol: float           #: critical when the refined row-max gradient norm is at most this
    eig_rtol: float       #: an eigenvalue is zero when ``|lambda| <= eig_rtol max|lambda|``
    loss_rtol: float      #: global when ``loss <= min_value + loss_rtol * loss_scale``
    parallel_atol: float  #: rows parallel within this angle (assignment, expected nullity)
    point_rtol: float     #: two endpoints are one point when entries agree to ``point_rtol (1 + max|W|)``
    class_rtol: float     #: two points are one symmetry class when their invariants agree to this


@dataclasses.dataclass(frozen=True)
class Ends:
    """Classified endpoints of ``m`` cells (arrays of ``m`` rows)."""

    outcome: np.ndarray     #: int8: a reserved label (< 0) or a kind code of :data:`KINDS`
    assign: np.ndarray      #: int16 (m, rows): teacher row of each student row (global minima), else -1
    loss: np.ndarray        #: loss at the refined endpoint (NaN where none)
    grad_norm: np.ndarray   #: its row-max gradient norm
    lambda_min: np.ndarray  #: its smallest Hessian eigenvalue
    W: np.ndarray           #: the refined endpoint of cells that reached a minimum or a saddle (NaN elsewhere)


def _rows(model) -> int:
    return int(kernel_shape(tuple(model.state_shape))[0])


def classify_ends(model, W, status, tol: Tolerances, backend="parallel") -> Ends:
    """Outcome of each cell from its flow endpoint ``W`` (m, state) and flow ``status`` (m,).

    Batched: one Newton call, one Hessian batch and one ``eigvalsh`` batch for all converged
    endpoints (the per-point Python work is limited to points that are neither saddles nor global
    minima with an unambiguous assignment).
    """
    m = W.shape[0]
    shape = tuple(model.state_shape)
    outcome = np.full(m, LABEL_UNCONVERGED, dtype=np.int8)
    outcome[(status == DIVERGED) | (status == NONFINITE)] = LABEL_DIVERGED
    outcome[status == SINGULAR] = LABEL_SINGULAR
    outcome[status == INTERRUPTED] = LABEL_NOT_COMPUTED
    assign = np.full((m, _rows(model)), -1, dtype=np.int16)
    loss = np.full(m, np.nan)
    gnorm = np.full(m, np.nan)
    lam = np.full(m, np.nan)
    Wend = np.full(W.shape, np.nan)
    conv = np.flatnonzero(status == CONVERGED)
    if conv.size == 0:
        return Ends(outcome, assign, loss, gnorm, lam, Wend)
    nr = newton_refine(model, W[conv], backend=backend)
    R = np.asarray(nr.W, dtype=float).reshape((conv.size,) + shape)
    sing = np.asarray(nr.status) == SINGULAR
    outcome[conv[sing]] = LABEL_SINGULAR
    ok = np.flatnonzero(~sing)
    if ok.size == 0:
        return Ends(outcome, assign, loss, gnorm, lam, Wend)
    cells, R = conv[ok], R[ok]
    gn = np.asarray(nr.residual, dtype=float)[ok]
    f, st = model.loss(R, backend=backend, return_status=True)
    H, st_h = model.hessian(R, backend=backend, return_status=True)
    bad = (np.asarray(st) != 0) | (np.asarray(st_h) != 0)
    outcome[cells[bad]] = LABEL_SINGULAR
    good = ~bad
    cells, R, gn = cells[good], R[good], gn[good]
    f = np.asarray(f, dtype=float)[good]
    eig = np.linalg.eigvalsh(np.asarray(H, dtype=float)[good])
    emax = np.max(np.abs(eig), axis=1)
    etol = tol.eig_rtol * emax
    index = np.sum(eig < -etol[:, None], axis=1)
    nullity = np.sum(np.abs(eig) <= etol[:, None], axis=1)
    loss[cells], gnorm[cells], lam[cells] = f, gn, eig[:, 0]

    known_min = math.isfinite(model.min_value)
    loss_tol = tol.loss_rtol * model.loss_scale
    crit = gn <= tol.gtol
    outcome[cells[~crit]] = LABEL_UNCONVERGED
    outcome[cells[crit & (index > 0)]] = LABEL_SADDLE
    minimum = crit & (index == 0)
    glob = minimum & known_min & (f <= model.min_value + loss_tol)
    outcome[cells[glob]] = GLOBAL
    if model.permutes_teacher and np.any(glob):
        assign[cells[glob]] = assignments(model, R[glob], tol.parallel_atol)
    for i in np.flatnonzero(minimum & ~glob):
        # The expected nullity needs the parallel groups of one point (Python): asked only where
        # there is a zero eigenvalue to explain.
        if nullity[i] > 0 and nullity[i] > model.nullity_expected(R[i], tol.parallel_atol):
            outcome[cells[i]] = DEGENERATE
        else:
            outcome[cells[i]] = SPURIOUS if known_min else MINIMUM
    # minima for their labels, saddles for the map's saddle markers
    keep = minimum | (crit & (index > 0))
    Wend[cells[keep]] = R[keep]
    return Ends(outcome, assign, loss, gnorm, lam, Wend)


def assignments(model, R, parallel_atol) -> np.ndarray:
    """:func:`dynsys.critical.teacher_match` of each state of ``R`` (n, k, d), as int16 (n, k).

    Vectorised for the common case, every student row parallel to the teacher row of largest cosine
    (then ``teacher_match`` gives exactly that row, whatever its assignment step chose); the rest go
    through ``teacher_match`` one by one.
    """
    A = model.arrays
    V = R if A.U.size == 0 else R + A.U
    Rr = A.a[None, :, None] * V
    S = A.a_star[:, None] * A.T
    rn = np.linalg.norm(Rr, axis=2)
    sn = np.linalg.norm(S, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        C = np.clip(np.einsum("njd,kd->njk", Rr, S) / (rn[:, :, None] * sn[None, None, :]), -1.0, 1.0)
    C[~((rn[:, :, None] > 0) & (sn[None, None, :] > 0))] = -2.0
    best = np.argmax(C, axis=2)
    cb = np.take_along_axis(C, best[:, :, None], axis=2)[:, :, 0]
    scale = rn.max(axis=1)
    sin = np.sqrt(np.maximum(0.0, 1.0 - cb * cb))
    par = (cb > 0.0) & (rn * sin <= parallel_atol * scale[:, None])
    out = best.astype(np.int16)
    for i in np.flatnonzero(~np.all(par, axis=1)):
        out[i] = teacher_match(model, R[i], parallel_atol)
    return out


@dataclasses.dataclass(frozen=True)
class Table:
    """The attractor table that :func:`canonical_labels` builds (one row per label, in label order)."""

    labels: np.ndarray        #: per cell: attractor label or reserved label
    kind: tuple               #: per attractor: a name of :data:`KINDS`
    class_id: np.ndarray      #: per attractor: its symmetry class (0 = the global minima when reached)
    first_cell: np.ndarray    #: per attractor: the first cell that reached it (-1: known, not reached)
    assign: tuple             #: per attractor: int16 assignment of a global minimum, or None
    W: tuple                  #: per attractor: a representative point


def _point_key_cells(outcome, assign, permutes):
    """Cells labelled by an assignment, and cells labelled as points of weight space."""
    att = outcome >= 0
    by_assign = att & (outcome == GLOBAL) & np.all(assign >= 0, axis=1) & permutes
    return np.flatnonzero(by_assign), np.flatnonzero(att & ~by_assign)


def canonical_labels(model, outcome, assign, W, loss, tol: Tolerances, known=None) -> Table:
    """Attractor labels of all cells (see the module docstring), with the attractor table.

    Parameters
    ----------
    outcome, assign, W, loss : arrays over all n cells (as in :class:`Ends`)
    known : sequence of Attractor, optional
        Attractors of an earlier map (``BasinResult.attractors``): one reached again keeps its label
        (same assignment, or the same point to ``point_rtol``); new ones are numbered after them.
    """
    n = outcome.shape[0]
    labels = np.where(outcome < 0, outcome, -99).astype(np.int64)
    ca, cp = _point_key_cells(outcome, assign, bool(model.permutes_teacher))

    # global minima by assignment: np.unique sorts the rows lexicographically (the rank)
    entries = []   # (sort key, kind, class_key, cells(first), assign, W)
    if ca.size:
        keys, inv = np.unique(assign[ca], axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        first = np.full(keys.shape[0], n, dtype=np.int64)
        np.minimum.at(first, inv, ca)
        for g in range(keys.shape[0]):
            entries.append({"group": ("a", g), "kind": GLOBAL, "first": int(first[g]),
                            "assign": keys[g].astype(np.int16), "cells": ca[inv == g]})
    # other minima: points of weight space (leader rule in cell order), then symmetry classes
    if cp.size:
        X = W[cp].reshape(cp.size, -1)
        ptol = tol.point_rtol * (1.0 + float(np.max(np.abs(X))))
        # one kind per point: cluster each kind apart, in cell order
        for kind in np.unique(outcome[cp]):
            sub = cp[outcome[cp] == kind]
            lab, first = leader_clusters(W[sub].reshape(sub.size, -1), ptol)
            for g, f in enumerate(first):
                entries.append({"group": ("p", int(kind), g), "kind": int(kind), "first": int(sub[f]),
                                "assign": None, "cells": sub[lab == g]})
    # symmetry classes: all global minima are class 0; the other points of each kind by their
    # invariants (the census rule: parallel rows merged), classes numbered by (loss, first cell)
    off = 1 if any(e["kind"] == GLOBAL for e in entries) else 0
    classes = []   # (loss of the representative, its first cell, members)
    for kind in sorted({e["kind"] for e in entries if e["kind"] != GLOBAL}):
        pts = [e for e in entries if e["kind"] == kind]
        lab, first = ragged_leader_clusters(
            [model.invariants(W[e["first"]], merge_parallel=True, parallel_atol=tol.parallel_atol)
             for e in pts], tol.class_rtol)
        for c, f in enumerate(first):
            rep = pts[int(f)]
            classes.append((loss[rep["first"]], rep["first"], [e for e, lc in zip(pts, lab) if lc == c]))
    classes.sort(key=lambda c: (c[0], c[1]))
    for e in entries:
        e["class"] = 0
    for rank, (_, _, members) in enumerate(classes):
        for e in members:
            e["class"] = rank + off

    def canon(e):
        if e["assign"] is not None:
            return (0, 0, tuple(int(x) for x in e["assign"]), 0)
        return (1 if e["kind"] == GLOBAL else 2, e["class"], (), e["first"])
    entries.sort(key=canon)

    kinds, cids, firsts, assigns, reps = [], [], [], [], []
    if known:
        for a in known:
            kinds.append(a.kind)
            cids.append(int(a.class_id))
            firsts.append(-1)
            assigns.append(None if a.assignment is None else np.asarray(a.assignment, dtype=np.int16))
            reps.append(np.asarray(a.W, dtype=float))
    n_known = len(kinds)
    for e in entries:
        lab_ = _match_known(e, W, kinds[:n_known], assigns[:n_known], reps[:n_known], tol)
        if lab_ is None:
            lab_ = len(kinds)
            kinds.append(KINDS[e["kind"]])
            cids.append(e["class"])
            firsts.append(e["first"])
            assigns.append(e["assign"])
            reps.append(np.array(W[e["first"]]))
        elif firsts[lab_] < 0:
            firsts[lab_] = e["first"]
        labels[e["cells"]] = lab_
    return Table(labels=labels, kind=tuple(kinds), class_id=np.asarray(cids, dtype=np.int64),
                 first_cell=np.asarray(firsts, dtype=np.int64), assign=tuple(assigns), W=tuple(reps))


def _match_known(e, W, kinds, assigns, reps, tol):
    for lab, (kd, asg, rep) in enumerate(zip(kinds, assigns, reps)):
        if e["assign"] is not None:
            if asg is not None and np.array_equal(asg, e["assign"]):
                return lab
        elif asg is None and kd == KINDS[e["kind"]] and rep.shape == W[e["first"]].shape:
            x = W[e["first"]]
            if np.max(np.abs(rep - x)) <= tol.point_rtol * (1.0 + float(np.max(np.abs(x)))):
                return lab
    return None


__all__ = ["DEGENERATE", "Ends", "GLOBAL", "KINDS", "MINIMUM", "SPURIOUS", "Table", "Tolerances",
           "assignments", "canonical_labels", "classify_ends"]
