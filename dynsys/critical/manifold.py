"""Manifolds of critical points: :func:`trace_manifold` samples the connected set of critical points
through a degenerate one.

Many critical points of the teacher-student loss are not isolated (docs/math.md section 4): a
rotation fixing the teacher's span moves a point with rows outside it along an orbit (paper ``000``
Thm 2), mass moves freely between parallel student rows (the K = 2 saddle families, the symmetric
saddle's split set), and a toy like ``RingOfMinima`` has a circle of minima. Along such a set the
loss is constant (the gradient vanishes on it) and the Hessian has a null space containing its
tangent space.

The method (a breadth-first predictor-corrector, docs/manifolds.md):

1. At a sampled point, the tangent space is the span of the Hessian eigenvectors of the ``dim``
   smallest ``|lambda|`` (``dim`` = the nullity at the start).
2. Predictor: a step of length ``step`` along each of these eigenvectors, both signs.
3. Corrector: Newton on ``grad L(x) = 0`` restricted to the affine plane through the predicted point
   orthogonal to the tangent space, i.e. the bordered system ``[[H, N], [N^T, 0]] [dx; mu] =
   [-g; 0]`` (``N`` the tangent basis): the correction is orthogonal to the step, so the corrector
   cannot slide back to the point it came from. Where the null space is larger than the set's
   tangent space (directions flat only to higher order), that corrector fails; it is retried with
   the step direction alone in the border and least-squares steps, which reach the set along the
   other null directions.
4. A corrected point within ``MANIFOLD_MIN_SEPARATION * step`` of a sampled one is dropped; the
   others are kept and expanded in turn, until no step finds a new point, ``max_points`` is
   reached, or Ctrl-C.

The measured dimension is reported twice: the Hessian nullity (the tangent space the steps use) and
local PCA of the sampled points (what the steps actually found); the symmetry's prediction is the
system's ``nullity_expected``.
"""

from __future__ import annotations

import collections

import numpy as np

from .. import _validate as v
from ..config import (CRITICAL_GTOL, EIG_RTOL, MANIFOLD_FALLBACK_REACH, MANIFOLD_MAX_POINTS, MANIFOLD_MIN_SEPARATION,
                      MANIFOLD_NEWTON_STEPS, MANIFOLD_PCA_RADIUS, MANIFOLD_PCA_RTOL, MANIFOLD_STEP,
                      MANIFOLD_MAX_BYTES, PARALLEL_ATOL)
from ..results import Status
from ..results.manifold import Manifold
from .newton import refine as newton_refine
from .shared import as_seeds, check_system, grad_hess, resolve_gtol, row_max, spectrum, state_shape
from .symmetry import nullity_expected


