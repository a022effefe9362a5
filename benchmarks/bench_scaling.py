"""Scaling curves of the field and the gd flow: time against batch size, k = d, d and threads.

Run::

    python benchmarks/bench_scaling.py [--quick] [--out benchmarks/scaling.png]

W* = I_k padded to d columns, states with N(0, 1/d) entries, seed 0. The field is ``m.grad(batch)``
(time per gradient, best of several calls); the gd flow is ``dynsys.flow(method="gd")`` for a fixed
number of steps (gtol 1e-300, so that every trajectory takes every step; time per step per
trajectory). Three sweeps, each on 1 and 2 Numba threads (``numba.set_num_threads``): batch size at
k = d = 10; k = d at a fixed batch; d at k = 10 and a fixed batch. The figure has one row per job and
one column per sweep, log-log axes; its data are the rows this script records.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numba
import numpy as np

import dynsys as ds
from _common import machine, row
from dynsys.progress import CompileWarning


def _best(fn, repeat=5, min_time=0.05):
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    calls = max(1, int(min_time / once))
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def _model(k, d):
    return ds.TeacherStudent(np.eye(k, d))


def per_state(job, k, d, n, steps, rng):
    """Seconds per state: one gradient (field) or one gd step (flow)."""
    m = _model(k, d)
    W = rng.normal(scale=1 / np.sqrt(d), size=(n, k, d))
    if job == "field":
        return _best(lambda: m.grad(W)) / n
    return _best(lambda: ds.flow(m, W, method="gd", step=0.01, gtol=1e-300, max_steps=steps,
                                 progress=False),
                 repeat=3) / (n * (steps + 1))


def sweeps(quick):
    if quick:
        return {"batch": [(10, 10, n) for n in (10, 100, 1000, 4000)],
                "k = d": [(k, k, 200) for k in (2, 5, 10, 20, 40)],
                "d (k = 10)": [(10, d, 200) for d in (10, 20, 50, 100)]}
    return {"batch": [(10, 10, n) for n in (10, 100, 1000, 10_000, 50_000)],
            "k = d": [(k, k, 1000) for k in (2, 5, 10, 20, 50, 100)],
            "d (k = 10)": [(10, d, 1000) for d in (10, 20, 50, 100, 200)]}


def measure(quick):
    rng = np.random.default_rng(0)
    steps = 5 if quick else 20
    threads = sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})
    data = {}
    old = numba.get_num_threads()
    try:
        for job in ("field", "gd flow"):
            for sweep, pts in sweeps(quick).items():
                for t in threads:
                    numba.set_num_threads(t)
                    data[job, sweep, t] = [(k, d, n, per_state(job, k, d, n, steps, rng)) for k, d, n in pts]
    finally:
        numba.set_num_threads(old)
    return data, threads


def figure(data, threads, path):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    jobs = ("field", "gd flow")
    cols = ("batch", "k = d", "d (k = 10)")
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), constrained_layout=True)
    for i, job in enumerate(jobs):
        for j, sweep in enumerate(cols):
            ax = axes[i, j]
            for t in threads:
                pts = data[job, sweep, t]
                x = [p[2] if sweep == "batch" else p[0] if sweep == "k = d" else p[1] for p in pts]
                ax.loglog(x, [p[3] * 1e6 for p in pts], "o-", label=f"{t} thread{'s' if t > 1 else ''}")
            fixed = "k = d = 10" if sweep == "batch" else f"batch {data[job, sweep, threads[0]][0][2]}"
            ax.set_title(f"{job}: {sweep} ({fixed})", fontsize=10)
            ax.set_xlabel({"batch": "batch size", "k = d": "k = d", "d (k = 10)": "d"}[sweep])
            ax.set_ylabel("µs per gradient" if job == "field" else "µs per gd step per trajectory")
            ax.set_xticks(x)
            plain = FuncFormatter(lambda v, _: f"{v:g}")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # labels within a decade
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_major_formatter(plain)
                axis.set_minor_formatter(NullFormatter())
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("dynsys scaling: time per state (W* = I, N(0, 1/d) states)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller batches and fewer points")
    p.add_argument("--out", default=str(Path(__file__).with_name("scaling.png")))
    args = p.parse_args(argv)
    print("machine:", machine())
    warnings.simplefilter("ignore", CompileWarning)  # the compile notice, once per kernel
    data, threads = measure(args.quick)
    for (job, sweep, t), pts in data.items():
        print(f"{job:8s} {sweep:11s} {t} thr: " +
              ", ".join(f"k={k} d={d} n={n}: {s * 1e6:.3g} us" for k, d, n, s in pts))
    for job in ("field", "gd flow"):
        if len(threads) > 1:
            k, d, n, s1 = data[job, "batch", 1][-1]
            s2 = data[job, "batch", threads[-1]][-1][3]
            row(f"{job}: speed-up on {threads[-1]} threads, k=d={k}, batch {n}", s1 / s2, "x",
                section="scaling", note="time on 1 thread / time on 2")
        k0, _, _, a = data[job, "k = d", threads[-1]][0]
        k1, _, _, b = data[job, "k = d", threads[-1]][-1]
        row(f"{job}: cost growth k=d {k0} -> {k1}", np.log(b / a) / np.log(k1 / k0), "exponent",
            section="scaling", note="slope of log time against log k (3 if the pairs' d-loops dominate)")
    figure(data, threads, args.out)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
