"""Classification of a point: refine by Newton, then loss, gradient, Hessian spectrum, Morse index,
nullity against what symmetry explains, and the kind (docs/math.md section 4, "Classification").

Kinds, in order of precedence:

1. ``"singular"``: a row norm of the state (for a TeacherStudent: of ``W + U``) at or below the
   system's singular tolerance (the field is undefined; nothing else is computed), or, for a
   TeacherStudent, a row so small that the Hessian's rounding error bound
   (:func:`dynsys.bounds.hessian_error_bound`, which grows like ``1/|w_j|``) exceeds ``eig_tol``: the
   spectrum cannot be read there, so neither index nor nullity is claimed (the values computed are
   kept on the result);
2. ``"not_critical"``: gradient norm (row-max) above ``gtol`` after refinement: never called critical;
3. ``"saddle"``: some eigenvalue below ``-eig_tol`` (any nullity; index = dimension is a maximum);
4. ``"global_minimum"``: loss at most ``min_value + loss_tol`` where the system knows its minimum
   value (a realisable model: 0), with the teacher row each student row matches
   (``linear_sum_assignment`` on the directions of ``a_j (w_j + u_j)`` against ``a*_k (w*_k + u_k)``;
   for k > k* a teacher row may be split between parallel student rows);
5. ``"degenerate"``: index 0 and nullity above what symmetry explains (a finding to report);
6. ``"spurious_minimum"``: index 0, loss above ``min_value + loss_tol`` (a realisable model);
7. ``"minimum"``: index 0 where the system knows no minimum value (a model that is not realisable).

Every point of a teacher-student system, whatever its kind, also gets its teacher matching
(:func:`teacher_assignment`: each student row's nearest teacher row and cosine, and the teacher rows
no student row has learnt; docs/math.md section 4).

Everything is read through the system protocol (:mod:`dynsys.systems.base`): ``min_value``,
``loss_scale`` (``loss_tol = loss_rtol * loss_scale``), ``nullity_expected``, ``row_norms``,
``permutes_teacher``.

Eigenvalues: dense ``eigvalsh`` of the exact Hessian up to ``k d = EIG_DENSE_MAX_KD``; beyond, Lanczos
(``scipy.sparse.linalg.eigsh`` on a ``LinearOperator`` wrapping the system's ``hvp``) for the
``nullity_expected + EIG_LANCZOS_EXTRA`` smallest and the largest: the index and nullity are then
counted among those computed (``eig_complete`` is False; a warning says when every computed
eigenvalue is negative, so that the index is only a lower bound).

Default tolerances (stored on the result): an eigenvalue is zero when ``|lambda| <= 1e-7 max|lambda|``;
"global" means ``loss <= min_value + 1e-10 * loss_scale`` (for a TeacherStudent
``1e-10 * teacher_energy``); critical means ``|grad L|_row_max <= CRITICAL_GTOL * S`` (S the
system's ``grad_scale``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from .. import _validate as v
from .._codes import SYSTEM_TEACHER_STUDENT
from ..config import (CRITICAL_GTOL, EIG_DENSE_MAX_KD, EIG_LANCZOS_EXTRA, EIG_RTOL, LOSS_RTOL,
                      NEWTON_MAX_STEPS, PARALLEL_ATOL)
from ..bounds import hessian_error_bound
from ..results import CriticalPoint, Status
from .newton import refine as newton_refine
from .shared import as_seeds, check_system, grad_hess, row_max, spectrum, state_shape, tolerances

EIG_METHODS = ("auto", "dense", "lanczos")


def classify_tolerances(system, gtol, eig_rtol, loss_rtol, parallel_atol):
    """Validated ``(gtol, eig_rtol, loss_rtol, parallel_atol)``, ``gtol`` defaulting to
    ``CRITICAL_GTOL * grad_scale``."""
    return tolerances(system, gtol, eig_rtol, loss_rtol, parallel_atol, CRITICAL_GTOL)


def classify(model, W, *, refine=True, gtol=None, eig_rtol=EIG_RTOL, loss_rtol=LOSS_RTOL,
             eig_method="auto", n_eig=None, parallel_atol=PARALLEL_ATOL, newton_gtol=None,
             max_steps=NEWTON_MAX_STEPS) -> CriticalPoint:
    """Refine ``W`` by Newton and classify it (docs/math.md section 4).

    Parameters
    ----------
    model : System
        Any system of the protocol (:mod:`dynsys.systems.base`).
    W : array_like, one state (shape ``model.state_shape``: (k, d) for a TeacherStudent)
        The point (a flow endpoint, a Newton root, a guess). Must be finite.
    refine : bool, default True
        Run Newton first (:func:`dynsys.critical.newton.refine`); the gradient norm before and after
        are both kept. With False the point is classified as given (``status`` is CONVERGED when it
        is critical, MAX_STEPS otherwise: Newton with zero steps).
    gtol : float, optional
        Row-max gradient norm at or below which the point is critical; default
        ``CRITICAL_GTOL * S`` (1e-11 relative to the gradient scale S).
    eig_rtol : float in (0, 1), default 1e-7
        An eigenvalue is zero when ``|lambda| <= eig_rtol * max|lambda|``.
    loss_rtol : float > 0, default 1e-10
        A minimum is global when ``loss <= loss_rtol * teacher_energy``.
    eig_method : {"auto", "dense", "lanczos"}
        "auto": dense up to ``k d = EIG_DENSE_MAX_KD``, Lanczos beyond.
    n_eig : int, optional
        Lanczos: how many smallest eigenvalues (default ``nullity_expected + EIG_LANCZOS_EXTRA``).
    parallel_atol : float
        Angle (radians) within which rows count as parallel (nullity that symmetry explains, and the
        teacher row a student row matches).
    newton_gtol, max_steps :
        Newton's tolerance (default as in :func:`~dynsys.critical.newton.refine`) and step limit.

    Returns
    -------
    CriticalPoint
    """
    check_system(model)
    X, single = as_seeds(model, W, "W")
    if not single:
        raise ValueError(f"W must be one state of shape {state_shape(model)}; got a batch of shape "
                         f"{np.shape(W)}. Use find_critical_points for many seeds.")
    if not isinstance(refine, (bool, np.bool_)):
        raise TypeError(f"refine must be True or False; got {refine!r}")
    tols = classify_tolerances(model, gtol, eig_rtol, loss_rtol, parallel_atol)
    v.choice(eig_method, "eig_method", EIG_METHODS)
    if n_eig is not None:
        n_eig = v.positive_int(n_eig, "n_eig")
    W0 = X[0].reshape(state_shape(model))
    if refine:
        res = newton_refine(model, W0, gtol=newton_gtol, max_steps=max_steps)
        if res.status == Status.SINGULAR:
            return _singular(model, W0, tols)
        return classify_at(model, res.W, res.residual_before, res.status, True, *tols,
                           eig_method=eig_method, n_eig=n_eig)
    G, _, st = grad_hess(model, W0, want_H=False)
    if st == Status.SINGULAR:
        return _singular(model, W0, tols)
    if st != 0:
        raise ValueError(f"W gives a non-finite gradient (status {Status(st).name}): {Status(st).fix}")
    gn = row_max(G)
    status = Status.CONVERGED if gn <= tols[0] else Status.MAX_STEPS
    return classify_at(model, W0, gn, status, False, *tols, eig_method=eig_method, n_eig=n_eig)


def _match_fields(model, W) -> dict:
    """``match``, ``match_cosine``, ``unmatched_teacher`` for a teacher-student system (read-only),
    all None for a system without a teacher."""
    view = model.kernel()
    if view is None or view.code != SYSTEM_TEACHER_STUDENT:
        return {"match": None, "match_cosine": None, "unmatched_teacher": None}
    out = dict(zip(("match", "match_cosine", "unmatched_teacher"), teacher_assignment(model, W)))
    for arr in out.values():
        arr.setflags(write=False)
    return out


def _singular(model, W, tols) -> CriticalPoint:
    W = np.array(W, dtype=float)
    rn = np.asarray(model.row_norms(W), dtype=float)
    loss_tol = tols[2] * model.loss_scale
    W.setflags(write=False)
    return CriticalPoint(W=W, loss=math.nan, grad_norm=math.nan, grad_norm_before=math.nan,
                         eigvals=np.zeros(0), morse_index=-1, nullity=-1, nullity_expected=-1,
                         kind="singular", row_norms=rn, eig_tol=math.nan, loss_tol=loss_tol, gtol=tols[0],
                         permutation=None, refined=False, status=Status.SINGULAR, eig_complete=False,
                         **_match_fields(model, W))


def _eigenvalues(model, W, n, method, n_eig, nexp):
    """Ascending eigenvalues and whether they are the whole spectrum."""
    if method == "dense" or (method == "auto" and n <= EIG_DENSE_MAX_KD) or n <= 2:
        _, H, st = grad_hess(model, W)
        if st != 0:
            raise ValueError(f"the Hessian at W is undefined (status {Status(st).name})")
        return np.linalg.eigvalsh(H), True
    # scipy.sparse.linalg loads ARPACK and the sparse package (about 0.2 s): only when Lanczos runs.
    from scipy.sparse.linalg import LinearOperator, eigsh

    shape = W.shape

    def mv(x):
        return model.hvp(W, np.asarray(x, dtype=float).reshape(shape)).reshape(-1)

    op = LinearOperator((n, n), matvec=mv, dtype=float)
    nev = min(n - 1, n_eig if n_eig is not None else nexp + EIG_LANCZOS_EXTRA)
    # ARPACK starts from a random vector unless given one: a fixed start makes the eigenvalues
    # reproducible to the bit (a structured start such as ones could miss symmetric eigenvectors).
    v0 = np.random.default_rng(0).standard_normal(n)
    from scipy.sparse.linalg import ArpackError

    try:
        small = eigsh(op, k=nev, which="SA", return_eigenvectors=False, tol=1e-12, v0=v0)
        large = eigsh(op, k=1, which="LA", return_eigenvectors=False, tol=1e-12, v0=v0)
    except ArpackError:
        # ARPACK fails on a Hessian that maps its start to 0 (e.g. all top weights 0): dense eigh has
        # no such failure mode and is exact there.
        _, H, st = grad_hess(model, W)
        if st != 0:
            raise ValueError(f"the Hessian at W is undefined (status {Status(st).name})") from None
        return np.linalg.eigvalsh(H), True
    return np.sort(np.concatenate([np.sort(small), large[-1:]])), False


def _cosines(model, W):
    """Cosines (k, k*) between the contributions ``r_j = a_j (w_j + u_j)`` and ``s_k = a*_k (w*_k + u_k)``
    (-2 where a row is zero), and the norms ``|r_j|``."""
    A = model.kernel().arrays
    W = np.asarray(W, dtype=float)
    V = W if A.U.size == 0 else W + A.U
    R = A.a[:, None] * V
    S = A.a_star[:, None] * A.T
    rn = np.linalg.norm(R, axis=1)
    sn = np.linalg.norm(S, axis=1)
    C = np.full((R.shape[0], S.shape[0]), -2.0)
    ok = (rn[:, None] > 0) & (sn[None, :] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        Cr = np.clip((R @ S.T) / (rn[:, None] * sn[None, :]), -1.0, 1.0)
    C[ok] = Cr[ok]
    return C, rn, ok


def _parallel(C, rn, ok, parallel_atol):
    """Which (student, teacher) pairs are parallel: ``|r_j| sin(theta) <= parallel_atol max_l |r_l|``
    with ``cos(theta) > 0``."""
    scale = float(np.max(rn)) if rn.size else 0.0
    sin = np.sqrt(np.maximum(0.0, 1.0 - C * C))
    return (C > 0.0) & (rn[:, None] * sin <= parallel_atol * scale) & ok


def _hessian_unreadable(model, W, eig_tol) -> bool:
    """Whether a TeacherStudent's Hessian at ``W`` may be off by more than ``eig_tol`` (a row near zero)."""
    if not hasattr(model, "W_star") or model.alpha == 1.0:
        return False
    return hessian_error_bound(model, W) > eig_tol


