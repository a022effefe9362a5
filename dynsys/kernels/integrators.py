"""Batched CPU integrators of the teacher-student gradient flow: each trajectory runs to its own stop.

Two kernels, both ``@njit(parallel=True, cache=True)`` with one ``prange`` iteration per trajectory
(scratch allocated once per trajectory, never per step; the caller sets Numba's parallel chunk size to
1 so that threads take trajectories one at a time, which balances trajectories of very different
lengths):

``_fixed_batch``
    ``method`` 0 ``gd`` (the map ``W <- W - step grad L(W)``), 1 ``euler`` (the same map read as
    the flow's explicit Euler step), 2 ``rk4`` (classical Runge-Kutta on ``dW/dt = -grad L``).
    gd/euler use exactly one gradient evaluation per step (the gradient at the current state gives
    the stopping test and the step); rk4 four (its first stage is the stopping test).
``_dopri5_batch``
    Dormand-Prince 5(4) with FSAL (six new evaluations per accepted step; the last stage is the
    gradient at the new state and serves as the stopping test), a step size per trajectory, Hairer's
    PI step-size controller and his 4th-order continuous extension for dense output (Hairer, Norsett
    & Wanner, *Solving ODEs I*, II.5 and II.6; coefficients of DOPRI5's ``contd5``). ``polish`` hands
    a trajectory to gd steps of length ``1 / B`` once its gradient is near the error-control floor,
    where ``B`` (:func:`hessian_bound`) bounds the Hessian's spectral norm.

Every kernel takes the model's plain arrays (``U`` residual or empty, teacher rows ``T``, norms
``tn``, ``a``, ``a_star``, ``alpha``, ``const``, ``tol``; see :class:`dynsys.model.FieldArrays`),
scalars, and preallocated outputs, and writes for each trajectory ``b`` only ``W[b]``, ``loss[b]``,
``gnorm[b]``, ``steps[b]``, ``t[b]``, ``status[b]``, ``plateau[b]``, ``extra[b]`` and its rows of the
save buffers: results do not depend on the thread count or on how the batch is chunked.

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

import numba
from numba import njit, prange
import numpy as np

from ..systems import teacher_student as ts

_JIT = dict(cache=True)

# status codes (dynsys.results.Status)
_CONVERGED = 0
_MAX_STEPS = 1
_DIVERGED = 2
_SINGULAR = 3
_NONFINITE = 4
_T1_REACHED = 5

GD = 0
EULER = 1
RK4 = 2

# Dormand-Prince 5(4) tableau (Dormand & Prince 1980; Hairer-Norsett-Wanner Table II.5.2).
_C2, _C3, _C4, _C5 = 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0
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

# Hairer's DOPRI5 controller constants: safety, PI exponent beta, step ratio bounds.
_SAFE = 0.9
_BETA = 0.04
_EXPO1 = 0.2 - _BETA * 0.75
_FAC_MIN = 0.2
_FAC_MAX = 10.0


@njit(inline="always", **_JIT)
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


@njit(inline="always", **_JIT)
def _net(X, U, V):
    """Network rows ``X + U`` (into V) or X itself when there is no residual."""
    if U.shape[0] == 0:
        return X
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            V[j, l] = X[j, l] + U[j, l]
    return V


@njit(inline="always", **_JIT)
def _eval(X, U, V, T, tn, a, a_star, alpha, const, tol, G, nrm, sc):
    return ts.loss_grad(_net(X, U, V), T, tn, a, a_star, alpha, const, tol, True, G, nrm, sc)


@njit(**_JIT)
def hessian_bound(V, T, tn, a, a_star, alpha, nrm):
    """Upper bound ``B >= ||H(V)||_2`` of the Hessian's spectral norm at network rows V (k, d).

    Block norms of MATH.md section 2: ``||h1(w, v)|| = 2 s |v| / (2 pi |w|) <= |v| / (pi |w|)``,
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


