"""Compare the CUDA flow integrators (``dynsys/kernels/cuda/integrators.py``) with the CPU ones, case by case.

Run by ``tests/test_flow_cuda.py`` in a subprocess with ``NUMBA_ENABLE_CUDASIM=1`` (the simulator must
be chosen before numba is imported), where it prints one JSON report on its last line; imported by the
``cuda``-marked test on a real GPU with larger sizes (``cases("gpu")``). With ``--ptx`` (and no
simulator) it instead compiles the real kernels to PTX for sm_90 through NVVM (:func:`ptx_check`):
the simulator runs kernels as Python and never types them.

Every comparison runs ``flow(model, W0, backend="cuda", ...)`` against ``backend="parallel"`` with the
same arguments; float32 runs call :func:`dynsys.kernels.cuda.integrators.run` directly (``flow`` takes
float64 states) and compare with the float64 CPU flow of the float32-rounded model and states.

Error measure: ``|x_cuda - x_cpu| / (1 + |x_cpu|)`` (max over trajectories and entries; NaN against
NaN counts as equal, NaN against a number as infinite). Every case has states, weights and losses of
order one, so this is the error relative to the size of the terms being summed, which is what roundoff
is proportional to (a gradient norm of 1e-5 at convergence is a small difference of order-one terms).
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings

import numpy as np

#: float64 CUDA against the CPU: gd/euler/rk4 (same steps, roundoff per step) and dopri5 (the step-size
#: controller feeds roundoff back through err ** -1/5; same accepted steps), and float32 against float64
RTOL = {"fixed": 1e-12, "dopri5": 1e-8, "float32": 1e-4}

METHODS = ("gd", "euler", "rk4", "dopri5")
from dynsys._codes import (CONVERGED as _CONVERGED, MAX_STEPS as _MAX_STEPS,
                            DIVERGED as _DIVERGED, T1_REACHED as _T1_REACHED)


def _err(x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    both_nan = np.isnan(x) & np.isnan(y)
    e = np.abs(x - y) / (1.0 + np.abs(y))
    e = np.where(both_nan, 0.0, np.where(np.isnan(e), np.inf, e))
    return float(e.max(initial=0.0))


def cases(size="tiny"):
    """``(name, model, W0, flow kwargs, methods, expected status per method or None)``.

    ``tiny``: n <= 4, k, d <= 3, at most a few hundred steps (the simulator runs kernels as Python).
    Expected statuses come from the mathematics (claimed at the tiny size only, where the slowest
    mode is known to be fast enough; at k = d = 10 some starts near the teacher or in the linear
    model need more steps, or sit below dopri5's error floor): a start near the teacher (a strict
    minimum) reaches ``gtol``; a gd step of 40 exceeds ``2 / lambda`` for the self-curvature ``a_j^2 (1 + alpha^2) / 2
    = 1/2`` (docs/math.md section 2), so the iterates grow geometrically; a zero row is singular (alpha < 1).
    """
    from dynsys import TeacherStudent

    rng = np.random.default_rng(20250214)
    tiny = size == "tiny"
    n = 4 if tiny else 512
    k, ks, d = (2, 2, 3) if tiny else (10, 10, 10)
    out = []
    Ws = rng.standard_normal((ks, d))
    m0 = TeacherStudent(Ws)
    loose = dict(rtol=1e-6, atol=1e-8)
    near = Ws[None, :k] + 0.2 * rng.standard_normal((n, k, d)) if k == ks else None
    if near is not None:
        # step 1/k: below 2 / lambda_max near the minimum (lambda_max about k/2 for W* = teacher rows)
        out.append(("converge_gtol", m0, near, dict(step=1.0 / k, gtol=1e-5, max_steps=400 if tiny else 5000,
                                                     **loose), METHODS, dict.fromkeys(METHODS, _CONVERGED if tiny else None)))
    W = rng.standard_normal((n, k, d))
    out.append(("max_steps", m0, W, dict(step=0.1, gtol=1e-9, max_steps=25, **loose), METHODS,
                dict.fromkeys(METHODS, _MAX_STEPS)))
    out.append(("max_steps_fro", m0, W, dict(step=0.1, gtol=1e-9, max_steps=25, norm="fro", **loose),
                METHODS, dict.fromkeys(METHODS, _MAX_STEPS)))
    out.append(("t1", m0, W, dict(step=0.1, t1=0.95, gtol=1e-9, max_steps=400, **loose), METHODS,
                dict.fromkeys(METHODS, _T1_REACHED)))
    out.append(("diverge", m0, W, dict(step=40.0, gtol=1e-9, max_steps=100), ("gd", "euler", "rk4"),
                dict.fromkeys(("gd", "euler", "rk4"), _DIVERGED)))
    Wsing = W.copy()
    Wsing[1, k - 1] = 0.0
    exp = {m: None for m in METHODS}
    out.append(("singular_start", m0, Wsing, dict(step=0.1, gtol=1e-9, max_steps=20, **loose), METHODS, exp))
    k2, ks2 = (3, 2) if tiny else (12, 7)
    Ws2 = rng.standard_normal((ks2, d))
    a = rng.uniform(0.5, 1.2, k2) * np.where(np.arange(k2) % 2, -1.0, 1.0)
    a_star = rng.uniform(0.5, 1.2, ks2) * np.where(np.arange(ks2) % 2, 1.0, -1.0)
    a_star[ks2 - 1] = 0.0  # a teacher unit that contributes nothing (a zero teacher row is refused)
    m2 = TeacherStudent(Ws2, k=k2, alpha=0.1, a=a, a_star=a_star)
    out.append(("alpha0.1_mixed_a", m2, rng.standard_normal((n, k2, d)),
                dict(step=0.05, gtol=1e-9, max_steps=30, **loose), METHODS, dict.fromkeys(METHODS, _MAX_STEPS)))
    U = 0.5 * rng.standard_normal((ks, d))
    m3 = TeacherStudent(Ws, alpha=0.1, residual=U)
    W3 = rng.standard_normal((n, k, d))
    out.append(("residual", m3, W3, dict(step=0.1, gtol=1e-9, max_steps=30, **loose), METHODS,
                dict.fromkeys(METHODS, _MAX_STEPS)))
    out.append(("t1_residual", m3, W3, dict(step=0.1, t1=0.95, gtol=1e-9, max_steps=400, **loose),
                METHODS, dict.fromkeys(METHODS, _T1_REACHED)))
    m4 = TeacherStudent(Ws, k=k, alpha=1.0, a=rng.uniform(0.5, 1.0, k))
    W4 = rng.standard_normal((n, k, d))
    W4[0, 0] = 0.0  # the linear model has no singular set
    out.append(("linear_alpha1", m4, W4, dict(step=0.2, gtol=1e-6, max_steps=400, **loose), METHODS,
                dict.fromkeys(METHODS, _CONVERGED if tiny else None)))
    return out


def _flow_pair(model, W0, method, kw):
    from dynsys.flow import flow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # dopri5's gtol floor warning
        rc = flow(model, W0, method=method, backend="cuda", **kw)
        # the CUDA integrators have no polish: compare with the CPU's plain dopri5
        rp = flow(model, W0, method=method, backend="parallel",
                  polish=False if method == "dopri5" else None, **kw)
    return rc, rp


def compare(name, model, W0, method, kw):
    """float64 ``backend="cuda"`` against ``backend="parallel"``: a result dict."""
    rc, rp = _flow_pair(model, W0, method, kw)
    return dict(case=name, method=method, dtype="float64",
                status=[int(s) for s in rc.status], status_cpu=[int(s) for s in rp.status],
                steps=[int(s) for s in rc.steps], steps_cpu=[int(s) for s in rp.steps],
                t=[float(x) for x in rc.t], W_err=_err(rc.W, rp.W), loss_err=_err(rc.loss, rp.loss),
                gnorm_err=_err(rc.grad_norm, rp.grad_norm), t_err=_err(rc.t, rp.t),
                dtype_ok=bool(rc.W.dtype == np.float64 and rc.steps.dtype == np.int64
                              and rc.status.dtype == np.int8))


def _rounded32(model):
    from dynsys import TeacherStudent

    r = lambda x: None if x is None else np.asarray(x, dtype=np.float32).astype(np.float64)  # noqa: E731
    return TeacherStudent(r(model.W_star), k=model.k, alpha=model.alpha, a=r(model.a), a_star=r(model.a_star),
                          residual=r(model.residual))


def compare32(name, model, W0, method, kw):
    """float32 kernels (``integrators_cuda.run`` on a float32 batch) against the float64 CPU flow of
    the rounded model and states."""
    from dynsys._codes import NORM_CODES
    from dynsys.kernels.cuda import integrators as integrators_cuda

    ref = _rounded32(model)
    W32 = np.asarray(W0, dtype=np.float32)
    _, rp = _flow_pair(ref, W32.astype(np.float64), method, kw)
    arr = ref.arrays
    norm = kw.get("norm", "row_max")
    tnorm = (np.sqrt((arr.T ** 2).sum(axis=1)).max() if norm == "row_max" else np.sqrt((arr.T ** 2).sum()))
    from dynsys import config

    div = config.FLOW_DIVERGENCE_FACTOR * (1.0 + float(tnorm))
    W, L, g, steps, t, st = integrators_cuda.run(
        method, W32, arr.U, arr.T, arr.tn, arr.a, arr.a_star, arr.alpha, arr.const, arr.tol, kw["step"],
        kw.get("t1", math.inf), kw["gtol"], NORM_CODES[norm], kw["max_steps"], div, kw.get("rtol", 1e-8),
        kw.get("atol", 1e-10))
    return dict(case=name, method=method, dtype="float32",
                status=[int(s) for s in st], status_cpu=[int(s) for s in rp.status],
                steps=[int(s) for s in steps], steps_cpu=[int(s) for s in rp.steps],
                t=[float(x) for x in t], W_err=_err(W, rp.W), loss_err=_err(L, rp.loss),
                gnorm_err=_err(g, rp.grad_norm), t_err=_err(t, rp.t),
                dtype_ok=bool(W.dtype == L.dtype == g.dtype == t.dtype == np.float32
                              and steps.dtype == np.int64 and st.dtype == np.int8))


#: the float32 comparisons: stops that float32 roundoff cannot move by a step (MAX_STEPS, t1, a
#: singular start; and gd's convergence here). dopri5 only up to t1: its float32 step sizes differ,
#: so after a fixed number of steps it stands at another time (not comparable); at t1 both
#: approximate the flow at the same time.
FIXED = ("gd", "euler", "rk4")
FLOAT32_RUNS = (("max_steps", FIXED), ("t1", METHODS), ("singular_start", ("gd", "rk4")),
                ("alpha0.1_mixed_a", ("gd", "rk4")), ("residual", ("euler",)),
                ("t1_residual", ("rk4", "dopri5")), ("converge_gtol", ("gd",)))


def run_all(size="tiny"):
    results = []
    cs = cases(size)
    for name, model, W0, kw, methods, expected in cs:
        for m in methods:
            r = compare(name, model, W0, m, kw)
            r["expected"] = expected[m]
            results.append(r)
    by_name = {c[0]: c for c in cs}
    for name, methods in FLOAT32_RUNS:
        if name == "converge_gtol" and size != "tiny":
            # at k = d = 10 the float32 gradient noise (~1e-7 x terms of size ~30) nears gtol = 1e-5:
            # the step at which |grad| crosses gtol is no longer determined
            continue
        _, model, W0, kw, _, expected = by_name[name]
        for m in methods:
            r = compare32(name, model, W0, m, kw)
            r["expected"] = expected[m]
            results.append(r)
    return results


def launch_variants():
    """Grid-stride launches (fewer threads than trajectories), loops unrolled, against the default."""
    from dynsys.kernels.cuda import integrators as integrators_cuda

    name, model, W0, kw, _, _ = next(c for c in cases("tiny") if c[0] == "max_steps")
    arr = model.arrays
    out = []
    for method in ("rk4", "dopri5"):
        args = (method, W0, arr.U, arr.T, arr.tn, arr.a, arr.a_star, arr.alpha, arr.const, arr.tol,
                kw["step"], math.inf, kw["gtol"], 0, kw["max_steps"], 1e6, kw["rtol"], kw["atol"])
        base = integrators_cuda.run(*args)
        for vname, vkw in (("gridstride", dict(threads=2, blocks=1)), ("unrolled", dict(unroll=True))):
            other = integrators_cuda.run(*args, **vkw)
            out.append(dict(method=method, variant=vname,
                            equal=all(np.array_equal(x, y, equal_nan=True) for x, y in zip(base, other))))
    return out


def nonfinite_start():
    """A NaN entry in a start (``flow`` refuses it; :func:`integrators_cuda.run` does not check): that
    trajectory stops at once as NONFINITE with NaN loss and gradient norm, its neighbour runs on.
    Every method, the nonlinear and the linear (alpha = 1) field, float64 and float32."""
    from dynsys.kernels.cuda import integrators as integrators_cuda

    out = []
    for name, model, W0, kw, _, _ in cases("tiny"):
        if name not in ("max_steps", "linear_alpha1"):
            continue
        W = np.array(W0[:2])
        W[1, 0, 0] = np.nan
        arr = model.arrays
        for method in METHODS:
            for dtype in ("float64", "float32"):
                _, L, g, steps, t, st = integrators_cuda.run(
                    method, W.astype(dtype), arr.U, arr.T, arr.tn, arr.a, arr.a_star, arr.alpha, arr.const,
                    arr.tol, 0.1, math.inf, 1e-9, 0, 5, 1e6, 1e-6, 1e-8)
                out.append(dict(case=name, method=method, dtype=dtype, status=[int(x) for x in st],
                                steps=[int(x) for x in steps], loss_nan=[bool(np.isnan(x)) for x in L],
                                gnorm_nan=[bool(np.isnan(x)) for x in g], t1=float(t[1])))
    return out


def ptx_check():
    """Compile the real integrator kernels to PTX for sm_90 (no GPU needed) and check that the float32
    ones move no float64 data and promote no float32 value. ``{"skipped": why}`` without libNVVM."""
    try:
        from numba import cuda, types
        from numba.cuda.cudadrv import nvvm

        from cuda_sim_check import _patch_for_ptx_without_nvrtc

        _patch_for_ptx_without_nvrtc()
        if not nvvm.is_available():
            return dict(skipped="libNVVM not found")
    except Exception as exc:  # numba-cuda internals differ: nothing to check with
        return dict(skipped=f"cannot set up PTX compilation: {type(exc).__name__}: {exc}")
    from dynsys.kernels.cuda import integrators as ic

    def arr(nf, nd):
        return types.Array(nf, nd, "C")

    k, d, ks = 3, 4, 2
    out = dict(compiled=[], bad_f32=[], f64_seen_in_float64=[])
    # (method, dtype, residual, linear, norm_code, unroll)
    # the float32 rk4 kernel holds the nonlinear field, the float32 dopri5 kernel the controller
    specs = [("gd", "float64", True, False, 0, False), ("rk4", "float32", False, False, 1, False),
             ("dopri5", "float64", False, False, 0, False), ("dopri5", "float32", True, True, 1, True)]
    for method, dt, hu, lin, nc, un in specs:
        nf = getattr(types, dt)
        kern = ic.kernel_for(method, k, d, ks, dt, hu, lin, nc, un)
        model = (arr(nf, 3), arr(nf, 2), arr(nf, 2), arr(nf, 1), arr(nf, 1), arr(nf, 1), nf, nf, nf)
        outs = (arr(nf, 1), arr(nf, 1), arr(types.int64, 1), arr(nf, 1), arr(types.int8, 1))
        if method == "dopri5":
            scal = (nf, nf, nf, types.int64, nf, nf, nf)
        else:
            scal = (nf, types.int64, nf, nf, types.int64, nf)
        ptx, _ = cuda.compile_ptx(kern.py_func, model + scal + outs, cc=(9, 0))
        name = f"{method} {dt} u={hu} lin={lin} norm={nc} unroll={un}"
        out["compiled"].append(name)
        # any float64 operation, load, store or conversion (registers are named %fd..., not .f64)
        has_f64 = re.search(r"\.f64\b", ptx) is not None
        if dt == "float32" and has_f64:
            out["bad_f32"].append(name)
        if dt == "float64":  # the pattern does see float64 code (the check is not vacuous)
            out["f64_seen_in_float64"].append(has_f64)
    return out


if __name__ == "__main__":
    if "--ptx" in sys.argv:
        report = ptx_check()
    else:
        report = dict(results=run_all("tiny"), variants=launch_variants(), nonfinite=nonfinite_start())
    print(json.dumps(report))
    sys.stdout.flush()