def teacher_match(model, W, parallel_atol=PARALLEL_ATOL) -> np.ndarray:
    """For each student row, the teacher row it is parallel to (-1 for none), as an int64 array (k,).

    Rows are compared as contributions ``r_j = a_j (w_j + u_j)`` and ``s_k = a*_k (w*_k + u_k)``; they
    are parallel when ``|r_j| sin(theta) <= parallel_atol * max_l |r_l|`` with ``cos(theta) > 0``
    (an angle of about ``parallel_atol`` for rows of ordinary size, more for a nearly dead row, as in
    :func:`dynsys.systems.symmetry.parallel_groups`). One student row per teacher row comes from
    ``scipy.optimize.linear_sum_assignment`` on the cosines (the permutation when k = k*); further
    student rows (k > k*: a teacher row split between parallel student rows) join the teacher row
    they are parallel to.

    ``model`` is a system whose kernel view holds teacher-student arrays (a TeacherStudent).
    """
    C, rn, ok = _cosines(model, W)
    rows, cols = linear_sum_assignment(-C)
    par = _parallel(C, rn, ok, parallel_atol)
    perm = np.full(C.shape[0], -1, dtype=np.int64)
    for r, c in zip(rows, cols):
        if par[r, c]:
            perm[r] = c
    for j in np.flatnonzero(perm < 0):
        c = int(np.argmax(C[j]))
        if par[j, c]:
            perm[j] = c
    return perm


