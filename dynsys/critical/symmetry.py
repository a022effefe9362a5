"""Symmetry in the critical layer: nullity it explains, invariants, and deduplication of points.

Each system says what its symmetry is through the system protocol (:mod:`dynsys.systems.base`):
``nullity_expected`` (the Hessian nullity the symmetry explains at a point) and ``invariants`` (a
vector equal at two points exactly when the symmetry relates them; for the teacher-student model see
:mod:`dynsys.systems.symmetry`). Here the critical layer calls them, compares points
(:func:`same_point`) and groups many points into classes (:func:`group`).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validate as v
from ..config import DEDUP_RTOL, PARALLEL_ATOL
from .shared import check_system


def nullity_expected(model, W, parallel_atol=PARALLEL_ATOL) -> int:
    """The Hessian nullity that the system's symmetry explains at ``W`` (MATH.md section 4, Theorem 2
    for the teacher-student model: :func:`dynsys.systems.symmetry.nullity_expected`).

    ``parallel_atol`` is the angle (radians) within which rows count as parallel, and the relative
    size below which a component outside the teacher's span counts as zero.
    """
    check_system(model)
    v.real_scalar(parallel_atol, "parallel_atol", lo=0.0, lo_open=True)
    return int(model.nullity_expected(W, parallel_atol))


def invariants(model, W, *, merge_parallel=False, parallel_atol=PARALLEL_ATOL) -> np.ndarray:
    """Invariant vector of a point under the system's symmetry (the protocol's ``invariants``).

    Parameters
    ----------
    model : System
    W : array_like, one state
        A non-singular point.
    merge_parallel : bool
        Teacher-student: describe the network *function* (parallel student rows merged into one; see
        :func:`dynsys.systems.symmetry.invariants`). Ignored by systems without rows.

    Returns
    -------
    ndarray, shape (n_inv,)
        Its first entry is a normalised loss (points are bucketed on it).
    """
    return np.asarray(model.invariants(np.asarray(W, dtype=float), merge_parallel=merge_parallel,
                                       parallel_atol=parallel_atol), dtype=float)


def _check_tol(tol) -> float:
    return v.real_scalar(tol, "tol", lo=0.0, lo_open=True)


def same_point(model, W1, W2, tol=DEDUP_RTOL, *, merge_parallel=False, parallel_atol=PARALLEL_ATOL) -> bool:
    """Whether two points are one up to the model's symmetry (their :func:`invariants` agree to ``tol``)."""
    tol = _check_tol(tol)
    x = invariants(model, W1, merge_parallel=merge_parallel, parallel_atol=parallel_atol)
    y = invariants(model, W2, merge_parallel=merge_parallel, parallel_atol=parallel_atol)
    return x.shape == y.shape and bool(np.max(np.abs(x - y), initial=0.0) <= tol)


def group(vectors, tol=DEDUP_RTOL):
    """Classes of invariant vectors that agree entry by entry to ``tol``, in order of first member.

    Parameters
    ----------
    vectors : sequence of 1-D arrays
        One invariant vector per point (lengths may differ: vectors of different lengths never match).
    tol : float

    Returns
    -------
    labels : ndarray of int64, shape (n,)
        Class of each point; classes are numbered by their first member.
    first : ndarray of int64, shape (n_classes,)
        The first member (representative) of each class.

    Notes
    -----
    Greedy: each point joins the first class whose representative it matches. Candidates come from
    buckets of width ``tol`` on the first entry (the normalised loss), so the work is O(n) times the
    number of classes with nearly the same loss.
    """
    tol = _check_tol(tol)
    labels = np.empty(len(vectors), dtype=np.int64)
    first: list[int] = []
    buckets: dict[tuple, list] = {}
    for i, x in enumerate(vectors):
        x = np.asarray(x, dtype=float)
        b = math.floor(x[0] / tol) if x.size else 0
        found = -1
        for bb in (b - 1, b, b + 1):
            for c in buckets.get((x.size, bb), ()):
                y = np.asarray(vectors[first[c]], dtype=float)
                if np.max(np.abs(x - y), initial=0.0) <= tol and (found < 0 or c < found):
                    found = c
        if found < 0:
            found = len(first)
            first.append(i)
            buckets.setdefault((x.size, b), []).append(found)
        labels[i] = found
    return labels, np.array(first, dtype=np.int64)
