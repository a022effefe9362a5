"""Critical points: batched Newton roots/s against SciPy's per-seed root finder.

Run (NumPy/SciPy's BLAS is slowed by OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE on these machines; unset both
for this command only, never in tests or CI, so the SciPy baseline is a fair one)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_critical.py [--quick]

``bench_newton()``: k = d = 10, W* = I. 10^4 seeds, half near the teacher (a random row permutation
of W* plus Gaussian noise of standard deviation drawn uniformly in [1e-2, 1e-1] per seed), half random
(entries N(0, 1/d)). dynsys refines all of them at once (:func:`dynsys.critical.refine`: damped
Newton / Levenberg-Marquardt with the exact Hessian, all cores); the baseline is
``scipy.optimize.root(method="hybr")`` (MINPACK's hybrj) with the same analytic Jacobian, one seed
at a time, on a sample of 50 seeds (25 of each kind), timed and extrapolated. SciPy's residual and
Jacobian are the library's own compiled per-state kernels (a few microseconds per call), so the
baseline pays no dynsys dispatch overhead. A root is a state whose row-max gradient norm is at most
``ROOT_TOL`` (1e-10) for both solvers. Prints the machine, compile (or cache-load) time apart from
run time, wall and CPU time, roots/s of each and the ratio, separately for near and random seeds;
then classifies the distinct points found and checks that every reported minimum has gradient norm
<= 1e-10, printing its smallest Hessian eigenvalue.

``bench_census()``: the census of k = 6..12 x 1000 runs, wall time per k (``bench_census.py``).
Design notes and the measurements behind the Newton kernel's choices: ``docs/newton.md``.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numba
import numpy as np
from numba import njit

import dynsys as ds
from _common import machine, row
from dynsys.critical import find_critical_points, refine
from dynsys.critical.shared import kernel_view, row_max
from dynsys.kernels.newton import grad_at, hess_at
from dynsys.systems import teacher_student as ts

#: A state is a root when its row-max gradient norm is at most this (both solvers).
ROOT_TOL = 1e-10
#: The brief's claim: every reported minimum has gradient norm at most this.
MIN_GTOL = 1e-10




def seeds(k, d, n_near, n_random, rng):
    """Near-teacher seeds (permuted W* = I plus noise, sd in [1e-2, 1e-1]) then random ones."""
    W_star = np.eye(k, d)
    near = np.empty((n_near, k, d))
    for i in range(n_near):
        sd = rng.uniform(1e-2, 1e-1)
        near[i] = W_star[rng.permutation(k)] + sd * rng.standard_normal((k, d))
    rand = rng.standard_normal((n_random, k, d)) / math.sqrt(d)
    return near, rand


@njit(cache=True)
def _ts_grad(x, fa, nwork):
    k = fa.a.shape[0]
    d = fa.T.shape[1]
    X = x.reshape((k, d))
    G = np.empty((k, d))
    V = np.empty((k, d))
    H = np.empty((1, 1))
    grad_at(0, X, fa, V, G, H, np.empty(nwork))
    return G.reshape(k * d)


@njit(cache=True)
def _ts_hess(x, fa):
    k = fa.a.shape[0]
    d = fa.T.shape[1]
    X = x.reshape((k, d))
    n = k * d
    m = max(k, d)
    H = np.empty((n, n))
    hess_at(0, X, fa, np.empty((k, d)), H, np.empty((k, d)), np.empty((ts.HESS_SCRATCH_ROWS, m)), np.empty(m))
    return H


def scipy_roots(model, S, xtol):
    """``scipy.optimize.root(hybr)`` per seed: (time per seed, residuals, wall total)."""
    from scipy.optimize import root

    view = kernel_view(model)
    k, d = model.k, model.d

    def fun(x):
        return _ts_grad(x, view.arrays, view.nwork)

    def jac(x):
        return _ts_hess(x, view.arrays)

    fun(S[0].reshape(-1))
    jac(S[0].reshape(-1))
    res = np.empty(len(S))
    t0, c0 = time.perf_counter(), time.process_time()
    for i, s in enumerate(S):
        r = root(fun, s.reshape(-1), jac=jac, method="hybr", options={"xtol": xtol})
        g = fun(r.x).reshape(k, d)
        res[i] = row_max(g) if np.all(np.isfinite(g)) else np.inf
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall / len(S), res, cpu / len(S)


def bench_newton(quick: bool = False):
    k = d = 10
    n_half = 500 if quick else 5000
    n_sample = 25
    rng = np.random.default_rng(2017)
    m = ds.TeacherStudent(np.eye(k, d))
    near, rand = seeds(k, d, n_half, n_half, rng)
    print(f"\n== Newton from {2 * n_half} seeds, k = d = {k}, W* = I ==")
    t0 = time.perf_counter()
    refine(m, near[:2])
    print(f"compile (or cache load): {time.perf_counter() - t0:.2f} s")

    out = {}
    for name, S in (("near", near), ("random", rand)):
        w0, c0 = time.perf_counter(), time.process_time()
        r = refine(m, S)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        roots = int(np.sum(r.residual <= ROOT_TOL))
        out[name] = (S, r, wall, cpu, roots)
        print(f"dynsys {name:>6}: {len(S)} seeds in {wall:.3f} s wall ({cpu:.3f} s CPU, "
              f"{numba.get_num_threads()} threads): {roots} roots ({ds.results.status_counts(r.status)}), "
              f"{roots / wall:.0f} roots/s; {np.mean(r.steps):.1f} steps and "
              f"{np.mean(r.hessians):.2f} Hessians per seed")

    print(f"scipy.optimize.root(hybr, analytic Jacobian), per seed, {n_sample} seeds of each kind:")
    tot_dyn_roots = tot_dyn_wall = tot_sp_roots = tot_sp_time = 0.0
    for name in ("near", "random"):
        S, r, wall, cpu, roots = out[name]
        for xtol in (1.49012e-08, 1e-13):
            per, res, per_cpu = scipy_roots(m, S[:n_sample], xtol)
            sp_roots = int(np.sum(res <= ROOT_TOL))
            rate = sp_roots / (per * n_sample) if sp_roots else 0.0
            rate_cpu = sp_roots / (per_cpu * n_sample) if sp_roots else 0.0
            # dynsys on the same sample, for the success rates side by side
            dyn_sample = int(np.sum(r.residual[:n_sample] <= ROOT_TOL))
            ratio = (roots / wall) / rate if rate > 0 else math.inf
            ratio_cpu = (roots / cpu) / rate_cpu if rate_cpu > 0 else math.inf
            print(f"  {name:>6}, xtol={xtol:.0e}: {per * 1e3:.3f} ms/seed ({per_cpu * 1e3:.3f} ms CPU), "
                  f"{sp_roots}/{n_sample} roots (dynsys {dyn_sample}/{n_sample} on the same seeds); "
                  f"{rate:.1f} roots/s extrapolated; dynsys/SciPy roots/s = {ratio:.1f} wall "
                  f"(2 threads vs 1), {ratio_cpu:.1f} per CPU-second")
            if xtol > 1e-10:
                tot_sp_roots += sp_roots * len(S) / n_sample
                tot_sp_time += per * len(S)
        tot_dyn_roots += roots
        tot_dyn_wall += wall
    ratio = (tot_dyn_roots / tot_dyn_wall) / (tot_sp_roots / tot_sp_time)
    print(f"all {2 * n_half} seeds: dynsys {tot_dyn_roots / tot_dyn_wall:.0f} roots/s, SciPy (default xtol, "
          f"extrapolated) {tot_sp_roots / tot_sp_time:.1f} roots/s: ratio {ratio:.1f} "
          f"(target >= 10 on 2 cores)")
    row(f"Newton roots k=d={k}, {2 * n_half} seeds", tot_dyn_roots / tot_dyn_wall, "roots/s",
        {"scipy optimize.root hybr": tot_sp_roots / tot_sp_time}, target=("scipy optimize.root hybr", ">=", 10.0),
        note=f"SciPy per seed on {n_sample} seeds of each kind, extrapolated")

    # classification of what was found, and the claim on minima
    S = np.concatenate([near, rand])
    t0 = time.perf_counter()
    cs = find_critical_points(m, S)
    print(f"\nfind_critical_points (Newton + dedup up to symmetry + classification): "
          f"{time.perf_counter() - t0:.2f} s, {len(cs)} distinct points")
    kinds = {}
    for p, c in zip(cs, cs.counts):
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    print(f"kinds: {kinds}")
    worst = 0.0
    for i, p in enumerate(cs):
        if p.kind in ("global_minimum", "spurious_minimum", "minimum", "degenerate"):
            worst = max(worst, p.grad_norm)
            print(f"  {p.kind:<16} seeds={int(cs.counts[i]):>5} loss={p.loss:.6e} |g|={p.grad_norm:.1e} "
                  f"lambda_min={p.lambda_min:.4e} lambda_min/lambda_max={p.lambda_min / p.lambda_max:.2e}")
    print(f"largest gradient norm of a reported minimum: {worst:.1e} "
          f"({'<=' if worst <= MIN_GTOL else 'ABOVE'} {MIN_GTOL:.0e})")
    row("largest gradient norm of a find_critical_points minimum", worst, "row-max norm",
        higher_is_better=False, target=(None, "<=", MIN_GTOL), note=f"{len(cs)} distinct points")


def bench_census(quick=False):
    """Census of W* = I_k, k = 6..12 x 1000 runs (``--quick``: k = 6..8 x 200), wall time per k, with
    the plain-loop baseline on 100 runs per k; the implementation is ``benchmarks/bench_census.py``."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_census import bench_census as run

    return run(range(6, 9) if quick else range(6, 13), 200 if quick else 1000,
               baseline_runs=20 if quick else 100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10^3 seeds instead of 10^4")
    ap.add_argument("--no-census", action="store_true", help="Newton only (bench_census.py runs the census)")
    args = ap.parse_args()
    print(machine())
    bench_newton(args.quick)
    if not args.no_census:
        print()
        bench_census(args.quick)


if __name__ == "__main__":
    main()
