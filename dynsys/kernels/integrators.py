"""Batched CPU integrators of the teacher-student gradient flow: each trajectory runs to its own stop.

Two kernels, both ``@njit(parallel=True, nogil=True, cache=True)`` with one ``prange`` iteration per
trajectory (scratch allocated once per trajectory, never per step; the caller sets Numba's parallel
chunk size to 1 so that threads take trajectories one at a time, which balances trajectories of very
different lengths). They release the GIL so that :mod:`dynsys.flow` can run them on a worker thread
while the main thread reports progress and catches Ctrl-C:

``_fixed_batch``
    ``method`` 0 ``gd`` (the map ``W <- W - step grad L(W)``), 1 ``euler`` (the same map read as
    the flow's explicit Euler step), 2 ``rk4`` (classical Runge-Kutta on ``dW/dt = -grad L``).
    gd/euler use exactly one gradient evaluation per step (the gradient at the current state gives
    the stopping test and the step); rk4 four (its first stage is the stopping test).
``_dopri5_batch``
    Dormand-Prince 5(4) with FSAL (six new evaluations per accepted step; the last stage is the
    gradient at the new state and serves as the stopping test), a step size per trajectory, the
    standard step-size controller and Hairer's 4th-order continuous extension for dense output
    (Hairer, Norsett & Wanner, *Solving ODEs I*, II.4-II.6; coefficients of DOPRI5's ``contd5``).
    ``polish`` hands a trajectory to gd steps of length ``1 / B`` once its gradient is near the
    error-control floor, where ``B`` (:func:`hessian_bound`) bounds the Hessian's spectral norm.

Every kernel takes the model as one :class:`dynsys.systems.base.FieldArrays` ``fa`` (``U`` residual or
empty, teacher rows ``T``, norms ``tn``, ``a``, ``a_star``, ``alpha``, ``const``, ``tol``), scalars,
preallocated outputs and two int8 flag arrays, and writes for each trajectory ``b`` only ``W[b]``,
``loss[b]``, ``gnorm[b]``, ``steps[b]``, ``t[b]``, ``status[b]``, ``plateau[b]``, ``extra[b]``, its rows
of the save buffers and ``done[b]`` (set to 1 once the trajectory has stopped, for progress): results
do not depend on the thread count or on how the batch is chunked.

Progress: a running trajectory stores its step count in ``steps[b]`` every 1024 steps, so a watching
thread sees long trajectories advance.

Interrupt: ``stop`` (1,) is read at every visited state, after the stopping tests below; once a caller
sets ``stop[0] = 1`` each running or not yet started trajectory ends at its current state with status
6 (interrupted), its loss, gradient norm, steps, time, plateau time and saves as reached there (a
caller can continue from ``W``). A trajectory that met a stopping test first keeps that status. The
flag is one load per step beside a field evaluation, and never changes an uninterrupted result.

Label on entry: the per-trajectory functions ``_fixed_one`` and ``_dopri5_one`` take the certified
balls ``eb`` last; the batch kernels here pass ``None``, a branch Numba removes at compile time, so
they are the plain integrators. :mod:`dynsys.kernels.ode_entry` passes the balls: after the
stopping tests of an accepted state (never a stage or a rejected step) the state is tested against
them, and one inside stops with status 8 (entered) and the ball's centre as its state.

Stopping, per trajectory, checked at every visited state in this order: a bad evaluation (3 singular,
4 non-finite), gradient norm below ``gtol`` (0 converged), state norm above ``div_limit`` (2
diverged), ``t1`` reached (5), ``max_steps`` reached (1). The norm (``norm_code`` 0: largest row norm,
1: Frobenius) is used both for the gradient and the divergence test.

Plateau time: the time spent at states whose gradient norm is below ``pl_gtol``, counting an episode
only once the gradient norm rises back above ``pl_gtol`` (time near saddles; the final approach to a
minimum is never counted). O(1) state: the open episode and the total.

Save modes: 0 none; 1 every ``save_every``-th step (the initial and the final state always); 2 given
times: for fixed-step methods at precomputed step indices ``save_idx`` (the nearest step), for
dopri5 at ``save_times`` by the continuous extension (and, during polish, at the first gd step at or
after each time). Unused save slots stay as the caller initialised them (NaN).
"""