@njit(inline="always", **_JIT)
def _record(Ws, ts_out, b, slot, X, t):
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            Ws[b, slot, j, l] = X[j, l]
    ts_out[b, slot] = t


@njit(**_JIT)
def _fixed_one(b, method, W0, U, T, tn, a, a_star, alpha, const, tol, step, n1, t1, gtol,
               norm_code, max_steps, div_limit, pl_gtol, save_mode, save_every, save_idx,
               W, loss, gnorm, steps, t, status, plateau, ts_out, Ws):
    k, d = W0.shape[1], W0.shape[2]
    m = max(k, d)
    X = W[b]
    X[:, :] = W0[b]
    V = np.empty((k, d))
    G = np.empty((k, d))
    nrm = np.empty(m)
    sc = np.empty(m)
    if method == RK4:
        Y = np.empty((k, d))
        K2 = np.empty((k, d))
        K3 = np.empty((k, d))
        K4 = np.empty((k, d))
    else:
        Y = G
        K2 = G
        K3 = G
        K4 = G
    ns = Ws.shape[1]
    slot = 0        # next save slot (mode 1) / next save time (mode 2)
    last_rec = -1   # step of the last record (mode 1)
    n = 0
    tn_ = 0.0
    ep = 0.0        # open low-gradient episode
    plat = 0.0
    st = _CONVERGED
    L = math.nan
    g = math.nan
    while True:
        L, st = _eval(X, U, V, T, tn, a, a_star, alpha, const, tol, G, nrm, sc)
        if st != 0:
            L = math.nan
            g = math.nan
        else:
            g = _norm(G, norm_code)
        if save_mode == 1:
            if n % save_every == 0 and slot < ns:
                _record(Ws, ts_out, b, slot, X, tn_)
                slot += 1
                last_rec = n
        elif save_mode == 2:
            while slot < save_idx.shape[0] and save_idx[slot] == n:
                _record(Ws, ts_out, b, slot, X, tn_)
                slot += 1
        if st != 0:
            break
        if g < gtol:
            st = _CONVERGED
            break
        if not g == g:  # a NaN gradient from finite-looking rows: treat as non-finite
            st = _NONFINITE
            break
        if _norm(_net(X, U, V), norm_code) > div_limit:
            st = _DIVERGED
            break
        if n >= n1:
            st = _T1_REACHED
            break
        if n >= max_steps:
            st = _MAX_STEPS
            break
        h = step
        if method != GD and n + 1 == n1:
            h = t1 - n * step  # euler/rk4 land on t1 exactly
        if g < pl_gtol:
            ep += h
        elif ep > 0.0:
            plat += ep
            ep = 0.0
        if method == RK4:
            # K1 = G (gradient at X); stages of -grad L
            for j in range(k):
                for l in range(d):
                    Y[j, l] = X[j, l] - 0.5 * h * G[j, l]
            _, st = _eval(Y, U, V, T, tn, a, a_star, alpha, const, tol, K2, nrm, sc)
            if st == 0:
                for j in range(k):
                    for l in range(d):
                        Y[j, l] = X[j, l] - 0.5 * h * K2[j, l]
                _, st = _eval(Y, U, V, T, tn, a, a_star, alpha, const, tol, K3, nrm, sc)
            if st == 0:
                for j in range(k):
                    for l in range(d):
                        Y[j, l] = X[j, l] - h * K3[j, l]
                _, st = _eval(Y, U, V, T, tn, a, a_star, alpha, const, tol, K4, nrm, sc)
            if st != 0:
                # the step cannot be taken: report the last good state (X, L, g stay valid)
                break
            h6 = h / 6.0
            for j in range(k):
                for l in range(d):
                    X[j, l] -= h6 * (G[j, l] + 2.0 * (K2[j, l] + K3[j, l]) + K4[j, l])
        else:
            for j in range(k):
                for l in range(d):
                    X[j, l] -= h * G[j, l]
        n += 1
        tn_ = t1 if (method != GD and n == n1) else n * step
    if save_mode == 1 and last_rec != n and slot < ns:
        _record(Ws, ts_out, b, slot, X, tn_)
    loss[b] = L
    gnorm[b] = g
    steps[b] = n
    t[b] = tn_
    status[b] = st
    plateau[b] = plat


