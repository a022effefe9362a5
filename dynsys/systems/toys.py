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
the toy objects implement the system protocol (:class:`~dynsys.systems.base.System`: ``loss``,
``grad``, ``loss_and_grad``, ``hessian`` on one state or a batch, as :class:`~dynsys.TeacherStudent`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .base import KernelView, PointSystem, empty_field_arrays

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


class ToySystem(PointSystem):
    """Base class of the toy systems (immutable; subclasses set the class attributes).

    Implements the :class:`~dynsys.systems.base.System` protocol with a compiled kernel view: the
    Newton kernel evaluates a toy by its system ``code``.

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

    __slots__ = ()
    code = -1
    dim = 2
    state_shape = (2,)
    min_value = 0.0
    critical_points: tuple = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def value(self, x) -> float:
        return float(value(self.code, x[0], x[1]))

    def gradient(self, x) -> np.ndarray:
        G = np.empty((1, 2))
        grad_hess(self.code, np.reshape(x, (1, 2)), G, np.empty((2, 2)), False)
        return G[0]

    def hessian_at(self, x) -> np.ndarray:
        H = np.empty((2, 2))
        grad_hess(self.code, np.reshape(x, (1, 2)), np.empty((1, 2)), H, True)
        return H

    def row_norms(self, W) -> np.ndarray:
        return np.array([float(np.linalg.norm(np.asarray(W, dtype=float)))])

    @property
    def loss_scale(self) -> float:
        """``max(1, |min_value|)``, or 0 when ``f`` is unbounded below (no global minimum to meet)."""
        return max(1.0, abs(self.min_value)) if np.isfinite(self.min_value) else 0.0

    def kernel(self) -> KernelView:
        return KernelView(self.code, empty_field_arrays(self.dim), 1)


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

    def nullity_expected(self, W, parallel_atol=None) -> int:
        # off the origin (a fixed point of the rotations) the orbit is a circle
        return int(np.linalg.norm(np.asarray(W, dtype=float)) > 1e-8)

    def invariants(self, W, *, merge_parallel=False, parallel_atol=None) -> np.ndarray:
        return np.array([float(np.linalg.norm(np.asarray(W, dtype=float)))])


__all__ = ["DoubleWell", "QuadraticSaddle", "RingOfMinima", "ToySystem", "grad_hess", "value"]
