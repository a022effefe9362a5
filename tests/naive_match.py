"""Slow oracle for the teacher matching of a point (imports nothing from dynsys).

Student rows parallel to a teacher row keep it; the others go to the teacher rows left by the
injective map of largest total cosine (by enumeration); student rows left over take their nearest
teacher row. Cosines are between the contributions ``a_j (w_j + u_j)`` and ``a*_k (w*_k + u_k)``.
"""

from __future__ import annotations

import itertools

import numpy as np


def cosines(W, W_star, a=None, a_star=None, U=None):
    """(k, k*) cosines between student and teacher contributions."""
    W = np.asarray(W, float)
    T = np.asarray(W_star, float)
    if U is not None:
        W, T = W + U, T + U
    a = np.ones(len(W)) if a is None else np.asarray(a, float)
    a_star = np.ones(len(T)) if a_star is None else np.asarray(a_star, float)
    R, S = a[:, None] * W, a_star[:, None] * T
    C = np.empty((len(R), len(S)))
    for j in range(len(R)):
        for k in range(len(S)):
            C[j, k] = R[j] @ S[k] / (np.linalg.norm(R[j]) * np.linalg.norm(S[k]))
    return C


def _parallel(C, W, parallel_atol):
    rn = np.linalg.norm(np.asarray(W, float), axis=1)
    scale = rn.max()
    P = np.zeros(C.shape, dtype=bool)
    for j in range(C.shape[0]):
        for k in range(C.shape[1]):
            s = np.sqrt(max(0.0, 1.0 - C[j, k] ** 2))
            P[j, k] = C[j, k] > 0 and rn[j] * s <= parallel_atol * scale
    return P


def best_match(C, W, parallel_atol):
    """match (k,) by enumeration of the injective maps of the rows not parallel to a teacher row."""
    P = _parallel(C, W, parallel_atol)
    match = np.full(C.shape[0], -1)
    for j in range(C.shape[0]):
        hits = np.flatnonzero(P[j])
        if hits.size:
            match[j] = hits[np.argmax(C[j, hits])]
    rows = [j for j in range(C.shape[0]) if match[j] < 0]
    cols = [k for k in range(C.shape[1]) if k not in set(match[match >= 0].tolist())]
    best, best_total = None, -np.inf
    n = min(len(rows), len(cols))
    for rsub in itertools.permutations(rows, n):
        for csub in itertools.combinations(cols, n):
            total = sum(C[r, c] for r, c in zip(rsub, csub))
            if total > best_total + 1e-12:
                best, best_total = (rsub, csub), total
    if best is not None:
        for r, c in zip(*best):
            match[r] = c
    for j in range(C.shape[0]):
        if match[j] < 0:
            match[j] = int(np.argmax(C[j]))
    return match


def unmatched(C, W, parallel_atol):
    """Teacher rows parallel (angle about <= parallel_atol, cos > 0) to no student row."""
    return np.flatnonzero(~_parallel(C, W, parallel_atol).any(axis=0)).astype(np.int64)
