"""Basin-map benchmark: slice maps at k = d = 4 and Xavier starts at k = d = 8; cells per second.

Targets (issue "Basins", item 11): at k = d = 4, 250 x 250 cells in under a minute and 10^6 cells
in under 15 minutes on 2 cores; 10^5 Xavier starts at k = d = 8; against a plain per-point
NumPy/SciPy loop on a sample.

Run::

    NUMBA_NUM_THREADS=2 python benchmarks/bench_basins.py [--sizes 250,1000] [--xavier 100000]
                                                          [--baseline 20] [--gtol 1e-9] [--smoke]

Prints the machine, the warm-up (compile or cache load) apart, then per workload the wall time,
cells per second, the flow and classification shares, the mean gd steps per cell and the fractions
per class with 95% Wilson intervals. ``--baseline N`` times a plain loop on the first N cells of the
first slice: gradient descent in NumPy on the closed-form gradient (docs/math.md section 2), one state
at a time, then ``dynsys.classify`` on the endpoint (the per-point path: Newton, dense Hessian
spectrum), checks that it labels those cells as the map does, and scales its per-cell cost to the
map. Every workload runs twice, without and with label on entry (``entry=True``; at k = d = 8 the
balls are centred on the attractors of the run without it, as a pilot map gives them): the entry line
gives the wall time, the gd steps saved and whether the labels are identical. ``--no-entry`` skips it.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import dynsys as ds
from _common import machine, row


def _grad_numpy(W, Ws):
    """grad L for a = a* = 1, ReLU (docs/math.md section 2): ``2 pi grad_j = pi w_j + sum_{i != j}
    [(pi - t_ji) w_i + |w_i| sin t_ji e_j] - sum_k [(pi - t*_jk) w*_k + |w*_k| sin t*_jk e_j]``."""
    n = np.linalg.norm(W, axis=1)
    ns = np.linalg.norm(Ws, axis=1)
    E = W / n[:, None]
    t = np.arccos(np.clip(E @ E.T, -1.0, 1.0))
    ts = np.arccos(np.clip(E @ (Ws / ns[:, None]).T, -1.0, 1.0))
    np.fill_diagonal(t, 0.0)
    G = (np.pi - t) @ W + (n[None, :] * np.sin(t)).sum(axis=1)[:, None] * E
    G -= (np.pi - ts) @ Ws + (ns[None, :] * np.sin(ts)).sum(axis=1)[:, None] * E
    return G / (2.0 * np.pi)


def baseline(model, starts, step=0.1, gtol=1e-9):
    """Per-point loop: NumPy gd to ``gtol`` (row max), then ``dynsys.classify``; (kinds, perms, s/cell)."""
    Ws = np.asarray(model.W_star)
    out = []
    t0 = time.perf_counter()
    for W in starts:
        W = np.array(W)
        for _ in range(10**6):
            G = _grad_numpy(W, Ws)
            if np.max(np.linalg.norm(G, axis=1)) <= gtol:
                break
            W = W - step * G
        cp = ds.classify(model, W)
        out.append((cp.kind, None if cp.permutation is None else tuple(int(p) for p in cp.permutation)))
    return out, (time.perf_counter() - t0) / len(starts)


def report(name, r, wall):
    n = r.n_done
    print(f"{name}: {r.n} cells in {wall:.1f} s = {r.n / wall:,.0f} cells/s ({1e3 * wall / r.n:.3f} ms/cell); "
          f"flow {r.flow_time:.1f} s, classify {r.classify_time:.1f} s; mean gd steps "
          f"{np.mean(r.steps):.0f}; {len(r.attractors)} labels")
    row(f"basins {name}", wall, "s", higher_is_better=False, note=f"{r.n / wall:,.0f} cells/s",
        target={250**2: (None, "<=", 60.0), 10**6: (None, "<=", 900.0)}.get(r.n))
    for c, f in r.class_fractions.items():
        lo, hi = r.class_intervals[c]
        print(f"    class {c} ({r.class_kind(c)}): {100 * f:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]")
    for lab in (-1, -2, -3, -4):
        if r.fractions[lab] and n:
            lo, hi = r.intervals[lab]
            print(f"    {ds.Label(lab).name.lower()}: {100 * r.fractions[lab]:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]")


def entry_report(model, sampler, r, wall, gtol, attractors=None):
    """Run ``sampler`` again with label on entry and compare with the full map ``r`` (wall ``wall``)."""
    t0 = time.perf_counter()
    re = ds.basins(model, sampler, gtol=gtol, entry=True, attractors=attractors)
    we = time.perf_counter() - t0
    ent = re.status == ds.Status.ENTERED
    print(f"    label on entry: {we:.1f} s ({wall / we:.2f}x), flow {re.flow_time:.1f} s; gd steps "
          f"{int(re.steps.sum()):,} against {int(r.steps.sum()):,} ({100 * (1 - re.steps.sum() / r.steps.sum()):.1f}% "
          f"saved); {100 * ent.mean():.1f}% of the cells entered a ball; labels identical: "
          f"{bool(np.array_equal(re.labels, r.labels))}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="250,1000", help="slice sides at k = d = 4, e.g. 250,1000")
    p.add_argument("--xavier", type=int, default=100_000, help="Xavier starts at k = d = 8 (0: skip)")
    p.add_argument("--baseline", type=int, default=20, help="cells for the plain per-point loop (0: skip)")
    p.add_argument("--gtol", type=float, default=1e-9,
                   help="gd stopping tolerance (Newton refines every endpoint after it; docs/basins.md)")
    p.add_argument("--no-entry", action="store_true", help="skip the label-on-entry runs")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: check that the script runs")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.smoke:
        sizes, args.xavier, args.baseline = [20], 200, 3
    print(machine())
    m4 = ds.TeacherStudent(np.eye(4))
    t0 = time.perf_counter()
    ds.basins(m4, ds.teacher_slice(m4, [1, 0, 2, 3], shape=(4, 4)))
    print(f"warm-up (compile or cache load): {time.perf_counter() - t0:.1f} s")
    first = None
    for side in sizes:
        g = ds.teacher_slice(m4, [1, 0, 2, 3], shape=(side, side))
        t0 = time.perf_counter()
        r = ds.basins(m4, g, gtol=args.gtol)
        wall = time.perf_counter() - t0
        report(f"slice k = d = 4, {side} x {side}, gtol {args.gtol:g}", r, wall)
        if not args.no_entry:
            entry_report(m4, g, r, wall, args.gtol)
        first = first or (g, r)
    if args.xavier:
        m8 = ds.TeacherStudent(np.eye(8))
        t0 = time.perf_counter()
        r = ds.basins(m8, ds.Xavier(args.xavier, seed=0), gtol=args.gtol)
        wall = time.perf_counter() - t0
        report(f"Xavier k = d = 8, {args.xavier} starts, gtol {args.gtol:g}", r, wall)
        if not args.no_entry:  # 8! teacher permutations: the balls of the reached attractors instead
            entry_report(m8, ds.Xavier(args.xavier, seed=0), r, wall, args.gtol, attractors=r)
    if args.baseline and first is not None:
        g, r = first
        idx = np.linspace(0, g.n - 1, args.baseline).astype(int)
        got, per_cell = baseline(m4, g.points(m4)[idx], gtol=args.gtol)
        agree = 0
        for i, (kind, perm) in zip(idx, got):
            lab = int(r.labels[i])
            if lab >= 0:
                a = r.attractors[lab]
                agree += kind == a.kind and perm == tuple(int(x) for x in a.permutation)
            else:
                agree += (lab == ds.Label.SADDLE and kind == "saddle") or (lab == ds.Label.SINGULAR)
        map_per_cell = (r.flow_time + r.classify_time) / r.n
        print(f"plain per-point loop (NumPy gd + dynsys.classify) on {len(idx)} cells: {1e3 * per_cell:.1f} "
              f"ms/cell, {per_cell / map_per_cell:.0f}x the map's {1e3 * map_per_cell:.3f} ms/cell "
              f"(-> {per_cell * r.n / 60:.1f} min for the {int(math.sqrt(r.n))}^2 map); agrees on {agree} of "
              f"{len(idx)} cells")
        row("basins per cell, k=d=4 slice", 1e3 * map_per_cell, "ms/cell",
            {"numpy gd + classify per point": 1e3 * per_cell}, higher_is_better=False,
            note=f"plain loop on {len(idx)} cells, agrees on {agree}")


if __name__ == "__main__":
    main()
