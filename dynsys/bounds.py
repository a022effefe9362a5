"""Rigorous bounds on the teacher-student Hessian near a point: its Lipschitz constant on a ball, the
floating-point error of the computed gradient and Hessian, and the eigenvalues of a computed
symmetric matrix with an error bound (``docs/certify.md``).

One place for every bound that a proof about a neighbourhood needs: the certificates of
:func:`dynsys.certify` (Newton-Kantorovich and Weyl) and the ball around a non-degenerate minimum where
the Hessian stays positive definite and gradient descent contracts (:func:`definite_radius`).

Norms: a state is a vector of ``k d`` numbers, distances are Euclidean (Frobenius of the (k, d)
array) and matrix norms are spectral. The Lipschitz constant is derived from the closed forms of
docs/math.md section 2 without differentiating them, so it holds across collinear and antiparallel
rows, where the Hessian is Lipschitz but not differentiable.
"""

from __future__ import annotations

import math

import numpy as np

from . import _validate as v
from .config import FIELD_ERR_ULPS

#: Unit roundoff of float64.
U_ROUND = 2.0 ** -53

__all__ = ["definite_radius", "eigvalsh_bounded", "gradient_error_bound", "hessian_error_bound",
           "hessian_lipschitz", "network_rows"]


def network_rows(model, W):
    """``(V, T, a, a_star, alpha)``: the student's network rows ``W + U`` (k, d), the teacher's
    ``W* + U`` (k*, d), the top weights and the leaky slope of a TeacherStudent ``model``."""
    view = model.kernel() if hasattr(model, "kernel") else None
    A = getattr(view, "arrays", None)
    if A is None or A.T.shape[1] != np.shape(W)[-1] or not hasattr(model, "W_star"):
        raise TypeError(f"the bounds are derived for dynsys.TeacherStudent models; got {type(model).__name__}")
    W = np.asarray(W, dtype=float)
    V = W if A.U.size == 0 else W + A.U
    return V, np.asarray(A.T, float), np.asarray(A.a, float), np.asarray(A.a_star, float), float(A.alpha)


def _pair_factor(alpha):
    """Bound on ``|(1 + alpha^2) f(w, v) - 2 alpha f(w, -v)|`` in units of one pair term: ``(1 + |alpha|)^2``."""
    return (1.0 + abs(alpha)) ** 2


def hessian_lipschitz(model, W, rho) -> float:
    """A Lipschitz constant of the Hessian on the ball ``B(W, rho)``.

    For all states ``X, Y`` with ``|X - W| <= rho`` and ``|Y - W| <= rho``:
    ``|H(X) - H(Y)|_2 <= L |X - Y|``. Derived in docs/certify.md from the expectation forms of the
    blocks (docs/math.md section 2): with ``m_j = |w_j + u_j| - rho`` and ``N_j = |w_j + u_j| + rho``,

    - ``|h1(w, v) - h1(w', v')| <= 5 N_v / (pi m_w^2) |w - w'| + 2 / (pi m_w) |v - v'|``
    - ``|h2(w, v) - h2(w', v')| <= 2 / pi (|w - w'| / m_w + |v - v'| / m_v)``

    (each with the factor ``(1 + |alpha|)^2`` of the leaky combination and the top weights), combined
    over blocks by the smaller of the block-Frobenius and the block-row-sum bounds.

    Parameters
    ----------
    model : TeacherStudent
    W : array_like, shape (k, d)
        Centre of the ball.
    rho : float >= 0
        Radius (Euclidean norm of the whole state).

    Returns
    -------
    float
        ``L``; ``inf`` when the ball reaches a zero row (``rho >= min_j |w_j + u_j|``); 0 for the
        linear model (alpha = 1), whose Hessian is constant.
    """
    V, T, a, a_s, alpha = network_rows(model, W)
    rho = v.real_scalar(rho, "rho", lo=0.0)
    if alpha == 1.0:
        return 0.0
    n = np.linalg.norm(V, axis=1)
    if rho >= float(np.min(n)):
        return math.inf
    k = V.shape[0]
    m = (n - rho) * (1.0 - 4 * U_ROUND)           # rounded down: every norm on the ball is at least m
    N = (n + rho) * (1.0 + 4 * U_ROUND)
    tn = np.linalg.norm(T, axis=1) * (1.0 + 4 * U_ROUND)
    c = _pair_factor(alpha) / math.pi
    A = np.abs(a)[:, None] * np.abs(a)[None, :] * c   # (k, k) pair weights |a_j a_i| c / pi
    np.fill_diagonal(A, 0.0)
    teach = np.abs(a) * (np.abs(a_s) * tn).sum() * c  # sum_k |a_j a*_k| t_k c / pi
    # coef[j, i, l]: the bound on block (j, i) of the change is sum_l coef[j, i, l] |dW_l|
    coef = np.zeros((k, k, k))
    for j in range(k):
        # diagonal block: h1(w_j, w_i) (i != j) moves with w_j and w_i, h1(w_j, t) with w_j only
        coef[j, j, j] = (5.0 * (A[j] * N).sum() + 5.0 * teach[j]) / m[j] ** 2
        coef[j, j, :] += 2.0 * A[j] / m[j]
        # off-diagonal blocks h2(w_j, w_i)
        for i in range(k):
            if i != j:
                coef[j, i, j] += 2.0 * A[j, i] / m[j]
                coef[j, i, i] += 2.0 * A[j, i] / m[i]
    fro = math.sqrt(float((coef ** 2).sum()))
    rows = float(np.max(np.linalg.norm(coef.sum(axis=1), axis=1)))
    return min(fro, rows) * (1.0 + 1e-12)


