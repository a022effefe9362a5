"""The system protocol: what the critical layer (and later continuation and basins) asks of a system.

A *system* is a smooth function ``f`` on states of a fixed shape, analysed through its gradient
field. :class:`System` is the contract; three families implement it: the teacher-student model
(:class:`dynsys.TeacherStudent`), the toy systems of :mod:`dynsys.systems.toys`, and the reduced 2D
dynamics of :class:`dynsys.theory.ReducedDynamics`. ``docs/systems.md`` says what a new system must
provide, with a worked example.

Two parts:

* the *numerical* part: ``state_shape``, ``loss``, ``loss_and_grad``, ``grad``, ``hessian``, ``hvp``
  (one state or a batch with the batch axis first), ``row_norms`` and ``singular_tol`` (the singular
  test: a state is singular where a row norm is at or below the tolerance);
* the *classification* part, with defaults that suit a system without symmetry: ``grad_scale``
  (unit of gradient tolerances), ``loss_scale`` (unit of loss tolerances), ``min_value`` (the known
  global minimum value, ``-inf`` when none is known), ``permutes_teacher``, ``nullity_expected``,
  ``invariants`` (deduplication up to symmetry) and ``symmetries`` (the maps that fix a point).

A system may also offer a *kernel view* (:meth:`System.kernel`): the code of a per-state gradient and
Hessian compiled into the batched Newton kernel, the :class:`FieldArrays` they read and the scratch
size. Without one (``None``, the default) Newton runs in NumPy on the methods above.

:class:`PointSystem` builds the numerical part from three per-state methods, so that a new system is
a few lines of NumPy.

:class:`FieldArrays` is the bridge from a validated model to compiled code: plain arrays and floats
in one named tuple, passed to kernels as one argument (Numba types a named tuple by its fields, so
one model layout is one compiled signature, and the on-disk cache finds it again in a new process).
"""

from __future__ import annotations

import abc
import math
from typing import NamedTuple

import numpy as np

from .. import _validate as v
from .._codes import NONFINITE, SINGULAR


class FieldArrays(NamedTuple):
    """What the kernels need of a model, as plain arrays (kernels never take a model object).

    Pass them, in this order, to :func:`dynsys.systems.teacher_student.loss_grad` (after forming the
    network rows ``V = W + U`` when ``U`` is not empty) or to the batch drivers.
    """

    U: np.ndarray        #: residual offset (k, d), or an empty (0, 0) array when there is none
    T: np.ndarray        #: teacher network rows W* + U, (k_star, d)
    tn: np.ndarray       #: their norms, (k_star,)
    a: np.ndarray        #: student top weights, (k,)
    a_star: np.ndarray   #: teacher top weights, (k_star,)
    alpha: float         #: leaky slope
    const: float         #: teacher energy, the constant term of the loss
    tol: float           #: singular tolerance on the row norms of W + U


def empty_field_arrays(dim: int) -> FieldArrays:
    """Placeholder :class:`FieldArrays` for a system whose kernel code reads none (the toys).

    Same field types as a teacher-student model's, so the Newton kernel keeps one signature.
    """
    return FieldArrays(np.zeros((0, 0)), np.zeros((1, dim)), np.ones(1), np.ones(1), np.ones(1), 0.0, 0.0, 0.0)


class KernelView(NamedTuple):
    """A system as the batched Newton kernel (:mod:`dynsys.kernels.newton`) sees it."""

    code: int              #: system code (``dynsys._codes.SYSTEM_*``): which per-state field to call
    arrays: FieldArrays    #: the arrays that field reads
    nwork: int             #: scratch length of the field's gradient


