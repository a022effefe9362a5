"""Batched damped Newton / Levenberg-Marquardt on ``grad f = 0`` with the exact Hessian (CPU, Numba).

One compiled kernel serves the teacher-student field (system code 0) and the toy systems of
:mod:`dynsys.systems.toys` (codes 1-3): the code selects the per-state gradient and Hessian, the
iteration is shared, so the toy tests exercise the teacher-student solver's own control flow. The
kernel takes the system code, the system's :class:`~dynsys.systems.base.FieldArrays` and one
:class:`NewtonParams` (named tuples, typed by their fields: one compiled signature for every system,
found again in Numba's on-disk cache by a new process).

Per seed (``x`` the flattened state, ``g = grad f(x)``, ``H`` its exact Hessian; merit
``phi = |g|^2 / 2``, not ``f``: saddles are roots too):

1. Stop with CONVERGED when the row-max norm of ``g`` is at most ``gtol``; MAX_STEPS after
   ``max_steps`` accepted steps; STALLED when ``|g|`` has not fallen by ``stall_factor`` over the last
   ``stall_window`` accepted steps (slow linear convergence: near coincident rows the Hessian is not
   differentiable and at degenerate roots it is singular).
2. Newton step ``H dx = -g``: LDL^T without pivoting first (the cost of a Cholesky factor, and its
   pivots' signs tell whether H is definite, where it is as stable as Cholesky); for an indefinite H
   it is kept if its pivots stay away from 0 and its solve's residual is small, else LU with partial
   pivoting. A factor whose smallest pivot is at most ``pivot_rtol`` times the largest entry of ``H``
   counts as singular. Backtracking (halving ``t``) until ``|g(x + t dx)|^2 <= ref - 2 c t |g|^2``
   (Armijo on ``phi``, whose slope along the Newton step is ``-|g|^2``), nonmonotone: ``ref`` is the
   largest ``|g|^2`` over this and the last ``nonmonotone`` iterates (Grippo, Lampariello and Lucidi
   1986; ``dynsys.config.NEWTON_NONMONOTONE`` and ``docs/newton.md``).
3. After a full Newton step, Broyden steps reuse its factor (``O(n^2)`` each instead of ``O(n^3)``
   and a Hessian; superlinear, where reusing the factor unchanged would be linear) while each
   shrinks ``|g|`` by at least ``chord_ratio``.
4. Near a root (``|g| / S <= local``) Newton is used only when one step of inverse iteration shows
   no eigenvalue smaller than ``switch * max|H_ij| * |g| / S`` along the step: otherwise, and
   whenever Newton fails (singular factor or no decrease), a Levenberg-Marquardt step on the
   least-squares problem ``min |g|^2``: ``(H^2 + mu I) dx = -H g`` with ``mu ~ |g|^2`` (always a
   descent direction of ``phi``; near a family of roots, such as the flat directions that symmetry
   gives, it converges without sliding along the family), accepted when ``phi`` falls by at least
   ``c`` times the decrease the linear model predicts; ``mu`` grows tenfold on failure. If no ``mu``
   up to the largest gives a decrease, ``H g`` vanishes to working precision (a stationary point of
   ``phi`` that is not a root): STALLED at once.

Every loop is bounded (``max_steps``, ``ls_max`` halvings, ``mu`` up to ``MU_MAX`` in tenfold steps,
``chord_max`` Broyden steps), so no seed can loop forever. Statuses (``dynsys.results.Status``): 0 CONVERGED,
1 MAX_STEPS, 3 SINGULAR (the seed itself is on the field's singular set; trial points there are
rejected like any failed trial), 4 NONFINITE, 7 STALLED.

The dense factorisations and solves are those of :mod:`.linalg` (written out: no allocation per
iteration, no nested BLAS threads inside the worker threads, and results independent of the thread
count).
"""

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .._codes import (CONVERGED, FACTOR_LDLT_DEFINITE, FACTOR_LDLT_INDEFINITE, FACTOR_LU, FACTOR_NONE,
                      MAX_STEPS, NONFINITE, STALLED, SYSTEM_TEACHER_STUDENT)
