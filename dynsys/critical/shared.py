"""What the critical layer shares: the system check, seeds and shapes, tolerances, gradient and
Hessian calls, the stopping norm and the Morse-index/nullity count.

Everything here reaches a system through the protocol of :mod:`dynsys.systems.base` (no test of
concrete classes). Imports go one way: this module <- :mod:`.newton` <- :mod:`.classify` <-
:mod:`.find`; :mod:`.census` and :mod:`.saddles` import from those.

A system with a kernel view (:meth:`~dynsys.systems.base.System.kernel`) is evaluated by the compiled
per-state field of the Newton kernel (:func:`dynsys.kernels.newton.grad_hess_one`); one without is
evaluated by its NumPy methods.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validate as v
from .. import backends
from ..config import NEWTON_GTOL
from ..systems.base import FieldArrays, KernelView, System


def check_system(system):
    """``system`` if it implements :class:`~dynsys.systems.base.System`, else TypeError."""
    if not isinstance(system, System):
        raise TypeError(f"model must implement the system protocol dynsys.systems.base.System (a "
                        f"dynsys.TeacherStudent, a toy system, ReducedDynamics, or a subclass of "
                        f"System/PointSystem; see docs/systems.md); got {type(system).__name__}")
    return system


def grad_scale(system) -> float:
    """The system's unit of gradient tolerances (the protocol's ``grad_scale``: for a
    TeacherStudent ``max_j |a_j| * max_k |a*_k| |w*_k + u_k|``, 1 for a toy)."""
    return float(check_system(system).grad_scale)


def kernel_view(system) -> KernelView | None:
    """The system's kernel view with fresh writable C-contiguous arrays, or None.

    Fresh writable copies every time: Numba types read-only arrays apart, and one signature means one
    compilation of the Newton kernel for every model and toy.
    """
    view = system.kernel()
    if view is None:
        return None
    A = view.arrays

    def c(x):
        return np.array(x, dtype=np.float64, order="C")

    arrays = FieldArrays(c(A.U), c(A.T), c(A.tn), c(A.a), c(A.a_star), float(A.alpha), float(A.const),
                         float(A.tol))
    return KernelView(int(view.code), arrays, int(view.nwork))


def state_shape(system) -> tuple:
    """Shape of one state (the protocol's ``state_shape``)."""
    return tuple(system.state_shape)


def kernel_shape(shape) -> tuple:
    """The kernel's (rows, columns) view of a state: a vector state is one row."""
    return (1, shape[0]) if len(shape) == 1 else tuple(shape)


def as_seeds(system, seeds, name="seeds"):
    """Validated seeds as a kernel batch ``(n, rows, cols)`` (a vector state is one row), and
    whether one state was given."""
    shape = state_shape(system)
    X = v.real_array(seeds, name)
    if X.ndim == len(shape):
        single = True
        X = X[None]
    elif X.ndim == len(shape) + 1:
        single = False
    else:
        raise ValueError(f"{name} must have shape {shape} (one state) or (n, {', '.join(map(str, shape))}) "
                         f"(a batch); got shape {X.shape}")
    if X.shape[1:] != shape:
        raise ValueError(f"{name} must have states of shape {shape}; got {X.shape[1:]} (full shape {X.shape})")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {X.shape}); pass at least one state")
    v.finite(X[0] if single else X, name)  # indices in the caller's own shape: W[1, 2], not W[0, 1, 2]
    X = X.reshape((X.shape[0],) + kernel_shape(shape))
    return np.ascontiguousarray(X), single


def resolve_gtol(system, gtol, name="gtol", default=NEWTON_GTOL) -> float:
    """``gtol`` (absolute, row-max norm) or ``default * grad_scale(system)``; validated > 0."""
    if gtol is None:
        gtol = default * grad_scale(system)
        if not gtol > 0.0:       # a system at a scale where the default underflows (e.g. top weights ~ 1e-320)
            raise ValueError(f"the default {name} = {default:g} * grad_scale is {gtol:g} for this system "
                             f"(grad_scale {grad_scale(system):g}): pass {name} explicitly, or rescale")
        return gtol
    return v.real_scalar(gtol, name, lo=0.0, lo_open=True)


def tolerances(system, gtol, eig_rtol, loss_rtol, parallel_atol, gtol_default):
    """Validated classification tolerances ``(gtol, eig_rtol, loss_rtol, parallel_atol)``."""
    gtol = resolve_gtol(system, gtol, "gtol", default=gtol_default)
    eig_rtol = v.real_scalar(eig_rtol, "eig_rtol", lo=0.0, hi=1.0, lo_open=True)
    if eig_rtol >= 1.0:
        raise ValueError(f"eig_rtol must be < 1 (a relative tolerance on eigenvalues); got {eig_rtol}")
    loss_rtol = v.real_scalar(loss_rtol, "loss_rtol", lo=0.0, lo_open=True)
    parallel_atol = v.real_scalar(parallel_atol, "parallel_atol", lo=0.0, hi=math.pi, lo_open=True)
    return gtol, eig_rtol, loss_rtol, parallel_atol


def grad_hess(system, W, want_H=True):
    """Gradient (state shape) and Hessian ((n, n), n the state size) at one state, and the status.

    By the compiled field when the system has a kernel view, else by its NumPy methods (then the
    Hessian is not formed unless ``want_H``). A bad state gives status SINGULAR or NONFINITE and
    zeros.
    """
    shape = state_shape(system)
    X, _ = as_seeds(system, W, "W")
    n = X[0].size
    view = kernel_view(system)
    if view is not None:
        G, H, st = backends.grad_hess_one(view, X[0], want_H)
        return G.reshape(shape), H, st
    x = X[0].reshape(shape)
    (_, G), st = system.loss_and_grad(x, backend="cpu", return_status=True)
    H = np.zeros((n, n))
    if st == 0 and want_H:
        H, st = system.hessian(x, backend="cpu", return_status=True)
    return np.asarray(G, dtype=float).reshape(shape), np.asarray(H, dtype=float).reshape(n, n), int(st)


def row_max(G):
    """The stopping norm: the largest row norm of a state (rows along the last axis; a vector state
    is one row, its Euclidean norm). A float for one state, an array over leading batch axes."""
    G = np.asarray(G, dtype=float)
    if G.ndim <= 1:
        return float(np.linalg.norm(G))
    r = np.sqrt(np.einsum("...j,...j->...", G, G)).max(axis=-1)
    return float(r) if G.ndim == 2 else r


def spectrum(eigvals, rtol):
    """``(morse_index, nullity, eig_tol)``: an eigenvalue is zero when ``|lambda| <= rtol max|lambda|``
    (docs/math.md section 4); the index counts those below ``-eig_tol``."""
    eigvals = np.asarray(eigvals)
    emax = float(np.max(np.abs(eigvals))) if eigvals.size else 0.0
    eig_tol = rtol * emax
    return int(np.sum(eigvals < -eig_tol)), int(np.sum(np.abs(eigvals) <= eig_tol)), eig_tol


__all__ = ["as_seeds", "check_system", "grad_hess", "grad_scale", "kernel_shape", "kernel_view", "resolve_gtol",
           "row_max", "spectrum", "state_shape", "tolerances"]
