"""Newton refinement of many seeds at once, and deflation (several roots from one seed).

:func:`refine` validates the seeds, hands them to the batched kernel
(:func:`dynsys.kernels.newton.newton_batch`: damped Newton with LDL^T/LU, Broyden steps, a
Levenberg-Marquardt fallback, stall detection; see that module) and returns a :class:`NewtonResult`.
It works on a :class:`~dynsys.TeacherStudent` and on the toy systems of :mod:`dynsys.systems.toys`.

:func:`deflate` finds further roots from one seed by deflation (Farrell, Birkisson and Funke, SIAM J.
Sci. Comput. 37 (2015) A2026): Newton on ``M(x) grad L(x)`` with
``M(x) = prod_i (|x - r_i|^-p + sigma)`` over the known roots ``r_i`` never converges to an ``r_i``,
and its step is the plain Newton step ``dx`` scaled by ``1 / (1 - grad(log M) . dx)`` (their Eqn
3.4), so it costs one plain Newton step. It runs in NumPy (few roots, few seeds) and hands over to
the kernel once the gradient is small.

Tolerances are in the row-max norm (largest per-row Euclidean norm of the gradient) and, by default,
relative to the gradient scale ``S`` of :func:`grad_scale` (``dynsys.config.NEWTON_GTOL * S``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _validate as v
from .. import backends
from ..config import (DEFLATION_HANDOVER_GTOL, DEFLATION_POWER, DEFLATION_SHIFT, NEWTON_ARMIJO,
                      NEWTON_CHORD_RATIO, NEWTON_CHORD_STEPS, NEWTON_GTOL, NEWTON_LM_SCALE_MIN,
                      NEWTON_LS_MAX, NEWTON_MAX_STEPS, NEWTON_MU_MAX, NEWTON_MU_MIN, NEWTON_NONMONOTONE,
                      NEWTON_PIVOT_RTOL, NEWTON_STALL_FACTOR, NEWTON_STALL_WINDOW, NEWTON_SWITCH)
from .._codes import SYSTEM_TEACHER_STUDENT
from ..results import Status
from ..systems.toys import ToySystem


class NewtonResult(NamedTuple):
    """Per-seed outcome of :func:`refine` (arrays over the seeds, in seed order)."""

    W: np.ndarray               #: refined states, shape of the seeds
    status: np.ndarray          #: int8 Status per seed
    residual: np.ndarray        #: row-max gradient norm at the end (NaN for a singular seed)
    residual_before: np.ndarray  #: row-max gradient norm at the seed (NaN for a singular seed)
    steps: np.ndarray           #: accepted steps per seed (Newton, chord and LM steps)
    hessians: np.ndarray        #: Hessian evaluations (factorisations) per seed
    gtol: float                 #: the absolute tolerance used


def _is_toy(system) -> bool:
    return isinstance(system, ToySystem)


def _check_system(system):
    from ..model import TeacherStudent

    if not isinstance(system, (TeacherStudent, ToySystem)):
        raise TypeError(f"model must be a dynsys.TeacherStudent or a toy system from dynsys.systems.toys; "
                        f"got {type(system).__name__}")
    return system


def grad_scale(system) -> float:
    """Scale of gradient tolerances: ``max_j |a_j| * max_k |a*_k| |w*_k + u_k|`` (1 if 0; 1 for a toy).

    The gradient of row j is ``a_j`` times a combination of rows weighted by the top weights, so this
    is its natural unit: a relative tolerance times it means the same for every teacher scale, and it
    is 1 for ``W* = I`` with unit top weights (tolerances are then absolute).
    """
    _check_system(system)
    if _is_toy(system):
        return 1.0
    A = system.arrays
    s = float(np.max(np.abs(A.a))) * float(np.max(np.abs(A.a_star) * A.tn))
    return s if s > 0.0 and np.isfinite(s) else 1.0


def kernel_args(system):
    """``(code, U, T, tn, a, a_star, alpha, const, tol, nwork)``: the kernel's view of ``system``."""
    from ..systems import teacher_student as ts

    # Fresh writable C arrays every time: numba types read-only arrays apart, and one signature
    # means one compilation of the kernel for every model and toy.
    if _is_toy(system):
        return (int(system.code), np.zeros((0, 0)), np.zeros((1, system.dim)), np.ones(1), np.ones(1),
                np.ones(1), 0.0, 0.0, 0.0, 1)
    A = system.arrays
    nwork = int(ts.work_size(system.k, system.k_star, system.d))

    def c(x):
        return np.array(x, dtype=np.float64, order="C")

    return (SYSTEM_TEACHER_STUDENT, c(A.U), c(A.T), c(A.tn), c(A.a), c(A.a_star), float(A.alpha),
            float(A.const), float(A.tol), nwork)