from ..systems import teacher_student as ts
from ..systems import toys
from .linalg import cholesky, cholesky_solve, dot, dot4, ldlt, ldlt_solve, lu, lu_solve, maxabs
from .network import rows
from .pool import run_ranges

_JIT = dict(cache=True, fastmath={"reassoc", "contract"})



class NewtonParams(NamedTuple):
    """The solver's parameters, passed to the kernel as one argument (Numba types a named tuple by
    its fields: one compiled signature, cached across processes). Built by
    :func:`dynsys.critical.newton.newton_params` from the arguments and ``dynsys.config``."""

    gtol: float            #: absolute tolerance on the row-max gradient norm
    gscale: float          #: gradient scale S (``g_rel = |g| / S``)
    stall_factor: float    #: STALLED when |g| has not fallen by this over ``stall_window`` steps
    pivot_rtol: float      #: a factor's pivot at most this times max|H_ij| counts as singular
    chord_ratio: float     #: a Broyden step must shrink |g| by at least this
    armijo: float          #: Armijo constant c of the line search and the LM acceptance
    newton_switch: float   #: local phase: Newton only when the step sees no eigenvalue below this scale
    mu_min: float          #: smallest relative LM multiplier
    mu_max: float          #: largest relative LM multiplier (beyond it: STALLED)
    lm_scale_min: float    #: floor of the LM multiplier's scale
    local: float           #: ``g_rel`` at or below which the local phase starts
    broyden_gate: float    #: a full Newton step must shrink |g| by this before Broyden steps
    ldlt_pivot: float      #: indefinite LDL^T kept when its smallest pivot exceeds this times max|H_ij|
    ldlt_resid: float      #: ... and its solve's residual is at most this times max|g_i|
    max_steps: int         #: accepted steps per seed
    stall_window: int      #: steps over which stalling is judged
    chord_max: int         #: Broyden steps after one full Newton step
    ls_max: int            #: halvings of the line search
    nonmonotone: int       #: memory of the nonmonotone line search


# ------------------------------------------------------------------------------------------------
# Field access by system code
# ------------------------------------------------------------------------------------------------

@njit(**_JIT)
def grad_at(system, X, fa, V, G, H, work):
    """Gradient of system ``system`` (on the FieldArrays ``fa``) at state ``X`` (k, d) into ``G``;
    returns the status."""
    if system == SYSTEM_TEACHER_STUDENT:
        Vb = rows(X, fa.U, V)
        _, st = ts.loss_grad(Vb, fa.T, fa.tn, fa.a, fa.a_star, fa.alpha, fa.const, fa.tol, True, G, work)
        return st
    return toys.grad_hess(system, X, G, H, False)


@njit(**_JIT)
def hess_at(system, X, fa, V, H, G, S, nrm):
    """Exact Hessian (n, n) at ``X`` into ``H`` (``G`` is scratch for the toys, ``S`` and ``nrm`` for
    :func:`~dynsys.systems.teacher_student.hessian`); returns the status."""
    if system == SYSTEM_TEACHER_STUDENT:
        Vb = rows(X, fa.U, V)
        return ts.hessian(Vb, fa.T, fa.tn, fa.a, fa.a_star, fa.alpha, fa.tol, H, S, nrm)
    return toys.grad_hess(system, X, G, H, True)


@njit(**_JIT)
def _row_max(G):
    r = 0.0
    for j in range(G.shape[0]):
        s = 0.0
        for l in range(G.shape[1]):
            s += G[j, l] * G[j, l]
        r = max(r, s)
    return math.sqrt(r)


@njit(**_JIT)
def _sq(G):
    s = 0.0
    for j in range(G.shape[0]):
        for l in range(G.shape[1]):
            s += G[j, l] * G[j, l]
    return s


@njit(**_JIT)
def _trial(x, dx, t, xt):
    k, d = x.shape
    for j in range(k):
        for l in range(d):
            xt[j, l] = x[j, l] + t * dx[j * d + l]


@njit(**_JIT)
def _accept(x, xt, G, Gt):
    x[:, :] = xt
    G[:, :] = Gt


