"""Basin-map benchmark: the three workloads of the basin targets, with cells per second, the
label-on-entry speed-up and the ratio to a plain per-point NumPy/SciPy loop.

Targets: at k = d = 4 on 2 cores, a 250 x 250 slice map in under a minute and 10^6 cells in under
15 minutes; 10^5 Xavier starts at k = d = 8.

Run (on a quiet machine; the OpenBLAS overrides of this machine's environment are unset so that
NumPy's eigensolvers take their default kernels)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE NUMBA_NUM_THREADS=2 python benchmarks/bench_basins.py
        [--side 250] [--big 1000] [--big-sample 10000] [--full-big] [--xavier 100000]
        [--compare 10000] [--baseline 20] [--gtol 1e-9] [--smoke]

Jobs:

1. ``slice``: ``teacher_slice(m, [1, 0, 2, 3])`` at k = d = 4, ``--side`` squared cells, whole.
2. ``big``: the same slice at ``--big`` squared cells (10^6). By default a strided sub-grid of about
   ``--big-sample`` cells (every s-th cell in both directions) is run and the wall time is
   extrapolated by the cell count (the sub-grid has the slice's mix of short and long runs);
   ``--full-big`` runs every cell instead.
3. ``xavier``: ``--xavier`` Xavier starts at k = d = 8 (seed 0), whole.

Each job runs with the defaults (label on entry on: ``entry=None``). The entry speed-up is measured
on a strided sample of at most ``--compare`` cells of the job, run with ``entry=False`` and with
the default; the line says whether their labels are identical. The peer is a per-point loop (NumPy
gradient descent on the closed-form gradient of docs/math.md section 2, then ``dynsys.classify``)
on ``--baseline`` cells of the job; its per-cell time over the map's gives the ratio.

Times: ``wall`` is what the job took; ``cpu`` is the process's CPU time (all threads). On a shared
machine the wall time is inflated by other processes while the CPU time is not, so each line also
gives ``cpu / threads``, the wall time to expect on a quiet machine with this many threads.
"""

from __future__ import annotations

import argparse
import math
import time

import numba
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


def baseline(model, starts, step=0.1, gtol=1e-9, max_steps=10**5):
    """Per-point loop: NumPy gd to ``gtol`` (row max), then ``dynsys.classify``; (kinds, perms, s/cell)."""
    Ws = np.asarray(model.W_star)
    out = []
    t0 = time.perf_counter()
    for W in starts:
        W = np.array(W)
        for _ in range(max_steps):
            G = _grad_numpy(W, Ws)
            if np.max(np.linalg.norm(G, axis=1)) <= gtol:
                break
            W = W - step * G
        cp = ds.classify(model, W)
        out.append((cp.kind, None if cp.permutation is None else tuple(int(p) for p in cp.permutation)))
    return out, (time.perf_counter() - t0) / len(starts)


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    r = fn()
    return r, time.perf_counter() - t0, time.process_time() - c0


