"""Small analytic systems with known critical points, for testing root finding and classification.

Three functions of ``x = (x0, x1)`` in the plane, each with an exact gradient and Hessian:

* ``DoubleWell``: ``f = (x0^2 - 1)^2 + x1^2``; minima ``(+-1, 0)`` (Hessian ``diag(8, 2)``), a saddle
  of index 1 at the origin (``diag(-4, 2)``).
* ``QuadraticSaddle``: ``f = x0^2 - x1^2``; one nondegenerate saddle at the origin (``diag(2, -2)``).
* ``RingOfMinima``: ``f = (x0^2 + x1^2 - 1)^2``; a circle of minima ``|x| = 1`` (Hessian ``8 x x^T``:
  eigenvalues 0 and 8, the zero one along the circle, explained by the rotation symmetry), and a
  maximum at the origin (``-4 I``, index 2). On the circle ``|x|^2 = 1/3`` the Hessian is singular
  (radial eigenvalue ``12 |x|^2 - 4 = 0``) while the gradient is not zero and is radial, so ``H g = 0``:
  the Newton merit function ``|grad f|^2 / 2`` is stationary there and a Newton method must stop
  (STALLED), not loop.

A toy's state is a vector of shape (2,) (a batch: (n, 2)). The jitted :func:`grad_hess` serves the
batched Newton kernel (:mod:`dynsys.kernels.newton`), which sees a toy state as one row, ``(1, 2)``;
the toy objects wrap it for Python callers with the method names of
:class:`~dynsys.TeacherStudent` (``loss``, ``grad``, ``loss_and_grad``, ``hessian``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .. import _validate as v

#: System codes of the Newton kernel (0 is the teacher-student field).
from .._codes import SYSTEM_DOUBLE_WELL as DOUBLE_WELL
from .._codes import SYSTEM_QUADRATIC_SADDLE as QUADRATIC_SADDLE
from .._codes import SYSTEM_RING_OF_MINIMA as RING_OF_MINIMA

OK = 0
NONFINITE = 4


@njit(cache=True)
def value(code, x0, x1):
    """The toy function ``f(x0, x1)`` of system ``code``."""
    if code == DOUBLE_WELL:
        q = x0 * x0 - 1.0
        return q * q + x1 * x1
    if code == QUADRATIC_SADDLE:
        return x0 * x0 - x1 * x1
    q = x0 * x0 + x1 * x1 - 1.0
    return q * q


@njit(cache=True)
def grad_hess(code, X, G, H, want_H):
    """Gradient into ``G`` (1, 2) and, if ``want_H``, Hessian into ``H`` (2, 2) at ``X`` (1, 2).

    Returns a status (0 ok, 4 non-finite), like the teacher-student kernels.
    """
    x0 = X[0, 0]
    x1 = X[0, 1]
    if not (math.isfinite(x0) and math.isfinite(x1)):
        G[0, 0] = 0.0
        G[0, 1] = 0.0
        return NONFINITE
    if code == DOUBLE_WELL:
        G[0, 0] = 4.0 * x0 * (x0 * x0 - 1.0)
        G[0, 1] = 2.0 * x1
        if want_H:
            H[0, 0] = 12.0 * x0 * x0 - 4.0
            H[0, 1] = 0.0
            H[1, 0] = 0.0
            H[1, 1] = 2.0
    elif code == QUADRATIC_SADDLE:
        G[0, 0] = 2.0 * x0
        G[0, 1] = -2.0 * x1
        if want_H:
            H[0, 0] = 2.0
            H[0, 1] = 0.0
            H[1, 0] = 0.0
            H[1, 1] = -2.0
    else:
        q = x0 * x0 + x1 * x1 - 1.0
        G[0, 0] = 4.0 * q * x0
        G[0, 1] = 4.0 * q * x1
        if want_H:
            H[0, 0] = 4.0 * q + 8.0 * x0 * x0
            H[0, 1] = 8.0 * x0 * x1
            H[1, 0] = 8.0 * x0 * x1
            H[1, 1] = 4.0 * q + 8.0 * x1 * x1
    if not (math.isfinite(G[0, 0]) and math.isfinite(G[0, 1])):
        return NONFINITE
    return OK


class ToySystem:
    """Base class of the toy systems (immutable; subclasses set the class attributes).

    Attributes
    ----------
    code : int
        System code of the Newton kernel.
    dim : int
        Dimension of the state (2).
    min_value : float
        The global minimum value of ``f``.
    critical_points : tuple of (point, morse_index, nullity)
        Known critical points (for the ring, one representative of the circle).
    """

    code = -1
    dim = 2
    min_value = 0.0
    critical_points: tuple = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _states(self, x, name="x"):
        x = v.finite(v.real_array(x, name), name)
        if x.ndim not in (1, 2) or x.shape[-1] != self.dim:
            raise ValueError(f"{name} must have shape ({self.dim},) or a batch (n, {self.dim}); got {x.shape}")
        return (x[None] if x.ndim == 1 else x), x.ndim == 1

    def loss(self, x):
        """``f(x)``: a float for one state, shape (n,) for a batch."""
        X, single = self._states(x)
        out = np.array([value(self.code, p[0], p[1]) for p in X])
        return float(out[0]) if single else out

    def loss_and_grad(self, x):
        X, single = self._states(x)
        G = np.empty_like(X)
        H = np.empty((2, 2))
        for b in range(X.shape[0]):
            grad_hess(self.code, X[b:b + 1], G[b:b + 1], H, False)
        f = np.array([value(self.code, p[0], p[1]) for p in X])
        return (float(f[0]), G[0]) if single else (f, G)

    def grad(self, x):
        """Exact gradient, shape (2,) or (n, 2)."""
        return self.loss_and_grad(x)[1]

    def hessian(self, x):
        """Exact Hessian, shape (2, 2) or (n, 2, 2)."""
        X, single = self._states(x)
        H = np.empty((X.shape[0], 2, 2))
        G = np.empty((1, 2))
        for b in range(X.shape[0]):
            grad_hess(self.code, X[b:b + 1], G, H[b], True)
        return H[0] if single else H

    def nullity_expected(self, x) -> int:
        """Null directions that the system's symmetry explains at ``x`` (none by default)."""
        return 0

    def invariants(self, x) -> np.ndarray:
        """A vector equal at two points exactly when they are related by the system's symmetry."""
        return np.asarray(x, dtype=float).reshape(-1)


