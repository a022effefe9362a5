"""CUDA twins of the flow integrators (``dynsys.flow(..., backend="cuda")``): gd, euler, rk4, dopri5.

One trajectory per thread, the whole integration loop inside one kernel launch: each thread loads its
initial state, runs it to its own stop and writes the final state, loss, gradient norm, step count,
time and status (final states only: no saving, no polish, no plateau time). Stages live in per-thread
local arrays of compile-time size (``(k, d)`` for the state and the stage point, ``(S, k, d)`` for the
stage gradients, ``S`` = 1 for gd/euler, 4 for rk4, 7 for dopri5), so every kernel is compiled for its
exact ``(method, k, d, k*, dtype, residual?, alpha == 1?, norm)`` by a cached factory. The batch lies in
device memory as ``(k * d, n)`` (state ``b`` is column ``b``: a warp's loads and stores of one entry
are contiguous), made and undone by :mod:`dynsys.kernels.cuda.field`'s tiled transpose; the kernel
updates it in place. The model goes to the device through :func:`dynsys.kernels.cuda.field.device_field`
(cast to the state's dtype: float64, or float32 with every constant typed).

Semantics: those of the CPU kernels :mod:`dynsys.kernels.integrators` (``_fixed_one``,
``_dopri5_one``), statement for statement: the stopping tests and their order (bad evaluation, gradient
norm below ``gtol``, state norm above ``div_limit``, ``t1``, ``max_steps``), the status codes, how
``t`` and ``steps`` count (euler and rk4 land on ``t1``, gd takes whole steps), the Dormand-Prince
tableau and step-size controller (their constants are imported from the CPU module), the initial step
``step``, rejection on a failed stage and the step-size underflow stop. The per-state field
(:func:`dynsys.kernels.cuda.state._state_field`, which the one-state-per-thread field kernel of
:mod:`dynsys.kernels.cuda.thread` calls too) is a device function on a local array, with the CPU
kernel's expressions in its source order (:func:`dynsys.systems.teacher_student.loss_grad`: pair
terms, then the self terms; the cosine, the accurate-angle switch, ``P, Q, K``); the libm (``acos``,
``pow``; the CPU uses a polynomial arccos) and the compilers' reassociation and contraction of
multiply-adds differ, so float64 results agree with the CPU to roundoff amplified by the trajectory
(``tests/test_flow_cuda.py`` asserts 1e-12 relative for gd/euler/rk4, 1e-8 for dopri5, equal statuses
and step counts). As in :mod:`dynsys.kernels.cuda.field`, a state whose loss or gradient comes out
non-finite is NONFINITE (the CPU instead carries an infinite loss on; only float32 overflow or states
beyond 1e150 tell them apart, far beyond the divergence test).

Size: one thread holds ``(2 + S) k d + max(k, d) + 2 k`` numbers in local memory (:func:`local_bytes`;
7.4 KB for dopri5 at k = d = 10 in float64), which spills to the L1/L2-cached local memory beyond the
registers; the design suits the small ``k * d`` of the field's one-state-per-thread kernel (up to a
few hundred), and :func:`run` refuses shapes above CUDA's 512 KiB per thread. A warp runs as long as
its slowest trajectory.

float32: selected by ``W0``'s dtype (pass a float32 batch to :func:`run`; ``t``, ``loss`` and
``grad_norm`` come back in float32). A float32 trajectory agrees with the float64 one to about 1e-4
relative over tens of steps; ``gtol`` must stay above the float32 gradient noise (about ``1e-7`` times
the terms' scale) and ``rtol`` above 1e-6.

Timing on a GPU::

    python benchmarks/bench_flow_cuda.py            # k = d = 10, batch 10^5, gd and dopri5
    python benchmarks/bench_flow_cuda.py --quick    # batch 10^4

prints trajectories/s (compile time apart, host-device transfers included) and the agreement of a
sample of trajectories with ``backend="parallel"``. ``pytest -m cuda tests/test_flow_cuda.py`` runs the
comparison with the CPU at moderate sizes on the device.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from ...config import CUDA_CHUNK_BYTES, CUDA_KERNEL_UNROLL, CUDA_THREADS_PER_BLOCK
from ..._codes import CONVERGED as _CONVERGED
from ..._codes import DIVERGED as _DIVERGED
from ..._codes import DOPRI5 as _DOPRI5
from ..._codes import GD, METHOD_CODES, RK4
from ..._codes import MAX_STEPS as _MAX_STEPS
from ..._codes import T1_REACHED as _T1_REACHED
from .. import integrators as _cpu
from .constants import NONFINITE, OK, _consts
from .state import _norms, _state_field
from .field import _transpose, device_field

METHODS = METHOD_CODES
_NEVER = np.iinfo(np.int64).max // 2  # n1 without t1 (dynsys.flow's value)

# dopri5 stops when a rejected step shrinks below this fraction of max(1, t) (the CPU kernel's value)
_H_UNDERFLOW = 1e-14
# CUDA's limit on a thread's local memory (compute capability 2.0 and later)
_LOCAL_MAX_BYTES = 512 * 1024


def local_bytes(method: str, k: int, d: int, itemsize: int) -> int:
    """Bytes of per-thread local arrays the kernel of ``method`` needs: the state, the stage point,
    ``S`` stage gradients (1 gd/euler, 4 rk4, 7 dopri5) and the field's row scratch."""
    stages = {"gd": 1, "euler": 1, "rk4": 4, "dopri5": 7}[method]
    return itemsize * ((2 + stages) * k * d + max(k, d) + 2 * k)


