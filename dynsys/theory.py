"""Closed-form objects of the papers: the reduced 2D field, the saddle formula, the normal equation.

Everything here follows ``MATH.md`` sections 3 and 4 and paper ``000`` (Tian, ICML 2017):

* :class:`ReducedDynamics` -- the invariant 2D system of the orthonormal teacher (``000`` Sec 6.2,
  Thm 7; ``001`` Eqn 16-17), its Jacobian, the symmetric saddle, the diagonal 1D system, all fixed
  points of the reduced plane;
* :func:`k2_saddle_families` -- the one-parameter saddle families of a K = 2 network (``000`` Sec 5.3,
  generalised to unequal teacher norms in ``MATH.md``);
* :func:`h`, :func:`normal_matrices`, :func:`L_jjp`, :func:`L12` -- the normal equation (``000``
  Eqn 9-14), Proposition 1 and Theorem 3;
* :func:`conjecture1_scan` -- the exhaustive check of Conjecture 1 (``000`` Sec 7.2, Fig 10), with a
  roundoff bound per evaluation and mpmath re-evaluation of every doubtful point.

Conventions: all top weights are 1, ReLU, ``x ~ N(0, I)``; the loss is ``L = 1/2 E[(g* - g)^2]`` and
the flow ``dW/dt = -grad L`` (paper ``000`` writes ``J`` over N samples; its field is ``N`` times ours).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import mpmath
import numpy as np
from scipy import integrate as _integrate
from scipy import optimize as _optimize

from . import _validate as v
from .config import (CONJ1_BOUND_SAFETY, CONJ1_EDGE_ATOL, CONJ1_LOCATION_CAP, CONJ1_MAX_MP_POINTS,
                     CONJ1_MP_DPS, K2_ROOT_GRID, REDUCED_DEDUP_TOL, REDUCED_GRID, REDUCED_NEWTON_FTOL,
                     REDUCED_NEWTON_MAXITER, SINGULAR_RTOL)
from .kernels import conjecture as _cj
from .results import Status

__all__ = [
    "ReducedDynamics", "ReducedFixedPoint", "ReducedTrajectory",
    "K2SaddleFamily", "k2_saddle_families", "k2_equal_norm_threshold",
    "h", "normal_matrices", "L_jjp", "L12",
    "Conjecture1Scan", "conjecture1_scan",
]

_PI = math.pi
_TWO_PI = 2.0 * math.pi


# =============================================================================================== helpers
def h(theta):
    """``h(theta) = (pi - theta) cos(theta) + sin(theta)`` (paper ``000`` Sec 5.2, after Eqn 12).

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

    ``theta = 2 atan2(|a~ - b~|, |a~ + b~|)`` (``MATH.md`` section 2) with ``a~ = a/|a|``.
    """
    a = A / np.linalg.norm(A, axis=-1, keepdims=True)
    b = B / np.linalg.norm(B, axis=-1, keepdims=True)
    diff = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    summ = np.linalg.norm(a[:, None, :] + b[None, :, :], axis=-1)
    return 2.0 * np.arctan2(diff, summ)


def _real(x, name):
    """``x`` as a finite float64 array of its own shape (0-d kept), with dynsys's input errors."""
    shape = np.shape(x)
    return v.finite(v.real_array(x, name), name).reshape(shape)


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


