"""The teacher-student model: a validated, immutable specification and its exact field.

``TeacherStudent`` holds the teacher, the student width, the leaky slope, the fixed top-layer weights and
the residual offset (docs/math.md section 1). Its methods evaluate the population loss, gradient,
Hessian, Hessian-vector product and the gradient in the top weights for one state ``W`` (k, d) or a
batch (n, k, d), through :mod:`dynsys.backends`.

Normalisation. dynsys's loss is the per-sample population loss ``L = 1/2 E[(g* - g)^2]``. Tian (ICML 2017)
writes ``J`` over N samples, so its expected gradient is ``N grad L``; the identity-mapping / PReLU
report of Jiang et al. drops the 1/2, so its loss is ``PAPER_002_LOSS_FACTOR * L`` and its learning
rate ``eta`` is the step ``2 eta`` on ``L``.
"""

from __future__ import annotations

import math

import numpy as np

from . import _validate as v
from . import backends
from ._codes import SYSTEM_TEACHER_STUDENT
from .config import DEDUP_RTOL, MAX_STATE_SIZE, PARALLEL_ATOL, SINGULAR_RTOL, TEACHER_NORM_RANGE
from .results import Status
from .systems import symmetry
from .systems.base import FieldArrays, KernelView, System
from .systems.teacher_student import teacher_energy, work_size

#: Jiang et al.'s loss is ``E[(g* - g)^2]`` without the 1/2: ``L_002 = 2 L``.
PAPER_002_LOSS_FACTOR = 2.0


def _check_teacher_rows(tn, residual: bool) -> None:
    """Refuse a teacher whose network row ``w*_k + u_k`` is zero (to ``SINGULAR_RTOL`` of the largest).

    Such a row has no direction: it adds nothing to the teacher's output, yet every tolerance scaled
    by the teacher's rows (singular states, matching, realisability) would count it.
    """
    scale = float(tn.max())
    bad = np.flatnonzero(tn <= SINGULAR_RTOL * scale) if scale > 0 else np.arange(tn.size)
    if bad.size:
        k = int(bad[0])
        what = f"row {k} of W_star + residual" if residual else f"W_star[{k}]"
        raise ValueError(f"{what} is zero (norm {tn[k]:.3g}; {bad.size} such row(s) of {tn.size}): a teacher "
                         f"row must be nonzero, since a zero row has no direction and adds nothing to "
                         f"the teacher's output. Drop the row (W_star = np.delete(W_star, {k}, axis=0), "
                         f"and its a_star entry).")


def _check_scale(T, tn):
    """Refuse teacher rows whose norms leave the range where the loss and its derivatives fit float64.

    The loss grows like the square of the norms and the Hessian like their inverse near a small row:
    above about 1e153 the teacher energy overflows, below about 1e-154 the squared norms underflow.
    """
    lo, hi = TEACHER_NORM_RANGE
    bad = (~np.isfinite(tn)) | (tn > hi) | ((tn > 0.0) & (tn < lo)) | ((tn == 0.0) & np.any(T != 0.0, axis=1))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"W_star (+ residual) row {j} has norm {tn[j]:.3g}, outside [{lo:g}, {hi:g}] "
                         f"(config.TEACHER_NORM_RANGE) where the loss and its derivatives are finite in "
                         f"float64; rescale the teacher (the loss scales like its norm squared)")


