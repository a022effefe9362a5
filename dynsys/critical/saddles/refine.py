"""What the saddle searches share: duck-typed model access and the refinement of a candidate saddle.

For :class:`~dynsys.TeacherStudent` and the toy systems of :mod:`dynsys.systems.toys` the refinement and
classification are those of :func:`dynsys.critical.classify` (``.point`` holds the
:class:`~dynsys.results.CriticalPoint`); any other model (with batched ``loss_and_grad``: (n, ...) ->
(n,), (n, ...), and ``hessian``) is refined by a dense Newton with a least-squares step (it tolerates
the null directions of a saddle family) and its ``.point`` is ``None``.

Gradient norms are the stopping norm of dynsys: the largest row norm (``row_max``; for a 1-D state the
Euclidean norm).
"""

from __future__ import annotations

import math

import numpy as np

from ... import _validate as v
from ...config import EIG_RTOL, SADDLE_NEWTON_GTOL, SADDLE_NEWTON_MAX_ITER
from ...results import SaddlePoint, Status

#: Batches up to this size are evaluated on one thread.
SMALL_BATCH = 64


def is_teacher_student(model) -> bool:
    from ...model import TeacherStudent

    return isinstance(model, TeacherStudent)


def _is_toy(model) -> bool:
    from ...systems.toys import ToySystem

    return isinstance(model, ToySystem)


def batch_loss_grad(model, X):
    """Loss (n,), gradient (n, ...) and int8 status (n,) of a batch of states."""
    if is_teacher_student(model):
        # Paths and single states are small batches: one thread beats waking a thread pool.
        backend = "cpu" if len(X) <= SMALL_BATCH else "parallel"
        (loss, G), st = model.loss_and_grad(X, backend=backend, return_status=True)
        return np.asarray(loss, dtype=float), G, np.asarray(st, dtype=np.int8)
    loss, G = model.loss_and_grad(X)
    loss = np.asarray(loss, dtype=float).reshape(len(X))
    G = np.asarray(G, dtype=float).reshape(X.shape)
    ok = np.isfinite(loss) & np.all(np.isfinite(G.reshape(len(X), -1)), axis=1)
    return loss, G, np.where(ok, 0, int(Status.NONFINITE)).astype(np.int8)


def dense_hessian(model, W) -> np.ndarray:
    H = np.asarray(model.hessian(W, backend="cpu") if is_teacher_student(model) else model.hessian(W),
                   dtype=float)
    D = W.size
    return H.reshape(D, D)


def row_max(G) -> np.ndarray | float:
    """Stopping norm: the largest row norm of each state (rows along the last axis)."""
    G = np.asarray(G, dtype=float)
    if G.ndim <= 1:
        return float(np.linalg.norm(G))
    return np.sqrt(np.einsum("...j,...j->...", G, G)).max(axis=-1)


def spectrum(eigvals, rtol=EIG_RTOL):
    """(Morse index, nullity) with |lambda| <= rtol max|lambda| counted as zero (MATH.md section 4)."""
    scale = float(np.max(np.abs(eigvals))) if eigvals.size else 0.0
    tol = rtol * scale
    return int(np.sum(eigvals < -tol)), int(np.sum(np.abs(eigvals) <= tol))


def _newton_dense(model, W, *, gtol=SADDLE_NEWTON_GTOL, max_iter=SADDLE_NEWTON_MAX_ITER):
    """Newton on grad L = 0 with a least-squares step (null directions of a critical family get no
    step) and a backtracking line search on the gradient norm. Returns ``(W, status)``."""
    W = np.array(W, dtype=float)
    shape = W.shape
    for _ in range(max_iter):
        loss, G, st = batch_loss_grad(model, W[None])
        if st[0]:
            return W, int(st[0])
        g = row_max(G[0])
        if g <= gtol:
            return W, int(Status.CONVERGED)
        H = dense_hessian(model, W)
        dx = np.linalg.lstsq(H, G[0].ravel(), rcond=1e-13)[0].reshape(shape)
        t = 1.0
        while t > 1e-6:
            Wt = W - t * dx
            _, Gt, stt = batch_loss_grad(model, Wt[None])
            if stt[0] == 0 and row_max(Gt[0]) < g:
                break
            t *= 0.5
        else:
            return W, int(Status.STALLED)
        W = Wt
    _, G, _ = batch_loss_grad(model, W[None])
    return W, int(Status.CONVERGED if row_max(G[0]) <= gtol else Status.MAX_STEPS)


def refine_saddle(model, W, *, refine=True) -> SaddlePoint:
    """Refine ``W`` to a critical point and read its index off the Hessian."""
    if is_teacher_student(model) or _is_toy(model):
        from ... import backends
        from ..classify import classify

        with backends.threads("cpu"):
            cp = classify(model, W, refine=refine)
        return SaddlePoint(W=np.asarray(cp.W), loss=float(cp.loss), grad_norm=float(cp.grad_norm),
                           eigvals=np.asarray(cp.eigvals), index=int(cp.morse_index),
                           nullity=int(cp.nullity), kind=str(cp.kind), status=int(cp.status), point=cp)
    status = int(Status.CONVERGED)
    if refine:
        W, status = _newton_dense(model, W)
    loss, G, st = batch_loss_grad(model, W[None])
    if st[0]:
        return SaddlePoint(W=W, loss=math.nan, grad_norm=math.nan, eigvals=np.full(W.size, np.nan),
                           index=-1, nullity=-1, kind="singular", status=int(st[0]), point=None)
    eig = np.linalg.eigvalsh(dense_hessian(model, W))
    index, nullity = spectrum(eig)
    gn = float(row_max(G[0]))
    kind = ("not_critical" if status != Status.CONVERGED else "saddle" if index > 0
            else "degenerate" if nullity > 0 else "minimum")
    return SaddlePoint(W=W, loss=float(loss[0]), grad_norm=gn, eigvals=eig, index=index,
                       nullity=nullity, kind=kind, status=status, point=None)


def checked_state(model, W, name):
    W = v.finite(v.real_array(W, name), name)
    if is_teacher_student(model) and W.shape != (model.k, model.d):
        raise ValueError(f"{name} must have shape (k, d) = ({model.k}, {model.d}); got {W.shape}")
    return W
