"""The reduced 2D dynamics of the orthonormal teacher (Tian (ICML 2017) Sec 6.2, Thm 7; Tian (ICLR 2017) Eqn 16-17).

:class:`ReducedDynamics` -- the invariant 2D system, its Jacobian, the symmetric saddle, the diagonal 1D
system, all fixed points of the reduced plane (:class:`ReducedFixedPoint`, found by
:mod:`.reduced_points`); its flows are :class:`ReducedTrajectory`. docs/math.md section 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate as _integrate

from .. import _validate as v
from ..config import (REDUCED_GRID, REDUCED_MAX_NORM, REDUCED_MAX_STARTS, REDUCED_MAX_STEPS, REDUCED_NEWTON_FTOL,
                      REDUCED_NEWTON_MAXITER, SINGULAR_RTOL)
from ..results import Status
from ..systems import teacher_student as _ts
from ..systems.base import PointSystem
from ._common import _PI, _TWO_PI, _real
from .reduced_points import ReducedFixedPoint, ReducedTrajectory, plane_point, search_fixed_points

__all__ = ["ReducedDynamics", "ReducedFixedPoint", "ReducedTrajectory"]


@dataclass(frozen=True)
class ReducedDynamics(PointSystem):
    """The 2D reduced gradient flow of an orthonormal teacher (Tian (ICML 2017) Sec 6.2 and Thm 7).

    With ``W* = I_K`` (teacher rows ``e_k``, all top weights 1, ReLU) the family
    ``w_j = x e_j + y sum_{k != j} e_k`` is invariant under ``dW/dt = -grad L`` (cyclic and
    permutation symmetry). Projecting ``-grad_{w_1} L`` on ``e_1`` and ``e_2`` gives (docs/math.md
    section 3, the closed form of Tian (ICLR 2017) Eqn 16-17 whose ``dx/dt`` line is garbled in the available text):

        2 pi dx/dt = (pi - theta) - pi x - (K-1) [(pi - phi) y + x sin phi] + rho x [sin theta + (K-1) sin phi*]
        2 pi dy/dt = (pi - phi*) - pi y - (pi - phi)(x + (K-2) y) - (K-1) y sin phi + rho y [sin theta + (K-1) sin phi*]

    with ``rho = (x^2 + (K-1) y^2)^(-1/2)``, ``theta = angle(w_1, e_1)``, ``phi* = angle(w_1, e_2)``,
    ``phi = angle(w_1, w_2)``. The field is the *negative* gradient direction (the flow of
    ``dW/dt = -grad L``, per sample; Tian's (ICML 2017) field is N times this).

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

    **As a system** (the protocol of :mod:`dynsys.systems.base`, so ``dynsys.classify`` and
    ``dynsys.find_critical_points`` take it): the state is ``(x, y)`` and the function is the loss
    restricted to the plane, ``l(x, y) = L(embed(x, y))``. The reduced field is *not* ``-grad l`` in
    these coordinates: by the symmetry every row contributes alike, so ``dl/dx = -K dx/dt`` and
    ``dl/dy = -K (K-1) dy/dt``; the field is ``-M^-1 grad l`` with ``M = diag(K, K (K-1))``, the metric
    that the embedding induces (``M = E'^T E'``). Its Jacobian ``J`` is therefore not symmetric for
    K > 2, while ``M J = -Hess l`` is. The protocol's gradient and Hessian are those of ``l``
    (``-M f`` and ``-M J``): its critical points are the fixed points of the field (M is invertible),
    and by Sylvester's law of inertia the Morse index of ``l`` is the number of unstable directions of
    the field (``J = -M^-1 Hess l`` is similar to ``-M^-1/2 Hess l M^-1/2``). The only symmetry left in
    the plane is ``(x, y) -> (y, x)`` for K = 2 (it swaps the two rows); Newton runs in NumPy (no
    kernel view).
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
        big = r > REDUCED_MAX_NORM
        if big.any():
            idx = tuple(int(i) for i in np.argwhere(big)[0]) if big.ndim else ()
            raise ValueError(f"(x, y) must have sqrt(x^2 + (K-1) y^2) <= {REDUCED_MAX_NORM:g} "
                             f"(config.REDUCED_MAX_NORM: beyond it the field's squared norms overflow); "
                             f"got ({x[idx]}, {y[idx]})")
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
        analytic Hessian of docs/math.md section 2; only the first block row of H is applied, to the two
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
            q = b - c[:, None] * a              # = s n, n the unit normal of docs/math.md section 2
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

        Computed as ``-P H E'`` from the exact Hessian blocks ``h1``, ``h2`` of docs/math.md section 2 (no
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

    # ------------------------------------------------------------------------------ system protocol
    @property
    def state_shape(self) -> tuple:
        return (2,)

    @property
    def _metric(self) -> np.ndarray:
        return np.array([float(self.K), float(self.K * (self.K - 1))])

    def value(self, z) -> float:
        """The loss at ``embed(x, y)`` (d = K), by the teacher-student field kernel."""
        K = self.K
        V = self.embed(float(z[0]), float(z[1]))
        T = np.eye(K)
        tn = np.ones(K)
        ones = np.ones(K)
        const = float(_ts.teacher_energy(T, tn, ones, 0.0))
        loss, _ = _ts.loss_grad(V, T, tn, ones, ones, 0.0, const, SINGULAR_RTOL, False, np.empty((K, K)),
                                np.empty(_ts.work_size(K, K, K)))
        return float(loss)

    def gradient(self, z) -> np.ndarray:
        """``grad l = -M f`` (the field ``f`` scaled by the metric ``M = diag(K, K (K-1))``)."""
        fx, fy = self._field_scalar(float(z[0]), float(z[1]))
        return -self._metric * np.array([fx, fy])

    def hessian_at(self, z) -> np.ndarray:
        """``Hess l = -M J`` (symmetric)."""
        J = self._jacobian(np.array([float(z[0])]), np.array([float(z[1])]))[0]
        return -self._metric[:, None] * J

    def row_norms(self, W) -> np.ndarray:
        """``|w_j| = sqrt(x^2 + (K-1) y^2)`` (every row has this norm)."""
        return np.array([math.hypot(float(W[0]), math.sqrt(self.K - 1) * float(W[1]))])

    @property
    def singular_tol(self) -> float:
        return SINGULAR_RTOL

    @property
    def loss_scale(self) -> float:
        """The teacher energy of ``W* = I_K``, ``1/2 E[g*^2]``."""
        K = self.K
        return float(_ts.teacher_energy(np.eye(K), np.ones(K), np.ones(K), 0.0))

    @property
    def min_value(self) -> float:
        """0: the teacher ``(x, y) = (1, 0)`` lies in the plane."""
        return 0.0

    def invariants(self, W, *, merge_parallel=False, parallel_atol=None) -> np.ndarray:
        """``(x, y)``; sorted for K = 2, where swapping them swaps the two rows."""
        z = np.asarray(W, dtype=float).reshape(2)
        return np.sort(z) if self.K == 2 else z.copy()

    # ------------------------------------------------------------------------------ closed forms
    def saddle(self) -> float:
        """``x_s = (sqrt(K-1) - arccos(1/sqrt(K)) + pi) / (pi K)`` (Tian (ICML 2017) Thm 7(2)).

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
        """The invariant 1D system on the diagonal ``x = y`` (Tian (ICML 2017) Thm 7(2); Tian (ICLR 2017) Thm 7.11).

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
        return plane_point(self.K, x, y, d)

    def teacher(self, d=None):
        """The teacher ``W* = I_K`` padded to (K, d)."""
        K = self.K
        d = K if d is None else v.positive_int(d, "d", minimum=K)
        return np.eye(K, d)

    # ------------------------------------------------------------------------------ flows
    def integrate(self, x0, y0, t1, *, t_eval=None, method="DOP853", rtol=1e-10, atol=1e-12,
                  symmetrize=False, max_steps=REDUCED_MAX_STEPS):
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
        max_steps : int
            The solver stops after this many steps with status MAX_STEPS (an explicit solver needs
            steps of about the inverse of the field's stiffness, so a huge ``t1`` would never end).

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
        max_steps = v.positive_int(max_steps, "max_steps")
        for name, tol in (("rtol", rtol), ("atol", atol)):
            v.real_scalar(tol, name, lo=0.0, lo_open=True)
        if t_eval is not None:
            t_eval = v.finite(v.real_array(t_eval, "t_eval"), "t_eval")
            if t_eval.ndim != 1 or t_eval.size == 0 or np.any(t_eval < 0.0) or np.any(t_eval > t1) or np.any(np.diff(t_eval) < 0):
                raise ValueError(f"t_eval must be a non-empty 1-d increasing array of times in [0, t1] = [0, {t1}]; "
                                 f"got {t_eval!r}")
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

        cap = {"steps": 0, "last": 0.0, "t_stop": None}

        def step_cap(t, _z):
            # solve_ivp evaluates events once per accepted step, then (after a sign change) inside
            # [t_old, t] to find the root: count steps on new times only, and past the cap turn into
            # the line t_stop - t, which changes sign inside the last step.
            if t > cap["last"]:
                cap["steps"] += 1
                if cap["steps"] > max_steps and cap["t_stop"] is None:
                    cap["t_stop"] = 0.5 * (cap["last"] + t)
                cap["last"] = t
            return 1.0 if cap["t_stop"] is None else cap["t_stop"] - t

        hit_origin.terminal = True
        step_cap.terminal = True
        sol = _integrate.solve_ivp(rhs, (0.0, t1), [x0, y0], method=method, rtol=rtol, atol=atol,
                                   t_eval=t_eval, events=(hit_origin, step_cap))
        if sol.status == 1 and sol.t_events[1].size:
            status = Status.MAX_STEPS
        elif sol.status == 1:
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
        nr, na = REDUCED_GRID
        nr = nr if n_radial is None else v.positive_int(n_radial, "n_radial")
        na = na if n_angular is None else v.positive_int(n_angular, "n_angular")
        if nr * na > REDUCED_MAX_STARTS:
            raise ValueError(f"n_radial * n_angular must be at most {REDUCED_MAX_STARTS} "
                             f"(config.REDUCED_MAX_STARTS: one Newton run per start); got {nr} * {na}")
        ftol = (REDUCED_NEWTON_FTOL * self.K if ftol is None
                else v.real_scalar(ftol, "ftol", lo=0.0, lo_open=True))
        max_iter = v.positive_int(max_iter, "max_iter")
        return search_fixed_points(self.K, self._field, self._jacobian, self.radius_bound(), nr, na, ftol,
                                   max_iter)
