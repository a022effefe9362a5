"""Index-1 saddles: between two minima (nudged elastic band, string) and from one (eigenvector following).

Two searches, both ending with a Newton refinement and a Hessian check of the Morse index:

* :func:`saddle_between` joins two minima ``W_a``, ``W_b`` (two permutations of the teacher, or the
  teacher and a spurious minimum) by a chain of images and relaxes it to a minimum-energy path, either by
  the climbing-image nudged elastic band (CI-NEB: Henkelman, Uberuaga and Jonsson, J. Chem. Phys. 113,
  9901 (2000), with the upwind tangent of Henkelman and Jonsson, J. Chem. Phys. 113, 9978 (2000)) or by
  the climbing string method (E, Ren and Vanden-Eijnden, J. Chem. Phys. 126, 164103 (2007); climbing
  image as in Ren and Vanden-Eijnden, J. Chem. Phys. 138, 134105 (2013)). The images are one batch for
  ``model.loss_and_grad``. The highest image, driven up along the path and down across it, sits near
  the path's saddle; Newton then converges to it and the Hessian gives its index (1 expected; anything
  else is reported, not hidden).
* :func:`eigenvector_following` climbs out of a minimum along each of its softest Hessian eigenvectors
  by partitioned rational-function optimisation (P-RFO: Baker, J. Comput. Chem. 7, 385 (1986); Cerjan and
  Miller, J. Chem. Phys. 75, 2800 (1981)): at each step maximise along the followed mode and minimise
  along all others, which converges to an index-1 saddle; the saddles found are refined, classified and
  deduplicated.

Both work on any model with ``loss_and_grad`` (batched: (n, ...) -> (n,), (n, ...)) and ``hessian``;
for :class:`~dynsys.TeacherStudent` and the toy systems of :mod:`dynsys.systems.toys` the refinement
and classification are those of :func:`dynsys.critical.classify` (``.point`` holds the
:class:`~dynsys.results.CriticalPoint`); any other model is refined by a dense Newton with a
least-squares step (it tolerates the null directions of a saddle family) and its ``.point`` is ``None``.
Eigenvector following diagonalises the dense Hessian at every step: meant for ``k d`` up to a few
hundred.

Gradient norms are the stopping norm of dynsys: the largest row norm (``row_max``; for a 1-D state the
Euclidean norm).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from .. import _validate as v
from ..config import (EIG_RTOL, SADDLE_CLIMB_START, SADDLE_DT, SADDLE_DT_MAX, SADDLE_EF_DEDUP_RTOL,
                      SADDLE_EF_GTOL, SADDLE_EF_MAX_ITER, SADDLE_EF_TRUST, SADDLE_FTOL, SADDLE_MAX_ITER,
                      SADDLE_MAX_MOVE, SADDLE_N_IMAGES, SADDLE_NEWTON_GTOL, SADDLE_NEWTON_MAX_ITER,
                      SADDLE_RESTART_KICK, SADDLE_RESTARTS, SADDLE_SPRING, SADDLE_STRING_STEP)
from ..results import SaddlePath, SaddlePoint, Status

METHODS = ("neb", "string")
#: Batches up to this size are evaluated on one thread.
SMALL_BATCH = 64


# ------------------------------------------------------------------------------------------------
# Model access (duck-typed so toy systems work too)
# ------------------------------------------------------------------------------------------------

def _is_teacher_student(model) -> bool:
    from ..model import TeacherStudent

    return isinstance(model, TeacherStudent)


def _is_toy(model) -> bool:
    from ..systems.toys import ToySystem

    return isinstance(model, ToySystem)


def _batch_loss_grad(model, X):
    """Loss (n,), gradient (n, ...) and int8 status (n,) of a batch of states."""
    if _is_teacher_student(model):
        # Paths and single states are small batches: one thread beats waking a thread pool.
        backend = "cpu" if len(X) <= SMALL_BATCH else "parallel"
        (loss, G), st = model.loss_and_grad(X, backend=backend, return_status=True)
        return np.asarray(loss, dtype=float), G, np.asarray(st, dtype=np.int8)
    loss, G = model.loss_and_grad(X)
    loss = np.asarray(loss, dtype=float).reshape(len(X))
    G = np.asarray(G, dtype=float).reshape(X.shape)
    ok = np.isfinite(loss) & np.all(np.isfinite(G.reshape(len(X), -1)), axis=1)
    return loss, G, np.where(ok, 0, int(Status.NONFINITE)).astype(np.int8)


def _hessian(model, W) -> np.ndarray:
    H = np.asarray(model.hessian(W, backend="cpu") if _is_teacher_student(model) else model.hessian(W),
                   dtype=float)
    D = W.size
    return H.reshape(D, D)


def row_max(G) -> np.ndarray | float:
    """Stopping norm: the largest row norm of each state (rows along the last axis)."""
    G = np.asarray(G, dtype=float)
    if G.ndim <= 1:
        return float(np.linalg.norm(G))
    return np.sqrt(np.einsum("...j,...j->...", G, G)).max(axis=-1)


def _spectrum(eigvals, rtol=EIG_RTOL):
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
        loss, G, st = _batch_loss_grad(model, W[None])
        if st[0]:
            return W, int(st[0])
        g = row_max(G[0])
        if g <= gtol:
            return W, int(Status.CONVERGED)
        H = _hessian(model, W)
        dx = np.linalg.lstsq(H, G[0].ravel(), rcond=1e-13)[0].reshape(shape)
        t = 1.0
        while t > 1e-6:
            Wt = W - t * dx
            _, Gt, stt = _batch_loss_grad(model, Wt[None])
            if stt[0] == 0 and row_max(Gt[0]) < g:
                break
            t *= 0.5
        else:
            return W, int(Status.STALLED)
        W = Wt
    _, G, _ = _batch_loss_grad(model, W[None])
    return W, int(Status.CONVERGED if row_max(G[0]) <= gtol else Status.MAX_STEPS)


def _refine(model, W, *, refine=True) -> SaddlePoint:
    """Refine ``W`` to a critical point and read its index off the Hessian."""
    if _is_teacher_student(model) or _is_toy(model):
        from .. import backends
        from .classify import classify

        with backends.threads("cpu"):
            cp = classify(model, W, refine=refine)
        return SaddlePoint(W=np.asarray(cp.W), loss=float(cp.loss), grad_norm=float(cp.grad_norm),
                           eigvals=np.asarray(cp.eigvals), index=int(cp.morse_index),
                           nullity=int(cp.nullity), kind=str(cp.kind), status=int(cp.status), point=cp)
    status = int(Status.CONVERGED)
    if refine:
        W, status = _newton_dense(model, W)
    loss, G, st = _batch_loss_grad(model, W[None])
    if st[0]:
        return SaddlePoint(W=W, loss=math.nan, grad_norm=math.nan, eigvals=np.full(W.size, np.nan),
                           index=-1, nullity=-1, kind="singular", status=int(st[0]), point=None)
    eig = np.linalg.eigvalsh(_hessian(model, W))
    index, nullity = _spectrum(eig)
    gn = float(row_max(G[0]))
    kind = ("not_critical" if status != Status.CONVERGED else "saddle" if index > 0
            else "degenerate" if nullity > 0 else "minimum")
    return SaddlePoint(W=W, loss=float(loss[0]), grad_norm=gn, eigvals=eig, index=index,
                       nullity=nullity, kind=kind, status=status, point=None)


def _state(model, W, name):
    W = v.finite(v.real_array(W, name), name)
    if _is_teacher_student(model) and W.shape != (model.k, model.d):
        raise ValueError(f"{name} must have shape (k, d) = ({model.k}, {model.d}); got {W.shape}")
    return W


# ------------------------------------------------------------------------------------------------
# Paths
# ------------------------------------------------------------------------------------------------

def _align_rows(model, W_a, W_b):
    """``W_b`` with its rows permuted (within classes of equal top weight) to minimise the Frobenius
    distance to ``W_a`` (``scipy.optimize.linear_sum_assignment`` on squared row distances)."""
    if not _is_teacher_student(model):
        raise ValueError("align=True needs a TeacherStudent (row relabelling is its symmetry)")
    from scipy.optimize import linear_sum_assignment

    a = np.asarray(model.a)
    out = W_b.copy()
    for val in np.unique(a):
        idx = np.flatnonzero(a == val)
        D = ((W_a[idx][:, None, :] - W_b[idx][None, :, :]) ** 2).sum(axis=2)
        r, c = linear_sum_assignment(D)
        out[idx[r]] = W_b[idx[c]]
    return out


def _tangents(X, E):
    """Upwind tangents of the interior images (Henkelman and Jonsson 2000, Eqn 8-11), unit length.

    ``X`` (m + 2, D) with the fixed end points, ``E`` (m + 2,) their energies.
    """
    tp = X[2:] - X[1:-1]
    tm = X[1:-1] - X[:-2]
    e0, ep, em = E[1:-1], E[2:], E[:-2]
    up = (ep > e0) & (e0 > em)
    down = (ep < e0) & (e0 < em)
    dmax = np.maximum(np.abs(ep - e0), np.abs(em - e0))
    dmin = np.minimum(np.abs(ep - e0), np.abs(em - e0))
    # At a local extremum along the path, weight the two sides by the energy differences so the
    # tangent turns smoothly between the up- and downhill choices.
    wp = np.where(ep > em, dmax, dmin)
    wm = np.where(ep > em, dmin, dmax)
    tau = np.where(up[:, None], tp, np.where(down[:, None], tm, wp[:, None] * tp + wm[:, None] * tm))
    n = np.linalg.norm(tau, axis=1)
    # Flat stretches (equal energies) give a zero weighted tangent: fall back to the central one.
    flat = n <= 1e-300
    if flat.any():
        tau[flat] = (tp + tm)[flat]
        n = np.linalg.norm(tau, axis=1)
    return tau / np.maximum(n, 1e-300)[:, None]


def _neb_forces(X, E, G, spring, climb):
    """CI-NEB forces on the interior images: the perpendicular true force plus the spring force
    along the tangent; the climbing image feels the true force with its tangent part reversed."""
    tau = _tangents(X, E)
    Gi = G[1:-1]
    gpar = np.einsum("ij,ij->i", Gi, tau)
    F = -Gi + gpar[:, None] * tau
    dp = np.linalg.norm(X[2:] - X[1:-1], axis=1)
    dm = np.linalg.norm(X[1:-1] - X[:-2], axis=1)
    F += (spring * (dp - dm))[:, None] * tau
    if climb >= 0:
        F[climb] = -Gi[climb] + 2.0 * gpar[climb] * tau[climb]
    return F


def _reparametrise(X, lo, hi):
    """Images ``lo..hi`` of ``X`` moved to equal arc length along their polyline (in place).

    Linear interpolation, as in the simplified string method (E, Ren and Vanden-Eijnden 2007): it
    cuts the string's corners by O(spacing^2), which shifts the images slightly but not the climbing
    image (the split point) and so not the saddle; a cubic spline through a coarse, curved string
    was seen to oscillate instead of settling.
    """
    seg = X[lo:hi + 1]
    if len(seg) < 3:
        return
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(seg, axis=0), axis=1))])
    if s[-1] <= 0.0:
        return
    target = np.linspace(0.0, s[-1], len(seg))[1:-1]
    j = np.clip(np.searchsorted(s, target, side="right") - 1, 0, len(seg) - 2)
    w = ((target - s[j]) / np.maximum(s[j + 1] - s[j], 1e-300))[:, None]
    X[lo + 1:hi] = (1.0 - w) * seg[j] + w * seg[j + 1]


def _relax(X, evaluate, rows, *, method, spring, ftol, max_iter, step, climb, climb_start):
    """Relax the chain ``X`` (m + 2, D) in place; end points fixed.

    Returns ``(E, st, status, iterations, max_force)`` at the final chain.
    """
    m = X.shape[0] - 2
    E, G, st = evaluate(X)
    status = int(Status.MAX_STEPS)
    fmax = math.inf
    it = 0
    if method == "neb":
        Vel = np.zeros((m, X.shape[1]))
        dt, a_mix, n_pos = step, 0.1, 0
    for it in range(1, max_iter + 1):
        if st.any():
            status = int(st[np.flatnonzero(st)[0]])
            break
        ci = int(np.argmax(E[1:-1])) if climb and it > climb_start else -1
        if method == "neb":
            F = _neb_forces(X, E, G, spring, ci)
            fmax = float(rows(F).max())
            if fmax <= ftol and (ci >= 0 or not climb):
                status = int(Status.CONVERGED)
                break
            # FIRE (Bitzek et al., Phys. Rev. Lett. 97, 170201 (2006)) on all images at once.
            if float(np.sum(F * Vel)) > 0.0:
                Vel = (1.0 - a_mix) * Vel + a_mix * np.linalg.norm(Vel) * F / max(np.linalg.norm(F), 1e-300)
                n_pos += 1
                if n_pos > 5:
                    dt = min(1.1 * dt, SADDLE_DT_MAX)
                    a_mix *= 0.99
            else:
                Vel[:] = 0.0
                dt *= 0.5
                a_mix, n_pos = 0.1, 0
            Vel += dt * F
            move = dt * Vel
        else:
            # Full gradient step, then redistribution along the string (which undoes the step's
            # tangent part); the climbing image moves up along the tangent and down across it, and
            # splits the redistribution in two.
            Gi = G[1:-1]
            move = -step * Gi
            if ci >= 0:
                tau = _tangents(X, E)[ci]
                move[ci] = -step * (Gi[ci] - 2.0 * (Gi[ci] @ tau) * tau)
        nrm = np.linalg.norm(move, axis=1)
        big = nrm > SADDLE_MAX_MOVE
        if big.any():
            move[big] *= (SADDLE_MAX_MOVE / nrm[big])[:, None]
        if method == "neb":
            X[1:-1] += move
        else:
            old = X[1:-1].copy()
            X[1:-1] += move
            if ci >= 0:
                _reparametrise(X, 0, ci + 1)
                _reparametrise(X, ci + 1, m + 1)
            else:
                _reparametrise(X, 0, m + 1)
            # The string's own force: what moves it net of the redistribution (zero when stationary).
            fmax = float(rows((X[1:-1] - old) / step).max())
        E, G, st = evaluate(X)
        if method != "neb" and fmax <= ftol and (ci >= 0 or not climb):
            status = int(Status.CONVERGED)
            break
    return E, st, status, it, fmax


def saddle_between(model, W_a, W_b, *, n_images=SADDLE_N_IMAGES, method="neb", spring=SADDLE_SPRING,
                   ftol=SADDLE_FTOL, max_iter=SADDLE_MAX_ITER, step=None, climb=True, refine=True,
                   path=None, align=False, restarts=SADDLE_RESTARTS) -> SaddlePath:
    """Find the saddle on the minimum-energy path between two minima and confirm its index.

    Parameters
    ----------
    model : TeacherStudent, a toy system, or an object with batched ``loss_and_grad`` and ``hessian``
    W_a, W_b : array_like, shape (k, d)
        The two end points (minima; they stay fixed). By default the path joins exactly these two
        points (a row-swapped teacher is a different point of weight space).
    n_images : int, default ``SADDLE_N_IMAGES``
        Movable images between the ends.
    method : {"neb", "string"}
        Climbing-image nudged elastic band (FIRE relaxation) or climbing string (steepest descent with
        equal-arc-length redistribution on each side of the climbing image).
    spring : float
        NEB spring constant (force per unit length; the loss's curvature scale is about 1).
    ftol : float
        Stop the relaxation when the largest row norm of any image's force is at most ``ftol`` (NEB:
        the NEB force; string: the net motion per unit step); Newton takes it from there.
    max_iter : int
        Relaxation iterations per attempt (``status`` is MAX_STEPS if they ran out; the highest image
        is still refined).
    step : float, optional
        FIRE's initial time step (NEB; default ``SADDLE_DT``) or the gradient step (string; default
        ``SADDLE_STRING_STEP``).
    climb : bool
        Drive the highest image to the saddle (climbing image) from iteration ``SADDLE_CLIMB_START`` on.
    refine : bool
        Newton-refine the highest image (by :func:`dynsys.critical.classify` for a TeacherStudent).
    path : array_like, shape (n_images + 2, k, d), optional
        Initial chain (default: the straight line from ``W_a`` to ``W_b``).
    align : bool
        TeacherStudent only: first relabel the rows of ``W_b`` (among rows with equal top weight, a
        symmetry: same loss, same function) to be nearest to those of ``W_a``, so the path joins
        ``W_a`` to the closest copy of ``W_b`` (``images[-1]`` is that copy).
    restarts : int
        When the refined top of a converged path has Morse index above 1 (a path held on a symmetry
        plane, where the top is a higher saddle, e.g. the straight line between a point and its
        mirror image), push the images near the top along the Hessian's negative direction most
        orthogonal to the path and relax again, at most this many times.

    Returns
    -------
    SaddlePath
        ``images`` (n_images + 2, k, d) and ``energies`` of the relaxed path, ``climbing_image``, the
        refined ``saddle`` (:class:`~dynsys.results.SaddlePoint`: W, loss, grad_norm, eigvals, index,
        nullity, kind, and the CriticalPoint in ``.point`` for a TeacherStudent), ``barriers`` (saddle
        loss minus the loss at each end), ``max_force``, ``iterations`` (all attempts), ``restarts``
        used and ``status``.

    Warns
    -----
    RuntimeWarning
        When the path converged but its refined top does not have index 1.

    Notes
    -----
    A straight line between two points with rows exchanged passes through states with coincident rows
    (where the Hessian is continuous but not differentiable, MATH.md section 2); Newton converges more
    slowly there, but the saddle families of MATH.md section 4 live exactly there.
    """
    W_a = _state(model, W_a, "W_a")
    W_b = _state(model, W_b, "W_b")
    if W_a.shape != W_b.shape:
        raise ValueError(f"W_a and W_b must have the same shape; got {W_a.shape} and {W_b.shape}")
    if align:
        W_b = _align_rows(model, W_a, W_b)
    n_images = v.positive_int(n_images, "n_images")
    method = v.choice(method, "method", METHODS)
    spring = v.real_scalar(spring, "spring", lo=0.0)
    ftol = v.real_scalar(ftol, "ftol", lo=0.0, lo_open=True)
    max_iter = v.positive_int(max_iter, "max_iter", minimum=0)
    restarts = v.positive_int(restarts, "restarts", minimum=0)
    if step is None:
        step = SADDLE_DT if method == "neb" else SADDLE_STRING_STEP
    step = v.real_scalar(step, "step", lo=0.0, lo_open=True)
    shape = W_a.shape
    D = W_a.size
    m = n_images
    if path is None:
        s = np.linspace(0.0, 1.0, m + 2)[:, None]
        X = (1.0 - s) * W_a.ravel()[None] + s * W_b.ravel()[None]
    else:
        P = v.finite(v.real_array(path, "path"), "path")
        if P.shape != (m + 2,) + shape:
            raise ValueError(f"path must have shape (n_images + 2, *W_a.shape) = {(m + 2,) + shape}; "
                             f"got {P.shape}")
        X = P.reshape(m + 2, D).copy()
        X[0], X[-1] = W_a.ravel(), W_b.ravel()
    # The images are one batch; the row structure is only needed for the stopping norm.
    row_shape = (-1, shape[-1]) if len(shape) >= 2 else (1, D)

    def rows(F):
        return row_max(F.reshape((len(F),) + row_shape))

    def evaluate(X):
        E, G, st = _batch_loss_grad(model, X.reshape((m + 2,) + shape))
        return E, G.reshape(m + 2, D), st

    total = 0
    used = 0
    while True:
        E, st, status, it, fmax = _relax(X, evaluate, rows, method=method, spring=spring, ftol=ftol,
                                         max_iter=max_iter, step=step, climb=climb,
                                         climb_start=SADDLE_CLIMB_START if used == 0 else 0)
        total += it
        top = int(np.argmax(np.where(st[1:-1] == 0, E[1:-1], -np.inf))) + 1
        sp = _refine(model, X[top].reshape(shape), refine=refine)
        if sp.index <= 1 or status != Status.CONVERGED or used >= restarts or not np.all(np.isfinite(sp.W)):
            break
        # Off the symmetry plane: along the negative direction of the top's Hessian that is most
        # orthogonal to the path, with a bump centred on the top that leaves the ends in place.
        lam, U = np.linalg.eigh(_hessian(model, sp.W))
        neg = np.flatnonzero(lam < -EIG_RTOL * np.max(np.abs(lam)))
        tau = _tangents(X, E)[top - 1]
        u = U[:, neg[int(np.argmin(np.abs(U[:, neg].T @ tau)))]]
        seg = float(np.mean(np.linalg.norm(np.diff(X, axis=0), axis=1)))
        bump = np.exp(-((np.arange(1, m + 1) - top) / max(1.0, m / 4.0)) ** 2)
        X[1:-1] += SADDLE_RESTART_KICK * seg * bump[:, None] * u[None, :]
        used += 1
    if status == Status.CONVERGED and sp.index != 1:
        warnings.warn(f"saddle_between: the refined highest image has Morse index {sp.index} "
                      f"(kind {sp.kind!r}), not 1; the path may cross a higher-index saddle or "
                      f"Newton may have left the path's saddle. Try more images, another method or "
                      f"another initial path.", RuntimeWarning, stacklevel=2)
    return SaddlePath(images=X.reshape((m + 2,) + shape), energies=E, climbing_image=top, saddle=sp,
                      barriers=(sp.loss - float(E[0]), sp.loss - float(E[-1])), max_force=fmax,
                      iterations=total, status=status, method=method, restarts=used)


# ------------------------------------------------------------------------------------------------
# Eigenvector following from a minimum
# ------------------------------------------------------------------------------------------------

def _prfo_step(eig, U, g, f, trust):
    """P-RFO step: maximise along mode ``f``, minimise along the others (Baker 1986, Eqn 12-15)."""
    gt = U.T @ g
    b, gf = eig[f], gt[f]
    mu_max = 0.5 * b + math.sqrt(0.25 * b * b + gf * gf)
    h = np.zeros_like(gt)
    den = b - mu_max
    h[f] = -gf / den if den != 0.0 else trust
    others = np.ones(len(eig), bool)
    others[f] = False
    lo, go = eig[others], gt[others]
    # mu_min: the lowest eigenvalue of the augmented Hessian [[diag(lo), go], [go^T, 0]].
    A = np.zeros((lo.size + 1, lo.size + 1))
    A[np.arange(lo.size), np.arange(lo.size)] = lo
    A[:-1, -1] = go
    A[-1, :-1] = go
    mu_min = float(np.linalg.eigvalsh(A)[0])
    den = lo - mu_min
    safe = np.abs(den) > 1e-300
    h[others] = np.where(safe, -go / np.where(safe, den, 1.0), 0.0)
    step = U @ h
    n = np.linalg.norm(step)
    if n > trust:
        step *= trust / n
    return step


def eigenvector_following(model, W_min, *, n_directions=4, both_signs=True, trust=SADDLE_EF_TRUST,
                          gtol=SADDLE_EF_GTOL, max_iter=SADDLE_EF_MAX_ITER, index=1,
                          dedup_rtol=SADDLE_EF_DEDUP_RTOL):
    """Climb from a minimum along its softest Hessian eigenvectors to index-1 saddles.

    Parameters
    ----------
    model : TeacherStudent or an object with batched ``loss_and_grad`` and ``hessian``
    W_min : array_like, shape (k, d)
        A minimum (refine it first; a non-minimum still works as a start).
    n_directions : int
        How many of the softest modes to follow (eigenvalues counted as zero, the symmetry's null
        directions, are skipped: moving along them does not leave the minimum's level).
    both_signs : bool
        Follow each mode in both directions (``+v`` and ``-v``).
    trust : float
        Largest step (Frobenius norm); the first step is exactly ``trust`` along the mode.
    gtol : float
        Stopping norm of the gradient (row max) with exactly one negative eigenvalue, after which Newton
        refines.
    max_iter : int
        Steps per followed direction.
    index : int or None
        Keep saddles of this Morse index only (``None`` keeps every refined critical point).
    dedup_rtol : float
        Two saddles are the same when their losses and spectra agree to this relative tolerance.

    Returns
    -------
    tuple of SaddlePoint
        Distinct saddles found, by increasing loss; each carries ``direction`` (the mode number, 0 the
        softest) and ``sign`` of the search that found it first, and ``iterations``.
    """
    W0 = _state(model, W_min, "W_min")
    n_directions = v.positive_int(n_directions, "n_directions")
    trust = v.real_scalar(trust, "trust", lo=0.0, lo_open=True)
    gtol = v.real_scalar(gtol, "gtol", lo=0.0, lo_open=True)
    max_iter = v.positive_int(max_iter, "max_iter")
    if index is not None:
        index = v.positive_int(index, "index", minimum=0)
    shape = W0.shape
    eig0, U0 = np.linalg.eigh(_hessian(model, W0))
    scale = float(np.max(np.abs(eig0)))
    modes = [j for j in range(len(eig0)) if abs(eig0[j]) > EIG_RTOL * scale][:n_directions]
    found: list = []
    for r, j in enumerate(modes):
        for sign in ((1.0, -1.0) if both_signs else (1.0,)):
            W = W0 + sign * trust * U0[:, j].reshape(shape)
            follow = sign * U0[:, j]
            status = int(Status.MAX_STEPS)
            for it in range(1, max_iter + 1):
                _, G, st = _batch_loss_grad(model, W[None])
                if st[0]:
                    status = int(st[0])
                    break
                eig, U = np.linalg.eigh(_hessian(model, W))
                # Mode tracking: follow the eigenvector closest to the previous direction.
                f = int(np.argmax(np.abs(U.T @ follow)))
                follow = U[:, f] * np.sign(U[:, f] @ follow or 1.0)
                n_neg, _ = _spectrum(eig)
                if row_max(G[0]) <= gtol and n_neg == 1 and eig[f] < 0:
                    status = int(Status.CONVERGED)
                    break
                W = W + _prfo_step(eig, U, G[0].ravel(), f, trust).reshape(shape)
            if status in (Status.SINGULAR, Status.NONFINITE):
                continue
            sp = _refine(model, W)
            if sp.status != Status.CONVERGED or (index is not None and sp.index != index):
                continue
            sp = dataclasses.replace(sp, direction=r, sign=int(sign), iterations=it)
            if not any(_same_saddle(sp, q, dedup_rtol) for q in found):
                found.append(sp)
    return tuple(sorted(found, key=lambda q: q.loss))


def _same_saddle(p, q, rtol) -> bool:
    """Same critical point up to symmetry: equal losses and equal spectra (both invariants of every
    symmetry of the loss), to ``rtol`` relative to the scale of each."""
    ls = max(abs(p.loss), abs(q.loss), 1e-300)
    if abs(p.loss - q.loss) > rtol * ls + 1e-15:
        return False
    es = max(float(np.max(np.abs(p.eigvals))), 1e-300)
    return p.eigvals.shape == q.eigvals.shape and bool(np.all(np.abs(p.eigvals - q.eigvals) <= rtol * es))
