"""Slow reference implementations ("oracles") for the critical-points layer.

Plain NumPy, written for clarity and sharing no code with ``dynsys``:

* :func:`newton_reference`: undamped Newton with a least-squares (pseudo-inverse) step, in Python.
* :func:`index_nullity`: Morse index and nullity from the eigenvalues of a dense Hessian.
* :func:`symmetry_tangents`: the tangent vectors, at W, of the orbit of the rotations that fix the
  teacher's span and of the "move mass between parallel rows" families (docs/math.md section 4, Theorem
  2); their rank is the nullity symmetry explains, and at a critical point the Hessian maps each to 0.
* :func:`same_point_bruteforce`: for W* = I (k = k* = d), whether ``W2 = P W1 Q^T`` for some
  permutations P, Q, by enumerating them all (k! d! pairs: tiny k only).
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def newton_reference(grad_fn, hess_fn, x0, gtol=1e-12, max_iter=50):
    """Newton's method ``x <- x - pinv(H) g`` from ``x0``; returns (x, list of |g| per iterate).

    ``grad_fn(x)`` and ``hess_fn(x)`` take and return arrays shaped like ``x`` and (x.size, x.size).
    """
    x = np.array(x0, dtype=float)
    hist = []
    for _ in range(max_iter):
        g = np.asarray(grad_fn(x), dtype=float).reshape(-1)
        hist.append(float(np.linalg.norm(g)))
        if hist[-1] <= gtol:
            break
        H = np.asarray(hess_fn(x), dtype=float).reshape(x.size, x.size)
        dx = np.linalg.lstsq(H, -g, rcond=None)[0]
        x = x + dx.reshape(x.shape)
    return x, hist


def index_nullity(H, eig_rtol):
    """(index, nullity) of a symmetric matrix: eigenvalues below ``-tol`` and within ``tol`` of 0,
    ``tol = eig_rtol * max |lambda|``."""
    lam = np.linalg.eigvalsh(0.5 * (H + H.T))
    tol = eig_rtol * np.max(np.abs(lam))
    return int(np.sum(lam < -tol)), int(np.sum(np.abs(lam) <= tol))


def _unit(v):
    return v / np.linalg.norm(v)


def symmetry_tangents(W, W_star, a=None, a_star=None, U=None, angle_tol=1e-4):
    """Tangent vectors (rows of the returned (m, k*d) array) of the symmetry families through W.

    1. For an orthonormal basis ``b_1..b_m`` of the complement of span{w*_k + u_k : a*_k != 0}: the
       infinitesimal rotation ``b_i b_j^T - b_j b_i^T`` moves every network row ``v`` by
       ``(b_i b_j^T - b_j b_i^T) v``.
    2. For each pair of student rows i < j pointing the same way (the shorter within
       ``angle_tol * max |v|`` of the longer's ray), both with ``a != 0``: ``d v_i = e / a_i``,
       ``d v_j = -e / a_j`` (e their direction) keeps ``a_i |v_i| + a_j |v_j|`` and the network
       function fixed (the pairs of one group span its m_g - 1 directions).
    3. For each row with ``a_j = 0``: every direction of that row.
    """
    W = np.asarray(W, dtype=float)
    k, d = W.shape
    a = np.ones(k) if a is None else np.asarray(a, dtype=float)
    Ws = np.asarray(W_star, dtype=float)
    a_s = np.ones(Ws.shape[0]) if a_star is None else np.asarray(a_star, dtype=float)
    V = W if U is None else W + U
    T = Ws if U is None else Ws + U
    T = T[(a_s != 0) & (np.linalg.norm(T, axis=1) > 0)]
    # complement basis from a full SVD
    if T.shape[0]:
        _, s, Vt = np.linalg.svd(T, full_matrices=True)
        r = int(np.sum(s > 1e-10 * s[0]))
    else:
        Vt, r = np.eye(d), 0
    B = Vt[r:]
    out = []
    for i in range(B.shape[0]):
        for j in range(i + 1, B.shape[0]):
            A = np.outer(B[i], B[j]) - np.outer(B[j], B[i])
            dV = V.copy()
            for row in range(k):
                dV[row] = A @ V[row] if a[row] != 0 else 0.0
            out.append(dV.reshape(-1))
    nmax = max(np.linalg.norm(V[row]) for row in range(k) if a[row] != 0) if np.any(a != 0) else 0.0
    for i in range(k):
        for j in range(i + 1, k):
            if a[i] == 0 or a[j] == 0:
                continue
            ui, uj = _unit(V[i]), _unit(V[j])
            ang = 2.0 * math.atan2(np.linalg.norm(ui - uj), np.linalg.norm(ui + uj))
            short = min(np.linalg.norm(V[i]), np.linalg.norm(V[j]))
            if ang < math.pi / 2 and short * math.sin(ang) <= angle_tol * nmax:
                dV = np.zeros((k, d))
                dV[i] = ui / a[i]
                dV[j] = -ui / a[j]
                out.append(dV.reshape(-1))
    for j in range(k):
        if a[j] == 0:
            for c in range(d):
                dV = np.zeros((k, d))
                dV[j, c] = 1.0
                out.append(dV.reshape(-1))
    return np.array(out).reshape(-1, k * d)


def tangent_rank(T, rtol=1e-4):
    """Numerical rank of a set of tangent vectors (rows): singular values above ``rtol`` times the
    largest (a rotation moves a row that is nearly inside the teacher's span only a little)."""
    if T.shape[0] == 0:
        return 0
    s = np.linalg.svd(T, compute_uv=False)
    return int(np.sum(s > rtol * s[0]))


def same_point_bruteforce(W1, W2, tol):
    """For W* = I, k = k* = d: is there a pair of permutations with ``|P W1 Q^T - W2|_max <= tol``?"""
    W1 = np.asarray(W1, dtype=float)
    W2 = np.asarray(W2, dtype=float)
    k, d = W1.shape
    for q in itertools.permutations(range(d)):
        Wq = W1[:, list(q)]
        for p in itertools.permutations(range(k)):
            if np.max(np.abs(Wq[list(p)] - W2)) <= tol:
                return True
    return False