import math

from numba import njit, prange
import numpy as np

from ..systems import teacher_student as ts
from .entry_balls import _entered, _to_centre
from .network import rows

_JIT = dict(cache=True)

from .._codes import CONVERGED as _CONVERGED
from .._codes import DIVERGED as _DIVERGED
from .._codes import ENTERED as _ENTERED
from .._codes import GD, RK4
from .._codes import INTERRUPTED as _INTERRUPTED
from .._codes import MAX_STEPS as _MAX_STEPS
from .._codes import NONFINITE as _NONFINITE
from .._codes import T1_REACHED as _T1_REACHED

# Dormand-Prince 5(4) tableau (Dormand & Prince 1980; Hairer-Norsett-Wanner Table II.5.2).
# nodes c_i = 1/5, 3/10, 4/5, 8/9, 1, 1 are not needed: the field is autonomous
_A21 = 1.0 / 5.0
_A31, _A32 = 3.0 / 40.0, 9.0 / 40.0
_A41, _A42, _A43 = 44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0
_A51, _A52, _A53, _A54 = 19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0
_A61, _A62, _A63, _A64, _A65 = (9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0,
                                -5103.0 / 18656.0)
_A71, _A73, _A74, _A75, _A76 = (35.0 / 384.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0,
                                11.0 / 84.0)
# error estimate: 5th-order weights minus the embedded 4th-order ones
_E1, _E3, _E4, _E5, _E6, _E7 = (71.0 / 57600.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0,
                                22.0 / 525.0, -1.0 / 40.0)
# dense output (Hairer's contd5, 4th order)
_D1 = -12715105075.0 / 11282082432.0
_D3 = 87487479700.0 / 32700410799.0
_D4 = -10690763975.0 / 1880347072.0
_D5 = 701980252875.0 / 199316789632.0
_D6 = -1453857185.0 / 822651844.0
_D7 = 69997945.0 / 29380423.0

# the same as tables (row s: the combination of stages 0..s-1 that gives stage s; row 6 is the
# 5th-order solution), so that the stages share one call site of the field (compile time)
_DP_A = np.zeros((7, 7))
_DP_A[1, 0] = _A21
_DP_A[2, 0:2] = (_A31, _A32)
_DP_A[3, 0:3] = (_A41, _A42, _A43)
_DP_A[4, 0:4] = (_A51, _A52, _A53, _A54)
_DP_A[5, 0:5] = (_A61, _A62, _A63, _A64, _A65)
_DP_A[6, 0:6] = (_A71, 0.0, _A73, _A74, _A75, _A76)
_DP_E = np.array([_E1, 0.0, _E3, _E4, _E5, _E6, _E7])
_DP_D = np.array([_D1, 0.0, _D3, _D4, _D5, _D6, _D7])

#: Steps between progress stores of a running trajectory's step count (a power of two, minus one):
#: rare enough that threads writing neighbouring entries do not fight over the cache line.
_PROGRESS_MASK = 1023

# Step-size controller: h_new = h * clip(safety * err^(-1/5), 1/5, 10), no growth right after a
# rejection (SciPy's RK45 controller: the same accepted steps as solve_ivp; Hairer's PI variant,
# beta = 0.04, took 5% more steps on the teacher-student flow and rejected no fewer).
_SAFE = 0.9
_EXPO = 0.2
_FAC_MIN = 0.2
_FAC_MAX = 10.0


@njit(**_JIT)
def _norm(X, code):
    """Largest row norm (code 0) or Frobenius norm (code 1) of X (k, d)."""
    if code == 1:
        acc = 0.0
        for j in range(X.shape[0]):
            for l in range(X.shape[1]):
                acc += X[j, l] * X[j, l]
        return math.sqrt(acc)
    best = 0.0
    for j in range(X.shape[0]):
        acc = 0.0
        for l in range(X.shape[1]):
            acc += X[j, l] * X[j, l]
        r = math.sqrt(acc)
        # written so that a NaN row makes the result NaN
        if not r <= best:
            best = r
    return best