def trace_manifold(model, W0, *, step=MANIFOLD_STEP, max_points=MANIFOLD_MAX_POINTS, radius=None, gtol=None,
                   eig_rtol=EIG_RTOL, parallel_atol=PARALLEL_ATOL, refine=True,
                   newton_steps=MANIFOLD_NEWTON_STEPS) -> Manifold:
    """Sample the connected set of critical points through ``W0``, a critical point of positive nullity.

    Parameters
    ----------
    model : System
        Any system of the protocol (:mod:`dynsys.systems.base`): a TeacherStudent, a toy.
    W0 : array_like, one state (shape ``model.state_shape``)
        A critical point whose Hessian has a null space (nullity > 0).
    step : float > 0
        Predictor step relative to the largest row norm of ``W0`` (``model.row_norms``); the
        sampling's resolution.
    max_points : int
        Stop after this many points (status MAX_STEPS).
    radius : float, optional
        Sample only within this distance (Euclidean, in weight space) of ``W0``; default unlimited.
    gtol : float, optional
        Row-max gradient norm every sampled point must reach (default ``CRITICAL_GTOL * S``, as
        :func:`dynsys.classify`).
    eig_rtol : float in (0, 1)
        An eigenvalue is zero when ``|lambda| <= eig_rtol max|lambda|`` (Morse index and nullity).
    parallel_atol : float
        Angle within which rows count as parallel (the symmetry's prediction).
    refine : bool
        Newton-refine ``W0`` first (:func:`dynsys.critical.newton.refine`); without it ``W0`` must
        already meet ``gtol``.
    newton_steps : int
        Newton steps allowed to one corrector.

    Returns
    -------
    Manifold
        The points, their loss, gradient norm, Morse index, nullity and the symmetry's nullity; the
        dimension measured by the Hessian nullity (``dim_null``) and by local PCA of the sample
        (``dim_sampled``), and predicted by the symmetry (``dim_expected``).

    Raises
    ------
    ValueError
        ``W0`` is singular, is not critical (its gradient norm is given), or is an isolated critical
        point (nullity 0: nothing to trace).
    """
    check_system(model)
    X, single = as_seeds(model, W0, "W0")
    if not single:
        raise ValueError(f"W0 must be one state of shape {state_shape(model)}; got a batch of shape "
                         f"{np.shape(W0)}")
    step = v.real_scalar(step, "step", lo=0.0, lo_open=True)
    max_points = v.positive_int(max_points, "max_points",
                                maximum=max(1, MANIFOLD_MAX_BYTES // (8 * int(np.prod(np.shape(W0))))),
                                why=f"config.MANIFOLD_MAX_BYTES = {MANIFOLD_MAX_BYTES} bytes of sampled points")
    if radius is not None:
        radius = v.real_scalar(radius, "radius", lo=0.0, lo_open=True)
    gtol = resolve_gtol(model, gtol, default=CRITICAL_GTOL)
    eig_rtol = v.real_scalar(eig_rtol, "eig_rtol", lo=0.0, hi=1.0, lo_open=True)
    parallel_atol = v.real_scalar(parallel_atol, "parallel_atol", lo=0.0, lo_open=True)
    if not isinstance(refine, (bool, np.bool_)):
        raise TypeError(f"refine must be True or False; got {refine!r}")
    newton_steps = v.positive_int(newton_steps, "newton_steps")
    shape = state_shape(model)
    x0 = X[0].reshape(shape)
    if refine:
        res = newton_refine(model, x0, gtol=min(gtol, resolve_gtol(model, None)))
        if res.status == Status.SINGULAR:
            raise ValueError("W0 is on the singular set (a row of W + U at zero): no manifold of critical "
                             "points is traced there; start from a point with nonzero rows")
        x0 = np.asarray(res.W, dtype=float).reshape(shape)
    start = _evaluate(model, x0, eig_rtol, parallel_atol)
    if start is None:
        raise ValueError("W0 is on the singular set (a row of W + U at zero) or gives a non-finite gradient; "
                         "start from a critical point with nonzero rows")
    if start["grad_norm"] > gtol:
        raise ValueError(f"W0 is not a critical point: its row-max gradient norm is {start['grad_norm']:.3g} "
                         f"> gtol = {gtol:.3g}{' after Newton refinement' if refine else ''}; pass a critical "
                         f"point (dynsys.classify, dynsys.find_critical_points) or refine=True")
    dim = start["nullity"]
    if dim == 0:
        raise ValueError(f"W0 is an isolated critical point (Hessian nullity 0, Morse index "
                         f"{start['morse_index']}): there is no manifold through it to trace")
    h = step * float(np.max(np.asarray(model.row_norms(x0), dtype=float)))
    sep = MANIFOLD_MIN_SEPARATION * h
    points = [start]
    parent = [-1]
    # the sampled points, flattened, in a buffer filled row by row (distance tests read the filled part)
    flat = np.empty((max_points, x0.size))
    flat[0] = x0.ravel()
    frontier = collections.deque([0])
    n_failed = 0
    status = Status.CONVERGED
    try:
        while frontier:
            i = frontier.popleft()
            base = points[i]
            N = base["tangent"][:, :dim]
            for j in range(dim):
                for sign in (1.0, -1.0):
                    if len(points) >= max_points:
                        status = Status.MAX_STEPS
                        raise _Full
                    pred = flat[i] + sign * h * N[:, j]
                    if (_nearest(flat[:len(points)], pred) < sep
                            or (radius is not None and np.linalg.norm(pred - flat[0]) > radius)):
                        continue
                    x = _correct(model, pred, N, gtol, h, newton_steps)
                    if x is None and dim > 1:
                        # the flattest eigenvectors mix directions of the set with directions that
                        # are only flat to higher order: border the step alone, let the
                        # least-squares correction find the set
                        x = _correct(model, pred, N[:, j:j + 1], gtol, MANIFOLD_FALLBACK_REACH * h,
                                     newton_steps, lstsq=True)
                    if x is None:
                        n_failed += 1
                        continue
                    if _nearest(flat[:len(points)], x) < sep:
                        continue
                    pt = _evaluate(model, x.reshape(shape), eig_rtol, parallel_atol)
                    if pt is None or pt["grad_norm"] > gtol:
                        n_failed += 1
                        continue
                    flat[len(points)] = x
                    parent.append(i)
                    points.append(pt)  # last: a Ctrl-C before it leaves the point out everywhere
                    frontier.append(len(points) - 1)
    except _Full:
        pass
    except KeyboardInterrupt:  # Ctrl-C between two correctors: the points so far
        status = Status.INTERRUPTED
    flat = flat[:len(points)]
    W = flat.reshape((len(points),) + shape).copy()
    pca_radius = MANIFOLD_PCA_RADIUS * h
    local_dim = local_dimension(flat, pca_radius, MANIFOLD_PCA_RTOL)
    ok = local_dim[local_dim >= 0]
    dim_sampled = int(np.bincount(ok).argmax()) if ok.size else -1

    def col(key, dtype):
        return np.array([p[key] for p in points], dtype=dtype)

    return Manifold(W=W, parent=np.array(parent[:len(points)], dtype=np.int64), loss=col("loss", float),
                    grad_norm=col("grad_norm", float), morse_index=col("morse_index", np.int64),
                    nullity=col("nullity", np.int64), nullity_expected=col("nullity_expected", np.int64),
                    local_dim=local_dim, dim_null=int(dim), dim_sampled=dim_sampled,
                    dim_expected=int(start["nullity_expected"]), step=float(h), pca_radius=float(pca_radius),
                    gtol=float(gtol), eig_rtol=float(eig_rtol), status=status, n_failed=int(n_failed))


class _Full(Exception):
    """``max_points`` reached (leaves the nested sampling loops)."""


def _nearest(P, x) -> float:
    """Distance from ``x`` to the nearest row of ``P``."""
    return float(np.sqrt(np.min(np.einsum("ij,ij->i", P - x, P - x))))


def _evaluate(model, x, eig_rtol, parallel_atol):
    """Loss, gradient norm, Morse index, nullity, symmetry nullity and the eigenvectors ordered by
    ``|lambda|`` at one state; None on the singular set."""
    G, H, st = grad_hess(model, x)
    if st:
        return None
    lam, U = np.linalg.eigh(0.5 * (H + H.T))
    index, nullity, _ = spectrum(lam, eig_rtol)
    return {"loss": float(model.loss(x)), "grad_norm": row_max(G), "morse_index": index, "nullity": nullity,
            "nullity_expected": nullity_expected(model, x, parallel_atol),
            "tangent": U[:, np.argsort(np.abs(lam), kind="stable")]}


def _correct(model, pred, N, gtol, reach, newton_steps, lstsq=False):
    """Newton from ``pred`` back to ``grad L = 0`` with every correction orthogonal to the columns of
    ``N`` (n, m); None when it fails (singular state, no convergence, or a correction longer than
    ``reach``, which would land on another part of the critical set). With ``lstsq`` every step is
    the least-squares solution (for a bordered matrix that stays singular)."""
    shape = model.state_shape
    n, dim = N.shape
    x = pred.copy()
    J = np.zeros((n + dim, n + dim))
    J[:n, n:] = N
    J[n:, :n] = N.T
    rhs = np.zeros(n + dim)
    for _ in range(newton_steps):
        G, H, st = grad_hess(model, x.reshape(shape))
        if st:
            return None
        if row_max(G) <= gtol:
            return x if np.linalg.norm(x - pred) <= reach else None
        J[:n, :n] = H
        rhs[:n] = -G.ravel()
        delta = None
        if not lstsq:
            try:
                delta = np.linalg.solve(J, rhs)
            except np.linalg.LinAlgError:
                pass
        if delta is None:
            delta = np.linalg.lstsq(J, rhs, rcond=None)[0]
        x = x + delta[:n]
        if not np.all(np.isfinite(x)) or np.linalg.norm(x - pred) > reach:
            return None
    return None


def local_dimension(P, r, rtol) -> np.ndarray:
    """Dimension of a point cloud near each point by local PCA.

    Parameters
    ----------
    P : ndarray, shape (n, D)
    r : float
        Neighbourhood radius.
    rtol : float
        A principal direction counts when its singular value exceeds ``rtol`` times the largest.

    Returns
    -------
    ndarray of int64, shape (n,)
        The count per point; -1 where fewer than three points (itself included) lie within ``r``.
    """
    P = np.asarray(P, dtype=float)
    out = np.full(P.shape[0], -1, dtype=np.int64)
    for i in range(P.shape[0]):
        nb = P[np.linalg.norm(P - P[i], axis=1) <= r]
        if nb.shape[0] < 3:
            continue
        s = np.linalg.svd(nb - nb.mean(axis=0), compute_uv=False)
        out[i] = int(np.sum(s > rtol * s[0])) if s[0] > 0.0 else 0
    return out


__all__ = ["local_dimension", "trace_manifold"]
