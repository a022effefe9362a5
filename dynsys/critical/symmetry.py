"""Symmetry in the critical layer: nullity it explains, invariants, and deduplication of points.

Each system says what its symmetry is through the system protocol (:mod:`dynsys.systems.base`):
``nullity_expected`` (the Hessian nullity the symmetry explains at a point) and ``invariants`` (a
vector equal at two points exactly when the symmetry relates them; for the teacher-student model see
:mod:`dynsys.systems.symmetry`). Here the critical layer calls them, compares points
(:func:`same_point`); classes of many points come from
:func:`dynsys.clustering.ragged_leader_clusters` on their invariants.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from ..config import DEDUP_RTOL, PARALLEL_ATOL
from .shared import check_system


def nullity_expected(model, W, parallel_atol=PARALLEL_ATOL) -> int:
    """The Hessian nullity that the system's symmetry explains at ``W`` (docs/math.md section 4, Theorem 2
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
