"""The reduced plane's points and their search (Tian (ICML 2017) Sec 6.2, Thm 7; docs/math.md section 3).

:func:`plane_point` embeds reduced coordinates ``(x, y)`` as a student ``W``;
:func:`search_fixed_points` finds every fixed point of a reduced field by Newton from a grid of
starts; :class:`ReducedFixedPoint` and :class:`ReducedTrajectory` are the results of
:class:`~dynsys.theory.ReducedDynamics`. Kept apart from the field itself (``reduced.py``), which
calls into this module and never the other way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _validate as v
from ..clustering import leader_clusters
from ..config import REDUCED_DEDUP_TOL
from ..results import Status
from ..results.io import Result
from ._common import _TWO_PI, _real

__all__ = ["ReducedFixedPoint", "ReducedTrajectory", "plane_point", "search_fixed_points"]


def plane_point(K, x, y, d=None):
    """The student ``W`` with rows ``w_j = x e_j + y sum_{k != j} e_k`` in R^d (``d >= K``, default K;
    coordinates beyond K are zero), shape ``(..., K, d)`` for broadcastable ``x``, ``y``."""
    d = K if d is None else v.positive_int(d, "d", minimum=K)
    x, y = np.broadcast_arrays(_real(x, "x"), _real(y, "y"))
    W = np.zeros(x.shape + (K, d))
    W[..., :, :K] = y[..., None, None]
    idx = np.arange(K)
    W[..., idx, idx] = x[..., None]
    return W


@dataclass(frozen=True, repr=False)
class ReducedFixedPoint(Result):
    """A fixed point of the reduced 2D field (:meth:`ReducedDynamics.fixed_points`).

    Attributes
    ----------
    K : int
    x, y : float
        Position: ``w_j = x e_j + y sum_{k != j} e_k``.
    eigvals : ndarray of float64, shape (2,)
        Eigenvalues of the reduced Jacobian ``J = -M^-1 Hess l``, ascending (``l`` the loss on the
        invariant plane, ``M = diag(K, K(K-1))`` the metric the embedding induces; ``docs/systems.md``).
        Their signs are those of ``-Hess l``'s eigenvalues (Sylvester), so sinks are minima of ``l``.
    kind : str
        ``"sink"`` (both negative), ``"source"`` (both positive), ``"saddle"`` (one of each) or
        ``"degenerate"`` (an eigenvalue within ``1e-9 max|eig|`` of zero).
    residual : float
        Max-norm of ``(dx/dt, dy/dt)`` at (x, y).
    jacobian : ndarray of float64, shape (2, 2)
    """

    K: int
    x: float
    y: float
    eigvals: np.ndarray
    kind: str
    residual: float
    jacobian: np.ndarray

    _call_fields = ("K",)

    def _headline(self) -> str:
        ev = ", ".join(f"{e:.4g}" for e in np.asarray(self.eigvals))
        return (f"K={self.K}, (x, y) = ({self.x:.6g}, {self.y:.6g}): {self.kind}, eigenvalues [{ev}], "
                f"residual {self.residual:.1e}")

    def W(self, d=None):
        """The fixed point as a student ``W`` of shape (K, d) (see :meth:`ReducedDynamics.embed`)."""
        return plane_point(self.K, self.x, self.y, d)


@dataclass(frozen=True, repr=False)
class ReducedTrajectory(Result):
    """A solution of the reduced field (:meth:`ReducedDynamics.integrate`).

    Attributes
    ----------
    t, x, y : ndarray of float64, shape (n,)
    status : Status
        ``T1_REACHED`` normally; ``SINGULAR`` when the path reached the origin; ``NONFINITE`` when the
        solver failed (its message is in ``message``).
    message : str
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    status: Status
    message: str

    def _headline(self) -> str:
        t, x, y = np.asarray(self.t), np.asarray(self.x), np.asarray(self.y)
        if t.size == 0:
            return f"no points, {self.status.name}"
        return (f"{t.size} points, t in [{t[0]:.4g}, {t[-1]:.4g}], from ({x[0]:.4g}, {y[0]:.4g}) to "
                f"({x[-1]:.6g}, {y[-1]:.6g}), {self.status.name}")



