"""Trajectories per second of the CUDA flow integrators (``dynsys.flow(..., backend="cuda")``).

Run on a machine with an NVIDIA GPU (without one it stops at once with a message, exit status 2)::

    python benchmarks/bench_flow_cuda.py [--quick] [--n N] [--k K [K ...]] [--cpu-sample S]

For k = d = 10 (``--k``, one or several; at 100 the batch is a tenth), a batch of 10^5 trajectories (``--n``; ``--quick``: 10^4), W* and W0 with
N(0, 1/d) entries and alpha = 0: gd (step 0.1) and dopri5 (rtol 1e-6, atol 1e-8), both to gtol 1e-5
or 2000 steps, in float64 through ``dynsys.flow`` and in float32 through
``dynsys.kernels.cuda.integrators.run`` (``flow`` takes float64 states). Compile time (the first call,
on a small batch) is printed apart; run time is one timed call after it (transfers included) and is
reported as trajectories/s and gradient evaluations/s (gd: one per step, dopri5: six per accepted
step; its rejected steps, which the CUDA path does not return, are not counted). The first ``--cpu-sample`` trajectories are rerun
with ``backend="parallel"`` (timed too, for the ratio) and compared: equal statuses and step counts,
max state difference.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numpy as np

from _common import machine, row


def _fail(msg: str):
    print(f"bench_flow_cuda: {msg}", file=sys.stderr)
    sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="batch 10^4 instead of 10^5")
    ap.add_argument("--n", type=int, default=None, help="trajectories (default 10^5)")
    ap.add_argument("--k", type=int, nargs="+", default=[10], help="k = k* = d, one or several (default 10)")
    ap.add_argument("--cpu-sample", type=int, default=2000, help="trajectories rerun on the CPU")
    args = ap.parse_args()
    try:
        from numba import cuda
    except Exception as exc:
        _fail(f"numba-cuda is not usable here ({exc}); install dynsys[cuda] on a GPU machine")
    if not cuda.is_available():
        _fail("no CUDA GPU found: this benchmark needs one (the CPU flows: benchmarks/bench_flow.py)")
    print(machine())
    for k in args.k:
        run_k(args, k, n_default=args.n or (10**4 if args.quick else 10**5))


def run_k(args, k, n_default):
    from numba import cuda

    from dynsys import TeacherStudent
    from dynsys._codes import NORM_CODES
    from dynsys.flow import flow
    from dynsys import config
    from dynsys.kernels.cuda import integrators as integrators_cuda

    d = k
    n = n_default if k < 100 else max(1, n_default // 10)
    rng = np.random.default_rng(2024)
    model = TeacherStudent(rng.standard_normal((k, d)) / math.sqrt(d))
    W0 = rng.standard_normal((n, k, d)) / math.sqrt(d)
    dev = getattr(cuda, "get_current_device", None)  # the CUDA simulator has none
    name = getattr(dev(), "name", "(simulator)") if dev else "(simulator)"
    print(f"GPU: {name.decode() if isinstance(name, bytes) else name}; k = k* = d = {k}, n = {n}, alpha = 0")
    runs = {"gd": dict(step=0.1, gtol=1e-5, max_steps=2000),
            "dopri5": dict(step=0.1, gtol=1e-5, max_steps=2000, rtol=1e-6, atol=1e-8, polish=False)}
    arr = model.arrays
    tnorm = float(np.sqrt((arr.T ** 2).sum(axis=1)).max())
    div = config.FLOW_DIVERGENCE_FACTOR * (1.0 + tnorm)
    warnings.simplefilter("ignore", RuntimeWarning)
    for method, kw in runs.items():
        for dtype in ("float64", "float32"):
            def call(W):
                if dtype == "float64":
                    r = flow(model, W, method=method, backend="cuda", **kw)
                    return r.W, r.steps, r.status
                out = integrators_cuda.run(method, W.astype(np.float32), arr.U, arr.T, arr.tn, arr.a,
                                           arr.a_star, arr.alpha, arr.const, arr.tol, kw["step"], math.inf,
                                           kw["gtol"], NORM_CODES["row_max"], kw["max_steps"], div,
                                           kw.get("rtol", 1e-8), kw.get("atol", 1e-10))
                return out[0], out[3], out[5]

            t0 = time.perf_counter()
            call(W0[:64])
            t_compile = time.perf_counter() - t0
            t0 = time.perf_counter()
            W, steps, status = call(W0)
            t_run = time.perf_counter() - t0
            evals = float(steps.sum()) * (6.0 if method == "dopri5" else 1.0)
            counts = {int(s): int(c) for s, c in zip(*np.unique(status, return_counts=True))}
            print(f"{method:7s} {dtype}: compile+first call {t_compile:6.1f} s; run {t_run:8.3f} s = "
                  f"{n / t_run:12.0f} trajectories/s, {evals / t_run:.3g} gradients/s; mean steps "
                  f"{steps.mean():.1f}; statuses {counts}")
            peers = {}
            if dtype == "float64" and args.cpu_sample > 0:
                s = min(args.cpu_sample, n)
                t0 = time.perf_counter()
                ref = flow(model, W0[:s], method=method, backend="parallel", **kw)
                t_cpu = time.perf_counter() - t0
                same_st = float(np.mean(ref.status == status[:s]))
                same_n = float(np.mean(ref.steps == steps[:s]))
                werr = float(np.max(np.abs(ref.W - W[:s])))
                print(f"        CPU (parallel, {s} trajectories): {s / t_cpu:12.0f} trajectories/s "
                      f"(GPU/CPU {(n / t_run) / (s / t_cpu):.1f}x); equal statuses {same_st:.4f}, "
                      f"equal steps {same_n:.4f}, max |W_gpu - W_cpu| {werr:.2e}")
                peers["cpu parallel"] = s / t_cpu
            row(f"cuda flow {method} k=d={k} {dtype}, batch {n}", n / t_run, "traj/s", peers,
                note=f"{evals / t_run:.3g} gradients/s; compile {t_compile:.1f} s", section="gpu")


if __name__ == "__main__":
    main()
