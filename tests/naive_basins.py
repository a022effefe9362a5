"""Slow NumPy oracles for basin maps (import nothing from dynsys).

* :func:`double_well_basin`: which minimum of ``f = (x0^2 - 1)^2 + x1^2`` plain gradient descent
  from each start reaches (+1 or -1; 0 for the saddle line x0 = 0).
* :func:`teacher_student_end`: gradient descent on the closed-form loss of ``naive.py`` from one
  start, then the teacher permutation of the endpoint (the permutation P minimising |W - P W*|
  over all k! of them) and the Morse index from the closed-form Hessian of ``naive.py``.
"""

from __future__ import annotations

import itertools

import numpy as np

import naive


def double_well_basin(X, step=0.1, n_steps=2000):
    """Sign of x0 after ``n_steps`` of gd on the double well from each start (n, 2); 0 stays 0."""
    X = np.array(X, dtype=float)
    for _ in range(n_steps):
        g0 = 4.0 * X[:, 0] * (X[:, 0] ** 2 - 1.0)
        g1 = 2.0 * X[:, 1]
        X[:, 0] -= step * g0
        X[:, 1] -= step * g1
    return np.sign(np.round(X[:, 0], 6)).astype(int)


def teacher_student_end(W0, W_star, step=0.1, gtol=1e-9, max_steps=100_000):
    """``(W, permutation or None, morse_index)`` at the end of gd from ``W0`` (a = a* = 1, ReLU).

    The permutation is reported when the endpoint is within 1e-5 of a row permutation of W*.
    """
    W = np.array(W0, dtype=float)
    for _ in range(max_steps):
        G = naive.grad_closed_form(W, W_star)
        if np.max(np.linalg.norm(G, axis=1)) <= gtol:
            break
        W = W - step * G
    k = W.shape[0]
    perm = None
    for p in itertools.permutations(range(k)):
        if np.max(np.abs(W - W_star[list(p)])) <= 1e-5:
            perm = tuple(p)
            break
    H = naive.hessian_closed_form(W, W_star)
    ev = np.linalg.eigvalsh(0.5 * (H + H.T))
    index = int(np.sum(ev < -1e-7 * np.max(np.abs(ev))))
    return W, perm, index