def state_shape(system) -> tuple:
    """Shape of one state: ``(k, d)`` for a TeacherStudent, ``(dim,)`` for a toy."""
    return (system.dim,) if _is_toy(system) else (system.k, system.d)


def as_seeds(system, seeds, name="seeds"):
    """Validated seeds as a kernel batch ``(n, k, d)`` (toys: ``(n, 1, dim)``), and whether one was given."""
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
    v.finite(X, name)
    if _is_toy(system):
        X = X.reshape(X.shape[0], 1, shape[0])
    return np.ascontiguousarray(X), single


def resolve_gtol(system, gtol, name="gtol", default=NEWTON_GTOL) -> float:
    """``gtol`` (absolute, row-max norm) or ``default * grad_scale(system)``; validated > 0."""
    if gtol is None:
        return default * grad_scale(system)
    return v.real_scalar(gtol, name, lo=0.0, lo_open=True)


def _params(gtol, gscale, max_steps, stall_window, stall_factor, chord_steps, local=None,
            nonmonotone=NEWTON_NONMONOTONE):
    from ..config import (NEWTON_BROYDEN_GATE, NEWTON_LDLT_PIVOT_RTOL, NEWTON_LDLT_RESID_RTOL,
                          NEWTON_LOCAL)

    local = NEWTON_LOCAL if local is None else local
    from ..kernels import newton as kn

    fpar = np.empty(kn.N_FPAR)
    fpar[kn.F_GTOL] = gtol
    fpar[kn.F_GSCALE] = gscale
    fpar[kn.F_STALL_FACTOR] = stall_factor
    fpar[kn.F_PIVOT_RTOL] = NEWTON_PIVOT_RTOL
    fpar[kn.F_CHORD_RATIO] = NEWTON_CHORD_RATIO
    fpar[kn.F_ARMIJO] = NEWTON_ARMIJO
    fpar[kn.F_NEWTON_SWITCH] = NEWTON_SWITCH
    fpar[kn.F_MU_MIN] = NEWTON_MU_MIN
    fpar[kn.F_MU_MAX] = NEWTON_MU_MAX
    fpar[kn.F_LM_SCALE_MIN] = NEWTON_LM_SCALE_MIN
    fpar[kn.F_LOCAL] = local
    fpar[kn.F_BROYDEN_GATE] = NEWTON_BROYDEN_GATE
    fpar[kn.F_LDLT_PIVOT] = NEWTON_LDLT_PIVOT_RTOL
    fpar[kn.F_LDLT_RESID] = NEWTON_LDLT_RESID_RTOL
    ipar = np.empty(kn.N_IPAR, dtype=np.int64)
    ipar[kn.I_MAX_STEPS] = max_steps
    ipar[kn.I_STALL_WINDOW] = stall_window
    ipar[kn.I_CHORD_MAX] = chord_steps
    ipar[kn.I_LS_MAX] = NEWTON_LS_MAX
    ipar[kn.I_NONMONOTONE] = nonmonotone
    return fpar, ipar