# ================================================================================== reduced dynamics
@dataclass(frozen=True)
class ReducedFixedPoint:
    """A fixed point of the reduced 2D field (:meth:`ReducedDynamics.fixed_points`).

    Attributes
    ----------
    K : int
    x, y : float
        Position: ``w_j = x e_j + y sum_{k != j} e_k``.
    eigvals : ndarray of float64, shape (2,)
        Eigenvalues of the reduced Jacobian, ascending. They are ``-1`` times the eigenvalues of the
        full Hessian restricted to the invariant plane (real at a fixed point).
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

    def W(self, d=None):
        """The fixed point as a student ``W`` of shape (K, d) (see :meth:`ReducedDynamics.embed`)."""
        return ReducedDynamics(self.K).embed(self.x, self.y, d)


@dataclass(frozen=True)
class ReducedTrajectory:
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


@dataclass(frozen=True)
class ReducedDynamics:
    """The 2D reduced gradient flow of an orthonormal teacher (paper ``000`` Sec 6.2 and Thm 7).

    With ``W* = I_K`` (teacher rows ``e_k``, all top weights 1, ReLU) the family
    ``w_j = x e_j + y sum_{k != j} e_k`` is invariant under ``dW/dt = -grad L`` (cyclic and
    permutation symmetry). Projecting ``-grad_{w_1} L`` on ``e_1`` and ``e_2`` gives (``MATH.md``
    section 3, the closed form of ``001`` Eqn 16-17 whose ``dx/dt`` line the seed text garbles):

        2 pi dx/dt = (pi - theta) - pi x - (K-1) [(pi - phi) y + x sin phi] + rho x [sin theta + (K-1) sin phi*]
        2 pi dy/dt = (pi - phi*) - pi y - (pi - phi)(x + (K-2) y) - (K-1) y sin phi + rho y [sin theta + (K-1) sin phi*]

    with ``rho = (x^2 + (K-1) y^2)^(-1/2)``, ``theta = angle(w_1, e_1)``, ``phi* = angle(w_1, e_2)``,
    ``phi = angle(w_1, w_2)``. The field is the *negative* gradient direction (the flow of
    ``dW/dt = -grad L``, per sample; paper ``000``'s field is N times this).

    Parameters
    ----------
    K : int
        Number of teacher (and student) rows, at least 2.

    Notes
    -----
    Angles are evaluated as ``theta = atan2(sqrt(K-1) |y|, x)``, ``phi* = atan2(sqrt(x^2 + (K-2) y^2), y)``
    and ``phi = 2 atan2(|w_1 - w_2|, |w_1 + w_2|)`` with ``|w_1 - w_2| = sqrt(2) |x - y|``: accurate to
    roundoff at ``y = 0`` (theta = 0) and on the diagonal (phi = 0), where ``arccos`` of a clipped cosine
    would lose half the digits. The field is singular only at the origin ``x = y = 0``.
    """

    K: int

    def __post_init__(self):
        object.__setattr__(self, "K", v.positive_int(self.K, "K", minimum=2))

    # ------------------------------------------------------------------------------ inputs
    def _xy(self, x, y):
        x, y = np.broadcast_arrays(_real(x, "x"), _real(y, "y"))
        r = np.hypot(x, math.sqrt(self.K - 1) * y)
        bad = r <= SINGULAR_RTOL
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
            where = f"(x, y)[{', '.join(map(str, idx))}]" if idx else "(x, y)"
            raise ValueError(f"{where} = ({x[idx]}, {y[idx]}) is singular: |w_j| = sqrt(x^2 + (K-1) y^2) = "
                             f"{r[idx]:.3g} <= {SINGULAR_RTOL} (the origin, where the field's direction is "
                             f"undefined)")
        return np.array(x, dtype=float), np.array(y, dtype=float)

    # ------------------------------------------------------------------------------ field
    def _field(self, x, y):
        K = self.K
        s1 = math.sqrt(K - 1.0)
        s2 = math.sqrt(K - 2.0)
        r = np.hypot(x, s1 * y)
        rho = 1.0 / r
        theta = np.arctan2(s1 * np.abs(y), x)
        sin_theta = s1 * np.abs(y) * rho
        ps = np.hypot(x, s2 * y)
        phis = np.arctan2(ps, y)
        sin_phis = ps * rho
        a = math.sqrt(2.0) * np.abs(x - y)
        b = np.hypot(math.sqrt(2.0) * (x + y), 2.0 * s2 * y)
        phi = 2.0 * np.arctan2(a, b)
        sin_phi = a * b * (0.5 * rho * rho)
        S = rho * (sin_theta + (K - 1) * sin_phis)
        fx = (_PI - theta) - _PI * x - (K - 1) * ((_PI - phi) * y + x * sin_phi) + x * S
        fy = (_PI - phis) - _PI * y - (_PI - phi) * (x + (K - 2) * y) - (K - 1) * y * sin_phi + y * S
        return fx / _TWO_PI, fy / _TWO_PI

    def _field_scalar(self, x, y):
        """:meth:`_field` for two Python floats (math instead of NumPy: the ODE right-hand side)."""
        K = self.K
        s1 = math.sqrt(K - 1.0)
        s2 = math.sqrt(K - 2.0)
        r = math.hypot(x, s1 * y)
        rho = 1.0 / r
        theta = math.atan2(s1 * abs(y), x)
        ps = math.hypot(x, s2 * y)
        phis = math.atan2(ps, y)
        a = math.sqrt(2.0) * abs(x - y)
        b = math.hypot(math.sqrt(2.0) * (x + y), 2.0 * s2 * y)
        phi = 2.0 * math.atan2(a, b)
        sin_phi = a * b * (0.5 * rho * rho)
        S = rho * (s1 * abs(y) * rho + (K - 1) * ps * rho)
        fx = (_PI - theta) - _PI * x - (K - 1) * ((_PI - phi) * y + x * sin_phi) + x * S
        fy = (_PI - phis) - _PI * y - (_PI - phi) * (x + (K - 2) * y) - (K - 1) * y * sin_phi + y * S
        return fx / _TWO_PI, fy / _TWO_PI

    def field(self, x, y):
        """The reduced field ``(dx/dt, dy/dt)`` at (x, y), vectorised.

        Parameters
        ----------
        x, y : array_like of float
            Broadcastable coordinates; any signs, not both zero.

        Returns
        -------
        dx, dy : ndarray or float
            ``-(grad_{w_1} L)_1`` and ``-(grad_{w_1} L)_2`` at ``W = embed(x, y)``.

        Raises
        ------
        ValueError
            At the origin (singular) or for non-finite input.
        """
        x, y = self._xy(x, y)
        fx, fy = self._field(x, y)
        if fx.ndim == 0:
            return float(fx), float(fy)
        return fx, fy

    # ------------------------------------------------------------------------------ Jacobian
    def _jacobian(self, x, y):
        """Exact Jacobian for 1-d arrays x, y: (n, 2, 2).

        The full field is ``F(W) = -grad L(W)`` and the reduced field is ``P F(E(x, y))`` with E the
        linear embedding and P the projection on ``(w_1)_1, (w_1)_2``. Hence ``J = -P H E'`` with H the
        analytic Hessian of ``MATH.md`` section 2; only the first block row of H is applied, to the two
        tangent directions ``dW/dx`` (rows ``e_j``) and ``dW/dy`` (rows ``1 - e_j``).
        """
        K = self.K
        n = x.size
        r = np.hypot(x, math.sqrt(K - 1.0) * y)
        w1 = np.empty((n, K))
        w1[:] = y[:, None]
        w1[:, 0] = x
        a = w1 / r[:, None]
        eye = np.eye(K)
        ones = np.ones(K)
        V1 = (eye[0], ones - eye[0])           # row 1 of dW/dx, dW/dy
        out = [0.5 * np.broadcast_to(V1[0], (n, K)).copy(), 0.5 * np.broadcast_to(V1[1], (n, K)).copy()]

        def pair(b):
            th = 2.0 * np.arctan2(np.linalg.norm(a - b, axis=1), np.linalg.norm(a + b, axis=1))
            s = np.sin(th)
            c = np.cos(th)
            q = b - c[:, None] * a              # = s n, n the unit normal of MATH.md
            inv_s = np.where(s > 1e-200, 1.0 / np.where(s > 1e-200, s, 1.0), 0.0)
            return th, s, c, q, inv_s

        def h1(coef, s, q, inv_s, z):
            az = a @ z if z.ndim == 1 else np.einsum("nk,nk->n", a, z)
            qz = q @ z if z.ndim == 1 else np.einsum("nk,nk->n", q, z)
            return coef[:, None] * (s[:, None] * (z - a * az[:, None]) + q * (qz * inv_s)[:, None])

        def h2(th, s, c, q, inv_s, z):
            az = np.einsum("nk,nk->n", a, z)
            qz = np.einsum("nk,nk->n", q, z)
            res = ((_PI - th)[:, None] * z + (s * c * az)[:, None] * a - (c * qz * inv_s)[:, None] * q
                   + s[:, None] * (q * az[:, None] + a * qz[:, None]))
            return res / _TWO_PI

        one = np.full(n, 1.0 / _TWO_PI)        # |w_i| / |w_1| = 1
        for i in range(1, K):
            wi = np.empty((n, K))
            wi[:] = y[:, None]
            wi[:, i] = x
            th, s, c, q, inv_s = pair(wi / r[:, None])
            Vi = (np.broadcast_to(eye[i], (n, K)), np.broadcast_to(ones - eye[i], (n, K)))
            for m in range(2):
                out[m] += h1(one, s, q, inv_s, V1[m]) + h2(th, s, c, q, inv_s, Vi[m])
        coef_t = 1.0 / (_TWO_PI * r)           # |e_k| / |w_1|
        for k in range(K):
            th, s, c, q, inv_s = pair(np.broadcast_to(eye[k], (n, K)))
            for m in range(2):
                out[m] -= h1(coef_t, s, q, inv_s, V1[m])
        J = np.empty((n, 2, 2))
        for m in range(2):
            J[:, 0, m] = -out[m][:, 0]
            J[:, 1, m] = -out[m][:, 1]
        return J

    def jacobian(self, x, y):
        """Jacobian ``d(dx/dt, dy/dt)/d(x, y)`` of the reduced field, analytic.

        Computed as ``-P H E'`` from the exact Hessian blocks ``h1``, ``h2`` of ``MATH.md`` section 2 (no
        finite differences). The field is C^1 but not C^2 where angles hit 0 or pi (``y = 0``, the
        diagonal, ``x = 0`` for K = 2); the Jacobian is continuous there.

        Parameters
        ----------
        x, y : array_like of float
            Broadcastable coordinates (not the origin).

        Returns
        -------
        ndarray of float64, shape (..., 2, 2)
            ``J[..., i, j] = d f_i / d z_j`` with ``f = (dx/dt, dy/dt)``, ``z = (x, y)``.
        """
        x, y = self._xy(x, y)
        shape = x.shape
        J = self._jacobian(x.ravel(), y.ravel())
        return J.reshape(shape + (2, 2))

    # ------------------------------------------------------------------------------ closed forms
    def saddle(self) -> float:
        """``x_s = (sqrt(K-1) - arccos(1/sqrt(K)) + pi) / (pi K)`` (paper ``000`` Thm 7(2)).

        The diagonal point ``x = y = x_s`` is the symmetric saddle. K = 2: 0.53415..., K = 5: 0.25684...
        """
        K = self.K
        return (math.sqrt(K - 1.0) - math.acos(1.0 / math.sqrt(K)) + _PI) / (_PI * K)

    def radius_bound(self) -> float:
        """``R_K = sqrt(K + K (K-1) / pi)``: every fixed point has ``|w_1| = sqrt(x^2 + (K-1) y^2) <= R_K``.

        Proof. At a critical point ``w_1 . grad_{w_1} L = 0``. By Euler's identity for the 1-homogeneous
        ``grad_u kappa(u, v)`` in u, ``w_1 . grad_{w_1} L = sum_i kappa(w_1, w_i) - sum_k kappa(w_1, e_k)``.
        The first sum is ``E[relu(w_1.x) g(x; W)] >= E[relu(w_1.x)^2] = |w_1|^2 / 2`` (all terms of g are
        non-negative). By Cauchy-Schwarz the second is at most ``|w_1| sqrt(E[relu(w~.x)^2]
        E[(sum_k relu(x_k))^2]) = |w_1| sqrt(K + K (K-1)/pi) / 2``. So ``|w_1| <= R_K``; beyond it the
        radial component ``x dx/dt + (K-1) y dy/dt`` is negative.
        """
        K = self.K
        return math.sqrt(K + K * (K - 1) / _PI)

    def diagonal_field(self, x):
        """The invariant 1D system on the diagonal ``x = y`` (paper ``000`` Thm 7(2); ``001`` Thm 7.11).

        With ``x = y`` all rows equal ``x (1, ..., 1)``: ``phi = 0`` and
        ``theta = phi* = arccos(sign(x)/sqrt(K))``, so
        ``2 pi dx/dt = pi - theta - pi K x + sign(x) sqrt(K-1)``:

        * ``x > 0``: ``2 pi dx/dt = -pi K (x - x_s)`` (linear; ``x_s`` = :meth:`saddle`);
        * ``x < 0``: ``2 pi dx/dt = arccos(1/sqrt(K)) - sqrt(K-1) - pi K x``, also linear, with the fixed
          point ``x_n = (arccos(1/sqrt(K)) - sqrt(K-1)) / (pi K) < 0`` (all rows pointing away from the
          teacher's orthant).

        Parameters
        ----------
        x : array_like of float
            Nonzero.

        Returns
        -------
        ndarray or float
            ``dx/dt`` (which equals ``dy/dt`` there).
        """
        x = _real(x, "x")
        if np.any(x == 0.0):
            raise ValueError("x = 0 on the diagonal is the origin, where the field is singular")
        K = self.K
        c = math.acos(1.0 / math.sqrt(K))
        sq = math.sqrt(K - 1.0)
        out = np.where(x > 0, -0.5 * K * (x - self.saddle()), (c - sq - _PI * K * x) / _TWO_PI)
        return float(out) if out.ndim == 0 else out

    def embed(self, x, y, d=None):
        """The student ``W`` with rows ``w_j = x e_j + y sum_{k != j} e_k`` in R^d.

        Parameters
        ----------
        x, y : float or array_like
            Broadcastable reduced coordinates.
        d : int, optional
            Input dimension, ``d >= K`` (default K); coordinates beyond K are zero.

        Returns
        -------
        ndarray of float64, shape (..., K, d)
        """
        K = self.K
        d = K if d is None else v.positive_int(d, "d", minimum=K)
        x, y = np.broadcast_arrays(_real(x, "x"), _real(y, "y"))
        W = np.zeros(x.shape + (K, d))
        W[..., :, :K] = y[..., None, None]
        idx = np.arange(K)
        W[..., idx, idx] = x[..., None]
        return W

    def teacher(self, d=None):
        """The teacher ``W* = I_K`` padded to (K, d)."""
        K = self.K
        d = K if d is None else v.positive_int(d, "d", minimum=K)
        return np.eye(K, d)

    # ------------------------------------------------------------------------------ flows
    def integrate(self, x0, y0, t1, *, t_eval=None, method="DOP853", rtol=1e-10, atol=1e-12,
                  symmetrize=False):
        """Integrate the reduced field from ``(x0, y0)`` to time ``t1`` (scipy ``solve_ivp``).

        Parameters
        ----------
        x0, y0 : float
            Start (not the origin).
        t1 : float
            Final time, > 0.
        t_eval : array_like of float, optional
            Output times (default: the solver's steps).
        method : str, default "DOP853"
            A ``solve_ivp`` method.
        rtol, atol : float
            Solver tolerances.
        symmetrize : bool, default False
            Only for a diagonal start ``x0 == y0``: evaluate the field at the diagonal projection of the
            state and replace it by its diagonal projection, so the state stays on ``x = y``.

        Returns
        -------
        ReducedTrajectory

        Notes
        -----
        The diagonal is invariant but repelling across (the symmetric saddle has one unstable direction
        off it). Without ``symmetrize`` a diagonal start leaves the diagonal by roundoff (the two
        component formulas differ in their last bits) and the separation grows like
        ``exp(lambda_u t)``: the path passes the saddle and ends at the teacher ``(1, 0)`` when the drift
        has ``x > y``, and at the reduced sink with ``x < 0 < y`` (the permuted teacher ``(0, 1)`` for
        K = 2) when it has ``y > x``. Recorded with this implementation (DOP853, rtol 1e-10, t1 = 300,
        starts x0 = y0 in {1, 0.5, 0.1, 1e-3}): for K = 2, 5, 9 the two components agree bitwise on the
        diagonal (``sqrt(K-1)`` is exact) and the path stays at ``(x_s, x_s)``; for K = 3 it ended at
        (1, 0) from all four starts, for K = 4, 6, 8, 10 at (1, 0) or at the ``x < 0 < y`` sink depending
        on the start, for K = 7 at the ``x < 0 < y`` sink. That is a numerical artefact, not a
        counterexample to Thm 7(2); use :meth:`diagonal_field` (exactly 1D) or ``symmetrize=True``.
        """
        x0 = v.real_scalar(x0, "x0")
        y0 = v.real_scalar(y0, "y0")
        t1 = v.real_scalar(t1, "t1", lo=0.0, lo_open=True)
        self._xy(x0, y0)
        if symmetrize and x0 != y0:
            raise ValueError(f"symmetrize=True needs a diagonal start x0 == y0; got ({x0}, {y0})")
        tiny = SINGULAR_RTOL
        s1 = math.sqrt(self.K - 1.0)

        def rhs(_t, z):
            if symmetrize:
                m = 0.5 * (z[0] + z[1])
                fx, fy = self._field_scalar(m, m)
                f = 0.5 * (fx + fy)
                return [f, f]
            if math.hypot(z[0], s1 * z[1]) <= tiny:
                return [0.0, 0.0]
            return list(self._field_scalar(float(z[0]), float(z[1])))

        def hit_origin(_t, z):
            return math.hypot(z[0], s1 * z[1]) - 1e3 * tiny

        hit_origin.terminal = True
        sol = _integrate.solve_ivp(rhs, (0.0, t1), [x0, y0], method=method, rtol=rtol, atol=atol,
                                   t_eval=t_eval, events=hit_origin)
        if sol.status == 1:
            status = Status.SINGULAR
        elif sol.status == 0:
            status = Status.T1_REACHED
        else:
            status = Status.NONFINITE
        return ReducedTrajectory(sol.t, sol.y[0].copy(), sol.y[1].copy(), status, sol.message)

    # ------------------------------------------------------------------------------ fixed points
    def fixed_points(self, *, n_radial=None, n_angular=None, ftol=None, max_iter=REDUCED_NEWTON_MAXITER):
        """All fixed points of the reduced field in the plane (x and y of any sign).

        Newton's method on the 2D field from a grid of starts covering the ellipse
        ``x^2 + (K-1) y^2 <= R_K^2`` (:meth:`radius_bound`: no fixed point lies outside it), then
        deduplication and classification by the eigenvalues of the reduced Jacobian. The origin (the
        only singular point of the plane) is excluded: Newton steps are limited to half the distance to
        it, and starts that approach it are dropped.

        Parameters
        ----------
        n_radial, n_angular : int, optional
            Grid of starts ``x = r cos(psi)``, ``y = r sin(psi) / sqrt(K-1)`` with r evenly in
            ``(0, R_K]`` and psi evenly in ``[0, 2 pi)`` (default ``config.REDUCED_GRID``).
        ftol : float, optional
            Convergence: max-norm of the field at most ``ftol`` (default ``REDUCED_NEWTON_FTOL * K``).
        max_iter : int
            Newton iterations per start.

        Returns
        -------
        tuple of ReducedFixedPoint
            Sorted by x, then y.

        Notes
        -----
        For every K = 2..20 the search finds exactly four fixed points (the same with a 12 x 36 and a
        100 x 360 grid of starts): the teacher ``(1, 0)`` (sink), the symmetric saddle ``(x_s, x_s)``,
        the negative-diagonal saddle ``(x_n, x_n)`` of :meth:`diagonal_field`, and a sink with
        ``x < 0 < y`` (for K = 2 the permuted teacher ``(0, 1)``). As points of the full K x d space
        (exact Hessian; index, nullity): teacher (0, 0); ``(x_s, x_s)``: ((K-1)(d-1), K-1);
        ``(x_n, x_n)``: (K(d-1), K-1); the ``x < 0 < y`` sink: index 1, 3, 6 for K = 3, 4, 5 and
        0 (nullity 0, a spurious local minimum) for 6 <= K <= 20.
        """
        K = self.K
        nr, na = REDUCED_GRID
        nr = nr if n_radial is None else v.positive_int(n_radial, "n_radial")
        na = na if n_angular is None else v.positive_int(n_angular, "n_angular")
        ftol = REDUCED_NEWTON_FTOL * K if ftol is None else v.real_scalar(ftol, "ftol", lo=0.0, lo_open=True)
        R = self.radius_bound()
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
            fx, fy = self._field(zx, zy)
            F = np.stack([fx, fy], axis=1)
            conv = np.max(np.abs(F), axis=1) <= ftol
            done[idx[conv]] = True
            idx, F, zx, zy = idx[~conv], F[~conv], zx[~conv], zy[~conv]
            if idx.size == 0:
                break
            J = self._jacobian(zx, zy)
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
            fx, fy = self._field(cand[:, 0], cand[:, 1])
            J = self._jacobian(cand[:, 0], cand[:, 1])
            det = J[:, 0, 0] * J[:, 1, 1] - J[:, 0, 1] * J[:, 1, 0]
            ok = np.abs(det) > 1e-12 * np.max(np.abs(J), axis=(1, 2)) ** 2
            Js = np.where(ok[:, None, None], J, np.eye(2))
            step = np.linalg.solve(Js, -np.stack([fx, fy], axis=1)[..., None])[..., 0]
            cand = cand + np.where(ok[:, None], step, 0.0)
        points = []
        for p in cand:
            if any(np.max(np.abs(p - q)) <= REDUCED_DEDUP_TOL * (1.0 + np.max(np.abs(q))) for q in points):
                continue
            points.append(p)
        out = []
        for p in sorted(points, key=lambda q: (q[0], q[1])):
            x, y = float(p[0]), float(p[1])
            fx, fy = self._field(np.array([x]), np.array([y]))
            J = self._jacobian(np.array([x]), np.array([y]))[0]
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


# ================================================================================= K = 2 saddle families
@dataclass(frozen=True)
class K2SaddleFamily:
    """One family of K = 2 saddles, ``w_1 = c S e``, ``w_2 = (1 - c) S e``, c in (0, 1).

    Teacher ``w*_1 = norm1 (1, 0, ...)``, ``w*_2 = norm2 (cos theta12, sin theta12, 0, ...)``; ``e`` is the
    unit vector in the teacher plane at angle ``theta1`` from ``w*_1`` towards ``w*_2`` (``MATH.md``
    section 4; paper ``000`` Sec 5.3 states the equal-norm bisector case).

    Attributes
    ----------
    norm1, norm2, theta12 : float
        The teacher.
    theta1, theta2 : float
        Angles of e to ``w*_1`` and ``w*_2`` (``theta1 + theta2 = theta12``); a root of
        ``(pi - theta1) sin(theta1) |w*_1| = (pi - theta2) sin(theta2) |w*_2|`` (the normal equation's
        component orthogonal to e).
    S : float
        ``pi S = |w*_1| h(theta1) + |w*_2| h(theta2)`` (the component along e): ``|w_1| + |w_2| = S``.
    index_in_plane : int
        Predicted Morse index in d = 2: 1 when ``sum_k |w*_k| sin(theta_k) <
        sum_k |w*_k| (pi - theta_k) cos(theta_k)``, else 2 (``MATH.md``).
    margin : float
        ``sum_k |w*_k| (pi - theta_k) cos(theta_k) - sum_k |w*_k| sin(theta_k)``: its sign decides the
        index; zero is a bifurcation (a degenerate family).
    tangential : bool
        True when theta1 is a double root (found by minimising ``|f|``, no sign change).
    """

    norm1: float
    norm2: float
    theta12: float
    theta1: float
    theta2: float
    S: float
    index_in_plane: int
    margin: float
    tangential: bool = False

    def index(self, d=2) -> int:
        """Predicted Morse index in R^d: the in-plane index plus ``d - 2`` (out-of-plane directions)."""
        d = v.positive_int(d, "d", minimum=2)
        return self.index_in_plane + d - 2

    @property
    def nullity(self) -> int:
        """Predicted nullity: 1 (moving mass c between the two collinear rows)."""
        return 1

    def teacher(self, d=2):
        """Teacher ``W*`` of shape (2, d)."""
        d = v.positive_int(d, "d", minimum=2)
        W = np.zeros((2, d))
        W[0, 0] = self.norm1
        W[1, 0] = self.norm2 * math.cos(self.theta12)
        W[1, 1] = self.norm2 * math.sin(self.theta12)
        return W

    def direction(self, d=2):
        """The unit vector e, shape (d,)."""
        d = v.positive_int(d, "d", minimum=2)
        e = np.zeros(d)
        e[0] = math.cos(self.theta1)
        e[1] = math.sin(self.theta1)
        return e

    def W(self, c, d=2):
        """The family member at c in (0, 1): rows ``c S e`` and ``(1 - c) S e``, shape (2, d)."""
        c = v.real_scalar(c, "c", lo=0.0, lo_open=True, hi=1.0)
        if c == 1.0:
            raise ValueError("c must lie in the open interval (0, 1): c = 1 makes w_2 = 0 (singular)")
        e = self.direction(d)
        return np.stack([c * self.S * e, (1.0 - c) * self.S * e])


def _k2_f(t1, n1, n2, T):
    t2 = T - t1
    return (_PI - t1) * np.sin(t1) * n1 - (_PI - t2) * np.sin(t2) * n2


def k2_saddle_families(norm1, norm2, theta12, *, n_grid=K2_ROOT_GRID):
    """Every K = 2 saddle family of a teacher with row norms ``norm1``, ``norm2`` at angle ``theta12``.

    Roots theta1 in the open interval ``(0, theta12)`` of
    ``f(theta1) = (pi - theta1) sin(theta1) norm1 - (pi - theta2) sin(theta2) norm2``,
    ``theta2 = theta12 - theta1``: sign changes on a grid of ``n_grid`` points refined by ``brentq``,
    plus tangential (double) roots found by minimising ``|f|`` around each grid minimum of ``|f|``
    without a sign change (accepted when ``|f| <= 1e-12 max(norm1, norm2)``).

    Parameters
    ----------
    norm1, norm2 : float
        Teacher row norms, > 0.
    theta12 : float
        Angle between the teacher rows, in (0, pi].
    n_grid : int
        Grid size.

    Returns
    -------
    tuple of K2SaddleFamily
        Sorted by theta1.

    Notes
    -----
    With ``w_1, w_2`` both along e the gradient of either row is
    ``(pi S e - sum_k [(pi - theta_k) w*_k + |w*_k| sin(theta_k) e]) / (2 pi)`` (``MATH.md`` section 2): its
    component along e vanishes by the definition of S and its in-plane normal component by
    ``f(theta1) = 0``. For equal norms the bisector is always a root; it is the only one below
    :func:`k2_equal_norm_threshold` (where ``f'`` at the bisector changes sign: a pitchfork).
    """
    n1 = v.real_scalar(norm1, "norm1", lo=0.0, lo_open=True)
    n2 = v.real_scalar(norm2, "norm2", lo=0.0, lo_open=True)
    T = v.real_scalar(theta12, "theta12", lo=0.0, lo_open=True, hi=_PI)
    n_grid = v.positive_int(n_grid, "n_grid", minimum=8)
    # uniform grid plus geometric refinement towards both ends: roots approach 0 or theta12 like
    # (pi - theta12)^2 as theta12 -> pi; the end points themselves join as brackets where f != 0
    geo = T * np.logspace(-15, -1, 15 * 8)
    g = np.unique(np.concatenate([T * np.arange(1, n_grid) / n_grid, geo, T - geo]))
    g = g[(g > 0.0) & (g < T)]
    f = _k2_f(g, n1, n2, T)
    scale = max(n1, n2)
    roots = []
    tang = []
    for k in range(len(g)):
        if f[k] == 0.0:
            roots.append(float(g[k]))
    f0, fT = float(_k2_f(0.0, n1, n2, T)), float(_k2_f(T, n1, n2, T))
    gb = np.concatenate([[0.0] if f0 != 0.0 else [], g, [T] if fT != 0.0 else []])
    fb = np.concatenate([[f0] if f0 != 0.0 else [], f, [fT] if fT != 0.0 else []])
    for k in range(len(gb) - 1):
        if fb[k] * fb[k + 1] < 0.0:
            roots.append(_optimize.brentq(_k2_f, gb[k], gb[k + 1], args=(n1, n2, T), xtol=1e-300,
                                          rtol=1e-15, maxiter=500))
    af = np.abs(f)
    for k in range(1, len(g) - 1):
        if af[k] < af[k - 1] and af[k] <= af[k + 1] and f[k - 1] * f[k] > 0 and f[k] * f[k + 1] > 0:
            res = _optimize.minimize_scalar(lambda s: abs(_k2_f(s, n1, n2, T)), bounds=(g[k - 1], g[k + 1]),
                                            method="bounded", options={"xatol": 1e-14})
            if abs(_k2_f(res.x, n1, n2, T)) <= 1e-12 * scale:
                tang.append(float(res.x))
    found = []
    for r, is_t in sorted([(r, False) for r in roots] + [(r, True) for r in tang]):
        if any(abs(r - q) <= 1e-7 * T for q, _ in found):
            continue
        found.append((r, is_t))
    out = []
    for t1, is_t in found:
        t2 = T - t1
        S = (n1 * float(h(t1)) + n2 * float(h(t2))) / _PI
        lhs = n1 * math.sin(t1) + n2 * math.sin(t2)
        rhs = n1 * (_PI - t1) * math.cos(t1) + n2 * (_PI - t2) * math.cos(t2)
        out.append(K2SaddleFamily(n1, n2, T, t1, t2, S, 1 if lhs < rhs else 2, rhs - lhs, is_t))
    return tuple(out)


def k2_equal_norm_threshold() -> float:
    """The teacher angle where the equal-norm bisector family changes index: ``tan(T/2) = pi - T/2``.

    Below it (about 2.2257) the bisector family has in-plane index 1 and is the only family; above it
    the bisector has index 2 and two asymmetric index-1 families branch off (``MATH.md`` section 4).
    It is where ``d/dt [(pi - t) sin t] = 0`` at ``t = T/2``.
    """
    return 2.0 * _optimize.brentq(lambda s: math.tan(s) - (_PI - s), 0.5, 1.5, xtol=1e-16, rtol=1e-15)


# =================================================================================== normal equation
def normal_matrices(W, W_star):
    """The matrices ``M`` and ``M*`` of the in-plane normal equation (paper ``000`` Eqn 10-12).

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
    """``L_{jj'}`` of paper ``000`` Eqn 14 for student directions E and one teacher direction e*.

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

    Explicitly (paper ``000`` Eqn 14 with ``M_r = [[pi, h(t)], [h(t), pi]]``,
    ``m_12 = (pi cos t, pi - t + sin t cos t)``, ``theta*_1 = angle(e*, e_1)``,
    ``theta*_2 = angle(e*, e_2)``):

        L_12 = (pi - theta*_1) cos(theta*_2) + sin(theta*_1) cos(t)
               - [h(theta*_1) A + h(theta*_2) B] / (pi^2 - h(t)^2),
        A = pi^2 cos t - h(t) (pi - t + sin t cos t),   B = pi (pi - t) sin^2 t.

    Conjecture 1 (``000`` Sec 5.3): for t in (0, pi), ``L_12 > 0`` when e* is strictly inside
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
        In float64, from the cancellation-free form of :mod:`dynsys.kernels.conjecture` (relative error
        about ``1e-16 / t^3`` for small t, near roundoff elsewhere).
    """
    if dps is not None:
        dps = v.positive_int(dps, "dps", minimum=15)
        t = v.real_scalar(t, "t", lo=0.0, lo_open=True, hi=_PI)
        phi = v.real_scalar(phi, "phi") % _TWO_PI
        return _l12_mp(t, phi, dps)[0]
    t, phi = np.broadcast_arrays(_real(t, "t"), _real(phi, "phi"))
    if np.any(t <= 0.0) or np.any(t > _PI):
        raise ValueError("t must lie in (0, pi]: at t = 0, M_r is singular and L_12 undefined")
    shape = t.shape
    tt = np.ascontiguousarray(t, dtype=float).ravel()
    pp = np.ascontiguousarray(np.mod(phi, _TWO_PI), dtype=float).ravel()
    P, eP, D, eD, Ln = (np.empty(tt.size) for _ in range(5))
    _cj.l12_batch(tt, pp, 1.0, P, eP, D, eD, Ln)
    out = (P / D).reshape(shape)
    return float(out) if out.ndim == 0 else out


# ======================================================================================= Conjecture 1
@dataclass(frozen=True)
class Conjecture1Scan:
    """Result of :func:`conjecture1_scan`.

    Attributes
    ----------
    N : int
        Grid size per axis (``N x N`` points).
    grid : str
        ``"midpoint"`` or ``"endpoint"``.
    n_points : int
        ``N^2``.
    n_excluded : int
        Points on rows outside the open interval ``0 < t < pi`` (the endpoint grid's rows t = 0 and
        t = pi, ``2 N`` points): not part of the conjecture, not checked.
    n_inside : int
        Checked points with e* strictly inside the cone (``0 < phi < t``).
    n_float64 : int
        Naive float64 violations over ALL points (excluded rows and edges included, as a direct scan
        counts them): the Eqn 14 value computed directly has the wrong strict sign, is 0 or NaN.
    n_float64_excluded, n_float64_boundary : int
        How many of those lie on excluded rows and on boundary points.
    n_boundary : int
        Points whose e* lies within ``CONJ1_EDGE_ATOL`` of ``e_1`` or ``e_2`` (phi in {0, t} up to the
        grid's roundoff, where ``L_12 = 0``): counted apart, not checked.
    n_uncertified : int
        Checked points whose sign the careful float64 evaluation does not certify (wrong sign, or
        ``|P|`` within its roundoff bound).
    n_doubtful : int
        The uncertified points plus every naive float64 violation among checked points: all of them
        are re-evaluated in mpmath.
    n_wrong_certified : int
        Checked points where the careful value has the wrong sign by more than its bound (a float64
        counterexample, before mpmath).
    n_confirmed : int or None
        Doubtful points whose ``mp_dps``-digit value has the wrong sign (or is zero at twice the
        digits): counterexamples to Conjecture 1. None when ``high_precision=False``.
    n_mp : int
        Points re-evaluated in mpmath.
    complete : bool
        False when more than ``CONJ1_MAX_MP_POINTS`` points were doubtful (only that many re-evaluated).
    float64_locations, doubtful_locations, confirmed_locations : ndarray of float64, shape (m, 2)
        ``(t, phi)`` of naive violations and doubtful points (first ``CONJ1_LOCATION_CAP``, row order)
        and of all confirmed counterexamples.
    mp_dps : int
    wall_time, kernel_time, mp_time : float
        Seconds: total, in the Numba kernels (compilation included on a cold cache), in mpmath.
    """

    N: int
    grid: str
    n_points: int
    n_excluded: int
    n_inside: int
    n_float64: int
    n_float64_excluded: int
    n_float64_boundary: int
    n_boundary: int
    n_uncertified: int
    n_doubtful: int
    n_wrong_certified: int
    n_confirmed: int | None
    n_mp: int
    complete: bool
    float64_locations: np.ndarray
    doubtful_locations: np.ndarray
    confirmed_locations: np.ndarray
    mp_dps: int
    wall_time: float
    kernel_time: float
    mp_time: float

    @property
    def holds(self) -> bool | None:
        """True when no counterexample was confirmed (None without the high-precision pass)."""
        return None if self.n_confirmed is None else (self.n_confirmed == 0 and self.complete)


def _collect(counts_col, cap, mask, args):
    """(t, phi, P, bound, naive) of the first ``cap`` points (row order) whose flags meet ``mask``."""
    per_row = counts_col
    rows = np.flatnonzero(per_row)
    if rows.size == 0 or cap <= 0:
        return np.empty((0, 2)), np.empty((0, 3)), np.empty(0, np.int64), np.empty(0, np.int64)
    csum = np.cumsum(per_row[rows])
    total = min(int(cap), int(csum[-1]))
    keep = int(np.searchsorted(csum, total, side="left")) + 1
    rows = rows[:keep]
    caps = per_row[rows].copy()
    caps[-1] -= int(csum[keep - 1]) - total
    starts = np.concatenate([[0], np.cumsum(caps)[:-1]]).astype(np.int64)
    total = int(caps.sum())
    oi = np.empty(total, np.int64)
    oj = np.empty(total, np.int64)
    oP = np.empty(total)
    oe = np.empty(total)
    on = np.empty(total)
    t, phi, cphi, sphi, excl, edge, safety = args
    _cj.collect(rows.astype(np.int64), starts, caps.astype(np.int64), mask, t, phi, cphi, sphi, excl, edge,
                safety, oi, oj, oP, oe, on)
    return np.stack([t[oi], phi[oj]], axis=1), np.stack([oP, oe, on], axis=1), oi, oj


def conjecture1_scan(N=10_000, grid="midpoint", high_precision=True, *, mp_dps=CONJ1_MP_DPS):
    """Check Conjecture 1 (paper ``000`` Sec 5.3) on an N x N grid over (t, phi), with error control.

    For every grid point ``(t_i, phi_j)`` the sign of ``L_12`` (:func:`L12`) is compared with the
    conjecture's: ``> 0`` when ``0 < phi < t`` (e* strictly inside ``Cone(e_1, e_2)``), ``< 0`` for
    ``phi`` in ``(t, 2 pi)``. Each point is evaluated twice in float64 by a Numba kernel
    (:mod:`dynsys.kernels.conjecture`): naively from Eqn 14 (counted as ``n_float64``) and in a
    cancellation-free form with a running roundoff bound. Points on the cone's edges (within
    ``CONJ1_EDGE_ATOL``) are counted apart; points whose sign is not certified by the bound, and every
    naive violation, are *doubtful* and are re-evaluated in mpmath at ``mp_dps`` digits (the float64
    t and phi taken exactly). A doubtful point is *confirmed* when its high-precision sign is wrong.

    Parameters
    ----------
    N : int
        Points per axis (the paper used ``10^4 x 10^4``).
    grid : {"midpoint", "endpoint"}
        ``"midpoint"``: ``t_i = pi (i + 1/2)/N``, ``phi_j = 2 pi (j + 1/2)/N`` (no point on t = 0, pi or
        on an edge). ``"endpoint"``: the paper's ``t_i = pi i/(N - 1)``, ``phi_j = 2 pi j/(N - 1)``; its
        rows ``t = 0`` (``M_r = pi 11^T`` singular, L_12 undefined) and ``t = pi`` (the last row; its
        float value fl(pi) is 1.2e-16 below pi, but it stands for t = pi, where ``e_2 = -e_1``, the cone
        has no interior and ``L_12 = 0`` identically) lie outside the conjecture's open interval: they
        are excluded from the check (``n_excluded``) but counted in the naive ``n_float64``, as a direct
        scan would count them. Its points ``phi = 0``, ``phi = 2 pi (N-1)/(N-1)`` and ``phi_j = t_{2j}``
        lie on edges (``n_boundary``).
    high_precision : bool
        Re-evaluate doubtful points in mpmath (else ``n_confirmed`` is None).
    mp_dps : int
        mpmath digits (doubled once for a value below ``10^-(mp_dps - 10)`` times its terms).

    Returns
    -------
    Conjecture1Scan
    """
    start = time.perf_counter()
    N = v.positive_int(N, "N", minimum=2)
    grid = v.choice(grid, "grid", ("midpoint", "endpoint"))
    mp_dps = v.positive_int(mp_dps, "mp_dps", minimum=20)
    endpoint = grid == "endpoint"
    t = np.empty(N)
    phi = np.empty(N)
    k0 = time.perf_counter()
    cphi = np.empty(N)
    sphi = np.empty(N)
    _cj.grid(N, endpoint, t, phi, cphi, sphi)
    excl = np.zeros(N, np.bool_)
    if endpoint:
        excl[0] = excl[-1] = True
    counts = np.zeros((N, _cj.N_COUNTERS), np.int64)
    args = (t, phi, cphi, sphi, excl, float(CONJ1_EDGE_ATOL), float(CONJ1_BOUND_SAFETY))
    _cj.scan_rows(t, phi, cphi, sphi, excl, args[5], args[6], counts)
    tot = counts.sum(axis=0)
    f64_loc, _, _, _ = _collect(counts[:, _cj.C_NAIVE], CONJ1_LOCATION_CAP, _cj.NAIVE, args)
    n_doubt = int(tot[_cj.C_DOUBTFUL])
    n_mp_target = min(n_doubt, CONJ1_MAX_MP_POINTS) if high_precision else min(n_doubt, CONJ1_LOCATION_CAP)
    d_loc, _, _, _ = _collect(counts[:, _cj.C_DOUBTFUL], n_mp_target, _cj.DOUBTFUL, args)
    kernel_time = time.perf_counter() - k0
    m0 = time.perf_counter()
    confirmed = []
    n_conf = None
    complete = True
    if high_precision:
        complete = n_doubt <= CONJ1_MAX_MP_POINTS
        if not complete:
            warnings.warn(f"{n_doubt} doubtful points; only the first {CONJ1_MAX_MP_POINTS} (row order) are "
                          f"re-evaluated in mpmath (raise config.CONJ1_MAX_MP_POINTS)", RuntimeWarning,
                          stacklevel=2)
        for ti, pj in d_loc:
            sgn = 1 if (0.0 < pj < ti) else -1
            L, scale = _l12_mp(ti, pj, mp_dps)
            if abs(L) <= scale * mpmath.mpf(10) ** (-(mp_dps - 10)):
                L, scale = _l12_mp(ti, pj, 2 * mp_dps)
                if abs(L) <= scale * mpmath.mpf(10) ** (-(2 * mp_dps - 10)):
                    L = mpmath.mpf(0)
            if not sgn * L > 0:
                confirmed.append((ti, pj))
        n_conf = len(confirmed)
    mp_time = time.perf_counter() - m0
    return Conjecture1Scan(
        N=N, grid=grid, n_points=N * N, n_excluded=int(tot[_cj.C_EXCLUDED]), n_inside=int(tot[_cj.C_INSIDE]),
        n_float64=int(tot[_cj.C_NAIVE]), n_float64_excluded=int(tot[_cj.C_NAIVE_EXCLUDED]),
        n_float64_boundary=int(tot[_cj.C_NAIVE_BOUNDARY]), n_boundary=int(tot[_cj.C_BOUNDARY]),
        n_uncertified=int(tot[_cj.C_UNCERTIFIED]), n_doubtful=n_doubt,
        n_wrong_certified=int(tot[_cj.C_WRONG]), n_confirmed=n_conf,
        n_mp=len(d_loc) if high_precision else 0, complete=complete,
        float64_locations=f64_loc, doubtful_locations=d_loc[:CONJ1_LOCATION_CAP],
        confirmed_locations=np.array(confirmed, dtype=float).reshape(-1, 2), mp_dps=mp_dps,
        wall_time=time.perf_counter() - start, kernel_time=kernel_time, mp_time=mp_time)