#: Cosines closer than this are tied (an exactly symmetric point matches no teacher row).
MATCH_TIE = 1e-12


def teacher_assignment(model, W):
    """Each student row's nearest teacher row and cosine, and the teacher rows no student row has
    learnt.

    Any point, critical or not, compared as contributions ``a_j (w_j + u_j)`` against
    ``a*_k (w*_k + u_k)`` (as in :func:`teacher_match`). A teacher row counts as learnt when some
    student row is nearer to it than to any other teacher row and no other student row is nearer to
    it (mutual nearest rows, ties within ``MATCH_TIE`` in cosine excluded). At a global minimum this is
    every teacher row, and ``match`` is the permutation; at a spurious minimum of ``W* = I_k`` the
    unlearnt teacher rows are those left to rows stuck between teachers.

    Returns
    -------
    match : ndarray of int64, shape (k,)
        The nearest teacher row (largest cosine) of each student row; -1 for a row that contributes
        nothing (``a_j = 0`` or ``w_j + u_j = 0``).
    cosine : ndarray, shape (k,)
        Cosine between each student row's contribution and its teacher row's (NaN where ``match``
        is -1).
    unmatched : ndarray of int64, shape (m,)
        Teacher rows no student row has learnt (above), ascending; never a row with ``a*_k = 0``.
        Empty at a global minimum.
    """
    C, _, ok = _cosines(model, W)
    k, ks = C.shape
    has = ok.any(axis=1)
    # Ties within MATCH_TIE go to the lowest teacher index: a row exactly between two teacher rows (a
    # symmetric saddle) then gets one answer, not whichever the last bits of the cosines favour.
    top = np.argmax(C >= C.max(axis=1, initial=-np.inf)[:, None] - MATCH_TIE, axis=1)
    match = np.where(has, top, -1).astype(np.int64)
    cosine = np.full(k, np.nan)
    cosine[has] = C[np.flatnonzero(has), match[has]]
    others = np.where(np.arange(ks)[None, :] == match[:, None], -np.inf, C)
    strict = has & (cosine > others.max(axis=1, initial=-np.inf) + MATCH_TIE)
    best_row = C.max(axis=0, initial=-np.inf)
    learnt = ~ok.any(axis=0)  # a teacher unit with a*_k = 0 needs no student row
    for j in np.flatnonzero(strict):
        if cosine[j] >= best_row[match[j]] - MATCH_TIE:
            learnt[match[j]] = True
    return match, cosine, np.flatnonzero(~learnt).astype(np.int64)


