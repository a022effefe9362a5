"""What the saddle searches share: model access and the refinement of a candidate saddle.

A system of the protocol (:class:`dynsys.systems.base.System`: a TeacherStudent, a toy, the reduced
dynamics, yours) is refined and classified by :func:`dynsys.critical.classify` (``.point`` holds the
:class:`~dynsys.results.CriticalPoint`). Any other model (with batched ``loss_and_grad``: (n, ...) ->
(n,), (n, ...), and ``hessian``) is refined by :func:`dynsys.critical.newton.dense_newton` (a
least-squares step: it tolerates the null directions of a saddle family) and its ``.point`` is
``None``.

Gradient norms are the stopping norm of dynsys: :func:`dynsys.critical.shared.row_max`.
"""

from __future__ import annotations

import math

import numpy as np

from ... import _validate as v
from ... import backends
from ...config import EIG_RTOL, SADDLE_NEWTON_GTOL, SADDLE_NEWTON_MAX_ITER
from ...results import SaddlePoint, Status
from ...systems.base import System
from ..classify import classify
from ..newton import dense_newton
from ..shared import row_max, spectrum

#: Batches up to this size are evaluated on one thread.
SMALL_BATCH = 64


def batch_loss_grad(model, X):
    """Loss (n,), gradient (n, ...) and int8 status (n,) of a batch of states."""
    if isinstance(model, System):
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
    H = np.asarray(model.hessian(W, backend="cpu") if isinstance(model, System) else model.hessian(W),
                   dtype=float)
    D = W.size
    return H.reshape(D, D)


def _newton_dense(model, W, *, gtol=SADDLE_NEWTON_GTOL, max_iter=SADDLE_NEWTON_MAX_ITER):
    """:func:`~dynsys.critical.newton.dense_newton` on a duck-typed model. Returns ``(W, status)``."""
    def grad(x):
        _, G, st = batch_loss_grad(model, x[None])
        return G[0], int(st[0])

    W, status, *_ = dense_newton(grad, lambda x: dense_hessian(model, x), W, gtol=gtol, max_steps=max_iter)
    return W, status


def refine_saddle(model, W, *, refine=True) -> SaddlePoint:
    """Refine ``W`` to a critical point and read its index off the Hessian."""
    if isinstance(model, System):
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
    index, nullity, _ = spectrum(eig, EIG_RTOL)
    gn = float(row_max(G[0]))
    kind = ("not_critical" if status != Status.CONVERGED else "saddle" if index > 0
            else "degenerate" if nullity > 0 else "minimum")
    return SaddlePoint(W=W, loss=float(loss[0]), grad_norm=gn, eigvals=eig, index=index,
                       nullity=nullity, kind=kind, status=status, point=None)


def checked_state(model, W, name):
    W = v.finite(v.real_array(W, name), name)
    if isinstance(model, System) and W.shape != tuple(model.state_shape):
        raise ValueError(f"{name} must have the system's state_shape {tuple(model.state_shape)}; got {W.shape}")
    return W