def _typed(dtype_name):
    """The shared constants of one precision plus the integrators' own."""
    f = np.dtype(dtype_name).type
    c = _consts(dtype_name)
    c.update(SIX=f(6.0), NAN=f(math.nan), INF=f(math.inf), SAFE=f(_cpu._SAFE), NEXPO=f(-_cpu._EXPO),
             FAC_MIN=f(_cpu._FAC_MIN), FAC_MAX=f(_cpu._FAC_MAX), H_UNDERFLOW=f(_H_UNDERFLOW))
    return c


@functools.cache
def _fixed_kernel(method: int, k: int, d: int, ks: int, dtype_name: str, has_u: bool, linear: bool,
                  norm_code: int, unroll: bool):
    """Kernel ``(Wt, U, T, tn, a, a_star, alpha, const, tol, step, n1, t1, gtol, max_steps, div_limit,
    loss, gnorm, steps, t, status)`` of gd (0), euler (1) or rk4 (2): the twin of
    :func:`dynsys.kernels.integrators._fixed_one`. ``Wt`` (k, d, n): initial states in, final out."""
    nf = numba.from_dtype(np.dtype(dtype_name))
    c = _typed(dtype_name)
    ZERO, HALF, TWO, SIX, NAN = c["ZERO"], c["HALF"], c["TWO"], c["SIX"], c["NAN"]
    NK, ND, UNROLL, METHOD = k, d, unroll, method
    NS = 4 if method == RK4 else 1
    NR = max(k, d)
    field = _state_field(k, d, ks, dtype_name, has_u, linear, unroll, True)
    net_norm2, grad_norm2 = _norms(k, d, dtype_name, has_u, norm_code, unroll)

    def kernel(Wt, U, T, tn, a, a_star, alpha, const, tol, step, n1, t1, gtol, max_steps, div_limit,
               loss, gnorm, steps, t, status):
        X = cuda.local.array((NK, ND), nf)
        Y = cuda.local.array((NK, ND), nf)
        K = cuda.local.array((NS, NK, ND), nf)  # K[0]: gradient at X; rk4's later stages
        nrm = cuda.local.array(NR, nf)
        inv = cuda.local.array(NK, nf)
        sc = cuda.local.array(NK, nf)
        nk = NK if UNROLL else a.shape[0]
        nd = ND if UNROLL else T.shape[1]
        gtol2 = gtol * gtol
        div2 = div_limit * div_limit
        for b in range(cuda.grid(1), Wt.shape[2], cuda.gridsize(1)):
            for j in range(nk):
                for l in range(nd):
                    X[j, l] = Wt[j, l, b]
            n = 0
            t_n = ZERO
            st = _CONVERGED
            L = NAN
            h = step
            s_ = 0  # 0: evaluate at X; 1..3: rk4 stage s_ at Y
            xn2 = net_norm2(X, U, a, T)
            g2 = NAN
            while True:
                # the only call of the field in this kernel (each call site is inlined code)
                Ls, st_s = field(X if s_ == 0 else Y, U, T, tn, a, a_star, alpha, const, tol, K, s_,
                                 nrm, inv, sc)
                if s_ > 0:
                    if st_s != OK:
                        # the rk4 step cannot be taken: report the last good state
                        st = st_s
                        break
                    if s_ < 3:
                        cc = h if s_ == 2 else HALF * h
                        for j in range(nk):
                            for l in range(nd):
                                Y[j, l] = X[j, l] - cc * K[s_, j, l]
                        s_ += 1
                        continue
                    h6 = h / SIX
                    for j in range(nk):
                        for l in range(nd):
                            X[j, l] -= h6 * (K[0, j, l] + TWO * (K[1, j, l] + K[2, j, l])
                                             + K[3, j, l])
                    xn2 = net_norm2(X, U, a, T)
                    n += 1
                    t_n = t1 if n == n1 else nf(n) * step
                    s_ = 0
                    continue
                L = Ls
                st = st_s
                if st != OK:
                    L = NAN
                    g2 = NAN
                    break
                g2 = grad_norm2(K, 0, a, T)
                if g2 < gtol2 or g2 == ZERO:  # (gtol^2 may underflow to 0)
                    break
                if not g2 == g2:
                    st = NONFINITE
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
                h = step
                if METHOD != GD and n + 1 == n1:
                    h = t1 - nf(n) * step  # euler/rk4 land on t1 exactly
                if METHOD == RK4:
                    hh = HALF * h
                    for j in range(nk):
                        for l in range(nd):
                            Y[j, l] = X[j, l] - hh * K[0, j, l]
                    s_ = 1
                    continue
                for j in range(nk):
                    for l in range(nd):
                        X[j, l] = X[j, l] - h * K[0, j, l]
                xn2 = net_norm2(X, U, a, T)
                n += 1
                t_n = t1 if (METHOD != GD and n == n1) else nf(n) * step
            for j in range(nk):
                for l in range(nd):
                    Wt[j, l, b] = X[j, l]
            loss[b] = L
            gnorm[b] = math.sqrt(g2) if (g2 == g2 and L == L) else NAN
            steps[b] = n
            t[b] = t_n
            status[b] = st

    return cuda.jit(kernel)


