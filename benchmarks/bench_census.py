"""Census benchmark: W* = I_k, k = 6..12, 1000 gradient-descent runs each; wall time per k.

Target: the census of k = 6..12 x 1000 runs in under 2 minutes on 2
cores after warm-up, against about 400 s for a plain per-pair Numba gradient-descent loop; every
reported minimum with gradient norm <= 1e-10 and its smallest Hessian eigenvalue stated.

Run::

    NUMBA_NUM_THREADS=2 python benchmarks/bench_census.py [--runs 1000] [--ks 6-12] [--baseline 50]

Prints the machine, the warm-up (compile or cache-load) time apart, per k the gradient-descent and the
refine/classify wall times, the census table (k, runs, % spurious with 95% Wilson interval, distinct
spurious classes with their losses, run counts, multiplicities and smallest eigenvalues) and, with
``--baseline N``, the cost per step of a plain per-pair Numba gradient-descent loop (every ordered pair
computes its own arccos) on one thread over the first N runs of each k, scaled to the census's own step
count over the threads (the plain loop takes exactly the same steps; the script checks it).
"""

from __future__ import annotations

import argparse
import math
import time

import numba
import numpy as np
from numba import njit, prange

import dynsys as ds
from _common import machine, row
from dynsys.critical.census import census, census_sweep, random_starts




@njit(parallel=True, cache=True)
def _plain_gd(W, Ws, step, gtol, max_steps, steps):
    """The baseline: ``W <- W - step grad L`` per run, each ordered pair with its own arccos
    (docs/math.md section 2: ``2 pi grad_j = sum_i [(pi - t_ji) w_i + |w_i| sin t_ji w_j/|w_j|] - (same over
    teacher rows)``, the i = j term being ``pi w_j``); stop at row-max norm <= gtol."""
    n, k, d = W.shape
    ks = Ws.shape[0]
    for b in prange(n):
        V = W[b]
        G = np.empty((k, d))
        for s in range(max_steps + 1):
            gmax = 0.0
            for j in range(k):
                nj = math.sqrt(np.sum(V[j] * V[j]))
                acc_s = 0.0
                for l in range(d):
                    G[j, l] = 0.0
                for i in range(k):
                    ni = math.sqrt(np.sum(V[i] * V[i]))
                    c = min(1.0, max(-1.0, np.sum(V[j] * V[i]) / (nj * ni)))
                    t = math.acos(c)
                    for l in range(d):
                        G[j, l] += (math.pi - t) * V[i, l]
                    acc_s += ni * math.sin(t)
                for q in range(ks):
                    nq = math.sqrt(np.sum(Ws[q] * Ws[q]))
                    c = min(1.0, max(-1.0, np.sum(V[j] * Ws[q]) / (nj * nq)))
                    t = math.acos(c)
                    for l in range(d):
                        G[j, l] -= (math.pi - t) * Ws[q, l]
                    acc_s -= nq * math.sin(t)
                r = 0.0
                for l in range(d):
                    G[j, l] = (G[j, l] + acc_s * V[j, l] / nj) / (2.0 * math.pi)
                    r += G[j, l] * G[j, l]
                gmax = max(gmax, math.sqrt(r))
            if gmax <= gtol or s == max_steps:
                steps[b] = s
                break
            for j in range(k):
                for l in range(d):
                    V[j, l] -= step * G[j, l]


def baseline(k, n, seed=0, step=0.1, gtol=1e-9, max_steps=10**6):
    W = random_starts(k, k, n, seed=seed)
    steps = np.zeros(n, dtype=np.int64)
    t0 = time.perf_counter()
    _plain_gd(W, np.eye(k), step, gtol, max_steps, steps)
    return time.perf_counter() - t0, W, steps