# ------------------------------------------------------------------------------------------------
# The pieces of one iteration
# ------------------------------------------------------------------------------------------------

@njit(**_JIT)
def _solve(kind, F, Ut, piv, b, n):
    """Solve with the factor of kind 1 or 3 (LDL^T: definite, indefinite) or 2 (LU)."""
    if kind == FACTOR_LU:
        lu_solve(F, Ut, piv, b, n)
    else:
        ldlt_solve(F, b, n)


@njit(**_JIT)
def _newton_direction(H, F, Ut, piv, g, dx, rhs, n, hmax, g_rel, par):
    """Factor H, solve ``H dx = -g``; returns kind 1 (H definite: LDL^T, as stable as Cholesky),
    3 (indefinite: LDL^T without pivoting, kept when its pivots stay away from 0 and its solve's
    residual is small), 2 (LU with partial pivoting) or -1 (none).

    A factor whose smallest pivot is at most ``pivot_rtol`` times the largest entry of ``H`` (for
    the definite factor: whose smallest Cholesky pivot ``sqrt(D_jj)`` is) counts as singular.

    kind -1 also when the step would see a near-null direction in the local phase: one step of
    inverse iteration from the Newton direction estimates the smallest |eigenvalue| the step sees,
    and Newton (LM with mu = 0) is the better step only when every eigenvalue it sees is large
    against |g|; else directions along a family of critical points get huge steps and the iterate
    slides along the family (LM with mu ~ |g|^2 does not).
    """
    pivot_rtol = par.pivot_rtol
    kind = 0
    floor = pivot_rtol * hmax
    pm, nneg = ldlt(H, F, Ut, n, floor * floor)
    if pm > 0.0 and nneg == 0:
        kind = FACTOR_LDLT_DEFINITE if math.sqrt(pm) > floor else FACTOR_NONE
    elif pm > par.ldlt_pivot * hmax:
        # indefinite: kept only if its solve is accurate (no growth)
        for i in range(n):
            dx[i] = -g[i]
        ldlt_solve(F, dx, n)
        rmax = 0.0
        gmax = 0.0
        for i in range(n):
            rmax = max(rmax, abs(dot(H[i], dx, n) + g[i]))
            gmax = max(gmax, abs(g[i]))
        if rmax <= par.ldlt_resid * gmax:
            kind = FACTOR_LDLT_INDEFINITE
    if kind == 0:
        pm = lu(H, F, Ut, piv, n)
        kind = FACTOR_LU if pm > floor else FACTOR_NONE
    if kind < 0:
        return kind
    if kind != FACTOR_LDLT_INDEFINITE:
        for i in range(n):
            dx[i] = -g[i]
        _solve(kind, F, Ut, piv, dx, n)
    if g_rel <= par.local:
        nd = math.sqrt(dot(dx, dx, n))
        for i in range(n):
            rhs[i] = dx[i] / nd
        _solve(kind, F, Ut, piv, rhs, n)
        sig = 1.0 / math.sqrt(dot(rhs, rhs, n))
        if not sig > par.newton_switch * hmax * g_rel:
            kind = -1
    return kind


@njit(**_JIT)
def _line_search(system, x, dx, xt, Gt, gg, gref, fa, V, H, work, c_arm, ls_max):
    """Backtracking (halving ``t``) along the Newton step until
    ``|g(x + t dx)|^2 <= gref - 2 c t |g|^2`` (Armijo on ``|g|^2``, whose slope along the Newton
    step is ``-2 |g|^2``, against the reference ``gref >= |g|^2`` of the nonmonotone rule).

    Returns ``(t, |g(x + t dx)|^2)`` with t = 0 when no trial was accepted.
    """
    t = 1.0
    for _ in range(ls_max + 1):
        _trial(x, dx, t, xt)
        st = grad_at(system, xt, fa, V, Gt, H, work)
        if st == 0:
            ggt = _sq(Gt)
            if ggt <= gref - 2.0 * c_arm * t * gg:
                return t, ggt
        t *= 0.5
    return 0.0, gg


