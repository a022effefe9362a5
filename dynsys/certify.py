"""Computer-assisted certificates of critical points: Newton-Kantorovich with rigorous bounds, and the
Morse index by Weyl's inequality (:func:`certify`; the argument is in docs/certify.md).

For a point ``W`` of a TeacherStudent model, with ``g`` and ``H`` the computed gradient and Hessian:

- ``|grad L(W)| <= |g| + e_g`` (``e_g`` from :func:`dynsys.bounds.gradient_error_bound`);
- ``|H_exact(W)^-1| <= beta = 1 / (min_i |lambda_i| - e_H - e_lambda)``, with ``e_H`` the Hessian's
  rounding error bound and ``e_lambda`` the error bound of the computed eigenvalues
  (:func:`dynsys.bounds.eigvalsh_bounded`);
- the Hessian is L-Lipschitz on ``B(W, rho)`` (:func:`dynsys.bounds.hessian_lipschitz`);
- Kantorovich: with ``eta = beta (|g| + e_g)`` and ``h = beta L eta <= 1/2``, ``grad L`` has a zero in
  ``B(W, r)``, ``r = (1 - sqrt(1 - 2 h)) / (beta L)``, unique in ``B(W, min(rho, (1 + sqrt(1 - 2 h)) /
  (beta L)))``, provided ``r <= rho``;
- Weyl: at that zero the exact Hessian's eigenvalues are within ``L r + e_H + e_lambda`` of the
  computed ones, so each keeps the sign of the computed one when ``|lambda_i|`` exceeds that margin:
  the Morse index is proven.

The rounding error model of the compiled field (``config.FIELD_ERR_ULPS``) is checked against ball
arithmetic (python-flint) in the tests; everything after it is rigorous.
"""

from __future__ import annotations

import math

import numpy as np

from . import _validate as v
from .bounds import (U_ROUND, eigvalsh_bounded, gradient_error_bound, hessian_error_bound, hessian_lipschitz,
                     network_rows)
from .config import CERTIFY_RHO_FRACTION, CERTIFY_ZERO_ROW_RTOL, CRITICAL_GTOL
from .model import TeacherStudent
from .results import Certificate, CertificateSet

__all__ = ["certify"]


def _states(model, point_or_set):
    """The states to certify as an array (n, k, d), and whether one point was given."""
    if hasattr(point_or_set, "points"):           # a CriticalSet
        Ws = [np.asarray(p.W, dtype=float) for p in point_or_set.points]
        single = False
    elif hasattr(point_or_set, "classes"):        # a Census: its classes' representatives
        Ws = [np.asarray(c.W, dtype=float) for c in point_or_set.classes]
        single = False
    elif hasattr(point_or_set, "W") and not isinstance(point_or_set, np.ndarray):  # a CriticalPoint, SaddlePoint
        Ws = [np.asarray(point_or_set.W, dtype=float)]
        single = True
    else:
        X = v.real_array(point_or_set, "point_or_set")
        if X.ndim == 2:
            Ws, single = [X], True
        elif X.ndim == 3:
            Ws, single = list(X), False
        else:
            raise ValueError(f"point_or_set must be a state (k, d), a batch (n, k, d), a CriticalPoint, a "
                             f"CriticalSet or a Census; got an array of shape {X.shape}")
    if not Ws:
        raise ValueError("point_or_set holds no points (an empty set or batch); pass at least one")
    shape = (model.k, model.d)
    for i, W in enumerate(Ws):
        if W.shape != shape:
            raise ValueError(f"point_or_set holds a state of shape {W.shape} (point {i}); the model's "
                             f"states have shape {shape}")
        v.finite(W, "point_or_set")
    return Ws, single


def certify(model, point_or_set, *, gtol=None):
    """Certify critical points: a ball with exactly one true critical point, and its Morse index.

    Parameters
    ----------
    model : TeacherStudent
    point_or_set : array_like (k, d) or (n, k, d), CriticalPoint, SaddlePoint, CriticalSet or Census
        The points (a Census gives its classes' representatives, a CriticalSet its points).
    gtol : float, optional
        Row-max gradient norm above which a point that cannot be certified is called "not critical"
        (default ``CRITICAL_GTOL * grad_scale``, the tolerance of :func:`dynsys.classify`). It never
        blocks a certificate: a point with a larger gradient that the bounds certify gets its (larger)
        radius.

    Returns
    -------
    Certificate or CertificateSet
        One certificate for one point; a :class:`~dynsys.results.CertificateSet` (in the order of
        the points) for a batch, a CriticalSet or a Census.

    Notes
    -----
    Reasons, in this order: "too close to a zero row" (a row of ``W + U`` at or below the singular
    tolerance, or a failed certificate with a row below ``CERTIFY_ZERO_ROW_RTOL`` times the largest);
    "not critical" (a failed certificate at a point whose gradient exceeds ``gtol``); "degenerate" (the
    Hessian may be singular: ``min |lambda_i|`` is within its error bound, as on a manifold of
    critical points); "bounds too weak" (``h > 1/2`` or the index not proven).
    """
    if not isinstance(model, TeacherStudent):
        raise TypeError(f"model must be a dynsys.TeacherStudent (the bounds use its closed forms); got "
                        f"{type(model).__name__}")
    Ws, single = _states(model, point_or_set)
    gtol = (CRITICAL_GTOL * float(model.grad_scale) if gtol is None
            else v.real_scalar(gtol, "gtol", lo=0.0, lo_open=True))
    X = np.stack(Ws)
    # one batched call each for the gradients and Hessians (compiled, exact Hessian)
    G, gst = model.grad(X, return_status=True)
    H, hst = model.hessian(X, return_status=True)
    out = tuple(_one(model, Ws[i], G[i], H[i], int(gst[i]) or int(hst[i]), gtol) for i in range(len(Ws)))
    return out[0] if single else CertificateSet(certificates=out)


