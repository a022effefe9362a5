"""Slow reference checks ("oracles") for traced manifolds of critical points.

Plain NumPy, sharing no code with ``dynsys`` (imports only the other oracles in ``tests/``):

* :func:`fd_grad_row_max`: the row-max norm of a central-difference gradient of the closed-form loss
  (``naive.loss_closed_form``): a check of "every traced point is critical" that uses neither the
  library's gradient nor its Hessian.
* :func:`correlation_dimension`: a brute-force dimension of a point cloud (Grassberger-Procaccia:
  the slope of log #pairs within r against log r), independent of the library's local PCA.
* :func:`ring_toy_grad`: the gradient of ``f = (|x|^2 - 1)^2``, written out.
* :func:`double_well_grad`: the gradient of ``f = (x0^2 - 1)^2 + x1^2``, written out.
"""

from __future__ import annotations

import math

import numpy as np

import naive


def fd_grad_row_max(W, W_star, h=1e-6):
    """Largest row norm of the 2nd-order central-difference gradient of the closed-form loss at W."""
    G = naive.grad_central_differences(lambda X: naive.loss_closed_form(X, W_star), W, h=h)
    return float(np.max(np.linalg.norm(G, axis=1)))


def closed_form_grad_row_max(W, W_star):
    """Largest row norm of ``naive.grad_closed_form`` (Python loops over rows) at W."""
    return float(np.max(np.linalg.norm(naive.grad_closed_form(W, W_star), axis=1)))


def correlation_dimension(P, r_lo, r_hi, n_r=8):
    """Grassberger-Procaccia dimension of the points ``P`` (n, D): least-squares slope of
    ``log C(r)`` against ``log r`` over ``n_r`` radii geometric in ``[r_lo, r_hi]``, where ``C(r)``
    counts the pairs closer than r (all pairs, by brute force)."""
    P = np.asarray(P, dtype=float).reshape(len(P), -1)
    D = np.sqrt(((P[:, None, :] - P[None, :, :]) ** 2).sum(axis=-1))
    d = D[np.triu_indices(len(P), 1)]
    rs = np.geomspace(r_lo, r_hi, n_r)
    C = np.array([np.count_nonzero(d < r) for r in rs], dtype=float)
    slope, _ = np.polyfit(np.log(rs), np.log(C), 1)
    return float(slope)


def ring_toy_grad(x):
    """``grad (|x|^2 - 1)^2 = 4 (|x|^2 - 1) x``."""
    x = np.asarray(x, dtype=float)
    return 4.0 * (x @ x - 1.0) * x


def double_well_grad(x):
    """``grad ((x0^2 - 1)^2 + x1^2) = (4 x0 (x0^2 - 1), 2 x1)``."""
    return np.array([4.0 * x[0] * (x[0] * x[0] - 1.0), 2.0 * x[1]])


def unit(v):
    return np.asarray(v, dtype=float) / math.sqrt(float(np.dot(v, v)))