@njit(**_JIT)
def _norm2(X, U, code):
    """Square of :func:`_norm` of ``X + U`` (of X when U is empty): no square roots in the hot loop."""
    acc = 0.0
    best = 0.0
    for j in range(X.shape[0]):
        r = 0.0
        if U.shape[0] == 0:
            for l in range(X.shape[1]):
                r += X[j, l] * X[j, l]
        else:
            for l in range(X.shape[1]):
                x = X[j, l] + U[j, l]
                r += x * x
        acc += r
        if not r <= best:
            best = r
    return acc if code == 1 else best


@njit(**_JIT)
def _gd_update(X, G, h, U, code):
    """``X -= h G``; returns :func:`_norm2` of the new ``X + U`` (the divergence test's square)."""
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            X[j, l] -= h * G[j, l]
    return _norm2(X, U, code)


@njit(**_JIT)
def _eval(X, U, V, T, tn, a, a_star, alpha, const, tol, G, work):
    return ts.loss_grad(rows(X, U, V), T, tn, a, a_star, alpha, const, tol, True, G, work)


@njit(**_JIT)
def hessian_bound(V, T, tn, a, a_star, alpha, nrm):
    """Upper bound ``B >= ||H(V)||_2`` of the Hessian's spectral norm at network rows V (k, d).

    Block norms of docs/math.md section 2: ``||h1(w, v)|| = 2 s |v| / (2 pi |w|) <= |v| / (pi |w|)``,
    ``||P I + (1-alpha)^2 R|| <= (1+alpha^2) pi + (1-alpha)^2`` (``R`` has eigenvalues ``+-s``), and
    for a symmetric block matrix ``||H|| <= max_j sum_i ||H_ji||``::

        B_j = a_j^2 (1+alpha^2)/2 + (1-alpha)^2 |a_j| (sum_{i!=j} |a_i||v_i| + sum_k |a*_k||t_k|) / (pi |v_j|)
              + |a_j| sum_{i!=j} |a_i| ((1+alpha^2) pi + (1-alpha)^2) / (2 pi)

    ``nrm`` is scratch of length >= k. Returns inf for a state with a zero row.
    """
    k = V.shape[0]
    opa = 1.0 + alpha * alpha
    om2 = (1.0 - alpha) * (1.0 - alpha)
    for j in range(k):
        acc = 0.0
        for l in range(V.shape[1]):
            acc += V[j, l] * V[j, l]
        nrm[j] = math.sqrt(acc)
    teach = 0.0
    for q in range(T.shape[0]):
        teach += abs(a_star[q]) * tn[q]
    off = (opa * math.pi + om2) / (2.0 * math.pi)
    best = 0.0
    for j in range(k):
        sa = 0.0
        sv = 0.0
        for i in range(k):
            if i != j:
                sa += abs(a[i])
                sv += abs(a[i]) * nrm[i]
        bj = 0.5 * a[j] * a[j] * opa + abs(a[j]) * sa * off
        if om2 != 0.0:
            if nrm[j] == 0.0:
                return math.inf
            bj += om2 * abs(a[j]) * (sv + teach) / (math.pi * nrm[j])
        if bj > best:
            best = bj
    return best


@njit(**_JIT)
def _plateau(low, h, ep, plat):
    """Plateau bookkeeping for a step of length ``h`` from a state whose gradient is ``low`` (below
    ``pl_gtol``) or not: the open episode ``ep`` grows, or, once the gradient has risen, is added to
    the total ``plat``. Returns the new ``(ep, plat)``."""
    if low:
        return ep + h, plat
    if ep > 0.0:
        return 0.0, plat + ep
    return ep, plat


@njit(**_JIT)
def _record(Ws, ts_out, b, slot, X, t):
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            Ws[b, slot, j, l] = X[j, l]
    ts_out[b, slot] = t