def strided(model, sampler, side, count):
    """About ``count`` cells of a ``side`` x ``side`` grid sampler, every s-th in both directions
    (cell centres of the sub-grid), as an array of starts with their cell indices."""
    s = max(1, round(math.sqrt(side * side / count)))
    rows = np.arange(s // 2, side, s)
    idx = (rows[:, None] * side + rows[None, :]).ravel()
    W = np.concatenate([sampler.points(model, r * side, (r + 1) * side)[rows] for r in rows])
    return W, idx


def sample(model, sampler, count):
    """At most ``count`` starts of a sampler, evenly spread over its index range."""
    idx = np.unique(np.linspace(0, sampler.n - 1, min(count, sampler.n)).astype(int))
    return np.concatenate([sampler.points(model, i, i + 1) for i in idx]), idx


def report(name, r, wall, cpu, scale=1.0):
    """One job's line: cells/s, wall and cpu (extrapolated by ``scale`` cells when sampled)."""
    th = numba.get_num_threads()
    ext = f" -> {scale * r.n:,.0f} cells: wall {scale * wall:.0f} s, cpu/threads {scale * cpu / th:.0f} s" \
        if scale != 1.0 else ""
    print(f"{name}: {r.n:,} cells, wall {wall:.1f} s ({r.n / wall:,.0f} cells/s), cpu {cpu:.1f} s "
          f"(cpu/{th} threads {cpu / th:.1f} s = {r.n * th / cpu:,.0f} cells/s on a quiet machine){ext}; "
          f"flow {r.flow_time:.1f} s, classify {r.classify_time:.1f} s; mean gd steps {np.mean(r.steps):.0f}, "
          f"{100 * np.mean(r.entered):.1f}% entered a ball; {len(r.attractors)} labels")
    for c, f in r.class_fractions.items():
        lo, hi = r.class_intervals[c]
        print(f"    class {c} ({r.class_kind(c)}): {100 * f:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]")
    for lab in (-1, -2, -3, -4):
        if r.fractions[lab] and r.n_done:
            lo, hi = r.intervals[lab]
            print(f"    {ds.Label(lab).name.lower()}: {100 * r.fractions[lab]:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]")
    return scale * wall, scale * cpu / th


def compare_entry(model, W, gtol):
    """``entry=False`` against the default on the starts ``W``: (cpu speed-up, line)."""
    r0, w0, c0 = timed(lambda: ds.basins(model, W, gtol=gtol, entry=False))
    r1, w1, c1 = timed(lambda: ds.basins(model, W, gtol=gtol))
    line = (f"    label on entry on {len(W):,} cells: cpu {c0:.1f} s -> {c1:.1f} s ({c0 / c1:.2f}x; wall "
            f"{w0:.1f} -> {w1:.1f} s, {w0 / w1:.2f}x); gd steps {int(r0.steps.sum()):,} -> {int(r1.steps.sum()):,} "
            f"({100 * (1 - r1.steps.sum() / r0.steps.sum()):.1f}% saved); labels identical: "
            f"{bool(np.array_equal(r0.labels, r1.labels))}")
    return c0 / c1, line


def peer(model, W, r, idx, gtol):
    """The per-point loop on starts ``W`` (cells ``idx`` of the map ``r``): (s/cell, agreement line)."""
    got, per_cell = baseline(model, W, gtol=gtol)
    agree = 0
    for i, (kind, perm) in zip(idx, got):
        lab = int(r.labels[i])
        if lab >= 0:
            a = r.attractors[lab]
            agree += kind == a.kind and (a.permutation is None or perm == tuple(int(x) for x in a.permutation))
        else:
            agree += (lab == ds.Label.SADDLE and kind == "saddle") or lab == ds.Label.SINGULAR
    return per_cell, f"agrees with the map on {agree} of {len(idx)} cells"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", type=int, default=250, help="side of the slice map at k = d = 4 (0: skip)")
    p.add_argument("--big", type=int, default=1000, help="side of the big slice map (0: skip)")
    p.add_argument("--big-sample", type=int, default=10_000, help="cells of the big map's strided sub-grid")
    p.add_argument("--full-big", action="store_true", help="run every cell of the big map")
    p.add_argument("--xavier", type=int, default=100_000, help="Xavier starts at k = d = 8 (0: skip)")
    p.add_argument("--compare", type=int, default=10_000, help="cells per job for the entry speed-up (0: skip)")
    p.add_argument("--baseline", type=int, default=20, help="cells per job for the per-point loop (0: skip)")
    p.add_argument("--gtol", type=float, default=1e-9,
                   help="gd stopping tolerance (Newton refines every endpoint after it; docs/basins.md)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: check that the script runs")
    args = p.parse_args(argv)
    if args.smoke:
        args.side, args.big, args.big_sample, args.xavier, args.compare, args.baseline = 20, 40, 400, 200, 100, 2
    print(machine())
    m4 = ds.TeacherStudent(np.eye(4))
    m8 = ds.TeacherStudent(np.eye(8))
    _, t, _ = timed(lambda: (ds.basins(m4, ds.Xavier(8, seed=1)), ds.basins(m4, ds.Xavier(8, seed=1), entry=False),
                             ds.basins(m8, ds.Xavier(8, seed=1))))
    print(f"warm-up (compile or cache load): {t:.1f} s")
    rows = []
    jobs = []
    if args.side:
        jobs.append(("slice", m4, ds.teacher_slice(m4, [1, 0, 2, 3], shape=(args.side, args.side)), args.side,
                     False, 60.0 if args.side == 250 else None))  # the targets are for these sizes
    if args.big:
        jobs.append(("big", m4, ds.teacher_slice(m4, [1, 0, 2, 3], shape=(args.big, args.big)), args.big,
                     not args.full_big, 900.0 if args.big == 1000 else None))
    if args.xavier:
        jobs.append(("xavier", m8, ds.Xavier(args.xavier, seed=0), None, False, None))
    for name, m, S, side, sub, target in jobs:
        scale = 1.0
        if sub:
            W, idx = strided(m, S, side, args.big_sample)
            r, wall, cpu = timed(lambda: ds.basins(m, W, gtol=args.gtol))
            scale = S.n / len(W)
            title = f"{name}: k = d = {m.k}, {side} x {side} slice, strided sub-grid of {len(W):,} cells"
        else:
            r, wall, cpu = timed(lambda: ds.basins(m, S, gtol=args.gtol))
            idx = np.arange(S.n)
            title = (f"{name}: k = d = {m.k}, " + (f"{side} x {side} slice" if side else f"{S.n:,} Xavier starts"))
        w_job, q_job = report(title, r, wall, cpu, scale)
        speed = math.nan
        if args.compare:
            if side and not sub:
                Wc, _ = strided(m, S, side, args.compare)
            elif sub:
                Wc = W[np.unique(np.linspace(0, len(W) - 1, min(args.compare, len(W))).astype(int))]
            else:
                Wc, _ = sample(m, S, args.compare)
            speed, line = compare_entry(m, Wc, args.gtol)
            print(line)
        ratio = math.nan
        if args.baseline:
            pick = np.unique(np.linspace(0, len(idx) - 1, args.baseline).astype(int))
            Wb = W[pick] if sub else np.concatenate([S.points(m, int(i), int(i) + 1) for i in idx[pick]])
            per_cell, agree = peer(m, Wb, r, pick if sub else idx[pick], args.gtol)
            map_cell = wall / r.n
            ratio = per_cell / map_cell
            print(f"    plain per-point loop (NumPy gd + dynsys.classify) on {len(pick)} cells: {1e3 * per_cell:.0f} "
                  f"ms/cell, {ratio:,.0f}x the map's {1e3 * map_cell:.3f} ms/cell (wall); {agree}")
        rows.append((name, scale * r.n, w_job, q_job, speed, ratio, target))
        # the per-point loop's time for the whole job, by its per-cell cost (it is run on a sample)
        peers = {} if math.isnan(ratio) else {"numpy gd + classify per point": ratio * w_job}
        row(f"basins {name}, {scale * r.n:,.0f} cells", w_job, "s", peers, higher_is_better=False,
            target=None if target is None else (None, "<=", target),
            note=(f"{scale * r.n / w_job:,.0f} cells/s; quiet estimate (cpu/threads) {q_job:.0f} s; "
                  f"label-on-entry speed-up {speed:.2f}x" + (" (extrapolated from a strided sub-grid)" if sub else "")))
    print("\nsummary (wall as measured, extrapolated by cell count for a sampled job; quiet = cpu / threads):")
    print(f"{'job':8s} {'cells':>10s} {'wall s':>8s} {'quiet s':>8s} {'cells/s':>9s} {'entry x':>8s} {'peer x':>8s}  target")
    for name, n, w, q, sp, ra, tg in rows:
        tgt = "" if tg is None else f"< {tg:.0f} s: wall {'met' if w < tg else 'missed'}, quiet {'met' if q < tg else 'missed'}"
        print(f"{name:8s} {n:>10,.0f} {w:>8.1f} {q:>8.1f} {n / w:>9,.0f} {sp:>8.2f} {ra:>8,.0f}  {tgt}")


if __name__ == "__main__":
    main()
