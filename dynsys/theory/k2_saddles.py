"""The one-parameter saddle families of a K = 2 network (Tian (ICML 2017) Sec 5.3, generalised to unequal
teacher norms in docs/math.md section 4): :func:`k2_saddle_families`, :class:`K2SaddleFamily`,
:func:`k2_equal_norm_threshold`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize as _optimize

from .. import _validate as v
from ..config import K2_ROOT_GRID
from ..results.io import Result
from ._common import _PI
from .normal_equation import h

__all__ = ["K2SaddleFamily", "k2_saddle_families", "k2_equal_norm_threshold"]


@dataclass(frozen=True, repr=False)
class K2SaddleFamily(Result):
    """One family of K = 2 saddles, ``w_1 = c S e``, ``w_2 = (1 - c) S e``, c in (0, 1).

    Teacher ``w*_1 = norm1 (1, 0, ...)``, ``w*_2 = norm2 (cos theta12, sin theta12, 0, ...)``; ``e`` is the
    unit vector in the teacher plane at angle ``theta1`` from ``w*_1`` towards ``w*_2`` (docs/math.md
    section 4; Tian (ICML 2017) Sec 5.3 states the equal-norm bisector case).

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
        sum_k |w*_k| (pi - theta_k) cos(theta_k)``, else 2 (docs/math.md section 4).
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

    def _headline(self) -> str:
        return (f"teacher norms ({self.norm1:.4g}, {self.norm2:.4g}), theta12 {self.theta12:.6g}: theta1 "
                f"{self.theta1:.6g}, theta2 {self.theta2:.6g}, S {self.S:.6g}, index in plane "
                f"{self.index_in_plane}, margin {self.margin:.3g}" + (", tangential" if self.tangential else ""))

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
    ``(pi S e - sum_k [(pi - theta_k) w*_k + |w*_k| sin(theta_k) e]) / (2 pi)`` (docs/math.md section 2): its
    component along e vanishes by the definition of S and its in-plane normal component by
    ``f(theta1) = 0``. For equal norms the bisector is always a root; it is the only one below
    :func:`k2_equal_norm_threshold` (where ``f'`` at the bisector changes sign: a pitchfork).
    """
    n1 = v.real_scalar(norm1, "norm1", lo=0.0, lo_open=True)
    n2 = v.real_scalar(norm2, "norm2", lo=0.0, lo_open=True)
    T = v.real_scalar(theta12, "theta12", lo=0.0, lo_open=True, hi=_PI)
    n_grid = v.positive_int(n_grid, "n_grid", minimum=8, maximum=10**7, why="about a second per 10^6 points")
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
    the bisector has index 2 and two asymmetric index-1 families branch off (docs/math.md section 4).
    It is where ``d/dt [(pi - t) sin t] = 0`` at ``t = T/2``.
    """
    return 2.0 * _optimize.brentq(lambda s: math.tan(s) - (_PI - s), 0.5, 1.5, xtol=1e-16, rtol=1e-15)