# ------------------------------------------------------------------------------------------ dopri5
@functools.cache
def _dopri5_kernel(k: int, d: int, ks: int, dtype_name: str, has_u: bool, linear: bool, norm_code: int,
                   unroll: bool):
    """Kernel ``(Wt, U, T, tn, a, a_star, alpha, const, tol, step, t1, gtol, max_steps, div_limit,
    rtol, atol, loss, gnorm, steps, t, status)``: adaptive Dormand-Prince 5(4), the twin of
    :func:`dynsys.kernels.integrators._dopri5_one` (no save, no polish)."""
    nf = numba.from_dtype(np.dtype(dtype_name))
    c = _typed(dtype_name)
    ZERO, ONE, NAN, INF = c["ZERO"], c["ONE"], c["NAN"], c["INF"]
    SAFE, NEXPO, FAC_MIN, FAC_MAX, H_UNDERFLOW = (c["SAFE"], c["NEXPO"], c["FAC_MIN"], c["FAC_MAX"],
                                                  c["H_UNDERFLOW"])
    DPA = np.ascontiguousarray(_cpu._DP_A, dtype=dtype_name)
    DPE = np.ascontiguousarray(_cpu._DP_E, dtype=dtype_name)
    NK, ND, UNROLL = k, d, unroll
    NR = max(k, d)
    KD = nf(k * d)
    field = _state_field(k, d, ks, dtype_name, has_u, linear, unroll, True)
    net_norm2, grad_norm2 = _norms(k, d, dtype_name, has_u, norm_code, unroll)

    @cuda.jit(device=True, inline=True)
    def combo(Y, X, h, K, s_, nk, nd):
        # stage point Y = X + h sum_q a_{s_ q} f_q with f_q = -K[q]; per entry in the CPU's order
        for j in range(nk):
            for l in range(nd):
                y = X[j, l]
                for q in range(s_):
                    cq = h * DPA[s_, q]
                    if cq != ZERO:
                        y -= cq * K[q, j, l]
                Y[j, l] = y

    @cuda.jit(device=True, inline=True)
    def error_norm(X, Y, h, K, rtol, atol, nk, nd):
        acc = ZERO
        for j in range(nk):
            for l in range(nd):
                e = ZERO
                for q in range(7):
                    cq = h * DPE[q]
                    if cq != ZERO:
                        e += cq * K[q, j, l]
                e = e / (atol + rtol * max(abs(X[j, l]), abs(Y[j, l])))
                acc += e * e
        return math.sqrt(acc / KD)

    def kernel(Wt, U, T, tn, a, a_star, alpha, const, tol, step, t1, gtol, max_steps, div_limit,
               rtol, atol, loss, gnorm, steps, t, status):
        X = cuda.local.array((NK, ND), nf)
        Y = cuda.local.array((NK, ND), nf)
        K = cuda.local.array((7, NK, ND), nf)  # stage gradients; K[0] at X, K[6] at Y (FSAL)
        nrm = cuda.local.array(NR, nf)
        inv = cuda.local.array(NK, nf)
        sc = cuda.local.array(NK, nf)
        nk = NK if UNROLL else a.shape[0]
        nd = ND if UNROLL else T.shape[1]
        for b in range(cuda.grid(1), Wt.shape[2], cuda.gridsize(1)):
            for j in range(nk):
                for l in range(nd):
                    X[j, l] = Wt[j, l, b]
            n = 0
            tt = ZERO
            h = step
            last_rejected = False
            clipped = False
            L = NAN
            g = NAN
            st = _CONVERGED
            s_ = 0  # 0: evaluate at X (the start); 1..6: stage s_ at Y
            while True:
                # the only call of the field in this kernel (each call site is inlined code)
                Ls, st_s = field(X if s_ == 0 else Y, U, T, tn, a, a_star, alpha, const, tol, K, s_,
                                 nrm, inv, sc)
                if s_ == 0:
                    L = Ls
                    st = st_s
                    g = math.sqrt(grad_norm2(K, 0, a, T)) if st == OK else NAN
                else:
                    if st_s == OK and s_ < 6:
                        s_ += 1
                        combo(Y, X, h, K, s_, nk, nd)
                        continue
                    err = INF
                    if st_s == OK:
                        err = error_norm(X, Y, h, K, rtol, atol, nk, nd)
                    if not err <= ONE:
                        # rejected (error too large, or a stage left the field's domain)
                        if err < INF:
                            h = h * max(FAC_MIN, SAFE * err ** NEXPO)
                        else:
                            h = h * FAC_MIN
                        last_rejected = True
                        if not (h > H_UNDERFLOW * max(ONE, tt)):
                            # the step size underflowed: report the last good state
                            st = st_s if st_s != OK else NONFINITE
                            break
                        clipped = tt + h >= t1
                        if clipped:
                            h = t1 - tt
                        s_ = 1
                        combo(Y, X, h, K, 1, nk, nd)
                        continue
                    # accepted step X -> Y over [tt, tt + h]
                    t_new = t1 if clipped else tt + h
                    for j in range(nk):
                        for l in range(nd):
                            X[j, l] = Y[j, l]
                            K[0, j, l] = K[6, j, l]
                    tt = t_new
                    n += 1
                    L = Ls
                    st = OK
                    g = math.sqrt(grad_norm2(K, 0, a, T))
                    fac = FAC_MAX if err == ZERO else min(FAC_MAX, max(FAC_MIN, SAFE * err ** NEXPO))
                    if last_rejected and fac > ONE:
                        fac = ONE
                    h = h * fac
                    last_rejected = False
                # a new state X with loss L, gradient K[0], norm g, status st
                if st != OK:
                    L = NAN
                    g = NAN
                    break
                if g < gtol:
                    break
                if not g == g:
                    st = NONFINITE
                    break
                if math.sqrt(net_norm2(X, U, a, T)) > div_limit:
                    st = _DIVERGED
                    break
                if tt >= t1:
                    st = _T1_REACHED
                    break
                if n >= max_steps:
                    st = _MAX_STEPS
                    break
                clipped = tt + h >= t1
                if clipped:
                    h = t1 - tt
                s_ = 1
                combo(Y, X, h, K, 1, nk, nd)
            for j in range(nk):
                for l in range(nd):
                    Wt[j, l, b] = X[j, l]
            loss[b] = L
            gnorm[b] = g
            steps[b] = n
            t[b] = tt
            status[b] = st

    return cuda.jit(kernel)