@njit(**_JIT)
def _fixed_one(b, method, W0, fa, step, n1, t1, gtol, norm_code, max_steps, div_limit, pl_gtol,
               save_mode, save_every, save_idx, W, loss, gnorm, steps, t, status, plateau, ts_out, Ws,
               nwork, stop, eb):
    U, T, tn, a, a_star, alpha, const, tol = fa
    k, d = W0.shape[1], W0.shape[2]
    X = W[b]
    X[:, :] = W0[b]
    V = np.empty((k, d))
    Y = np.empty((k, d))
    # K[0] the gradient at X (stopping test and gd/euler step); K[1:4] rk4's later stages
    K = np.empty((4 if method == RK4 else 1, k, d))
    G = K[0]
    work = np.empty(nwork)
    ns = Ws.shape[1]
    slot = 0        # next save slot (mode 1) / next save time (mode 2)
    last_rec = -1   # step of the last record (mode 1)
    n = 0
    t_n = 0.0
    ep = 0.0        # open low-gradient episode
    plat = 0.0
    st = _CONVERGED
    L = math.nan
    h = step
    s_ = 0          # 0: evaluate at the new state X; 1..3: rk4 stage s_ at Y
    # squared norms: the tests compare squares, so the hot loop takes no square roots
    gtol2 = gtol * gtol
    pl2 = pl_gtol * pl_gtol
    div2 = div_limit * div_limit
    xn2 = _norm2(X, U, norm_code)  # squared norm of the network rows X + U
    g2 = math.nan
    if eb is not None:  # label on entry (compiled only for the entry kernels: eb None is pruned)
        near = np.empty(k, dtype=np.int64)
        used = np.empty(T.shape[0], dtype=np.bool_)
        next_test = 0
    while True:
        # the only call of the field in this kernel: each call site costs seconds of compile time
        Ls, st_s = _eval(X if s_ == 0 else Y, U, V, T, tn, a, a_star, alpha, const, tol, K[s_], work)
        if s_ > 0:
            if st_s != 0:
                # the rk4 step cannot be taken: report the last good state (X, L, g stay valid)
                st = st_s
                break
            if s_ < 3:
                c = h if s_ == 2 else 0.5 * h
                for j in range(k):
                    for l in range(d):
                        Y[j, l] = X[j, l] - c * K[s_, j, l]
                s_ += 1
                continue
            h6 = h / 6.0
            for j in range(k):
                for l in range(d):
                    X[j, l] -= h6 * (K[0, j, l] + 2.0 * (K[1, j, l] + K[2, j, l]) + K[3, j, l])
            xn2 = _norm2(X, U, norm_code)
            n += 1
            t_n = t1 if n == n1 else n * step
            s_ = 0
            continue
        L = Ls
        st = st_s
        if st != 0:
            L = math.nan
            g2 = math.nan
        else:
            g2 = _norm2(G, U[:0], norm_code)
        if save_mode == 1:
            if n % save_every == 0 and slot < ns:
                _record(Ws, ts_out, b, slot, X, t_n)
                slot += 1
                last_rec = n
        elif save_mode == 2:
            while slot < save_idx.shape[0] and save_idx[slot] == n:
                _record(Ws, ts_out, b, slot, X, t_n)
                slot += 1
        if st != 0:
            break
        if g2 < gtol2 or g2 == 0.0:  # (gtol^2 underflows to 0 for gtol below 1e-162)
            break
        if not g2 == g2:  # a NaN gradient from finite-looking rows: treat as non-finite
            st = _NONFINITE
            break
        if xn2 > div2:
            st = _DIVERGED
            break
        if n >= n1:
            st = _T1_REACHED
            break
        if n >= max_steps:
            st = _MAX_STEPS
            break
        if stop[0] != 0:
            st = _INTERRUPTED
            break
        if n & _PROGRESS_MASK == 0:
            steps[b] = n  # progress for a watching thread; the final count is written at the end
        if eb is not None:
            if n >= next_test and g2 <= eb.g2max:
                next_test = n + eb.every
                hit = _entered(X, rows(X, U, V), T, eb, near, used)
                if hit != -1:
                    # the state becomes the minimum the run provably converges to
                    _to_centre(X, hit, near, T, U, eb.C)
                    st = _ENTERED
                    break
        h = step
        if method != GD and n + 1 == n1:
            h = t1 - n * step  # euler/rk4 land on t1 exactly
        ep, plat = _plateau(g2 < pl2, h, ep, plat)
        if method == RK4:
            for j in range(k):
                for l in range(d):
                    Y[j, l] = X[j, l] - 0.5 * h * G[j, l]
            s_ = 1
            continue
        xn2 = _gd_update(X, G, h, U, norm_code)
        n += 1
        t_n = t1 if (method != GD and n == n1) else n * step
    if save_mode == 1 and last_rec != n and slot < ns:
        _record(Ws, ts_out, b, slot, X, t_n)
    loss[b] = L
    # the reported norm is computed once, without squaring (no overflow for huge gradients)
    gnorm[b] = _norm(G, norm_code) if (g2 == g2 and L == L) else math.nan
    steps[b] = n
    t[b] = t_n
    status[b] = st
    plateau[b] = plat