class System(abc.ABC):
    """The contract between a system and the analysis layers (see the module docstring).

    Subclasses implement the abstract members; the others have defaults for a system without
    symmetry, without a known minimum value and without a compiled kernel. States are arrays of
    shape :attr:`state_shape`; a batch puts its axis first. ``backend`` arguments select the CPU or
    CUDA kernels of the teacher-student model; a NumPy system accepts and ignores them.
    """

    __slots__ = ()

    # ---------------------------------------------------------------- numerical part (required)
    @property
    @abc.abstractmethod
    def state_shape(self) -> tuple:
        """Shape of one state: ``(k, d)`` for a network, ``(n,)`` for a vector state."""

    @abc.abstractmethod
    def loss_and_grad(self, W, *, backend="parallel", return_status=False):
        """``(loss, grad)`` at one state (float, state-shaped array) or a batch ((n,), (n, ...)).

        With ``return_status`` also an int8 status per state (0 ok, ``SINGULAR``, ``NONFINITE``);
        otherwise a bad state raises ``ValueError``.
        """

    @abc.abstractmethod
    def hessian(self, W, *, backend="parallel", return_status=False):
        """Exact Hessian of the flattened state: (n, n) for one state, (b, n, n) for a batch."""

    @abc.abstractmethod
    def row_norms(self, W) -> np.ndarray:
        """Norms of the rows whose vanishing makes the field singular (one state); shape (r,)."""

    def loss(self, W, *, backend="parallel", return_status=False):
        """Loss at one state (float) or a batch ((n,))."""
        out = self.loss_and_grad(W, backend=backend, return_status=return_status)
        return (out[0][0], out[1]) if return_status else out[0]

    def grad(self, W, *, backend="parallel", return_status=False):
        """Gradient, shaped like ``W``."""
        out = self.loss_and_grad(W, backend=backend, return_status=return_status)
        return (out[0][1], out[1]) if return_status else out[1]

    def hvp(self, W, V, *, backend="parallel", return_status=False):
        """Hessian-vector product ``H(W) V`` (``V`` shaped like ``W``); by default from :meth:`hessian`."""
        H = self.hessian(W, backend=backend, return_status=return_status)
        H, st = (H if return_status else (H, None))
        V = np.asarray(V, dtype=float)
        n = int(np.prod(self.state_shape))
        out = (H @ V.reshape(-1, n, 1)).reshape(V.shape) if H.ndim == 3 else (H @ V.reshape(n)).reshape(V.shape)
        return (out, st) if return_status else out

    @property
    def singular_tol(self) -> float:
        """A state is singular when a :meth:`row_norms` entry is at or below this (default: never)."""
        return -math.inf

    # ---------------------------------------------------------------- classification part (defaults)
    @property
    def grad_scale(self) -> float:
        """Unit of gradient tolerances (Newton's and "critical"): relative tolerances are times this."""
        return 1.0

    @property
    def loss_scale(self) -> float:
        """Unit of loss tolerances: a minimum is global when ``loss <= min_value + loss_rtol * loss_scale``."""
        return 1.0

    @property
    def min_value(self) -> float:
        """The global minimum value of the loss when known (then minima above it are spurious), else -inf."""
        return -math.inf

    @property
    def permutes_teacher(self) -> bool:
        """Whether a global minimum is the teacher up to a row permutation (reported by
        :func:`dynsys.critical.teacher_match`; needs a teacher-student :meth:`kernel` view)."""
        return False

    def nullity_expected(self, W, parallel_atol) -> int:
        """Hessian nullity that the system's symmetry explains at ``W`` (default 0: no symmetry)."""
        return 0

    def invariants(self, W, *, merge_parallel=False, parallel_atol=None) -> np.ndarray:
        """A vector equal (to tolerance) at two states exactly when symmetry relates them.

        Deduplication compares these entry by entry; the first entry should be a normalised loss
        (points are bucketed on it). Default: the state itself (no symmetry).
        """
        return np.asarray(W, dtype=float).reshape(-1)

    def symmetries(self, W, tol) -> tuple:
        """The symmetries that fix ``W``: linear maps (n, n) of flattened displacements from ``W``
        (generators suffice; used for branch switching at a symmetric branch point). Default: none."""
        return ()

    # ---------------------------------------------------------------- compiled fast path (optional)
    def kernel(self) -> KernelView | None:
        """The Newton kernel's view of this system, or None (Newton then runs in NumPy)."""
        return None