def search_fixed_points(K, field, jacobian, R, n_radial, n_angular, ftol, max_iter):
    """Every fixed point of a reduced field in the ellipse ``x^2 + (K-1) y^2 <= R^2``.

    ``field(x, y) -> (fx, fy)`` and ``jacobian(x, y) -> (n, 2, 2)`` act on arrays of points. Newton
    from an ``n_radial x n_angular`` grid of starts (radius evenly in ``(0, R]``, angle evenly in
    ``[0, 2 pi)``, ``y`` scaled by ``1/sqrt(K-1)``), steps limited to half the distance to the
    origin (the plane's only singular point), converged when the field's max-norm is at most
    ``ftol``; then two polishing steps, deduplication (:func:`dynsys.clustering.leader_clusters`) and
    classification by the eigenvalues of the Jacobian. Returns a tuple of
    :class:`ReducedFixedPoint` sorted by x, then y.
    """
    nr, na = n_radial, n_angular
    s1 = math.sqrt(K - 1.0)
    rr = R * (np.arange(nr) + 0.5) / nr
    psi = _TWO_PI * (np.arange(na) + 0.25) / na
    rr, psi = np.meshgrid(rr, psi, indexing="ij")
    z = np.stack([(rr * np.cos(psi)).ravel(), (rr * np.sin(psi) / s1).ravel()], axis=1)
    done = np.zeros(len(z), bool)
    alive = np.ones(len(z), bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(alive & ~done)
        if idx.size == 0:
            break
        zx, zy = z[idx, 0], z[idx, 1]
        fx, fy = field(zx, zy)
        F = np.stack([fx, fy], axis=1)
        conv = np.max(np.abs(F), axis=1) <= ftol
        done[idx[conv]] = True
        idx, F, zx, zy = idx[~conv], F[~conv], zx[~conv], zy[~conv]
        if idx.size == 0:
            break
        J = jacobian(zx, zy)
        det = J[:, 0, 0] * J[:, 1, 1] - J[:, 0, 1] * J[:, 1, 0]
        ok = np.abs(det) > 1e-300
        dx = np.where(ok, -(J[:, 1, 1] * F[:, 0] - J[:, 0, 1] * F[:, 1]) / np.where(ok, det, 1.0), 0.0)
        dy = np.where(ok, -(-J[:, 1, 0] * F[:, 0] + J[:, 0, 0] * F[:, 1]) / np.where(ok, det, 1.0), 0.0)
        # keep off the origin: never step more than half the way towards it (in the w-metric)
        rad = np.hypot(zx, s1 * zy)
        step = np.hypot(dx, s1 * dy)
        lim = np.minimum(0.5 * rad, 0.5 * R)
        scale = np.where(step > lim, lim / np.where(step > 0, step, 1.0), 1.0)
        z[idx, 0] = zx + scale * dx
        z[idx, 1] = zy + scale * dy
        rad_new = np.hypot(z[idx, 0], s1 * z[idx, 1])
        alive[idx[(~ok) | (rad_new < 1e-8) | (rad_new > 2.0 * R)]] = False
    cand = z[done & alive]
    # polish: two more Newton steps (quadratic convergence; harmless at a converged point)
    for _ in range(2):
        if cand.size == 0:
            break
        fx, fy = field(cand[:, 0], cand[:, 1])
        J = jacobian(cand[:, 0], cand[:, 1])
        det = J[:, 0, 0] * J[:, 1, 1] - J[:, 0, 1] * J[:, 1, 0]
        ok = np.abs(det) > 1e-12 * np.max(np.abs(J), axis=(1, 2)) ** 2
        Js = np.where(ok[:, None, None], J, np.eye(2))
        step = np.linalg.solve(Js, -np.stack([fx, fy], axis=1)[..., None])[..., 0]
        cand = cand + np.where(ok[:, None], step, 0.0)
    # one point per fixed point: the tolerance is relative to the largest candidate (they all
    # lie inside the bounding ellipse, so this scale is O(1))
    tol = REDUCED_DEDUP_TOL * (1.0 + float(np.max(np.abs(cand), initial=0.0)))
    points = cand[leader_clusters(cand, tol)[1]]
    out = []
    for p in sorted(points, key=lambda q: (q[0], q[1])):
        x, y = float(p[0]), float(p[1])
        fx, fy = field(np.array([x]), np.array([y]))
        J = jacobian(np.array([x]), np.array([y]))[0]
        ev = np.linalg.eigvals(J)
        if np.all(np.abs(ev.imag) <= 1e-9 * np.max(np.abs(ev))):
            ev = np.sort(ev.real)
        else:
            ev = np.sort_complex(ev)
        scale = np.max(np.abs(ev))
        if np.iscomplexobj(ev) or np.any(np.abs(ev) <= 1e-9 * scale):
            kind = "degenerate"
        elif np.all(ev < 0):
            kind = "sink"
        elif np.all(ev > 0):
            kind = "source"
        else:
            kind = "saddle"
        out.append(ReducedFixedPoint(K, x, y, ev, kind, float(max(abs(fx[0]), abs(fy[0]))), J))
    return tuple(out)