@njit(parallel=True, nogil=True, **_JIT)
def _fixed_batch(method, W0, fa, step, n1, t1, gtol, norm_code, max_steps, div_limit, pl_gtol,
                 save_mode, save_every, save_idx, W, loss, gnorm, steps, t, status, plateau, ts_out,
                 Ws, nwork, stop, done):
    """gd / euler / rk4 for a batch ``W0`` (n, k, d); see the module docstring for the arguments.

    ``n1``: the step count at which ``t1`` is reached (a huge number without ``t1``); euler and rk4
    shorten their last step to land on ``t1``, gd (a map) takes whole steps only. Outputs: ``W``
    (n, k, d), ``loss``, ``gnorm``, ``t``, ``plateau`` (n,) float64, ``steps`` (n,) int64, ``status``
    (n,) int8, save buffers ``ts_out`` (n, ns), ``Ws`` (n, ns, k, d); ``nwork`` the length of
    :func:`dynsys.systems.teacher_student.loss_grad`'s scratch (``work_size(k, k*, d)``).
    """
    for b in prange(W0.shape[0]):
        _fixed_one(b, method, W0, fa, step, n1, t1, gtol, norm_code, max_steps, div_limit, pl_gtol,
                   save_mode, save_every, save_idx, W, loss, gnorm, steps, t, status, plateau, ts_out,
                   Ws, nwork, stop, None)
        done[b] = 1


@njit(**_JIT)
def _dense(Ws, ts_out, b, slot, X, Y, h, th, K, tt):
    """Hairer's 4th-order continuous extension of the accepted step X -> Y at ``t + th h``."""
    th1 = 1.0 - th
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            r2 = Y[j, l] - X[j, l]
            r3 = -h * K[0, j, l] - r2
            r4 = r2 + h * K[6, j, l] - r3
            acc = 0.0
            for s_ in range(7):
                acc += _DP_D[s_] * K[s_, j, l]
            r5 = -h * acc
            Ws[b, slot, j, l] = X[j, l] + th * (r2 + th1 * (r3 + th * (r4 + th1 * r5)))
    ts_out[b, slot] = tt


@njit(**_JIT)
def _combo(Y, X, h, K, s_):
    """Stage ``s_`` point ``Y = X + h sum_q a_{s_ q} f_q`` with ``f_q = -K[q]`` (-grad L).

    One pass per stage gradient (inner loop over coordinates, which the compiler vectorises).
    """
    Y[:, :] = X
    for q in range(s_):
        c = h * _DP_A[s_, q]
        if c == 0.0:
            continue
        for j in range(X.shape[0]):
            for l in range(X.shape[1]):
                Y[j, l] -= c * K[q, j, l]


