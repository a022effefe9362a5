"""Grouping near-equal vectors: the one clustering rule of dynsys.

Deduplication (critical points up to symmetry, census endpoints, fixed points of the reduced
system, saddles found by eigenvector following) always asks the same question: which of these
vectors are "the same" to a tolerance in the max-norm? :func:`leader_clusters` answers it with the
greedy leader rule, candidates from a k-d tree (``scipy.spatial.cKDTree``, Chebyshev distance):

- points are visited in the given order; a point within ``tol`` of an earlier leader joins the
  earliest such leader's class, otherwise it becomes the leader of a new class;
- classes are numbered by their leader, so labels depend only on the order of the input.

The rule is not transitive (a chain of points ``tol`` apart can span more than ``tol``), which is
why the order is part of the contract: callers pass points in a reproducible order (seed order,
run order), and the result is then reproducible too.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def leader_clusters(X, tol: float):
    """Greedy leader clustering of the rows of ``X`` in the max-norm.

    Parameters
    ----------
    X : array_like, shape (n, m)
        One vector per row (finite).
    tol : float
        Two vectors are the same when ``max_i |x_i - y_i| <= tol`` (>= 0).

    Returns
    -------
    labels : ndarray of int64, shape (n,)
        Class of each row, numbered by first appearance.
    first : ndarray of int64, shape (n_classes,)
        The leader (first row) of each class.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d array (one vector per row); got shape {X.shape}")
    if not (tol >= 0.0 and np.isfinite(tol)):
        raise ValueError(f"tol must be a finite number >= 0; got {tol!r}")
    n = X.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    first: list[int] = []
    if n == 0:
        return labels, np.zeros(0, dtype=np.int64)
    if X.shape[1] == 0:  # empty vectors are all equal
        labels[:] = 0
        return labels, np.zeros(1, dtype=np.int64)
    tree = cKDTree(X)
    for i in range(n):
        if labels[i] >= 0:
            continue
        c = len(first)
        first.append(i)
        near = np.asarray(tree.query_ball_point(X[i], tol, p=np.inf), dtype=np.int64)
        # a point before i is already labelled (by an earlier leader, or as one itself)
        near = near[labels[near] < 0]
        labels[near] = c
    return labels, np.array(first, dtype=np.int64)


def ragged_leader_clusters(vectors, tol: float):
    """:func:`leader_clusters` for vectors of different lengths (different lengths never match).

    Returns the same ``(labels, first)``, classes numbered by first appearance over all vectors.
    """
    vectors = [np.asarray(x, dtype=float).ravel() for x in vectors]
    n = len(vectors)
    labels = np.empty(n, dtype=np.int64)
    leaders = np.empty(n, dtype=np.int64)
    by_len: dict[int, list[int]] = {}
    for i, x in enumerate(vectors):
        by_len.setdefault(x.size, []).append(i)
    for idx in by_len.values():
        sub, sub_first = leader_clusters(np.stack([vectors[i] for i in idx]), tol)
        leaders[idx] = np.asarray(idx)[sub_first[sub]]
    # renumber classes by their leader's position, i.e. by first appearance
    first = np.unique(leaders)
    labels[:] = np.searchsorted(first, leaders)
    return labels, first