@njit(**_JIT)
def _lm_step(system, x, xt, G, Gt, g, gg, g_rel, lm_scale, H, B, F, dx, rhs, n, fa, V, work, par):
    """Levenberg-Marquardt on ``min |g|^2``: ``(H^2 + mu I) dx = -H g``, ``mu ~ |g|^2``.

    Yamashita and Fukushima (2001), Fan and Yuan (2005): quadratic convergence also to non-isolated
    roots. ``mu = max diag(H^2) * max(lm_scale * g_rel^2, MU_MIN)``, ten times larger per rejected
    trial. Returns ``(ok, mu_rel, |g(xt)|^2)``; not ok when no ``mu`` up to ``MU_MAX`` decreases
    ``|g|`` (H g vanishes to working precision: a stationary point of the merit, not a root).
    """
    bmax = 0.0
    for i in range(n):
        hi = H[i]
        # H symmetric: (H H)_ij = H_i . H_j, four j at a time
        j = 0
        while j + 4 <= i + 1:
            s0, s1, s2, s3 = dot4(H, j, hi, n)
            B[i, j] = B[j, i] = s0
            B[i, j + 1] = B[j + 1, i] = s1
            B[i, j + 2] = B[j + 2, i] = s2
            B[i, j + 3] = B[j + 3, i] = s3
            j += 4
        while j <= i:
            B[i, j] = B[j, i] = dot(hi, H[j], n)
            j += 1
        bmax = max(bmax, B[i, i])
        rhs[i] = -dot(hi, g, n)
    if not bmax > 0.0:
        return False, 0.0, gg
    c_arm = par.armijo
    mu_rel = max(lm_scale * g_rel * g_rel, par.mu_min)
    while mu_rel <= par.mu_max:
        mu = mu_rel * bmax
        for i in range(n):
            B[i, i] += mu
        pm = cholesky(B, F, n)
        for i in range(n):
            B[i, i] -= mu
        if pm > 0.0:
            for i in range(n):
                dx[i] = rhs[i]
            cholesky_solve(F, dx, n)
            # decrease of |g|^2 that the linear model predicts: |g|^2 - |g + H dx|^2
            pred = 0.0
            for i in range(n):
                e = g[i] + dot(H[i], dx, n)
                pred += e * e
            pred = gg - pred
            if pred > 0.0:
                _trial(x, dx, 1.0, xt)
                st = grad_at(system, xt, fa, V, Gt, H, work)
                if st == 0:
                    ggt = _sq(Gt)
                    if gg - ggt >= c_arm * pred:
                        return True, mu_rel, ggt
        mu_rel *= 10.0
    return False, mu_rel, gg


@njit(**_JIT)
def _broyden(system, x, xt, G, Gt, g, gg, s0, z, Sb, sn, kind, F, Ut, piv, n, fa, V, H, work, hist,
             steps, max_steps, gtol, ratio2, max_broyden):
    """Broyden steps after a full Newton step ``s0``, reusing the factor of the Hessian there.

    Broyden's method with initial matrix ``B0 = H(x0)`` in the compact form of Kelley (Iterative
    Methods for Linear and Nonlinear Equations, SIAM 1995, Algorithm 7.3.1, full steps): with the
    previous steps ``s_0 .. s_m``, ``z = -B0^-1 g``, ``z += s_{j+1} (s_j . z) / |s_j|^2`` for
    j < m, and ``s_{m+1} = z / (1 - s_m . z / |s_m|^2)``. Superlinear where the plain chord step
    (reusing ``B0`` unchanged) is only linear; each costs two triangular solves, ``O(n m)`` updates
    and one gradient. A step is kept while it shrinks ``|g|^2`` by at least ``ratio2``; the first
    that does not is dropped and the caller evaluates a new Hessian. Returns ``(steps, |g|^2)``.
    """
    nh = hist.shape[0]
    for i in range(n):
        Sb[0, i] = s0[i]
    sn[0] = dot(s0, s0, n)
    m = 0
    for _ in range(max_broyden):
        if _row_max(G) <= gtol or steps >= max_steps or not sn[m] > 0.0:
            break
        for i in range(n):
            z[i] = -g[i]
        _solve(kind, F, Ut, piv, z, n)
        for j in range(m):
            c = dot(Sb[j], z, n) / sn[j]
            for i in range(n):
                z[i] += c * Sb[j + 1, i]
        den = 1.0 - dot(Sb[m], z, n) / sn[m]
        if not abs(den) > 1e-8:
            break
        for i in range(n):
            z[i] /= den
        _trial(x, z, 1.0, xt)
        st = grad_at(system, xt, fa, V, Gt, H, work)
        if st != 0:
            break
        ggt = _sq(Gt)
        if not ggt <= ratio2 * gg:
            break
        _accept(x, xt, G, Gt)
        gg = ggt
        steps += 1
        hist[steps % nh] = math.sqrt(gg)
        m += 1
        for i in range(n):
            Sb[m, i] = z[i]
        sn[m] = dot(z, z, n)
    return steps, gg