def classify_at(model, W, grad_norm_before, status, refined, gtol, eig_rtol, loss_rtol, parallel_atol, *,
                eig_method="auto", n_eig=None) -> CriticalPoint:
    """Classify a point as it is (no refinement; arguments validated by :func:`classify`).

    ``grad_norm_before``, ``status`` and ``refined`` describe how the point was reached (they are
    stored on the result). A singular point gives the "singular" classification.
    """
    W = np.array(W, dtype=float)
    G, _, st = grad_hess(model, W, want_H=False)
    if st == Status.SINGULAR:
        return _singular(model, W, (gtol, eig_rtol, loss_rtol, parallel_atol))
    gn = row_max(G)
    loss = float(model.loss(W))
    rn = np.asarray(model.row_norms(W), dtype=float)
    nexp = int(model.nullity_expected(W, parallel_atol))
    loss_tol = loss_rtol * model.loss_scale
    eigs, complete = _eigenvalues(model, W, W.size, eig_method, n_eig, nexp)
    index, nullity, eig_tol = spectrum(eigs, eig_rtol)
    if not complete and index >= eigs.size - 1:
        warnings.warn(f"all {eigs.size - 1} smallest eigenvalues computed by Lanczos are negative: the "
                      f"Morse index is at least {index}; pass eig_method='dense' (or a larger n_eig) "
                      f"for the exact index", RuntimeWarning, stacklevel=3)
    perm = None
    known_min = math.isfinite(model.min_value)
    if _hessian_unreadable(model, W, eig_tol):
        kind = "singular"
    elif gn > gtol:
        kind = "not_critical"
    elif index > 0:
        kind = "saddle"
    elif known_min and loss <= model.min_value + loss_tol:
        kind = "global_minimum"
        if model.permutes_teacher:
            perm = teacher_match(model, W, parallel_atol)
            perm.setflags(write=False)
    elif nullity > nexp:
        kind = "degenerate"
    elif known_min:
        kind = "spurious_minimum"
    else:
        kind = "minimum"
    for arr in (W, eigs, rn):
        arr.setflags(write=False)
    return CriticalPoint(W=W, loss=loss, grad_norm=gn, grad_norm_before=float(grad_norm_before),
                         eigvals=eigs, morse_index=index, nullity=nullity, nullity_expected=nexp, kind=kind,
                         row_norms=rn, eig_tol=eig_tol, loss_tol=loss_tol, gtol=gtol, permutation=perm,
                         refined=bool(refined), status=Status(int(status)), eig_complete=complete,
                         **_match_fields(model, W))
