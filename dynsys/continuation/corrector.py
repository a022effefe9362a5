"""The bordered Newton corrector of pseudo-arclength continuation with phase conditions.

Unknowns ``(x, p, mu)``: the flattened state, the parameter and one multiplier per own null
direction. Equations (n + m + 1)::

    grad L_p(x) + N mu = 0              (n)   N: (n, m) orthonormal basis of the branch's null space
    N^T (x - x_anchor) = 0              (m)   phase conditions: one representative per orbit
    c . (x - x_c) + c_p (p - p_c) = 0   (1)   arclength (c = previous tangent) or p = p_end

Jacobian ``[[H, b, N], [N^T, 0, 0], [c^T, c_p, 0]]`` with ``b = d grad / d p``. Because ``H`` is
symmetric its range is orthogonal to its null space, so the multipliers vanish on a manifold of
critical points and the square system is regular where ``H`` restricted to ``N``'s complement is
(docs/continuation.md).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backends
from ..config import CONTINUATION_CHORD_ITER, CONTINUATION_CHORD_RATE
from ..critical.shared import grad_hess, kernel_shape, kernel_view, row_max
from .._codes import CONVERGED, MAX_STEPS, SINGULAR, STALLED

#: Newton iterations per corrector call before the step is cut.
MAX_ITER = 12


class Point(NamedTuple):
    """A corrected point and what the next steps need of it."""

    x: np.ndarray       #: flattened state (n,)
    p: float
    g: np.ndarray       #: gradient, flattened
    H: np.ndarray       #: Hessian (n, n)
    b: np.ndarray       #: d grad / d p, flattened
    J: np.ndarray       #: bordered Jacobian of the last Newton solve (at the final point when none
                        #: was needed; its last row: the constraint used)
    status: int
    iters: int
    grad_norm: float
    chord: bool = False  #: converged by chord iterations (the step control allows more of them)


class Evaluator:
    """Gradient, Hessian and d grad / d p of a family at (x, p).

    The systems of the last few p values are kept with their kernel views, so that a Newton
    iteration calls the compiled per-state field directly (no revalidation, no array copies).
    """

    def __init__(self, family, shape):
        self.family = family
        self.shape = shape
        self.kshape = kernel_shape(shape)
        self._cache = {}

    def system(self, p):
        return self._entry(p)[0]

    def _entry(self, p):
        e = self._cache.get(p)
        if e is None:
            if len(self._cache) >= 16:
                self._cache.pop(next(iter(self._cache)))
            s = self.family(p)
            e = self._cache[p] = (s, kernel_view(s))
        return e

    def grad_hess(self, x, p, want_H=True):
        """Flattened gradient, Hessian (when ``want_H``) and status at (x, p)."""
        s, view = self._entry(p)
        if view is not None:
            G, H, st = backends.grad_hess_one(view, np.ascontiguousarray(x).reshape(self.kshape), want_H)
        else:
            G, H, st = grad_hess(s, x.reshape(self.shape), want_H=want_H)
        return (None, None, st) if st else (G.reshape(-1), H, 0)

    def dgrad_dp(self, x, p):
        if self.family.analytic:
            return self.family.analytic_dgrad_dp(x.reshape(self.shape), p).reshape(-1)
        out = 0.0
        for q, w in zip(*self.family.stencil(p)):
            g, _, st = self.grad_hess(x, q, want_H=False)
            if st:
                return None
            out = out + w * g
        return out

    def __call__(self, x, p, want_b=True):
        """Gradient, Hessian and (if ``want_b``) d grad / d p at (x, p), and a status."""
        g, H, st = self.grad_hess(x, p)
        if st:
            return None, None, None, st
        b = self.dgrad_dp(x, p) if want_b else None
        if want_b and b is None:
            return None, None, None, SINGULAR
        return g, H, b, 0


def correct(ev, x0, p0, N, x_anchor, c, cp, rhs, *, gtol, xtol, domain, max_iter=MAX_ITER) -> Point:
    """Newton on the bordered system from ``(x0, p0)``; the last equation is ``c.x + cp p = rhs``.

    Converged when the row-max gradient is at most ``gtol`` and the bordering equations hold to
    ``xtol``. A non-decreasing residual after the third iteration, a step out of ``domain`` or a
    singular state ends it (the caller then shortens the step).
    """
    n = x0.size
    m = N.shape[1]
    x, p = x0.copy(), float(p0)
    lo, hi = domain
    res_prev = np.inf
    b = None
    J = np.zeros((n + m + 1, n + m + 1))
    J[:n, n + 1:] = N
    J[n:n + m, :n] = N.T
    J[n + m, :n] = c
    J[n + m, n] = cp
    for it in range(max_iter + 1):
        if not lo <= p <= hi:
            return Point(x, p, None, None, None, J, STALLED, it, np.inf)
        # d grad / d p costs two or three gradients at other p: evaluated at the first iterate only
        # (a chord in the p column: the root is as exact, the convergence still fast)
        g, H, b_new, st = ev(x, p, want_b=it == 0)
        if st:
            return Point(x, p, None, None, None, J, st, it, np.inf)
        if it == 0:
            b = b_new
        gn = row_max(g.reshape(ev.shape))
        r_phase = N.T @ (x - x_anchor)
        r_arc = c @ x + cp * p - rhs
        rx = max(float(np.max(np.abs(r_phase), initial=0.0)), abs(float(r_arc)))
        if gn <= gtol and rx <= xtol:
            # J stays the last solve's (its factor gives the tangent, at a distance of the last
            # Newton step from the root): formed here only when no step was taken
            if it == 0:
                J[:n, :n] = H
                J[:n, n] = b
            return Point(x, p, g, H, b, J, CONVERGED, it, gn)
        J[:n, :n] = H
        J[:n, n] = b
        res = max(gn / gtol, rx / xtol)
        if it >= 3 and res >= 0.5 * res_prev or it == max_iter:
            return Point(x, p, g, H, b, J, MAX_STEPS if it == max_iter else STALLED, it, gn)
        res_prev = res
        # mu restarts at zero each iteration: at a root it is zero, and its column absorbs the part
        # of g along N (second order in the distance to a manifold of critical points)
        F = np.concatenate([g, r_phase, [r_arc]])
        dz = _solve(J, -F)
        if not np.all(np.isfinite(dz)):
            return Point(x, p, g, H, b, J, STALLED, it, gn)
        x = x + dz[:n]
        p = p + float(dz[n])
    return Point(x, p, None, None, None, J, MAX_STEPS, max_iter, np.inf)


def chord_correct(ev, x0, p0, N, x_anchor, c, cp, rhs, chord, *, gtol, xtol, domain,
                  max_iter=CONTINUATION_CHORD_ITER) -> Point:
    """:func:`correct` with the bordered Jacobian of the previous point in place of the current one.

    ``chord = (F, perm, blk, b, X)``: the Bunch-Kaufman factor of that point's ``H + tau I`` (its
    spectrum's), its ``d grad / d p`` and ``X``, the bordering columns solved with the factor (reused
    without phase conditions, made again for ``N`` with them; :func:`dynsys.backends.chord_solve`
    does the block elimination). One gradient per iteration, no Hessian, no factorisation; the
    iteration of :func:`dynsys.kernels.arclength.chord_correct`. A residual that does not fall to
    ``CONTINUATION_CHORD_RATE`` of the last at every iteration ends it STALLED: the caller then runs
    :func:`correct` from the same predictor.
    """
    n = x0.size
    x, p = x0.copy(), float(p0)
    lo, hi = domain
    factor = chord[:3]
    solver = factor + ((chord[4] if N.shape[1] == 0 else backends.chord_prepare(factor, chord[3], N)),)
    res_prev = np.inf
    for it in range(max_iter + 1):
        if not lo <= p <= hi:
            return Point(x, p, None, None, None, None, STALLED, it, np.inf)
        g, _, st = ev.grad_hess(x, p, want_H=False)
        if st:
            return Point(x, p, None, None, None, None, st, it, np.inf)
        gn = row_max(g.reshape(ev.shape))
        r_phase = N.T @ (x - x_anchor)
        r_arc = c @ x + cp * p - rhs
        rx = max(float(np.max(np.abs(r_phase), initial=0.0)), abs(float(r_arc)))
        if gn <= gtol and rx <= xtol:
            return Point(x, p, g, None, None, None, CONVERGED, it, gn, True)
        res = max(gn / gtol, rx / xtol)
        if it >= 1 and res > CONTINUATION_CHORD_RATE * res_prev or it == max_iter:
            return Point(x, p, None, None, None, None, STALLED, it, gn)
        res_prev = res
        dz = backends.chord_solve(solver, N, c, cp, -np.concatenate([g, r_phase, [r_arc]]))
        if dz is None:
            return Point(x, p, None, None, None, None, STALLED, it, gn)
        x = x + dz[:n]
        p = p + float(dz[n])
    return Point(x, p, None, None, None, None, STALLED, max_iter, np.inf)


def _solve(J, r):
    """``J^-1 r`` by the compiled LU; least squares where ``J`` is singular."""
    z = backends.lu_solve_many(J, r)
    return z if z is not None else np.linalg.lstsq(J, r, rcond=None)[0]


def tangent(J, n, t_prev):
    """Unit tangent ``(t_x, t_p)`` from a bordered Jacobian whose last row is the previous tangent
    (or any row not orthogonal to the tangent): ``J z = e_last``, oriented along ``t_prev``."""
    e = np.zeros(J.shape[0])
    e[-1] = 1.0
    return orient(_solve(J, e), n, t_prev)


def orient(z, n, t_prev):
    """The unit tangent: the (x, p) part of ``z`` normalised, pointing along ``t_prev`` (if given)."""
    t = z[:n + 1]
    t = t / np.linalg.norm(t)
    if t_prev is not None and t @ t_prev < 0:
        t = -t
    return t


def bordered(H, b, N, row):
    """``[[H, b, N], [N^T, 0, 0], [row^T, 0]]``: the bordered Jacobian with last row ``row`` (n + 1)."""
    n = H.shape[0]
    m = N.shape[1]
    J = np.zeros((n + m + 1, n + m + 1))
    J[:n, :n] = H
    J[:n, n] = b
    J[:n, n + 1:] = N
    J[n:n + m, :n] = N.T
    J[n + m, :n + 1] = row
    return J


def initial_tangent(H, b, N):
    """Unit null vector ``(t_x, t_p)`` of ``[[H, b], [N^T, 0]]``: the bordered system with a last row
    of fixed pseudo-random entries (not orthogonal to the null vector but by accident) solved for
    ``e_last``, as in :func:`tangent`."""
    row = np.random.default_rng(20261205).standard_normal(H.shape[0] + 1)
    return tangent(bordered(H, b, N, row), H.shape[0], None)