class DoubleWell(ToySystem):
    """``f = (x0^2 - 1)^2 + x1^2``: minima ``(+-1, 0)`` and an index-1 saddle at the origin."""

    code = DOUBLE_WELL
    critical_points = ((np.array([1.0, 0.0]), 0, 0), (np.array([-1.0, 0.0]), 0, 0),
                       (np.array([0.0, 0.0]), 1, 0))


class QuadraticSaddle(ToySystem):
    """``f = x0^2 - x1^2``: a nondegenerate saddle at the origin (no minimum: ``min_value = -inf``)."""

    code = QUADRATIC_SADDLE
    min_value = -math.inf
    critical_points = ((np.array([0.0, 0.0]), 1, 0),)


class RingOfMinima(ToySystem):
    """``f = (|x|^2 - 1)^2``: a circle of minima (nullity 1, explained by rotations) and a maximum at 0.

    The rotations about the origin are its symmetry: a point off the origin lies on a one-dimensional
    orbit (:meth:`nullity_expected` is 1 there), and the radius is the complete invariant.
    """

    code = RING_OF_MINIMA
    critical_points = ((np.array([1.0, 0.0]), 0, 1), (np.array([0.0, 0.0]), 2, 0))
    #: Radius where the Hessian is singular and the gradient is not zero.
    singular_radius = 1.0 / math.sqrt(3.0)

    def nullity_expected(self, x) -> int:
        # off the origin (a fixed point of the rotations) the orbit is a circle
        return int(np.linalg.norm(np.asarray(x, dtype=float)) > 1e-8)

    def invariants(self, x) -> np.ndarray:
        return np.array([float(np.linalg.norm(np.asarray(x, dtype=float)))])


__all__ = ["DoubleWell", "QuadraticSaddle", "RingOfMinima", "ToySystem", "grad_hess", "value"]