class PointSystem(System):
    """A :class:`System` defined one state at a time in NumPy (the toys, the reduced dynamics, yours).

    Implement :attr:`state_shape`, :meth:`value`, :meth:`gradient` and :meth:`hessian_at` (one state
    each; ``hessian_at`` of the flattened state); batching, validation, statuses and the singular
    test come from here. Override :meth:`row_norms` and :attr:`singular_tol` when the field has a
    singular set.
    """

    __slots__ = ()

    @abc.abstractmethod
    def value(self, x) -> float:
        """``f(x)`` at one state ``x`` (shape :attr:`state_shape`)."""

    @abc.abstractmethod
    def gradient(self, x) -> np.ndarray:
        """``grad f(x)``, shaped like ``x``."""

    @abc.abstractmethod
    def hessian_at(self, x) -> np.ndarray:
        """Hessian of ``f`` at ``x``, shape (n, n) with n = ``x.size`` (row-major flattening)."""

    def row_norms(self, W) -> np.ndarray:
        """Default: the Euclidean norm of each row of the state (a vector state is one row)."""
        return np.linalg.norm(np.asarray(W, dtype=float).reshape(-1, self.state_shape[-1]), axis=1)

    def _batch(self, W, name="W"):
        shape = tuple(self.state_shape)
        X = v.real_array(W, name)
        if X.shape == shape:
            return X[None], True
        if X.ndim == len(shape) + 1 and X.shape[1:] == shape and X.shape[0] > 0:
            return X, False
        raise ValueError(f"{name} must have shape {shape} (one state) or (n, {', '.join(map(str, shape))}) "
                         f"(a non-empty batch); got shape {X.shape}")

    def _status(self, x) -> int:
        if not np.all(np.isfinite(x)):
            return NONFINITE
        rn = self.row_norms(x)
        return SINGULAR if rn.size and float(np.min(rn)) <= self.singular_tol else 0

    def _raise(self, x, st, where):
        if st == NONFINITE:
            raise ValueError(f"{where} must be finite (it holds NaN or Inf, or its field overflows)")
        raise ValueError(f"{where} is singular: a row norm is at or below singular_tol {self.singular_tol:.3g}, "
                         f"where the field is undefined; move it off the singular set or pass "
                         f"return_status=True")

    def loss_and_grad(self, W, *, backend="parallel", return_status=False):
        X, single = self._batch(W)
        f = np.zeros(X.shape[0])
        G = np.zeros(X.shape)
        status = np.zeros(X.shape[0], dtype=np.int8)
        for b, x in enumerate(X):
            st = self._status(x)
            if st == 0:
                f[b] = self.value(x)
                G[b] = self.gradient(x)
                if not (math.isfinite(f[b]) and np.all(np.isfinite(G[b]))):
                    st, f[b], G[b] = NONFINITE, 0.0, 0.0
            if st and not return_status:
                self._raise(x, st, "W" if single else f"W[{b}]")
            status[b] = st
        out = (float(f[0]), G[0]) if single else (f, G)
        return (out, int(status[0]) if single else status) if return_status else out

    def hessian(self, W, *, backend="parallel", return_status=False):
        X, single = self._batch(W)
        n = int(np.prod(self.state_shape))
        H = np.zeros((X.shape[0], n, n))
        status = np.zeros(X.shape[0], dtype=np.int8)
        for b, x in enumerate(X):
            st = self._status(x)
            if st == 0:
                H[b] = np.asarray(self.hessian_at(x), dtype=float).reshape(n, n)
                if not np.all(np.isfinite(H[b])):
                    st, H[b] = NONFINITE, 0.0
            if st and not return_status:
                self._raise(x, st, "W" if single else f"W[{b}]")
            status[b] = st
        out = H[0] if single else H
        return (out, int(status[0]) if single else status) if return_status else out


__all__ = ["FieldArrays", "KernelView", "PointSystem", "System", "empty_field_arrays"]
