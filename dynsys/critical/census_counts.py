"""What a census counts at its minima: distinct points of weight space and distinct network functions.

Used by :func:`dynsys.critical.census.package_census` once per class of minima: a class's
``multiplicity`` is the number of distinct states among its members (:func:`distinct_states`),
its ``n_functions`` the number of distinct network functions (:func:`n_functions`: parallel rows
merged, hidden units relabelled).
"""

from __future__ import annotations

import math

import numpy as np

from ..clustering import leader_clusters
from ..config import PARALLEL_ATOL
from ..systems.symmetry import parallel_groups



class Member:
    """One census run that ended at a minimum: its run index and what grouping needs of its point."""

    __slots__ = ("run", "W", "loss", "eig", "kind", "nullity", "grad_norm")

    def __init__(self, run, cp):
        self.run = run
        self.W = np.asarray(cp.W, dtype=float)
        self.loss = float(cp.loss)
        self.eig = np.asarray(cp.eigvals, dtype=float)
        self.kind = str(cp.kind)
        self.nullity = int(cp.nullity)
        self.grad_norm = float(cp.grad_norm)


def distinct_states(points: np.ndarray, rtol: float) -> int:
    """Number of distinct states among ``points`` (m, k, d): two are one when their largest entrywise
    difference is at most ``rtol (1 + max|W|)`` (:func:`dynsys.clustering.leader_clusters`)."""
    m = len(points)
    if m == 0:
        return 0
    X = points.reshape(m, -1)
    return len(leader_clusters(X, rtol * (1.0 + float(np.max(np.abs(X)))))[1])


def canonical_rows(W: np.ndarray, a: np.ndarray, rtol: float) -> np.ndarray:
    """``W`` with its rows sorted by (top weight, rounded entries): states that differ only by
    relabelling hidden units with equal top weights get one canonical form."""
    scale = rtol * (1.0 + float(np.max(np.abs(W)))) if W.size else 1.0
    keys = np.round(W / scale)
    order = np.lexsort(tuple(keys[:, c] for c in range(W.shape[1] - 1, -1, -1)) + (a,))
    return W[order]


def function_form(model, W: np.ndarray, rtol: float) -> np.ndarray:
    """Canonical form of the network function of ``W``: each group of parallel network rows
    ``v_j = w_j + u_j`` merged into one row ``sum a_j v_j`` (``(sum a_j |v_j|) e`` for exactly parallel
    rows; rows whose contributions cancel dropped), with the sign of ``sum a_j |v_j|`` as a first
    column and as the top weight, rows sorted as in :func:`canonical_rows`."""
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
    return canonical_rows(np.column_stack([signs, rows]), np.array(signs), rtol)


def n_functions(model, Ws, rtol: float) -> int:
    """Distinct network functions among the states ``Ws`` (up to relabelling hidden units)."""
    forms = [function_form(model, W, rtol) for W in Ws]
    total = 0
    for shape in sorted({f.shape for f in forms}):
        total += distinct_states(np.stack([f for f in forms if f.shape == shape]), rtol)
    return total