def refine(system, seeds, *, gtol=None, max_steps=NEWTON_MAX_STEPS, stall_window=NEWTON_STALL_WINDOW,
           stall_factor=NEWTON_STALL_FACTOR, chord_steps=NEWTON_CHORD_STEPS,
           nonmonotone=NEWTON_NONMONOTONE, backend="parallel"):
    """Refine seeds to roots of the gradient (critical points of any index) by damped Newton.

    Parameters
    ----------
    system : TeacherStudent or toy system
    seeds : array_like, shape (k, d) or (n, k, d) (toys: (2,) or (n, 2))
        Starting states: flow endpoints, random states, user arrays. Must be finite.
    gtol : float, optional
        Absolute tolerance on the row-max gradient norm; default ``NEWTON_GTOL * grad_scale(system)``
        (1e-12 relative). Reached where conditioning allows; a seed that cannot reach it ends STALLED
        or MAX_STEPS with its residual reported.
    max_steps : int
        Accepted steps per seed (Newton, chord and Levenberg-Marquardt steps all count).
    stall_window, stall_factor : int, float
        STALLED when the gradient norm has not fallen by ``stall_factor`` (in (0, 1)) over the last
        ``stall_window`` steps.
    chord_steps : int
        Chord steps (reusing a factorisation) allowed after each full Newton step; 0 gives plain
        Newton (quadratic convergence visible step by step).
    nonmonotone : int
        Memory of the nonmonotone line search (``dynsys.config.NEWTON_NONMONOTONE``): a Newton step
        must lower ``|grad|^2`` below its largest value over the current and the last
        ``nonmonotone`` iterates; 0 is the classical monotone rule. At most ``stall_window``.
    backend : {"parallel", "cpu"}
        All cores, or one thread (the same compiled loop: bitwise-equal results).

    Returns
    -------
    NewtonResult
        ``W`` shaped like ``seeds``; per seed ``status`` (CONVERGED, MAX_STEPS, STALLED, SINGULAR for
        a seed on the singular set, NONFINITE), ``residual``, ``residual_before``, ``steps``.
    """
    _check_system(system)
    backends.check(backend)
    if backend == "cuda":
        raise ValueError("Newton has no CUDA kernel; use backend='parallel' (all CPU cores) or 'cpu'")
    X0, single = as_seeds(system, seeds)
    gtol = resolve_gtol(system, gtol)
    max_steps = v.positive_int(max_steps, "max_steps", minimum=0)
    stall_window = v.positive_int(stall_window, "stall_window")
    stall_factor = v.real_scalar(stall_factor, "stall_factor", lo=0.0, hi=1.0, lo_open=True)
    chord_steps = v.positive_int(chord_steps, "chord_steps", minimum=0)
    nonmonotone = v.positive_int(nonmonotone, "nonmonotone", minimum=0)
    if nonmonotone > stall_window:
        raise ValueError(f"nonmonotone must be at most stall_window ({stall_window}); got {nonmonotone}")
    code, U, T, tn, a, a_star, alpha, const, tol, nwork = kernel_args(system)
    fpar, ipar = _params(gtol, grad_scale(system), max_steps, stall_window, stall_factor, chord_steps,
                         nonmonotone=nonmonotone)
    n = X0.shape[0]
    X = np.empty_like(X0)
    res0 = np.empty(n)
    res = np.empty(n)
    steps = np.empty(n, dtype=np.int64)
    nhess = np.empty(n, dtype=np.int64)
    status = np.empty(n, dtype=np.int8)
    backends.newton(backend, X0, code, U, T, tn, a, a_star, alpha, const, tol, fpar, ipar,
                    X, res0, res, steps, nhess, status, nwork)
    shape = state_shape(system)
    W = X.reshape((n,) + shape)
    if single:
        return NewtonResult(W[0], Status(int(status[0])), float(res[0]), float(res0[0]), int(steps[0]),
                            int(nhess[0]), gtol)
    return NewtonResult(W, status, res, res0, steps, nhess, gtol)


#: Alias of :func:`refine` (``from dynsys.critical.newton import newton``). The package
#: ``dynsys.critical`` exports only ``refine``, so that ``dynsys.critical.newton`` stays the module.
newton = refine


def grad_hess(system, W, want_H=True):
    """Gradient (state shape) and Hessian ((n, n), n the state size) at one state, and the status."""
    from ..kernels import newton as kn

    X, _ = as_seeds(system, W, "W")
    code, U, T, tn, a, a_star, alpha, const, tol, nwork = kernel_args(system)
    k, d = X.shape[1:]
    G = np.empty((k, d))
    H = np.empty((k * d, k * d))
    st = kn.grad_hess_one(code, X[0], U, T, tn, a, a_star, alpha, const, tol, G, H, want_H, nwork)
    return G.reshape(state_shape(system)), H, int(st)


def row_max(G) -> float:
    """The stopping norm of one gradient: the largest row norm (the Euclidean norm for a vector)."""
    G = np.asarray(G, dtype=float)
    if G.ndim <= 1:
        return float(np.linalg.norm(G))
    return float(np.sqrt(np.max(np.einsum("...ij,...ij->...i", G, G))))


