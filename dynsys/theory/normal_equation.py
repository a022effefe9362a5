"""The normal equation (Tian (ICML 2017) Eqn 9-14), Proposition 1 and Theorem 3: :func:`h`,
:func:`normal_matrices`, :func:`L_jjp` and, for K = 2, :func:`L12` (float64 from the cancellation-free
kernel :mod:`dynsys.theory.conjecture_kernel`, or mpmath).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

from .. import _validate as v
from ..config import SINGULAR_RTOL
from . import conjecture_kernel as _cj
from ._common import _PI, _TWO_PI, _real

__all__ = ["h", "normal_matrices", "L_jjp", "L12"]


def h(theta):
    """``h(theta) = (pi - theta) cos(theta) + sin(theta)`` (Tian (ICML 2017) Sec 5.2, after Eqn 12).

    ``h`` is the diagonal entry ``m_jj,k`` of the normal equation and ``2 pi kappa(u, v) / (|u| |v|)``
    for unit Gaussian features; it decreases from ``h(0) = pi`` to ``h(pi) = 0``.

    Parameters
    ----------
    theta : array_like of float
        Angles in [0, pi].

    Returns
    -------
    ndarray or float
    """
    theta = np.asarray(theta, dtype=float)
    out = (_PI - theta) * np.cos(theta) + np.sin(theta)
    return float(out) if out.ndim == 0 else out


def _pair_angles(A, B):
    """Angles between the rows of A (m, d) and of B (n, d): (m, n), accurate over [0, pi].

    ``theta = 2 atan2(|a~ - b~|, |a~ + b~|)`` (docs/math.md section 2) with ``a~ = a/|a|``.
    """
    a = A / np.linalg.norm(A, axis=-1, keepdims=True)
    b = B / np.linalg.norm(B, axis=-1, keepdims=True)
    diff = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    summ = np.linalg.norm(a[:, None, :] + b[None, :, :], axis=-1)
    return 2.0 * np.arctan2(diff, summ)


def _rows(X, name, *, ndim=2):
    X = v.finite(v.real_array(X, name), name)
    if X.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array; got shape {X.shape}")
    if ndim == 2:
        norms = np.linalg.norm(X, axis=1)
        if np.any(norms <= SINGULAR_RTOL * max(1.0, norms.max(initial=0.0))):
            j = int(np.argmin(norms))
            raise ValueError(f"{name} row {j} has norm {norms[j]:.3g}: its direction (and every angle "
                             f"with it) is undefined")
    return X


def normal_matrices(W, W_star):
    """The matrices ``M`` and ``M*`` of the in-plane normal equation (Tian (ICML 2017) Eqn 10-12).

    Entries (Eqn 11, 12), with ``theta_j^k = angle(w_j, w_k)`` and ``theta_j^{*k} = angle(w_j, w*_k)``:

        M[j, j', k]  = m_{jj',k}  = (pi - theta_j^k) cos(theta_{j'}^k) + sin(theta_j^k) cos(theta_{j'}^j)
        M*[j, j', k] = m*_{jj',k} = (pi - theta_j^{*k}) cos(theta_{j'}^{*k})
                                    + sin(theta_j^{*k}) cos(theta_{j'}^j)

    so that Eqn 10 reads ``einsum("abk,k->ab", M, |w|) = einsum("abk,k->ab", M*, |w*|)`` and, in
    general, ``2 pi grad_{w_j} L . e_{j'} = sum_k M[j,j',k] |w_k| - sum_k M*[j,j',k] |w*_k|`` (the
    normal equation projected on ``e_{j'} = w_{j'}/|w_{j'}|``; ``L`` is dynsys's per-sample loss). The
    diagonal constraints (Eqn 13) are ``M_r = M[j, j, :] = h(theta_j^k)`` and ``M*_r = M*[j, j, :]``.

    Parameters
    ----------
    W : array_like, shape (K, d)
        Student rows (nonzero).
    W_star : array_like, shape (K_star, d)
        Teacher rows (nonzero).

    Returns
    -------
    M : ndarray of float64, shape (K, K, K)
    M_star : ndarray of float64, shape (K, K, K_star)
    """
    W = _rows(W, "W")
    W_star = _rows(W_star, "W_star")
    if W.shape[1] != W_star.shape[1]:
        raise ValueError(f"W and W_star must have the same number of columns d; got {W.shape[1]} and "
                         f"{W_star.shape[1]}")
    Th = _pair_angles(W, W)
    Ts = _pair_angles(W, W_star)
    cosTh = np.cos(Th)
    M = (_PI - Th)[:, None, :] * np.cos(Th)[None, :, :] + np.sin(Th)[:, None, :] * cosTh.T[:, :, None]
    Ms = (_PI - Ts)[:, None, :] * np.cos(Ts)[None, :, :] + np.sin(Ts)[:, None, :] * cosTh.T[:, :, None]
    return M, Ms


def L_jjp(E, e_star, j, jp):
    """``L_{jj'}`` of Tian (ICML 2017) Eqn 14 for student directions E and one teacher direction e*.

        L_{jj'} = m*_{jj'} - v^T M_r^{-1} m_{jj'},
        v = [h(theta*_1), ..., h(theta*_K)],  theta*_l = angle(e*, e_l),
        m_{jj'} = (m_{jj',1}, ..., m_{jj',K})              (Eqn 11),
        m*_{jj'} = (pi - theta*_j) cos(theta*_{j'}) + sin(theta*_j) cos(theta_{j'}^j).

    It is what is left of the (j, j') normal equation once the norms solve the diagonal constraints
    (Eqn 13) for a single unit teacher: with several teachers and ``|w| = M_r^{-1} M*_r |w*|``,
    ``2 pi grad_{w_j} L . e_{j'} = -sum_k |w*_k| L_{jj'}(e*_k)`` -- hence Theorem 3 (if every
    ``L_{jj'}(e*_k)`` has the same strict sign, W is not critical). Proposition 1: ``L_jj = 0``, and
    ``L_{jj'} = 0`` when e* equals some ``e_l``.

    Parameters
    ----------
    E : array_like, shape (K, d)
        Student directions (rows need not be unit; they must be pairwise non-collinear so that
        ``M_r`` is invertible).
    e_star : array_like, shape (d,) or (n, d)
        Teacher direction(s).
    j, jp : int
        Indices in ``range(K)``.

    Returns
    -------
    float or ndarray of float64, shape (n,)
    """
    E = _rows(E, "E")
    es = v.finite(v.real_array(e_star, "e_star"), "e_star")
    single = es.ndim == 1
    es = _rows(es[None] if single else es, "e_star")
    K, d = E.shape
    if es.shape[1] != d:
        raise ValueError(f"e_star must have d = {d} entries; got {es.shape[1]}")
    for name, idx in (("j", j), ("jp", jp)):
        if isinstance(idx, (bool, np.bool_)) or not isinstance(idx, (int, np.integer)) or not 0 <= idx < K:
            raise ValueError(f"{name} must be an integer in range({K}); got {idx!r}")
    Th = _pair_angles(E, E)
    ts = _pair_angles(es, E)                                  # (n, K)
    Mr = h(Th)
    m = (_PI - Th[j]) * np.cos(Th[jp]) + np.sin(Th[j]) * math.cos(Th[jp, j])
    if np.linalg.cond(Mr) > 1e12:
        raise ValueError("M_r = h(Theta) is singular (two student directions are collinear); L_jj' is "
                         "undefined there")
    x = np.linalg.solve(Mr, m)
    vv = h(ts)
    ms = (_PI - ts[:, j]) * np.cos(ts[:, jp]) + np.sin(ts[:, j]) * math.cos(Th[jp, j])
    out = ms - vv @ x
    return float(out[0]) if single else out


def _l12_mp(t, phi, dps):
    """L_12 (K = 2) straight from Eqn 14 in mpmath at ``dps`` digits, with the size of its terms."""
    with mpmath.workdps(dps):
        t = mpmath.mpf(t)
        phi = mpmath.mpf(phi)
        pi = mpmath.pi
        th1 = phi if phi <= pi else 2 * pi - phi
        dl = phi - t
        th2 = -dl if dl < 0 else (dl if dl <= pi else 2 * pi - dl)

        def hh(a):
            return (pi - a) * mpmath.cos(a) + mpmath.sin(a)

        ht = hh(t)
        m1 = pi * mpmath.cos(t)
        m2 = (pi - t) + mpmath.sin(t) * mpmath.cos(t)
        det = pi**2 - ht**2
        x1 = (pi * m1 - ht * m2) / det
        x2 = (pi * m2 - ht * m1) / det
        v1, v2 = hh(th1), hh(th2)
        ms = (pi - th1) * mpmath.cos(th2) + mpmath.sin(th1) * mpmath.cos(t)
        L = ms - (v1 * x1 + v2 * x2)
        scale = abs(ms) + abs(v1 * x1) + abs(v2 * x2)
        return +L, +scale


def L12(t, phi, *, dps=None):
    """``L_12`` for K = 2: ``e_1 = (1, 0)``, ``e_2 = (cos t, sin t)``, ``e* = (cos phi, sin phi)``.

    Explicitly (Tian (ICML 2017) Eqn 14 with ``M_r = [[pi, h(t)], [h(t), pi]]``,
    ``m_12 = (pi cos t, pi - t + sin t cos t)``, ``theta*_1 = angle(e*, e_1)``,
    ``theta*_2 = angle(e*, e_2)``):

        L_12 = (pi - theta*_1) cos(theta*_2) + sin(theta*_1) cos(t)
               - [h(theta*_1) A + h(theta*_2) B] / (pi^2 - h(t)^2),
        A = pi^2 cos t - h(t) (pi - t + sin t cos t),   B = pi (pi - t) sin^2 t.

    Conjecture 1 (Tian (ICML 2017) Sec 5.3): for t in (0, pi), ``L_12 > 0`` when e* is strictly inside
    ``Cone(e_1, e_2)`` (``0 < phi < t``) and ``< 0`` outside; ``L_12 = 0`` on the edges. At ``t = pi``,
    ``L_12 = 0`` for every phi (``e_2 = -e_1``); at ``t = 0``, ``M_r`` is singular and L_12 undefined.
    Also ``L_21(t, phi) = L_12(t, t - phi)`` (reflection across the bisector).

    Parameters
    ----------
    t : array_like of float
        Angle between e_1 and e_2, in (0, pi].
    phi : array_like of float
        Direction of e* (taken modulo 2 pi).
    dps : int, optional
        If given, evaluate t, phi (scalars; their float64 values exactly) in mpmath at ``dps`` digits
        and return an ``mpmath.mpf``.

    Returns
    -------
    ndarray or float (or mpmath.mpf)
        In float64, from the cancellation-free form of :mod:`dynsys.theory.conjecture_kernel` (relative error
        about ``1e-16 / t^3`` for small t, near roundoff elsewhere).
    """
    if dps is not None:
        dps = v.positive_int(dps, "dps", minimum=15, maximum=10**4, why="mpmath's cost grows like dps^2")
        t = v.real_scalar(t, "t", lo=0.0, lo_open=True, hi=_PI)
        phi = v.real_scalar(phi, "phi") % _TWO_PI
        try:
            return _l12_mp(t, phi, dps)[0]
        except ZeroDivisionError:
            # det(M_r) = pi^2 - h(t)^2 ~ t^3 cancels to 0 at this precision for tiny t.
            raise ValueError(f"dps = {dps} digits cannot resolve L_12 at t = {t:.3g} (det M_r ~ t^3 "
                             f"cancels); raise dps above about {int(-3 * math.log10(t)) + 20}") from None
    t, phi = np.broadcast_arrays(_real(t, "t"), _real(phi, "phi"))
    if np.any(t <= 0.0) or np.any(t > _PI):
        raise ValueError("t must lie in (0, pi]: at t = 0, M_r is singular and L_12 undefined")
    shape = t.shape
    tt = np.ascontiguousarray(t, dtype=float).ravel()
    pp = np.ascontiguousarray(np.mod(phi, _TWO_PI), dtype=float).ravel()
    P, eP, D, eD, Ln = (np.empty(tt.size) for _ in range(5))
    _cj.l12_batch(tt, pp, 1.0, P, eP, D, eD, Ln)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (P / D).reshape(shape)
    bad = ~np.isfinite(out)
    if bad.any():
        # P and D scale like powers of t and underflow together (0 / 0) for t below about 1e-100.
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(f"t = {tt[i]:.3g} is too small for the float64 form of L_12 (its terms "
                         f"underflow); evaluate it with dps=... (mpmath)")
    return float(out) if out.ndim == 0 else out
