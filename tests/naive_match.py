"""Slow oracle for the teacher matching of a point (imports nothing from dynsys).

Each student row's nearest teacher row (largest cosine between the contributions
``a_j (w_j + u_j)`` and ``a*_k (w*_k + u_k)``), and the teacher rows no student row has learnt: a
teacher row is learnt when a student row is strictly nearer to it than to any other teacher row and
no student row is nearer to it. Python loops over every pair.
"""

from __future__ import annotations

import numpy as np

TIE = 1e-12


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


def nearest(C):
    """match (k,): each row's teacher of largest cosine (the first of equal ones)."""
    out = []
    for j in range(C.shape[0]):
        best = 0
        for k in range(1, C.shape[1]):
            if C[j, k] > C[j, best]:
                best = k
        out.append(best)
    return np.array(out)


def unmatched(C):
    """Teacher rows with no mutually nearest student row (ties within TIE excluded)."""
    k, ks = C.shape
    out = []
    for t in range(ks):
        learnt = False
        for j in range(k):
            strictly_t = all(C[j, t] > C[j, u] + TIE for u in range(ks) if u != t)
            nearest_to_t = all(C[j, t] >= C[i, t] - TIE for i in range(k))
            learnt = learnt or (strictly_t and nearest_to_t)
        if not learnt:
            out.append(t)
    return np.array(out, dtype=np.int64)
