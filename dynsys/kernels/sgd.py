"""Finite-sample SGD kernel: a batch of independent runs, each run serial, runs spread over threads.

Run r draws everything from its own counter-based stream ``(seed, run_ids[r])`` (:mod:`.rng`):

- its training set: sample i is ``normal_row(seed, stream, i, TAG_DATA)``;
- the shuffle of epoch e: Fisher-Yates from the identity, position i swapped with
  ``randbelow(seed, stream, e, TAG_SHUFFLE << 32 | i, i + 1)``;
- fresh inputs (``fresh``): the b-th input of step s is ``normal_row(seed, stream, s B + b, TAG_FRESH)``;

so a run's trajectory depends only on (seed, run id, arguments), never on the thread count or on how
runs are grouped into calls. The step on the batch mean of the half squared error is

    W <- W - step (1/|batch|) sum_i -(g*(x_i) - g(x_i; W + U)) a_j sigma'((w_j + u_j) . x_i) x_i

(``sigma'(0) = alpha``), then an optional projection of W onto a norm ball.
"""

import math

import numpy as np
from numba import njit

from .._codes import INTERRUPTED
from ..systems import teacher_student as ts
from . import rng
from .network import forward, output, rows

_JIT = dict(cache=True)

PROJECT_NONE = 0
PROJECT_ROW = 1
PROJECT_FRO = 2

OK = 0
DIVERGED = 2
NONFINITE = 4


@njit(**_JIT)
def fill_dataset(seed, stream, X):
    """Run ``stream``'s training set into ``X`` (n, d)."""
    for i in range(X.shape[0]):
        rng.normal_row(seed, stream, np.uint64(i), rng.TAG_DATA, X[i])