@njit(parallel=True, **_JIT)
def _fixed_batch(method, W0, U, T, tn, a, a_star, alpha, const, tol, step, n1, t1, gtol,
                 norm_code, max_steps, div_limit, pl_gtol, save_mode, save_every, save_idx,
                 W, loss, gnorm, steps, t, status, plateau, ts_out, Ws):
    """gd / euler / rk4 for a batch ``W0`` (n, k, d); see the module docstring for the arguments.

    ``n1``: the step count at which ``t1`` is reached (a huge number without ``t1``); euler and rk4
    shorten their last step to land on ``t1``, gd (a map) takes whole steps only. Outputs: ``W``
    (n, k, d), ``loss``, ``gnorm``, ``t``, ``plateau`` (n,) float64, ``steps`` (n,) int64, ``status``
    (n,) int8, save buffers ``ts_out`` (n, ns), ``Ws`` (n, ns, k, d).
    """
    for b in prange(W0.shape[0]):
        _fixed_one(b, method, W0, U, T, tn, a, a_star, alpha, const, tol, step, n1, t1, gtol,
                   norm_code, max_steps, div_limit, pl_gtol, save_mode, save_every, save_idx,
                   W, loss, gnorm, steps, t, status, plateau, ts_out, Ws)


@njit(inline="always", **_JIT)
def _stage(Y, X, h, c1, K1, c2, K2, c3, K3, c4, K4, c5, K5, nst):
    """``Y = X - h sum_i c_i K_i`` over the first ``nst`` gradients (f = -grad L)."""
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            acc = c1 * K1[j, l]
            if nst > 1:
                acc += c2 * K2[j, l]
            if nst > 2:
                acc += c3 * K3[j, l]
            if nst > 3:
                acc += c4 * K4[j, l]
            if nst > 4:
                acc += c5 * K5[j, l]
            Y[j, l] = X[j, l] - h * acc


@njit(**_JIT)
def _dense(Ws, ts_out, b, slot, X, Y, h, th, K1, K3, K4, K5, K6, K7, tt):
    """Hairer's 4th-order continuous extension of the accepted step X -> Y at ``t + th h``."""
    th1 = 1.0 - th
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            r1 = X[j, l]
            r2 = Y[j, l] - X[j, l]
            r3 = -h * K1[j, l] - r2
            r4 = r2 + h * K7[j, l] - r3
            r5 = -h * (_D1 * K1[j, l] + _D3 * K3[j, l] + _D4 * K4[j, l] + _D5 * K5[j, l]
                       + _D6 * K6[j, l] + _D7 * K7[j, l])
            Ws[b, slot, j, l] = r1 + th * (r2 + th1 * (r3 + th * (r4 + th1 * r5)))
    ts_out[b, slot] = tt


