"""The branch while it is computed: the last point in full (:class:`Node`, the next step's start)
and the columns of every point so far (:class:`Trace`), which become a :class:`~dynsys.results.Branch`.

The columns are kept in chunks: one per point the Python loop adds, one per run of plain points the
compiled loop adds in one call (:func:`dynsys.kernels.arclength.advance`). Only the last point's
factor, tangent and Ritz vectors are kept: a branch of many points holds its states and a few numbers
per point, not an n x n factor each.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..results.branch import Branch
from ..results.status import Status


class Node(NamedTuple):
    """One accepted point with its spectral data."""

    x: np.ndarray
    p: float
    t: np.ndarray          #: unit tangent (n + 1)
    N: np.ndarray          #: own null basis (n, m)
    W: np.ndarray
    loss: float
    grad_norm: float
    index: int
    index0: int            #: index with zero threshold outside the own null space (bisection)
    nullity: int
    eig: np.ndarray        #: eigenvalues nearest zero outside the own null space
    vec: np.ndarray        #: their vectors (n, q)
    V: np.ndarray          #: all Ritz vectors (start of the next inverse iteration)
    top: np.ndarray        #: power-iteration vector
    groups: tuple          #: pairs of parallel rows
    chord: tuple           #: ``(F, perm, blk, b, X)``: the factor of ``H + tau I``, ``d grad / d p``
                           #: and the bordering columns solved with the factor (the next corrector's)
    dt: np.ndarray = None  #: ``(t - t_prev) / ds``: the tangent's rate of change (the predictor's)


class Trace:
    """The branch so far: ``last`` (a :class:`Node`) and the columns of all its points."""

    def __init__(self, start: Node):
        self._chunks = []
        self._len = 0
        self.last = start
        self._push(start, 0.0)

    def __len__(self):
        return self._len

    def _push(self, nd, ds):
        n = nd.x.size
        self._chunks.append((nd.x[None], np.array([nd.p]), np.array([ds]), np.array([nd.loss]),
                             np.array([nd.grad_norm]), np.array([nd.index]), np.array([nd.nullity]),
                             nd.eig[None], np.array([nd.t[n]])))
        self._len += 1

    def add(self, node: Node, ds: float):
        """Append ``node``, at arclength ``ds`` after the last point."""
        self._push(node, ds)
        self.last = node

    def extend(self, columns, last: Node):
        """Append a run of points given as columns ``(x, p, ds, loss, grad_norm, index, nullity, eig,
        t_p)`` (one row per point), of which ``last`` is the last."""
        self._chunks.append(columns)
        self._len += len(columns[1])
        self.last = last

    def branch(self, shape, **fields) -> Branch:
        """The :class:`Branch` of these points; ``fields`` are its other fields (status, settings)."""
        x, p, ds, loss, gn, index, nullity, eig, tp = (list(c) for c in zip(*self._chunks))
        q = max(e.shape[1] for e in eig)
        eig = [e if e.shape[1] == q else np.pad(e, ((0, 0), (0, q - e.shape[1])), constant_values=np.nan)
               for e in eig]
        return Branch(p=np.concatenate(p), W=np.concatenate(x).reshape(-1, *shape), s=np.cumsum(np.concatenate(ds)),
                      loss=np.concatenate(loss), grad_norm=np.concatenate(gn),
                      morse_index=np.concatenate(index).astype(np.int64),
                      nullity=np.concatenate(nullity).astype(np.int64), eigvals=np.concatenate(eig),
                      tangent_p=np.concatenate(tp), status=Status(fields.pop("status")), **fields)