@njit(**_JIT)
def assignment_cost(C, u, v, p, way, minv, used):
    """Minimum of ``sum_j C[j, pi(j)]`` over permutations pi of a square cost matrix (Hungarian method,
    potentials form, O(n^3)). Scratch: ``u, v, minv`` float (n+1), ``p, way`` int (n+1), ``used`` bool
    (n+1). Returns NaN if C holds a non-finite entry."""
    n = C.shape[0]
    for i in range(n):
        for j in range(n):
            if not math.isfinite(C[i, j]):
                return np.nan
    for j in range(n + 1):
        u[j] = 0.0
        v[j] = 0.0
        p[j] = 0
        way[j] = 0
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        for j in range(n + 1):
            minv[j] = np.inf
            used[j] = False
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = np.inf
            j1 = 0
            for j in range(1, n + 1):
                if not used[j]:
                    cur = C[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    cost = 0.0
    for j in range(1, n + 1):
        cost += C[p[j] - 1, j - 1]
    return cost


@njit(inline="always", **_JIT)
def _project(Wr, kind, radius):
    k, d = Wr.shape
    if kind == PROJECT_ROW:
        for j in range(k):
            s = 0.0
            for l in range(d):
                s += Wr[j, l] * Wr[j, l]
            nj = math.sqrt(s)
            if nj > radius:
                f = radius / nj
                for l in range(d):
                    Wr[j, l] *= f
    elif kind == PROJECT_FRO:
        s = 0.0
        for j in range(k):
            for l in range(d):
                s += Wr[j, l] * Wr[j, l]
        nf = math.sqrt(s)
        if nf > radius:
            f = radius / nf
            for j in range(k):
                for l in range(d):
                    Wr[j, l] *= f


@njit(**_JIT)
def _pop_loss(V, T, tn, a, a_star, alpha, const, tol, Vs, As, Gd, work):
    """Population loss at network rows V, also at a singular state: a row at or below ``tol`` adds
    nothing to the loss (``kappa(0, v) = 0``), so it is replaced by a unit row with top weight 0."""
    k, d = V.shape
    for j in range(k):
        s = 0.0
        for l in range(d):
            s += V[j, l] * V[j, l]
        if alpha != 1.0 and math.sqrt(s) <= tol:
            Vs[j, :] = 0.0
            Vs[j, 0] = 1.0
            As[j] = 0.0
        else:
            Vs[j, :] = V[j]
            As[j] = a[j]
    loss, status = ts.loss_grad(Vs, T, tn, As, a_star, alpha, const, tol, False, Gd, work)
    return loss if status == OK else np.nan


@njit(**_JIT)
def _accumulate(V, a, alpha, x, y, G, s):
    """``G += -(y - g(x; V)) a_j sigma'(v_j . x) x`` for one input (``s`` scratch (k,))."""
    k, d = V.shape
    e = y - forward(V, a, alpha, x, s)
    for j in range(k):
        c = -e * s[j]
        for l in range(d):
            G[j, l] += c * x[l]


@njit(**_JIT)
def _shuffle(perm, seed, stream, epoch):
    """Epoch ``epoch``'s order: Fisher-Yates from the identity, swaps from the counter stream."""
    n = perm.shape[0]
    for i in range(n):
        perm[i] = i
    for i in range(n - 1, 0, -1):
        m = rng.randbelow(seed, stream, np.uint64(epoch), rng.counter1(rng.TAG_SHUFFLE, i), i + 1)
        t = perm[i]
        perm[i] = perm[m]
        perm[m] = t


@njit(**_JIT)
def _half_mse(V, a, alpha, X, y):
    acc = 0.0
    for i in range(X.shape[0]):
        e = y[i] - output(V, a, alpha, X[i])
        acc += e * e
    return 0.5 * acc / X.shape[0]


@njit(**_JIT)
def _distances(Wr, V, W_star, T, a, a_star, C, hu, hv, hp, hway, hmin, hused):
    """(matched distance, raw distance) of the docstring of :func:`dynsys.sgd` (k == k_star)."""
    k, d = Wr.shape
    raw = 0.0
    for j in range(k):
        for l in range(d):
            e = Wr[j, l] - W_star[j, l]
            raw += e * e
        for q in range(k):
            c2 = 0.0
            for l in range(d):
                e = a[j] * V[j, l] - a_star[q] * T[q, l]
                c2 += e * e
            C[j, q] = c2
    cost = assignment_cost(C, hu, hv, hp, hway, hmin, hused)
    return math.sqrt(max(cost, 0.0)), math.sqrt(raw)


@njit(**_JIT)
def _update(Wr, G, f, U, proj_kind, proj_r, lim):
    """``W -= f G`` then the projection; returns (status, whether the step was applied)."""
    k, d = Wr.shape
    for j in range(k):
        for l in range(d):
            if not math.isfinite(G[j, l]):
                return NONFINITE, False
    for j in range(k):
        for l in range(d):
            Wr[j, l] -= f * G[j, l]
    if proj_kind != PROJECT_NONE:
        _project(Wr, proj_kind, proj_r)
    nrm2 = 0.0
    for j in range(k):
        for l in range(d):
            vv = Wr[j, l] + (U[j, l] if U.shape[0] != 0 else 0.0)
            nrm2 += vv * vv
    if not math.isfinite(nrm2):
        return NONFINITE, True
    if math.sqrt(nrm2) > lim:
        return DIVERGED, True
    return OK, True


@njit(nogil=True, **_JIT)
def sgd_block(lo, hi, W, run_ids, seed, A, W_star, n_samples, batch_size, step, n_steps, spe, fresh,
              proj_kind, proj_r, rec_steps, div_lim, work_len, train_loss, pop_loss, dist, dist_raw,
              steps_done, status, stop):
    """Runs ``lo .. hi - 1`` of the batch ``W`` (runs, k, d), updated in place, for the model ``A``
    (:class:`~dynsys.systems.base.FieldArrays`; ``W_star`` its teacher weights); fills their records
    (``train_loss`` etc., (runs, n_rec)), ``steps_done`` and ``status`` rows.

    ``spe`` steps per epoch (the last batch of an epoch may be short when ``batch_size`` does not
    divide ``n_samples``); ``rec_steps`` (n_rec,) sorted step counts to record at (0 = before the
    first step); ``div_lim`` (runs,) divergence limits on ``|W + U|_F``. Releases the GIL: disjoint
    ranges of runs may run on different threads (:func:`dynsys.kernels.montecarlo.threaded`).
    ``stop`` (1,): once set non-zero (Ctrl-C), every run ends at its current step as INTERRUPTED.
    """
    U, T, tn, a, a_star, alpha, const, tol = A
    for r in range(lo, hi):
        steps_done[r], status[r] = _run(W[r], run_ids[r], seed, U, T, tn, a, a_star, alpha, const, tol,
                                        W_star, n_samples, batch_size, step, n_steps, spe, fresh,
                                        proj_kind, proj_r, rec_steps, div_lim[r], work_len,
                                        train_loss[r], pop_loss[r], dist[r], dist_raw[r], stop)


@njit(inline="always", **_JIT)
def _run(Wr, stream, seed, U, T, tn, a, a_star, alpha, const, tol, W_star, n_samples, batch_size,
         step, n_steps, spe, fresh, proj_kind, proj_r, rec_steps, lim, work_len,
         train_loss, pop_loss, dist, dist_raw, stop):
    """One run; returns (steps done, status)."""
    k, d = Wr.shape
    n_rec = rec_steps.shape[0]
    matched = T.shape[0] == k
    X = np.empty((n_samples, d))
    y = np.empty(n_samples)
    perm = np.empty(n_samples, dtype=np.int64)
    Vb = np.empty((k, d))
    G = np.empty((k, d))
    s = np.empty(k)
    x = np.empty(d)
    Vs = np.empty((k, d))
    As = np.empty(k)
    Gd = np.empty((k, d))
    work = np.empty(work_len)
    C = np.empty((k, k))
    hu = np.empty(k + 1)
    hv = np.empty(k + 1)
    hmin = np.empty(k + 1)
    hp = np.empty(k + 1, dtype=np.int64)
    hway = np.empty(k + 1, dtype=np.int64)
    hused = np.empty(k + 1, dtype=np.bool_)
    fill_dataset(seed, stream, X)
    for i in range(n_samples):
        y[i] = output(T, a_star, alpha, X[i])
    train_loss[:] = np.nan
    pop_loss[:] = np.nan
    dist[:] = np.nan
    dist_raw[:] = np.nan
    st = OK
    done = 0
    ri = 0
    while True:
        if ri < n_rec and rec_steps[ri] == done:
            V = rows(Wr, U, Vb)
            train_loss[ri] = _half_mse(V, a, alpha, X, y)
            pop_loss[ri] = _pop_loss(V, T, tn, a, a_star, alpha, const, tol, Vs, As, Gd, work)
            if matched:
                dist[ri], dist_raw[ri] = _distances(Wr, V, W_star, T, a, a_star, C, hu, hv, hp, hway,
                                                    hmin, hused)
            ri += 1
        if done == n_steps:
            break
        if stop[0]:
            st = INTERRUPTED
            break
        ep = done // spe
        pos = done - ep * spe
        V = rows(Wr, U, Vb)
        G[:, :] = 0.0
        if fresh:
            nb = batch_size
            c0 = np.uint64(done) * np.uint64(batch_size)
            for b in range(batch_size):
                rng.normal_row(seed, stream, c0 + np.uint64(b), rng.TAG_FRESH, x)
                _accumulate(V, a, alpha, x, output(T, a_star, alpha, x), G, s)
        else:
            if pos == 0:
                _shuffle(perm, seed, stream, ep)
            lo = pos * batch_size
            hi = min(lo + batch_size, n_samples)
            nb = hi - lo
            for t in range(lo, hi):
                _accumulate(V, a, alpha, X[perm[t]], y[perm[t]], G, s)
        st, applied = _update(Wr, G, step / nb, U, proj_kind, proj_r, lim)
        if applied:
            done += 1
        if st != OK:
            break
    return done, st