class TeacherStudent(System):
    """Two-layer network ``g(x; W) = sum_j a_j sigma_alpha((w_j + u_j) . x)`` learning a teacher.

    Parameters
    ----------
    W_star : array_like, shape (k_star, d)
        Teacher weights (rows ``w*_k``); every row of ``W_star + residual`` must be nonzero.
    k : int, optional
        Student width (default ``k_star``); ``k != k_star`` gives an over- or under-parameterised student.
    alpha : float, default 0.0
        Leaky/PReLU slope in [0, 1]: 0 is ReLU, 1 the linear network.
    a, a_star : array_like, shape (k,) and (k_star,), optional
        Fixed top-layer weights of student and teacher, any sign (default ones).
    residual : array_like, shape (k, d), optional
        Fixed offset ``U`` added to the student's and the teacher's rows (Jiang et al.'s identity
        mapping is ``residual=np.eye(d)``); needs ``k == k_star``.

    Notes
    -----
    The model is immutable: use :meth:`replace` for a changed copy. A state is *singular* when a row
    of ``W + U`` has norm at most :attr:`singular_tol` (nothing is singular at ``alpha = 1``).

    It implements the system protocol (:class:`dynsys.systems.base.System`) that the critical layer
    takes: see "system protocol" below and ``docs/systems.md``.
    """

    __slots__ = ("_W_star", "_k", "_alpha", "_a", "_a_star", "_residual", "_U", "_T", "_tn",
                 "_const", "_tol")

    def __init__(self, W_star, k=None, alpha=0.0, a=None, a_star=None, residual=None):
        W_star = v.finite(v.real_array(W_star, "W_star"), "W_star")
        if W_star.ndim != 2:
            raise ValueError(f"W_star must have shape (k_star, d); got {W_star.ndim}-d array of shape "
                             f"{W_star.shape}. For one teacher row use W_star[None, :].")
        if min(W_star.shape) == 0:
            raise ValueError(f"W_star must have at least one row and one column; got shape {W_star.shape}")
        k_star, d = W_star.shape
        k = k_star if k is None else v.positive_int(k, "k")
        if k * d > MAX_STATE_SIZE:
            raise ValueError(f"k * d must be at most {MAX_STATE_SIZE} (config.MAX_STATE_SIZE: one state "
                             f"and its Hessian's kernels would not fit in memory); got k = {k}, d = {d}")
        alpha = v.real_scalar(alpha, "alpha", lo=0.0, hi=1.0)
        a = self._top(a, k, "a", "k")
        a_star = self._top(a_star, k_star, "a_star", "k_star")
        if residual is not None:
            residual = v.finite(v.real_array(residual, "residual"), "residual")
            if k != k_star:
                raise ValueError(f"residual needs k == k_star (the teacher carries the same offset); "
                                 f"got k = {k}, k_star = {k_star}")
            if residual.shape != (k, d):
                raise ValueError(f"residual must have shape (k, d) = ({k}, {d}); got {residual.shape}")
            residual.setflags(write=False)
        set_ = object.__setattr__
        W_star.setflags(write=False)
        set_(self, "_W_star", W_star)
        set_(self, "_k", k)
        set_(self, "_alpha", alpha)
        set_(self, "_a", a)
        set_(self, "_a_star", a_star)
        set_(self, "_residual", residual)
        # Kernel arrays: the teacher's network rows T = W* + U, their norms, the constant term.
        U = np.zeros((0, 0)) if residual is None else residual
        T = W_star.copy() if residual is None else W_star + residual
        tn = np.sqrt(np.einsum("kd,kd->k", T, T))
        # The range first: an overflowed or underflowed norm would otherwise read as a zero row.
        _check_scale(T, tn)
        _check_teacher_rows(tn, residual is not None)
        # All kernel arrays read-only, with or without a residual: Numba compiles one version of a
        # kernel per array mutability, so a mixture would compile every kernel twice.
        for arr in (U, T, tn):
            arr.setflags(write=False)
        set_(self, "_U", U)
        set_(self, "_T", T)
        set_(self, "_tn", tn)
        set_(self, "_const", float(teacher_energy(T, tn, a_star, alpha)))
        set_(self, "_tol", SINGULAR_RTOL * (float(tn.max()) if tn.max() > 0 else 1.0))

    @staticmethod
    def _top(x, n, name, size_name):
        if x is None:
            out = np.ones(n)
        else:
            out = v.finite(v.real_array(x, name), name)
            if out.shape != (n,):
                raise ValueError(f"{name} must have shape ({size_name},) = ({n},); got {out.shape}")
        out.setflags(write=False)
        return out

    def __setattr__(self, name, value):
        raise AttributeError("TeacherStudent is immutable; use model.replace(...) for a changed copy")

    def __reduce__(self):
        # Pickle by constructor arguments (__setattr__ forbids the default slot-by-slot restore):
        # census and flow plans carry the model to other processes.
        return (TeacherStudent, (self._W_star, self._k, self._alpha, self._a, self._a_star,
                                 self._residual))

    # ----------------------------------------------------------------- properties
    @property
    def W_star(self) -> np.ndarray:
        """Teacher weights (k_star, d), read-only."""
        return self._W_star

    @property
    def k(self) -> int:
        return self._k

    @property
    def k_star(self) -> int:
        return self._W_star.shape[0]

    @property
    def d(self) -> int:
        return self._W_star.shape[1]

    @property
    def alpha(self) -> float:
        return self._alpha

    @property
    def a(self) -> np.ndarray:
        return self._a

    @property
    def a_star(self) -> np.ndarray:
        return self._a_star

    @property
    def residual(self):
        return self._residual

    @property
    def singular_tol(self) -> float:
        """Row norms of ``W + U`` at or below this make a state singular."""
        return self._tol

    @property
    def teacher_energy(self) -> float:
        """``1/2 E[g(x; W*)^2]``: the loss of the zero network (the scale of "global" losses)."""
        return self._const

    @property
    def realisable(self) -> bool:
        """Whether a zero-loss state exists (docs/math.md section 4): every teacher row with ``a*_k != 0``
        can be matched by its own student row whose top weight has the same sign."""
        need_pos = int(np.sum(self._a_star > 0))
        need_neg = int(np.sum(self._a_star < 0))
        if self._alpha == 1.0:
            return True
        return need_pos <= int(np.sum(self._a > 0)) and need_neg <= int(np.sum(self._a < 0))

    def replace(self, **changes) -> "TeacherStudent":
        """A copy with some constructor arguments changed (``model.replace(alpha=0.1)``)."""
        args = dict(W_star=self._W_star, k=self._k, alpha=self._alpha, a=self._a, a_star=self._a_star,
                    residual=self._residual)
        unknown = set(changes) - set(args)
        if unknown:
            raise TypeError(f"replace() got unknown argument(s) {sorted(unknown)}; allowed: {sorted(args)}")
        args.update(changes)
        return TeacherStudent(**args)

    def __repr__(self) -> str:
        extra = "" if self._alpha == 0 else f", alpha={self._alpha}"
        extra += "" if self._residual is None else ", residual=U"
        return f"TeacherStudent(k={self._k}, k_star={self.k_star}, d={self.d}{extra})"

    # ----------------------------------------------------------------- system protocol
    @property
    def state_shape(self) -> tuple:
        """``(k, d)``."""
        return (self._k, self.d)

    @property
    def grad_scale(self) -> float:
        """Unit of gradient tolerances: ``max_j |a_j| * max_k |a*_k| |w*_k + u_k|`` (1 if that is 0).

        The gradient of row j is ``a_j`` times a combination of rows weighted by the top weights, so
        this is its natural unit: a relative tolerance times it means the same for every teacher
        scale, and it is 1 for ``W* = I`` with unit top weights (tolerances are then absolute).
        """
        s = float(np.max(np.abs(self._a))) * float(np.max(np.abs(self._a_star) * self._tn))
        return s if s > 0.0 and np.isfinite(s) else 1.0

    @property
    def loss_scale(self) -> float:
        """Unit of loss tolerances: :attr:`teacher_energy`."""
        return self._const

    @property
    def min_value(self) -> float:
        """0 when the model is :attr:`realisable` (minima above it are spurious), else -inf (unknown)."""
        return 0.0 if self.realisable else -math.inf

    @property
    def permutes_teacher(self) -> bool:
        """A global minimum matches the teacher rows up to a permutation (not for the linear network,
        whose loss sees only ``sum_j a_j w_j``)."""
        return self._alpha != 1.0

    def row_norms(self, W) -> np.ndarray:
        """Norms of the network rows ``w_j + u_j`` of one state, shape (k,)."""
        W = np.asarray(W, dtype=float)
        return np.linalg.norm(W if self._residual is None else W + self._residual, axis=1)

    def nullity_expected(self, W, parallel_atol=PARALLEL_ATOL) -> int:
        """:func:`dynsys.systems.symmetry.nullity_expected` (rotations, parallel rows, dead rows)."""
        return symmetry.nullity_expected(self, W, parallel_atol)

    def invariants(self, W, *, merge_parallel=False, parallel_atol=PARALLEL_ATOL) -> np.ndarray:
        """:func:`dynsys.systems.symmetry.invariants` (loss, Gram spectra, sorted overlaps)."""
        return symmetry.invariants(self, W, merge_parallel=merge_parallel, parallel_atol=parallel_atol)

    def symmetries(self, W, tol=DEDUP_RTOL) -> tuple:
        """:func:`dynsys.systems.symmetry.point_symmetries` (row permutations with teacher maps)."""
        return symmetry.point_symmetries(self, W, tol)

    def kernel(self) -> KernelView:
        """The teacher-student field (system code 0) on :attr:`arrays`."""
        return KernelView(SYSTEM_TEACHER_STUDENT, self.arrays, int(work_size(self._k, self.k_star, self.d)))

    # ----------------------------------------------------------------- evaluation
    def _states(self, W, backend, name="W"):
        """Validate ``W``; return (batch (n, k, d), single?)."""
        backends.check(backend)
        W = v.real_array(W, name, allow_float32=backend == "cuda")
        if W.ndim not in (2, 3):
            raise ValueError(f"{name} must have shape (k, d) = ({self._k}, {self.d}) or a batch "
                             f"(n, {self._k}, {self.d}); got shape {W.shape}")
        if W.shape[-2:] != (self._k, self.d):
            raise ValueError(f"{name} must have rows of length d = {self.d} and k = {self._k} rows: "
                             f"expected (..., {self._k}, {self.d}), got {W.shape}")
        if W.ndim == 3 and W.shape[0] == 0:
            raise ValueError(f"{name} is an empty batch (shape {W.shape}); pass at least one state")
        return (W[None] if W.ndim == 2 else W), W.ndim == 2

    @property
    def arrays(self) -> FieldArrays:
        """The model as plain arrays for jitted code (:class:`FieldArrays`)."""
        return FieldArrays(self._U, self._T, self._tn, self._a, self._a_star, self._alpha,
                           self._const, self._tol)

    def _check(self, status, W, single, return_status, name="W", outputs=()):
        """Raise for a bad state unless ``return_status``; return the status (int for one state).

        A state whose outputs overflowed (finite input far outside the teacher's scale) gets NONFINITE,
        and its outputs are zeroed like those of any other bad state.
        """
        for out in outputs:
            over = (status == 0) & ~np.isfinite(out.reshape(out.shape[0], -1)).all(axis=1)
            if over.any():
                status[over] = Status.NONFINITE
                out[over] = 0.0
        bad = np.flatnonzero(status)
        if bad.size and not return_status:
            b = int(bad[0])
            raise ValueError(self._describe(W[b], int(status[b]), name if single else f"{name}[{b}]"))
        return int(status[0]) if single else status

    def _describe(self, Wb, code, where) -> str:
        Vb = Wb if self._residual is None else Wb + self._residual
        if not np.all(np.isfinite(Vb)):
            row = int(np.flatnonzero(~np.all(np.isfinite(Vb), axis=1))[0])
            return f"{where} must be finite; row {row} holds NaN or Inf"
        if code == Status.NONFINITE:
            with np.errstate(over="ignore"):
                big = float(np.linalg.norm(Vb, axis=1).max())
            return (f"{where} is too large or too small for float64: the loss or its derivatives overflow "
                    f"at it (largest row norm {big:.3g}); rescale W and the "
                    f"teacher together, or pass return_status=True to get per-state statuses")
        norms = np.linalg.norm(Vb, axis=1)
        j = int(np.argmin(norms))
        offset = " + residual" if self._residual is not None else ""
        return (f"{where} is singular: row {j} of W{offset} has norm {norms[j]:.3g} <= singular_tol "
                f"{self._tol:.3g}, where the field's direction is undefined. {Status.SINGULAR.fix}; "
                f"pass return_status=True to get per-state statuses instead of this error.")

    def loss_and_grad(self, W, *, backend="parallel", return_status=False):
        """Population loss and gradient ``dL/dW``.

        Parameters
        ----------
        W : array_like, shape (k, d) or (n, k, d)
        backend : {"parallel", "cpu", "cuda"}
        return_status : bool
            Return ``((loss, grad), status)`` with bad states zeroed instead of raising.

        Returns
        -------
        loss : float or ndarray, shape (n,)
        grad : ndarray, shape (k, d) or (n, k, d)
        """
        Wb, single = self._states(W, backend)
        loss, G, status = backends.loss_grad(backend, Wb, self.arrays, True)
        st = self._check(status, Wb, single, return_status, outputs=(loss, G))
        out = (float(loss[0]), G[0]) if single else (loss, G)
        return (out, st) if return_status else out

    def loss(self, W, *, backend="parallel", return_status=False):
        """Population loss ``L(W)``: a float for one state, shape (n,) for a batch."""
        Wb, single = self._states(W, backend)
        loss, _, status = backends.loss_grad(backend, Wb, self.arrays, False)
        st = self._check(status, Wb, single, return_status, outputs=(loss,))
        out = float(loss[0]) if single else loss
        return (out, st) if return_status else out

    def grad(self, W, *, backend="parallel", return_status=False):
        """Gradient ``dL/dW`` (Tian (ICML 2017) Eqn 8 with top weights, leaky slope and residual)."""
        out = self.loss_and_grad(W, backend=backend, return_status=return_status)
        return (out[0][1], out[1]) if return_status else out[1]

    def hessian(self, W, *, backend="parallel", return_status=False):
        """Exact Hessian, shape (k d, k d) or (n, k d, k d), row-major in (row j, coordinate)."""
        Wb, single = self._states(W, backend)
        H, status = backends.hessian(backend, Wb, self.arrays)
        st = self._check(status, Wb, single, return_status, outputs=(H,))
        out = H[0] if single else H
        return (out, st) if return_status else out

    def hvp(self, W, V, *, backend="parallel", return_status=False):
        """Hessian-vector product ``H(W) V`` (V shaped like W), without forming H."""
        Wb, single = self._states(W, backend)
        X = v.finite(v.real_array(V, "V"), "V")
        if X.shape != np.shape(W):
            raise ValueError(f"V must have the shape of W, {np.shape(W)}; got {X.shape}")
        out, status = backends.hvp(backend, Wb, X[None] if single else X, self.arrays)
        st = self._check(status, Wb, single, return_status, outputs=(out,))
        out = out[0] if single else out
        return (out, st) if return_status else out

    def grad_a(self, W, *, backend="parallel", return_status=False):
        """Gradient of the loss in the top weights ``a``: shape (k,) or (n, k)."""
        Wb, single = self._states(W, backend)
        out, status = backends.grad_a(backend, Wb, self.arrays)
        st = self._check(status, Wb, single, return_status, outputs=(out,))
        out = out[0] if single else out
        return (out, st) if return_status else out