def deflate(system, seed, roots, *, gtol=None, max_steps=NEWTON_MAX_STEPS, power=DEFLATION_POWER,
            shift=DEFLATION_SHIFT):
    """One more root from ``seed``, avoiding the known ``roots`` (deflated Newton, then plain Newton).

    Parameters
    ----------
    system : TeacherStudent or toy system
    seed : array_like, one state
    roots : sequence of arrays, each one state
        Known roots ``r_i``; the deflation operator is ``M(x) = prod_i (|x - r_i|^-power + shift)``.
    gtol : float, optional
        Final tolerance of the plain Newton polish (default as in :func:`refine`).

    Returns
    -------
    W : ndarray or None
        The new root, refined by :func:`refine` to ``gtol``; None when the deflated iteration fails
        (singular, no decrease, or ``max_steps``) or ends at a known root.
    status : Status
        CONVERGED for a new root, else the reason it failed.
    """
    _check_system(system)
    X0, single = as_seeds(system, seed, "seed")
    if not single and X0.shape[0] != 1:
        raise ValueError("seed must be one state")
    gtol = resolve_gtol(system, gtol)
    power = v.real_scalar(power, "power", lo=0.0, lo_open=True)
    shift = v.real_scalar(shift, "shift", lo=0.0)
    shape = state_shape(system)
    R = [np.asarray(r, dtype=float).reshape(-1) for r in roots]
    x = X0[0].reshape(-1).copy()
    handover = DEFLATION_HANDOVER_GTOL * grad_scale(system)

    def merit(y):
        G, _, st = grad_hess(system, y.reshape(shape), want_H=False)
        if st != 0:
            return None, None
        g = G.reshape(-1)
        return g, float(_deflation_factor(y, R, power, shift)[0] ** 2 * (g @ g))

    g, phi = merit(x)
    if g is None:
        return None, Status.SINGULAR
    status = Status.MAX_STEPS
    for _ in range(max_steps):
        if row_max(g.reshape(shape)) <= handover:
            status = Status.CONVERGED
            break
        _, H, st = grad_hess(system, x.reshape(shape))
        if st != 0:
            return None, Status(st)
        try:
            dx = np.linalg.solve(H, -g)
        except np.linalg.LinAlgError:
            dx = np.linalg.lstsq(H, -g, rcond=None)[0]
        _, dlogM = _deflation_factor(x, R, power, shift)
        den = 1.0 - float(dlogM @ dx)
        step = dx / den if abs(den) > 1e-12 else dx
        t = 1.0
        for _ in range(NEWTON_LS_MAX + 1):
            gt, phit = merit(x + t * step)
            if gt is not None and phit < phi:
                break
            t *= 0.5
        else:
            return None, Status.STALLED
        x = x + t * step
        g, phi = gt, phit
    if status != Status.CONVERGED:
        return None, status
    res = refine(system, x.reshape(shape), gtol=gtol, max_steps=max_steps)
    if res.status != Status.CONVERGED:
        return None, res.status
    W = res.W
    for r in R:
        # the polish can slide back onto a known root (deflation only repels the deflated iterate)
        if np.max(np.abs(W.reshape(-1) - r)) <= 1e-8 * (1.0 + np.max(np.abs(r))):
            return None, Status.STALLED
    return W, Status.CONVERGED


def _deflation_factor(x, R, power, shift):
    """``M(x)`` and ``grad log M(x)`` of the deflation operator (Farrell et al. 2015, Eqn 2.3)."""
    M = 1.0
    dlog = np.zeros_like(x)
    for r in R:
        e = x - r
        n2 = float(e @ e)
        if n2 == 0.0:
            return np.inf, dlog
        m = n2 ** (-power / 2.0) + shift
        M *= m
        dlog += (-power * n2 ** (-power / 2.0 - 1.0) / m) * e
    return M, dlog


METHODS = ("newton",)