@njit(**_JIT)
def _error_norm(X, Y, h, K, E, rtol, atol):
    """Hairer's RMS error of the embedded 4th-order solution, scaled by ``atol + rtol max(|X|, |Y|)``."""
    E[:, :] = 0.0
    for q in range(7):
        c = h * _DP_E[q]
        if c == 0.0:
            continue
        for j in range(X.shape[0]):
            for l in range(X.shape[1]):
                E[j, l] += c * K[q, j, l]
    acc = 0.0
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            e = E[j, l] / (atol + rtol * max(abs(X[j, l]), abs(Y[j, l])))
            acc += e * e
    return math.sqrt(acc / (X.shape[0] * X.shape[1]))


@njit(**_JIT)
def _dopri5_one(b, W0, fa, step, t1, gtol, norm_code, max_steps, div_limit, pl_gtol, rtol, atol,
                adaptive, polish, floor_factor, save_mode, save_every, save_times, W, loss, gnorm,
                steps, t, status, plateau, extra, ts_out, Ws, nwork, stop, eb):
    U, T, tn, a, a_star, alpha, const, tol = fa
    k, d = W0.shape[1], W0.shape[2]
    X = W[b]
    X[:, :] = W0[b]
    V = np.empty((k, d))
    Y = np.empty((k, d))
    K = np.empty((7, k, d))  # stage gradients; K[0] at X, K[6] at the new state (FSAL)
    E = np.empty((k, d))
    nrm = np.empty(k)
    work = np.empty(nwork)
    ns = Ws.shape[1]
    slot = 0
    last_rec = -1
    n = 0            # accepted steps (dopri5 and polish)
    n_rej = 0
    n_pol = 0
    tt = 0.0
    ep = 0.0
    plat = 0.0
    h = step
    last_rejected = False
    clipped = False
    polishing = False
    h_pol = 0.0
    L = math.nan
    g = math.nan
    st = _CONVERGED
    s_ = 0  # 0: evaluate at X (the start, or after a polish step); 1..6: dopri5 stage s_ at Y
    if eb is not None:  # label on entry (compiled only for the entry kernel: eb None is pruned)
        near = np.empty(k, dtype=np.int64)
        used = np.empty(T.shape[0], dtype=np.bool_)
        next_test = 0
    while True:
        # the only call of the field in this kernel: each call site costs seconds of compile time
        Ls, st_s = _eval(X if s_ == 0 else Y, U, V, T, tn, a, a_star, alpha, const, tol, K[s_], work)
        if s_ == 0:
            L = Ls
            st = st_s
            g = _norm(K[0], norm_code) if st == 0 else math.nan
            if save_mode == 2:
                while slot < save_times.shape[0] and save_times[slot] <= tt:
                    _record(Ws, ts_out, b, slot, X, tt)
                    slot += 1
        else:
            if st_s == 0 and s_ < 6:
                s_ += 1
                _combo(Y, X, h, K, s_)
                continue
            err = math.inf
            if st_s == 0:
                err = _error_norm(X, Y, h, K, E, rtol, atol) if adaptive else 0.0
            if not err <= 1.0:
                # rejected (error too large, or a stage left the field's domain)
                n_rej += 1
                if err < math.inf:
                    h = h * max(_FAC_MIN, _SAFE * err ** -_EXPO)
                else:
                    h = h * _FAC_MIN
                last_rejected = True
                if not (h > 1e-14 * max(1.0, tt)):
                    # the step size underflowed: report the last good state (X, L, g)
                    st = st_s if st_s != 0 else _NONFINITE
                    break
                clipped = tt + h >= t1
                if clipped:
                    h = t1 - tt
                s_ = 1
                _combo(Y, X, h, K, 1)
                continue
            # accepted step X -> Y over [tt, tt + h]
            ep, plat = _plateau(g < pl_gtol, h, ep, plat)
            t_new = t1 if clipped else tt + h
            if save_mode == 2:
                while slot < save_times.shape[0] and save_times[slot] <= t_new:
                    _dense(Ws, ts_out, b, slot, X, Y, h, (save_times[slot] - tt) / h, K,
                           save_times[slot])
                    slot += 1
            for j in range(k):
                for l in range(d):
                    X[j, l] = Y[j, l]
                    K[0, j, l] = K[6, j, l]
            tt = t_new
            n += 1
            L = Ls
            st = 0
            g = _norm(K[0], norm_code)
            if adaptive:
                fac = _FAC_MAX if err == 0.0 else min(_FAC_MAX, max(_FAC_MIN, _SAFE * err ** -_EXPO))
                if last_rejected and fac > 1.0:
                    fac = 1.0
                h = h * fac
            last_rejected = False
        # a new state X with loss L, gradient K[0], norm g, status st
        if save_mode == 1 and n % save_every == 0 and last_rec != n and slot < ns:
            _record(Ws, ts_out, b, slot, X, tt)
            slot += 1
            last_rec = n
        if st != 0:
            L = math.nan
            g = math.nan
            break
        if g < gtol:
            break
        if not g == g:
            st = _NONFINITE
            break
        if _norm(rows(X, U, V), norm_code) > div_limit:
            st = _DIVERGED
            break
        if tt >= t1:
            st = _T1_REACHED
            break
        if n >= max_steps:
            st = _MAX_STEPS
            break
        if stop[0] != 0:
            st = _INTERRUPTED
            break
        if n & _PROGRESS_MASK == 0:
            steps[b] = n  # progress for a watching thread; the final count is written at the end
        if eb is not None:
            # at accepted states only (a rejected step never gets here)
            if n >= next_test and g * g <= eb.g2max:
                next_test = n + eb.every
                hit = _entered(X, rows(X, U, V), T, eb, near, used)
                if hit != -1:
                    _to_centre(X, hit, near, T, U, eb.C)
                    st = _ENTERED
                    break
        if polish and not polishing:
            B = hessian_bound(rows(X, U, V), T, tn, a, a_star, alpha, nrm)
            scale = 0.0
            for j in range(k):
                for l in range(d):
                    if abs(X[j, l]) > scale:
                        scale = abs(X[j, l])
            if g < floor_factor * B * (rtol * scale + atol):
                polishing = True
                h_pol = 1.0 / B
        if polishing:
            hp = min(h_pol, t1 - tt)
            ep, plat = _plateau(g < pl_gtol, hp, ep, plat)
            for j in range(k):
                for l in range(d):
                    X[j, l] -= hp * K[0, j, l]
            tt = t1 if hp < h_pol else tt + hp
            n += 1
            n_pol += 1
            s_ = 0
            continue
        clipped = tt + h >= t1
        if clipped:
            h = t1 - tt
        s_ = 1
        _combo(Y, X, h, K, 1)
    if save_mode == 1 and last_rec != n and slot < ns:
        _record(Ws, ts_out, b, slot, X, tt)
    loss[b] = L
    gnorm[b] = g
    steps[b] = n
    t[b] = tt
    status[b] = st
    plateau[b] = plat
    extra[b, 0] = n_rej
    extra[b, 1] = n_pol