# ------------------------------------------------------------------------------------------------
# One seed, and a range of seeds
# ------------------------------------------------------------------------------------------------

@njit(**_JIT)
def newton_one(system, x, fa, par, V, G, xt, Gt, H, F, Ut, B, piv, dx, rhs, hist, work, S, nrm, Sb, sn):
    """Refine state ``x`` (k, d) in place.

    Returns ``(status, residual_before, residual, steps, hessians)`` (hessians: evaluations).

    Residuals are row-max gradient norms (NaN where the gradient is undefined: a singular seed).
    ``fa`` is the system's :class:`~dynsys.systems.base.FieldArrays`, ``par`` its
    :class:`NewtonParams`.
    """
    k, d = x.shape
    n = k * d
    gtol = par.gtol
    chord_ratio2 = par.chord_ratio * par.chord_ratio
    max_steps = par.max_steps
    window = par.stall_window
    memory = par.nonmonotone
    nh = window + 1

    st = grad_at(system, x, fa, V, G, H, work)
    if st != 0:
        return st, math.nan, math.nan, 0, 0
    r0 = _row_max(G)
    gg = _sq(G)
    if not math.isfinite(gg):
        return NONFINITE, r0, r0, 0, 0
    hist[0] = math.sqrt(gg)
    steps = 0
    nhe = 0
    lm_scale = 1.0
    g = G.reshape(n)
    while True:
        r = _row_max(G)
        if r <= gtol:
            return CONVERGED, r0, r, steps, nhe
        if steps >= max_steps:
            return MAX_STEPS, r0, r, steps, nhe
        if steps >= window and math.sqrt(gg) > par.stall_factor * hist[(steps - window) % nh]:
            return STALLED, r0, r, steps, nhe
        st = hess_at(system, x, fa, V, H, Gt, S, nrm)
        nhe += 1
        if st != 0:
            return st, r0, r, steps, nhe
        hmax = maxabs(H, n)
        if not math.isfinite(hmax):
            return NONFINITE, r0, r, steps, nhe
        g_rel = math.sqrt(gg) / par.gscale
        kind = _newton_direction(H, F, Ut, piv, g, dx, rhs, n, hmax, g_rel, par)
        if kind > 0:
            # nonmonotone reference: the largest |g|^2 of this and the last ``memory`` iterates
            gref = gg
            for q in range(1, min(memory, steps) + 1):
                gref = max(gref, hist[(steps - q) % nh] ** 2)
            t, ggt = _line_search(system, x, dx, xt, Gt, gg, gref, fa, V, H, work, par.armijo, par.ls_max)
            if t > 0.0:
                # Broyden steps on the same factor (O(n^2) each, no Hessian) only after a full Newton
                # step that contracted |g| well: a sign of the quadratic basin. Further out a step
                # that merely lowers |g| can lead into a region where Newton crawls.
                fast = t == 1.0 and ggt <= par.broyden_gate * par.broyden_gate * gg
                _accept(x, xt, G, Gt)
                gg = ggt
                steps += 1
                hist[steps % nh] = math.sqrt(gg)
                nb = par.chord_max if fast else 0
                steps, gg = _broyden(system, x, xt, G, Gt, g, gg, dx, rhs, Sb, sn, kind, F, Ut, piv, n, fa, V,
                                     H, work, hist, steps, max_steps, gtol, chord_ratio2, nb)
                continue
        ok, mu_rel, ggt = _lm_step(system, x, xt, G, Gt, g, gg, g_rel, lm_scale, H, B, F, dx, rhs, n, fa, V,
                                   work, par)
        if not ok:
            return STALLED, r0, r, steps, nhe
        _accept(x, xt, G, Gt)
        gg = ggt
        steps += 1
        hist[steps % nh] = math.sqrt(gg)
        # next multiplier of |g|^2: a tenth of what worked (Marquardt's update)
        lm_scale = max(0.1 * mu_rel / (g_rel * g_rel), par.lm_scale_min)