def _fail(W, reason, **nums) -> Certificate:
    base = dict(residual=math.nan, residual_bound=math.nan, grad_error=math.nan, hessian_error=math.nan,
                eig_error=math.nan, lambda_min=math.nan, eig_gap=math.nan, beta=math.inf, eta=math.nan,
                lipschitz=math.nan, rho=math.nan, h=math.nan, weyl_margin=math.nan)
    base.update(nums)
    return Certificate(W=W, certified=False, radius=math.nan, unique_radius=math.nan, morse_index=-1,
                       reason=reason, **base)


def _one(model, W, g, H, status, gtol) -> Certificate:
    W = np.array(W, dtype=float)
    W.setflags(write=False)
    V, *_ = network_rows(model, W)
    rn = np.linalg.norm(V, axis=1)
    linear = model.alpha == 1.0
    if status != 0 or (not linear and float(rn.min()) <= model.singular_tol):
        return _fail(W, "too close to a zero row")
    gnorm = float(np.linalg.norm(g))
    e_g = gradient_error_bound(model, W)
    g_up = (gnorm + e_g) * (1 + 4 * U_ROUND)
    lam, lam_err = eigvalsh_bounded(H)
    e_H = hessian_error_bound(model, W)
    e_lam = float(np.max(lam_err))
    gap = float(np.min(np.abs(lam)))
    sigma = (gap - e_H - e_lam) * (1 - 4 * U_ROUND)
    nums = dict(residual=gnorm, residual_bound=g_up, grad_error=e_g, hessian_error=e_H, eig_error=e_lam,
                lambda_min=float(lam[0]), eig_gap=gap)
    not_critical = float(np.max(np.linalg.norm(g, axis=1))) > gtol
    small_row = not linear and float(rn.min()) <= CERTIFY_ZERO_ROW_RTOL * float(rn.max())
    if sigma <= 0:
        reason = "not critical" if not_critical else ("too close to a zero row" if small_row else "degenerate")
        return _fail(W, reason, **nums)
    beta = (1.0 / sigma) * (1 + 4 * U_ROUND)
    eta = beta * g_up * (1 + 4 * U_ROUND)
    # first a wide ball (a wide uniqueness radius), then one just larger than the Newton step (the
    # smallest Lipschitz constant): r <= 2 eta whenever h <= 1/2
    best = None
    for rho in (CERTIFY_RHO_FRACTION * float(rn.min()) if not linear else math.inf, 2.5 * eta):
        L = hessian_lipschitz(model, W, rho) if not linear else 0.0
        h = beta * L * eta * (1 + 4 * U_ROUND)
        if best is None:
            best = (L, rho, h)
        if h > 0.5 or not math.isfinite(L):
            continue
        if L == 0.0:
            r, ru = eta, rho
        else:
            root = math.sqrt(1.0 - 2.0 * h)
            r = 2.0 * eta / (1.0 + root) * (1 + 8 * U_ROUND)   # = (1 - root) / (beta L), without cancellation
            ru = min(rho, (1.0 + root) / (beta * L) * (1 - 8 * U_ROUND))
        if r > rho:
            continue
        margin = (L * r + e_H) * (1 + 4 * U_ROUND) + lam_err
        if np.any(np.abs(lam) <= margin):
            best = (L, rho, h)
            continue
        return Certificate(W=W, certified=True, radius=float(r), unique_radius=float(ru),
                           morse_index=int(np.sum(lam < 0)), reason=None, beta=beta, eta=eta, lipschitz=L,
                           rho=float(rho), h=float(h), weyl_margin=float(np.max(margin)), **nums)
    L, rho, h = best
    reason = "not critical" if not_critical else ("too close to a zero row" if small_row else "bounds too weak")
    return _fail(W, reason, beta=beta, eta=eta, lipschitz=L, rho=float(rho), h=float(h), **nums)