def bench_census(ks=range(6, 13), n_runs=1000, seed=0, baseline_runs=0):
    """Run and print the census benchmark; return the :class:`~dynsys.results.CensusSweep`."""
    ks = tuple(ks)
    print(f"machine: {machine()}")
    t0 = time.perf_counter()
    census(ds.TeacherStudent(np.eye(3)), 4, seed=seed)          # compile or load every kernel used
    print(f"warm-up (compile / cache load of flow, Newton, Hessian kernels): "
          f"{time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    sweep = census_sweep(ks, n_runs, seed=seed, progress=False)
    total = time.perf_counter() - t0
    print(f"\ncensus W* = I_k, k = {ks[0]}..{ks[-1]}, {n_runs} runs each, gd step 0.1, gtol 1e-9 "
          f"(row max), Xavier N(0, 1/d) starts, seed {seed}")
    print(f"{'k':>3}{'gd s':>9}{'classify s':>12}{'total s':>9}{'gd steps mean':>15}{'max':>9}")
    for k, c in zip(ks, sweep.censuses):
        print(f"{k:>3}{c.flow_time:>9.2f}{c.classify_time:>12.2f}{c.wall_time:>9.2f}"
              f"{float(np.mean(c.steps)):>15.0f}{int(np.max(c.steps)):>9}")
    print(f"all k: {total:.1f} s wall ({'meets' if total < 120 else 'misses'} the 120 s target)\n")
    print(sweep.table())
    gmax = max((cl.grad_norm for c in sweep.censuses for cl in c.classes), default=float("nan"))
    print(f"\nlargest refined gradient norm over all reported minima: {gmax:.2e} "
          f"({'<=' if gmax <= 1e-10 else '>'} 1e-10)")
    full = ks == tuple(range(6, 13)) and n_runs == 1000
    row("largest gradient norm of a reported census minimum", gmax, "row-max norm", higher_is_better=False,
        target=(None, "<=", 1e-10), note=f"k = {ks[0]}..{ks[-1]}, {n_runs} runs each")
    for k, c in zip(ks, sweep.censuses):
        print()
        print(c.table())
    if baseline_runs:
        # Per-step cost of the baseline on one thread (it takes exactly dynsys's steps: checked),
        # times the census's own step count, divided over the threads: the time the plain loop would
        # take for the same census with perfect parallel scaling (a lower bound for it).
        nth = numba.get_num_threads()
        _plain_gd(random_starts(2, 2, 2), np.eye(2), 0.1, 1e-9, 10, np.zeros(2, dtype=np.int64))
        print(f"\nbaseline: plain per-pair Numba gd loop, one thread, on the first {baseline_runs} runs "
              f"of each k, scaled by the census's step count over {nth} threads")
        print(f"{'k':>3}{'us/step plain':>15}{'us/step dynsys':>16}{'plain est. s':>14}{'dynsys gd s':>13}"
              f"{'same steps':>12}")
        est = 0.0
        numba.set_num_threads(1)
        try:
            for k, c in zip(ks, sweep.censuses):
                t, _, steps = baseline(k, baseline_runs, seed=seed)
                same = bool(np.array_equal(steps, c.steps[:baseline_runs]))
                per = t / max(1, int(np.sum(steps)))
                mine = c.flow_time * nth / max(1, int(np.sum(c.steps)))
                scaled = per * float(np.sum(c.steps)) / nth
                est += scaled
                print(f"{k:>3}{1e6 * per:>15.2f}{1e6 * mine:>16.2f}{scaled:>14.1f}{c.flow_time:>13.2f}"
                      f"{str(same):>12}")
        finally:
            numba.set_num_threads(nth)
        print(f"plain-loop estimate for the whole census: {est:.0f} s; dynsys gd alone "
              f"{sum(c.flow_time for c in sweep.censuses):.1f} s; dynsys census {total:.1f} s")
    row(f"census k={ks[0]}..{ks[-1]} x {n_runs} runs", total, "s",
        {"plain per-pair numba gd (est.)": est} if baseline_runs else {}, higher_is_better=False,
        target=(None, "<=", 120.0) if full else None,
        note="the 120 s target is for k = 6..12 x 1000 runs" + (
            f"; the plain loop's gd alone, estimated from {baseline_runs} runs per k" if baseline_runs else ""))
    return sweep


def _ks(text):
    if "-" in text:
        a, b = text.split("-")
        return range(int(a), int(b) + 1)
    return [int(x) for x in text.split(",")]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--ks", type=_ks, default=range(6, 13), help="e.g. 6-12 or 6,8,10")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline", type=int, default=0, help="runs per k for the plain-loop baseline")
    p.add_argument("--quick", action="store_true", help="k = 6..8, 200 runs, baseline on 10 runs per k")
    a = p.parse_args(argv)
    if a.quick:
        a.ks, a.runs, a.baseline = range(6, 9), 200, 10
    bench_census(a.ks, a.runs, a.seed, a.baseline)


if __name__ == "__main__":
    main()