@njit(nogil=True, **_JIT)
def newton_range(X0, lo, hi, system, fa, par, X, res0, res, steps, nhess, status, nwork):
    """Refine seeds ``lo:hi`` of ``X0`` (n, k, d) into ``X`` with status, residuals, step and Hessian
    counts.

    Releases the GIL: :func:`newton_batch` runs disjoint ranges on threads. Scratch is allocated once
    per range; each seed writes only its own outputs, so results do not depend on the split.
    """
    nseeds, k, d = X0.shape
    n = k * d
    m = max(k, d)
    V = np.empty((k, d))
    G = np.empty((k, d))
    xt = np.empty((k, d))
    Gt = np.empty((k, d))
    H = np.empty((n, n))
    F = np.empty((n, n))
    Ut = np.empty((n, n))
    B = np.empty((n, n))
    piv = np.empty(n, dtype=np.int64)
    dx = np.empty(n)
    rhs = np.empty(n)
    hist = np.empty(par.stall_window + 1)
    work = np.empty(nwork)
    S = np.empty((ts.HESS_SCRATCH_ROWS, m))
    nrm = np.empty(m)
    Sb = np.empty((par.chord_max + 1, n))
    sn = np.empty(par.chord_max + 1)
    for b in range(lo, hi):
        x = X[b]
        for j in range(k):
            for l in range(d):
                x[j, l] = X0[b, j, l]
        st, r0, r, ns, nhe = newton_one(system, x, fa, par, V, G, xt, Gt, H, F, Ut, B, piv, dx, rhs, hist,
                                        work, S, nrm, Sb, sn)
        status[b] = st
        res0[b] = r0
        res[b] = r
        steps[b] = ns
        nhess[b] = nhe


def newton_batch(X0, system, fa, par, X, res0, res, steps, nhess, status, nwork, n_threads):
    """Run :func:`newton_range` over blocks of seeds on ``n_threads`` threads.

    Threads rather than ``prange``: the compiled solver is large, and a ``parallel=True`` wrapper
    makes numba optimise all of it a second time (about 10 s more compilation on an empty cache);
    the nogil kernel runs at the same speed. Blocks are contiguous ranges, a few per thread.
    """
    n = X0.shape[0]
    args = (system, fa, par, X, res0, res, steps, nhess, status, nwork)
    if n_threads <= 1 or n < 2:
        newton_range(X0, 0, n, *args)
        return
    nb = max(1, min(n, 8 * n_threads))
    bounds = [(i * n // nb, (i + 1) * n // nb) for i in range(nb)]
    run_ranges(lambda lo, hi: newton_range(X0, lo, hi, *args), [b for b in bounds if b[1] > b[0]],
               n_threads)


@njit(**_JIT)
def grad_hess_one(system, X, fa, G, H, want_H, nwork):
    """Gradient (into ``G`` (k, d)) and, if ``want_H``, Hessian (into ``H`` (n, n)) of one state.

    For Python callers that need both at one point (deflated Newton, the SciPy baseline); returns the
    status.
    """
    k, d = X.shape
    m = max(k, d)
    V = np.empty((k, d))
    work = np.empty(nwork)
    st = grad_at(system, X, fa, V, G, H, work)
    if st == 0 and want_H:
        S = np.empty((ts.HESS_SCRATCH_ROWS, m))
        nrm = np.empty(m)
        Gs = np.empty((k, d))
        st = hess_at(system, X, fa, V, H, Gs, S, nrm)
    return st