@njit(**_JIT)
def _dopri5_one(b, W0, U, T, tn, a, a_star, alpha, const, tol, step, t1, gtol, norm_code,
                max_steps, div_limit, pl_gtol, rtol, atol, adaptive, polish, floor_factor,
                save_mode, save_every, save_times, W, loss, gnorm, steps, t, status, plateau,
                extra, ts_out, Ws):
    k, d = W0.shape[1], W0.shape[2]
    m = max(k, d)
    X = W[b]
    X[:, :] = W0[b]
    V = np.empty((k, d))
    Y = np.empty((k, d))
    Z = np.empty((k, d))
    K1 = np.empty((k, d))
    K2 = np.empty((k, d))
    K3 = np.empty((k, d))
    K4 = np.empty((k, d))
    K5 = np.empty((k, d))
    K6 = np.empty((k, d))
    K7 = np.empty((k, d))
    nrm = np.empty(m)
    sc = np.empty(m)
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
    facold = 1e-4
    last_rejected = False
    polishing = False
    h_pol = 0.0
    L, st = _eval(X, U, V, T, tn, a, a_star, alpha, const, tol, K1, nrm, sc)
    g = _norm(K1, norm_code) if st == 0 else math.nan
    if save_mode == 2:
        while slot < save_times.shape[0] and save_times[slot] <= 0.0:
            _record(Ws, ts_out, b, slot, X, 0.0)
            slot += 1
    while True:
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
        if _norm(_net(X, U, V), norm_code) > div_limit:
            st = _DIVERGED
            break
        if tt >= t1:
            st = _T1_REACHED
            break
        if n >= max_steps:
            st = _MAX_STEPS
            break
        if polish and not polishing:
            B = hessian_bound(_net(X, U, V), T, tn, a, a_star, alpha, nrm)
            scale = 0.0
            for j in range(k):
                for l in range(d):
                    s_ = abs(X[j, l])
                    if s_ > scale:
                        scale = s_
            if g < floor_factor * B * (rtol * scale + atol):
                polishing = True
                h_pol = 1.0 / B
        if polishing:
            hp = min(h_pol, t1 - tt)
            if g < pl_gtol:
                ep += hp
            elif ep > 0.0:
                plat += ep
                ep = 0.0
            for j in range(k):
                for l in range(d):
                    X[j, l] -= hp * K1[j, l]
            tt = t1 if hp < h_pol else tt + hp
            n += 1
            n_pol += 1
            L, st = _eval(X, U, V, T, tn, a, a_star, alpha, const, tol, K1, nrm, sc)
            g = _norm(K1, norm_code) if st == 0 else math.nan
            if save_mode == 2:
                while slot < save_times.shape[0] and save_times[slot] <= tt:
                    _record(Ws, ts_out, b, slot, X, tt)
                    slot += 1
            continue
        # one accepted dopri5 step (after any number of rejections)
        stage_st = 0
        while True:
            clipped = False
            if tt + h >= t1:
                h = t1 - tt
                clipped = True
            _stage(Y, X, h, _A21, K1, 0.0, K1, 0.0, K1, 0.0, K1, 0.0, K1, 1)
            _, stage_st = _eval(Y, U, V, T, tn, a, a_star, alpha, const, tol, K2, nrm, sc)
            if stage_st == 0:
                _stage(Y, X, h, _A31, K1, _A32, K2, 0.0, K1, 0.0, K1, 0.0, K1, 2)
                _, stage_st = _eval(Y, U, V, T, tn, a, a_star, alpha, const, tol, K3, nrm, sc)
            if stage_st == 0:
                _stage(Y, X, h, _A41, K1, _A42, K2, _A43, K3, 0.0, K1, 0.0, K1, 3)
                _, stage_st = _eval(Y, U, V, T, tn, a, a_star, alpha, const, tol, K4, nrm, sc)
            if stage_st == 0:
                _stage(Y, X, h, _A51, K1, _A52, K2, _A53, K3, _A54, K4, 0.0, K1, 4)
                _, stage_st = _eval(Y, U, V, T, tn, a, a_star, alpha, const, tol, K5, nrm, sc)
            if stage_st == 0:
                _stage(Y, X, h, _A61, K1, _A62, K2, _A63, K3, _A64, K4, _A65, K5, 5)
                _, stage_st = _eval(Y, U, V, T, tn, a, a_star, alpha, const, tol, K6, nrm, sc)
            L7 = math.nan
            if stage_st == 0:
                # 5th-order solution (a72 = 0), then the FSAL stage at it
                _stage(Y, X, h, _A71, K1, _A73, K3, _A74, K4, _A75, K5, _A76, K6, 5)
                L7, stage_st = _eval(Y, U, V, T, tn, a, a_star, alpha, const, tol, K7, nrm, sc)
            err = math.inf
            if stage_st == 0:
                acc = 0.0
                for j in range(k):
                    for l in range(d):
                        e = h * (_E1 * K1[j, l] + _E3 * K3[j, l] + _E4 * K4[j, l] + _E5 * K5[j, l]
                                 + _E6 * K6[j, l] + _E7 * K7[j, l])
                        sk = atol + rtol * max(abs(X[j, l]), abs(Y[j, l]))
                        acc += (e / sk) * (e / sk)
                err = math.sqrt(acc / (k * d))
                if not adaptive:
                    err = 0.0
            if err <= 1.0:
                break
            # rejected (error too large, or a stage left the field's domain)
            n_rej += 1
            if err < math.inf:
                fac11 = err ** _EXPO1
                h = h / min(1.0 / _FAC_MIN, fac11 / _SAFE)
            else:
                h = h * _FAC_MIN
            last_rejected = True
            if not (h > 1e-14 * max(1.0, abs(tt))):
                break
        if err > 1.0:
            # the step size underflowed: report the last good state
            st = stage_st if stage_st != 0 else _NONFINITE
            break
        # accepted step X -> Y over [tt, tt + h]
        if g < pl_gtol:
            ep += h
        elif ep > 0.0:
            plat += ep
            ep = 0.0
        t_new = t1 if clipped else tt + h
        if save_mode == 2:
            while slot < save_times.shape[0] and save_times[slot] <= t_new:
                _dense(Ws, ts_out, b, slot, X, Y, h, (save_times[slot] - tt) / h,
                       K1, K3, K4, K5, K6, K7, save_times[slot])
                slot += 1
        for j in range(k):
            for l in range(d):
                X[j, l] = Y[j, l]
                K1[j, l] = K7[j, l]
        tt = t_new
        n += 1
        L = L7
        g = _norm(K1, norm_code)
        if adaptive:
            fac11 = err ** _EXPO1
            fac = fac11 / facold ** _BETA
            fac = max(1.0 / _FAC_MAX, min(1.0 / _FAC_MIN, fac / _SAFE))
            h_next = h / fac
            if last_rejected and h_next > h:
                h_next = h
            facold = max(err, 1e-4)
            h = h_next
        last_rejected = False
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


