"""The saddle on the minimum-energy path between two minima: nudged elastic band or string.

:func:`saddle_between` joins two minima ``W_a``, ``W_b`` (two permutations of the teacher, or the
teacher and a spurious minimum) by a chain of images and relaxes it to a minimum-energy path, either by
the climbing-image nudged elastic band (CI-NEB: Henkelman, Uberuaga and Jonsson, J. Chem. Phys. 113,
9901 (2000), with the upwind tangent of Henkelman and Jonsson, J. Chem. Phys. 113, 9978 (2000)) or by
the climbing string method (E, Ren and Vanden-Eijnden, J. Chem. Phys. 126, 164103 (2007); climbing
image as in Ren and Vanden-Eijnden, J. Chem. Phys. 138, 134105 (2013)). The images are one batch for
``model.loss_and_grad``. The highest image, driven up along the path and down across it, sits near
the path's saddle; Newton then converges to it and the Hessian gives its index (1 expected; anything
else is reported, not hidden).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from ... import _validate as v
from ..._codes import SYSTEM_TEACHER_STUDENT
from ...config import (EIG_RTOL, SADDLE_CLIMB_START, SADDLE_DT, SADDLE_DT_MAX, SADDLE_FTOL, SADDLE_MAX_IMAGES,
                       SADDLE_MAX_ITER, SADDLE_MAX_MOVE, SADDLE_MAX_SPRING, SADDLE_N_IMAGES, SADDLE_RESTART_KICK,
                       SADDLE_RESTARTS, SADDLE_SPRING, SADDLE_STRING_STEP)
from ...results import SaddlePath, Status
from ...systems.base import System
from ..shared import row_max
from .refine import batch_loss_grad, checked_state, dense_hessian, refine_saddle

METHODS = ("neb", "string")


def _align_rows(model, W_a, W_b):
    """``W_b`` with its rows permuted (within classes of equal top weight) to minimise the Frobenius
    distance to ``W_a`` (``scipy.optimize.linear_sum_assignment`` on squared row distances)."""
    view = model.kernel() if isinstance(model, System) else None
    if view is None or view.code != SYSTEM_TEACHER_STUDENT:
        raise ValueError("align=True needs a TeacherStudent (row relabelling is its symmetry)")
    a = np.asarray(view.arrays.a)
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
    model : System (:mod:`dynsys.systems.base`), or an object with batched ``loss_and_grad`` and ``hessian``
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
        Newton-refine the highest image (by :func:`dynsys.critical.classify` for a System).
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
        nullity, kind, and the CriticalPoint in ``.point`` for a System), ``barriers`` (saddle
        loss minus the loss at each end), ``max_force``, ``iterations`` (all attempts), ``restarts``
        used and ``status``.

    Warns
    -----
    RuntimeWarning
        When the path converged but its refined top does not have index 1.

    Notes
    -----
    A straight line between two points with rows exchanged passes through states with coincident rows
    (where the Hessian is continuous but not differentiable, docs/math.md section 2); Newton converges more
    slowly there, but the saddle families of docs/math.md section 4 live exactly there.
    """
    if not (hasattr(model, "loss_and_grad") and hasattr(model, "hessian")):
        raise TypeError(f"model must be a dynsys System (e.g. TeacherStudent) or an object with batched "
                        f"loss_and_grad and hessian; got {type(model).__name__}")
    W_a = checked_state(model, W_a, "W_a")
    W_b = checked_state(model, W_b, "W_b")
    if W_a.shape != W_b.shape:
        raise ValueError(f"W_a and W_b must have the same shape; got {W_a.shape} and {W_b.shape}")
    if align:
        W_b = _align_rows(model, W_a, W_b)
    n_images = v.positive_int(n_images, "n_images", maximum=SADDLE_MAX_IMAGES, why="config.SADDLE_MAX_IMAGES")
    method = v.choice(method, "method", METHODS)
    spring = v.real_scalar(spring, "spring", lo=0.0, hi=SADDLE_MAX_SPRING)
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
        E, G, st = batch_loss_grad(model, X.reshape((m + 2,) + shape))
        return E, G.reshape(m + 2, D), st

    total = 0
    used = 0
    while True:
        E, st, status, it, fmax = _relax(X, evaluate, rows, method=method, spring=spring, ftol=ftol,
                                         max_iter=max_iter, step=step, climb=climb,
                                         climb_start=SADDLE_CLIMB_START if used == 0 else 0)
        total += it
        top = int(np.argmax(np.where(st[1:-1] == 0, E[1:-1], -np.inf))) + 1
        sp = refine_saddle(model, X[top].reshape(shape), refine=refine)
        if sp.index <= 1 or status != Status.CONVERGED or used >= restarts or not np.all(np.isfinite(sp.W)):
            break
        # Off the symmetry plane: along the negative direction of the top's Hessian that is most
        # orthogonal to the path, with a bump centred on the top that leaves the ends in place.
        lam, U = np.linalg.eigh(dense_hessian(model, sp.W))
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