def _magnitudes(model, W):
    """Per-block size of the Hessian's terms ((k, k)) and per-row size of the gradient's terms (k,),
    with the number of terms a row sums."""
    V, T, a, a_s, alpha = network_rows(model, W)
    n = np.linalg.norm(V, axis=1)
    tn = np.linalg.norm(T, axis=1)
    c = _pair_factor(alpha)
    aa = np.abs(a)[:, None] * np.abs(a)[None, :] * c
    np.fill_diagonal(aa, 0.0)
    teach_n = np.abs(a) * (np.abs(a_s) * tn).sum() * c
    self_term = a ** 2 * (1.0 + alpha ** 2)
    with np.errstate(divide="ignore"):
        inv = np.where(n > 0, 1.0 / n, math.inf)
    # |h1(w, v)| <= |v| / (pi |w|), |h2| <= 1, |g1(w, v)| <= |v|
    blocks = aa.copy()
    blocks[np.diag_indices_from(blocks)] = self_term / 2 + (aa @ n + teach_n) * inv / math.pi
    grad = self_term * n / 2 + aa @ n + teach_n
    terms = FIELD_ERR_ULPS + V.shape[0] + T.shape[0] + V.shape[1]
    return blocks, grad, terms


def gradient_error_bound(model, W) -> float:
    """Bound on the Euclidean norm of the floating-point error of the compiled gradient at ``W``.

    The error model of ``config.FIELD_ERR_ULPS`` (docs/certify.md): every row's error is at most
    ``(FIELD_ERR_ULPS + k + k* + d) u`` times the sum of the sizes of its terms (u = 2^-53).
    """
    _, grad, terms = _magnitudes(model, W)
    return float(np.linalg.norm(grad)) * terms * U_ROUND


def hessian_error_bound(model, W) -> float:
    """Bound on the spectral norm of the floating-point error of the compiled Hessian at ``W`` (the
    same error model as :func:`gradient_error_bound`, blockwise, combined by block row sums)."""
    blocks, _, terms = _magnitudes(model, W)
    return float(np.max(blocks.sum(axis=1))) * terms * U_ROUND


def eigvalsh_bounded(H):
    """Eigenvalues of a computed symmetric matrix with a rigorous bound on their error.

    Parameters
    ----------
    H : ndarray, shape (n, n)
        Symmetric (as stored: the exact eigenvalues of this matrix are meant).

    Returns
    -------
    lam : ndarray, shape (n,)
        Ascending eigenvalues from ``numpy.linalg.eigh``.
    err : ndarray, shape (n,)
        ``|lambda_i(H) - lam_i| <= err_i``: Weyl on ``H - V diag(lam) V^T`` (the residual
        ``R = H V - V diag(lam)``) and Ostrowski on the non-orthogonality ``|V^T V - I| <= delta``,
        each with the rounding error of its own product.
    """
    H = np.asarray(H, dtype=float)
    n = H.shape[0]
    lam, Vec = np.linalg.eigh(H)
    gam = (n + 2) * U_ROUND / (1 - (n + 2) * U_ROUND)
    hf = float(np.linalg.norm(H))
    vf = float(np.linalg.norm(Vec))
    lmax = float(np.max(np.abs(lam))) if n else 0.0
    R = H @ Vec - Vec * lam
    r = (float(np.linalg.norm(R)) + gam * (hf * vf + vf * lmax)) * (1 + gam)
    delta = (float(np.linalg.norm(Vec.T @ Vec - np.eye(n))) + gam * vf * vf) * (1 + gam)
    err = (hf * delta + r * math.sqrt(1 + delta) + delta * np.abs(lam)) * (1 + 4 * gam)
    return lam, err


def definite_radius(model, W, *, step=None, rho_max=None, h_err=None):
    """A ball around a non-degenerate minimum on which every Hessian is positive definite (and, with
    a step, gradient descent at that step contracts).

    On ``B(W, r)`` every Hessian is within ``L(r) r + e`` of the computed ``H(W)`` (Weyl, with e the
    computed Hessian's error and eigenvalue error), so its eigenvalues lie in
    ``[lam_min - L r - e, lam_max + L r + e]``; the ball is the largest ``r`` (on a halving grid
    from ``rho_max``) where the lower end is positive and, with ``step = s``, ``s`` times the upper end
    is below 2: then ``|I - s H| <= q < 1`` on the ball and the gradient-descent map is a contraction
    there with factor ``q``.

    Parameters
    ----------
    model : TeacherStudent
    W : array_like, shape (k, d)
        A point whose Hessian is positive definite (a certified minimum, for the contraction to
        have its fixed point inside).
    step : float, optional
        Gradient-descent step.
    rho_max : float, optional
        Largest radius tried (default half the smallest row norm).
    h_err : float, optional
        Error of the computed Hessian (default :func:`hessian_error_bound`).

    Returns
    -------
    (r, q) : tuple of float
        The radius (0.0 when none works) and the contraction factor (NaN without a step).
    """
    V, *_ = network_rows(model, W)
    H, st = model.hessian(np.asarray(W, dtype=float), return_status=True)
    if int(st) != 0:
        return 0.0, math.nan
    lam, err = eigvalsh_bounded(H)
    e = (hessian_error_bound(model, W) if h_err is None else float(h_err)) + float(np.max(err))
    rho = 0.5 * float(np.min(np.linalg.norm(V, axis=1))) if rho_max is None else float(rho_max)
    for _ in range(60):
        L = hessian_lipschitz(model, W, rho)
        shift = L * rho + e
        lo, hi = lam[0] - shift, lam[-1] + shift
        if lo > 0 and (step is None or step * hi < 2.0):
            q = math.nan if step is None else max(abs(1 - step * lo), abs(1 - step * hi))
            return rho, q
        rho *= 0.5
    return 0.0, math.nan