def find_critical_points(model, seeds, *, method="newton", deflation=False, gtol=None,
                         max_steps=NEWTON_MAX_STEPS, dedup_tol=None, merge_parallel=False,
                         crit_gtol=None, eig_rtol=None, loss_rtol=None, eig_method="auto",
                         parallel_atol=None, backend="parallel"):
    """Critical points reached by Newton from many seeds, deduplicated up to symmetry and classified.

    Parameters
    ----------
    model : TeacherStudent (or a toy system)
    seeds : array_like, shape (n, k, d) or (k, d) (toys: (n, 2) or (2,))
        Flow endpoints, random states, user arrays. Must be finite.
    method : {"newton"}
        Batched damped Newton / Levenberg-Marquardt with the exact Hessian
        (:func:`refine`, kernel :mod:`dynsys.kernels.newton`).
    deflation : bool or int
        After each seed's first root, look for up to this many more from the same seed by deflation
        (:func:`deflate`; True means ``DEFLATION_MAX_ROOTS``). NumPy speed: for few seeds.
    gtol : float, optional
        Newton's tolerance (row-max norm; default ``NEWTON_GTOL * S``, 1e-12 relative).
    max_steps : int
    dedup_tol : float, optional
        Tolerance on the normalised invariants (default ``DEDUP_RTOL`` = 1e-6); see
        :mod:`dynsys.critical.symmetry`.
    merge_parallel : bool
        Also merge points that differ only in how mass is split between parallel student rows (the same
        network function; a flat family such as a teacher row split between two student rows).
    crit_gtol, eig_rtol, loss_rtol, eig_method, parallel_atol :
        Classification settings (see :func:`dynsys.critical.classify.classify`). A seed whose Newton run
        stalled with its gradient already at or below ``crit_gtol`` still reached a critical point.
    backend : {"parallel", "cpu"}

    Returns
    -------
    CriticalSet
        Distinct points ordered by the first seed that reached each, with per-point seed counts and
        per-seed labels (-1: reached no critical point; see ``status`` and ``residual``).
    """
    from ..config import DEDUP_RTOL, DEFLATION_MAX_ROOTS, EIG_RTOL, LOSS_RTOL, PARALLEL_ATOL
    from ..results import CriticalSet
    from .classify import EIG_METHODS, _tolerances, analyse
    from . import symmetry

    _check_system(model)
    v.choice(method, "method", METHODS)
    if isinstance(deflation, (bool, np.bool_)):
        n_defl = DEFLATION_MAX_ROOTS if deflation else 0
    else:
        n_defl = v.positive_int(deflation, "deflation", minimum=0)
    dedup_tol = DEDUP_RTOL if dedup_tol is None else v.real_scalar(dedup_tol, "dedup_tol", lo=0.0, lo_open=True)
    tols = _tolerances(model, crit_gtol, EIG_RTOL if eig_rtol is None else eig_rtol,
                          LOSS_RTOL if loss_rtol is None else loss_rtol,
                          PARALLEL_ATOL if parallel_atol is None else parallel_atol)
    v.choice(eig_method, "eig_method", EIG_METHODS)
    X0, _ = as_seeds(model, seeds)
    shape = state_shape(model)
    S0 = X0.reshape((X0.shape[0],) + shape)
    res = refine(model, S0, gtol=gtol, max_steps=max_steps, backend=backend)
    status = np.atleast_1d(np.asarray(res.status, dtype=np.int8))
    residual = np.atleast_1d(np.asarray(res.residual, dtype=float))
    before = np.atleast_1d(np.asarray(res.residual_before, dtype=float))
    Wout = res.W.reshape(S0.shape)
    crit_gtol = tols[0]
    reached = (status == Status.CONVERGED) | (((status == Status.STALLED) | (status == Status.MAX_STEPS))
                                              & (residual <= crit_gtol))
    # candidates in seed order: (seed, state); deflated roots follow their seed's own root
    cand_seed = [int(i) for i in np.flatnonzero(reached)]
    cand_W = [Wout[i] for i in cand_seed]
    cand_main = [True] * len(cand_seed)
    if n_defl > 0:
        known = list(cand_W)
        extra_seed, extra_W = [], []
        for i in range(S0.shape[0]):
            for _ in range(n_defl):
                Wn, st = deflate(model, S0[i], known, gtol=gtol, max_steps=max_steps)
                if Wn is None:
                    break
                known.append(Wn)
                extra_seed.append(i)
                extra_W.append(Wn)
        order = np.argsort(np.array(cand_seed + extra_seed, dtype=np.int64), kind="stable")
        allW = cand_W + extra_W
        cand_main = [j < len(cand_seed) for j in order]
        cand_seed = [(cand_seed + extra_seed)[j] for j in order]
        cand_W = [allW[j] for j in order]
    inv = [symmetry.invariants(model, Wc, merge_parallel=merge_parallel, parallel_atol=tols[3])
           for Wc in cand_W]
    cls, first = symmetry.group(inv, dedup_tol) if inv else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    labels = np.full(S0.shape[0], -1, dtype=np.int64)
    counts = np.zeros(len(first), dtype=np.int64)
    seen = set()
    for j, c in enumerate(cls):
        s = cand_seed[j]
        if cand_main[j]:
            labels[s] = c
        if (s, int(c)) not in seen:
            seen.add((s, int(c)))
            counts[c] += 1
    points = []
    for c, j in enumerate(first):
        s = cand_seed[j]
        points.append(analyse(model, cand_W[j], before[s], status[s] if cand_main[j] else Status.CONVERGED,
                                 True, *tols, eig_method=eig_method))
    seed_index = np.array([cand_seed[j] for j in first], dtype=np.int64)
    for arr in (counts, seed_index, labels, status, residual):
        arr.setflags(write=False)
    return CriticalSet(points=tuple(points), counts=counts, seed_index=seed_index, labels=labels,
                       status=status, residual=residual, gtol=float(res.gtol), dedup_tol=dedup_tol)
