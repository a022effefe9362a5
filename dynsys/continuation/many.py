"""Many branches in one call: every point of a CriticalSet, every class of a Census, or a batch of
states, each followed by :func:`dynsys.continuation` (one branch per point, in order)."""

from __future__ import annotations

import numpy as np

from .. import progress as _progress
from .._codes import INTERRUPTED
from ..results.census import Census, CensusClass
from ..results.critical import CriticalPoint, CriticalSet
from .family import as_family


def starts_of(points, kinds=None):
    """``[(label, W)]`` of the starts in ``points`` (CriticalSet, Census, sequence of CriticalPoint
    or CensusClass, or an array batch (n, ...)); ``kinds`` keeps those of the given kinds."""
    if isinstance(points, Census):
        items = list(points.classes)
    elif isinstance(points, CriticalSet):
        items = list(points.points)
    elif isinstance(points, (list, tuple)) and points and all(isinstance(q, (CensusClass, CriticalPoint))
                                                              for q in points):
        items = list(points)
    else:
        X = np.asarray(points, dtype=float)
        if kinds is not None:
            raise ValueError("kinds selects among classified points (CriticalSet, Census); a plain "
                             "batch of states has no kinds")
        return [(f"state {i}", X[i]) for i in range(X.shape[0])]
    if kinds is not None:
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        items = [q for q in items if q.kind in kinds]
    return [(f"{q.kind} {i}", np.asarray(q.W, dtype=float)) for i, q in enumerate(items)]


def follow_all(continuation, family, points, p0, p_end, *, kinds=None, progress=None, **kwargs) -> tuple:
    """One branch per start (see :func:`dynsys.continuation`); Ctrl-C returns the branches so far
    (the one in progress INTERRUPTED)."""
    starts = starts_of(points, kinds)
    family = as_family(family)  # one Family for all branches: its compiled plan is made once
    bar = _progress.reporter(progress, len(starts), desc="branches", unit="branch")
    out = []
    try:
        for _, W in starts:
            b = continuation(family, W, p0, p_end, progress=False, **kwargs)
            out.append(b)
            bar.update(1)
            if b.status == INTERRUPTED:  # Ctrl-C stops the batch too
                break
    finally:
        bar.close()
    return tuple(out)