# ------------------------------------------------------------------------------------------ host
def steps_to_t1(t1: float, step: float) -> int:
    """``n1``: the step count at which fixed-step methods reach ``t1`` (as :func:`dynsys.flow` counts)."""
    if not math.isfinite(t1):
        return _NEVER
    return max(1, math.ceil(t1 / step * (1.0 - 4.0 * np.finfo(float).eps)))


def kernel_for(method: str, k: int, d: int, ks: int, dtype_name: str, has_u: bool, linear: bool,
               norm_code: int, unroll: bool | None = None):
    """The compiled-on-first-launch kernel of one method and shape (cached)."""
    unroll = CUDA_KERNEL_UNROLL if unroll is None else bool(unroll)
    code = METHODS[method]
    if code == _DOPRI5:
        return _dopri5_kernel(k, d, ks, dtype_name, has_u, linear, int(norm_code), unroll)
    return _fixed_kernel(code, k, d, ks, dtype_name, has_u, linear, int(norm_code), unroll)


def run(method, W0b, U, T, tn, a, a_star, alpha, const, tol, step, t1, gtol, norm_code, max_steps,
        div_limit, rtol, atol, *, threads=None, blocks=None, unroll=None):
    """Run each trajectory of ``W0b`` to its own stop on the GPU; final states only.

    Parameters
    ----------
    method : {"gd", "euler", "rk4", "dopri5"}
    W0b : ndarray, shape (n, k, d), float64 or float32
        Initial states (finite); the kernels run in this dtype.
    U, T, tn, a, a_star, alpha, const, tol
        The model (``TeacherStudent.arrays``, float64; cast to ``W0b``'s dtype). ``U`` (k, d) or an
        empty (0, 0) array without a residual.
    step : float
        gd step / fixed dt / dopri5's initial dt (> 0).
    t1 : float
        Final time (``math.inf``: none).
    gtol : float
        Gradient-norm tolerance (CONVERGED below it).
    norm_code : int
        0: largest row norm, 1: Frobenius (gradient test and divergence test).
    max_steps : int
    div_limit : float
        State norm (of ``W + U``) above which a trajectory is DIVERGED.
    rtol, atol : float
        dopri5's error tolerances (ignored by the other methods).
    threads, blocks : int, optional
        Threads per block (default ``CUDA_THREADS_PER_BLOCK``) and at most this many blocks (the
        kernel grid-strides over the rest); for tests.
    unroll : bool, optional
        Compile the loops for the constant k, d, k* (default ``CUDA_KERNEL_UNROLL``).

    Returns
    -------
    W : ndarray (n, k, d), loss, grad_norm, t : ndarray (n,), in ``W0b``'s dtype
    steps : ndarray (n,) int64
    status : ndarray (n,) int8
        As :func:`dynsys.flow` (see :mod:`dynsys.kernels.integrators`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    W0b = np.asarray(W0b)
    if W0b.dtype not in (np.float32, np.float64):
        raise TypeError(f"W0 must be float64 or float32 for backend='cuda'; got {W0b.dtype}")
    if W0b.ndim != 3 or W0b.shape[0] == 0:
        raise ValueError(f"W0b must be a non-empty batch (n, k, d); got shape {W0b.shape}")
    if norm_code not in (0, 1):
        raise ValueError(f"norm_code must be 0 (row_max) or 1 (fro); got {norm_code!r}")
    max_steps = int(max_steps)
    if max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1; got {max_steps}")
    n, k, d = W0b.shape
    dt = W0b.dtype
    f = dt.type
    need = local_bytes(method, k, d, dt.itemsize)
    if need > _LOCAL_MAX_BYTES:
        raise ValueError(f"backend='cuda' runs one trajectory per thread, and {method} at k = {k}, d = {d} "
                         f"({dt.name}) needs {need // 1024} KiB of local memory per thread, above CUDA's "
                         f"{_LOCAL_MAX_BYTES // 1024} KiB: use backend='parallel' for states this large")
    field = device_field(U, T, tn, a, a_star, alpha, const, tol, dt, k=k)
    kern = kernel_for(method, k, d, field.k_star, dt.name, field.has_u, field.linear, norm_code, unroll)
    tpb = CUDA_THREADS_PER_BLOCK if threads is None else int(threads)
    if tpb < 1:
        raise ValueError(f"threads must be a positive number of threads per block; got {tpb}")
    if threads is None and n < tpb:
        tpb = 32 * ((n + 31) // 32)  # one warp for tiny batches (the simulator runs every thread)
    model = (field.U, field.T, field.tn, field.a, field.a_star, field.alpha, field.const, field.tol)
    if method == "dopri5":
        scalars = (f(step), f(t1), f(gtol), np.int64(max_steps), f(div_limit), f(rtol), f(atol))
    else:
        scalars = (f(step), np.int64(steps_to_t1(float(t1), float(step))), f(t1), f(gtol),
                   np.int64(max_steps), f(div_limit))

    W = np.empty_like(W0b)
    loss = np.empty(n, dtype=dt)
    gnorm = np.empty(n, dtype=dt)
    steps = np.empty(n, dtype=np.int64)
    t = np.empty(n, dtype=dt)
    status = np.empty(n, dtype=np.int8)
    chunk = max(1, CUDA_CHUNK_BYTES // max(1, k * d * dt.itemsize))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        m = hi - lo
        dW = cuda.to_device(np.ascontiguousarray(W0b[lo:hi]).reshape(m, k * d))
        Wt = cuda.device_array((k * d, m), dtype=dt)
        _transpose(dW, Wt, True, 0)
        outs = (cuda.device_array(m, dtype=dt), cuda.device_array(m, dtype=dt),
                cuda.device_array(m, dtype=np.int64), cuda.device_array(m, dtype=dt),
                cuda.device_array(m, dtype=np.int8))
        nb = max(1, min((m + tpb - 1) // tpb, 2**31 - 1, blocks or 2**31 - 1))
        kern[nb, tpb](Wt.reshape(k, d, m), *model, *scalars, *outs)
        _transpose(Wt, dW, False, 0)
        dW.copy_to_host(W[lo:hi].reshape(m, k * d))
        for dev, host in zip(outs, (loss, gnorm, steps, t, status)):
            dev.copy_to_host(host[lo:hi])
    return W, loss, gnorm, steps, t, status