@njit(parallel=True, **_JIT)
def _dopri5_batch(W0, U, T, tn, a, a_star, alpha, const, tol, step, t1, gtol, norm_code,
                  max_steps, div_limit, pl_gtol, rtol, atol, adaptive, polish, floor_factor,
                  save_mode, save_every, save_times, W, loss, gnorm, steps, t, status, plateau,
                  extra, ts_out, Ws):
    """Adaptive Dormand-Prince 5(4) for a batch ``W0`` (n, k, d); see the module docstring.

    ``step`` is each trajectory's initial dt; ``adaptive=False`` accepts every step at the fixed
    ``step`` (used to measure the method's order). ``polish`` switches a trajectory to gd steps of
    length ``1 / B`` once its gradient norm is below ``floor_factor * B * (rtol max|W| + atol)``.
    ``extra`` (n, 2) int64 receives the rejected step count and the polish step count; ``steps``
    counts accepted dopri5 steps plus polish steps.
    """
    for b in prange(W0.shape[0]):
        _dopri5_one(b, W0, U, T, tn, a, a_star, alpha, const, tol, step, t1, gtol, norm_code,
                    max_steps, div_limit, pl_gtol, rtol, atol, adaptive, polish, floor_factor,
                    save_mode, save_every, save_times, W, loss, gnorm, steps, t, status, plateau,
                    extra, ts_out, Ws)


def run_chunk(parallel_chunksize, kernel, *args):
    """Call a batch kernel with Numba's dynamic scheduling (threads take trajectories one at a time)."""
    with numba.parallel_chunksize(parallel_chunksize):
        kernel(*args)