@njit(parallel=True, nogil=True, **_JIT)
def _dopri5_batch(W0, fa, step, t1, gtol, norm_code, max_steps, div_limit, pl_gtol, rtol, atol,
                  adaptive, polish, floor_factor, save_mode, save_every, save_times, W, loss, gnorm,
                  steps, t, status, plateau, extra, ts_out, Ws, nwork, stop, done):
    """Adaptive Dormand-Prince 5(4) for a batch ``W0`` (n, k, d); see the module docstring.

    ``step`` is each trajectory's initial dt; ``adaptive=False`` accepts every step at the fixed
    ``step`` (used to measure the method's order). ``polish`` switches a trajectory to gd steps of
    length ``1 / B`` once its gradient norm is below ``floor_factor * B * (rtol max|W| + atol)``.
    ``extra`` (n, 2) int64 receives the rejected step count and the polish step count; ``steps``
    counts accepted dopri5 steps plus polish steps.
    """
    for b in prange(W0.shape[0]):
        _dopri5_one(b, W0, fa, step, t1, gtol, norm_code, max_steps, div_limit, pl_gtol, rtol, atol,
                    adaptive, polish, floor_factor, save_mode, save_every, save_times, W, loss, gnorm,
                    steps, t, status, plateau, extra, ts_out, Ws, nwork, stop, None)
        done[b] = 1

