"""Is a refactoring slower? Time the same public calls on two source trees, interleaved.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_trees.py OLD_TREE NEW_TREE \
        [--repeats 5] [--only NAME ...]

``OLD_TREE`` and ``NEW_TREE`` are checkouts of dynsys (e.g. ``git worktree add /tmp/old <commit>``).
Each repeat runs every workload once per tree, in a fresh process per tree (so both pay the same
cache loads, and machine noise hits both alike), alternating which tree goes first. Compile time
is excluded: each process warms every workload once, then times it over about a second of calls
(at least three) and keeps the median. Prints the median over repeats per workload and tree, and the ratio new / old (above 1.03 is a slowdown beyond the 3% budget).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from _common import row

WORKLOADS = {
    # name: (setup, timed statement); both run with dynsys imported as ds and numpy as np
    "grad k=d=10 n=1e4": (
        "m = ds.TeacherStudent(np.eye(10)); W = np.random.default_rng(0).normal(size=(10000, 10, 10))",
        "m.grad(W)"),
    "hessian k=d=10 n=1e3": (
        "m = ds.TeacherStudent(np.eye(10)); W = np.random.default_rng(0).normal(size=(1000, 10, 10))",
        "m.hessian(W)"),
    "flow gd k=d=10 n=400": (
        "m = ds.TeacherStudent(np.eye(10)); W = np.random.default_rng(1).normal(scale=0.3, size=(400, 10, 10))",
        "ds.flow(m, W, method='gd', step=0.1, gtol=1e-9, progress=False)"),
    "flow dopri5 k=d=10 n=100": (
        "m = ds.TeacherStudent(np.eye(10)); W = np.random.default_rng(2).normal(scale=0.3, size=(100, 10, 10))",
        "ds.flow(m, W, method='dopri5', gtol=1e-6, progress=False)"),
    "newton k=d=10 seeds=1000": (
        "m = ds.TeacherStudent(np.eye(10)); rng = np.random.default_rng(3); "
        "S = np.concatenate([np.eye(10) + 0.05 * rng.normal(size=(500, 10, 10)), "
        "rng.normal(scale=0.3, size=(500, 10, 10))])",
        "ds.find_critical_points(m, S)"),
    "census k=8 n=300": (
        "m = ds.TeacherStudent(np.eye(8))",
        "ds.census(m, 300, seed=0, progress=False)"),
    "sgd k=d=10 runs=8": (
        "m = ds.TeacherStudent(0.1 * np.eye(10), residual=np.eye(10)); "
        "W = np.random.default_rng(4).normal(scale=0.01, size=(8, 10, 10))",
        "ds.sgd(m, W, n_samples=5000, batch_size=16, step=0.2, epochs=3, seed=0)"),
    "monte_carlo k=d=10 N=2e6": (
        "m = ds.TeacherStudent(np.eye(10)); W = np.random.default_rng(5).normal(size=(10, 10))",
        "ds.monte_carlo(m, W, 2_000_000, seed=0)"),
}

_CHILD = r"""
import json, sys, time
import numpy as np
import dynsys as ds
names = json.loads(sys.argv[1])
workloads = json.loads(sys.argv[2])
out = {}
for name in names:
    setup, stmt = workloads[name]
    env = {"ds": ds, "np": np}
    exec(setup, env)
    t = time.perf_counter()
    exec(stmt, env)  # compile / cache load
    first = time.perf_counter() - t
    # calls for about a second (at least 3), median: one call of a short workload is mostly noise
    times = []
    for _ in range(max(3, min(50, int(1.0 / max(first, 1e-3))))):
        t = time.perf_counter()
        exec(stmt, env)
        times.append(time.perf_counter() - t)
    out[name] = sorted(times)[len(times) // 2]
print(json.dumps(out))
"""


def run_tree(tree, names):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(names), json.dumps(WORKLOADS)],
                          env=env, capture_output=True, text=True, cwd=os.path.abspath(tree))
    if proc.returncode != 0:
        raise SystemExit(f"run in {tree} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", nargs="*", default=None, help="workload names (default: all)")
    args = ap.parse_args()
    names = args.only or list(WORKLOADS)
    unknown = set(names) - set(WORKLOADS)
    if unknown:
        raise SystemExit(f"unknown workload(s) {sorted(unknown)}; valid: {list(WORKLOADS)}")
    times = {"old": {n: [] for n in names}, "new": {n: [] for n in names}}
    t0 = time.time()
    for r in range(args.repeats):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        for which in order:
            res = run_tree(getattr(args, which), names)
            for n in names:
                times[which][n].append(res[n])
        print(f"repeat {r + 1}/{args.repeats} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    print(f"{'workload':28s} {'old (s)':>9s} {'new (s)':>9s} {'new/old':>8s}")
    for n in names:
        o, w = statistics.median(times["old"][n]), statistics.median(times["new"][n])
        print(f"{n:28s} {o:9.4f} {w:9.4f} {w / o:8.3f}")
        same = os.path.realpath(args.old) == os.path.realpath(args.new)
        peer = "same tree, other process" if same else "old tree"
        # the same tree twice measures the noise of a ratio, which no budget applies to
        row(f"trees: {n}", w, "s", {peer: o}, higher_is_better=False,
            target=None if same else (peer, ">=", 1 / 1.03),
            note=f"median of {args.repeats} repeats" + (": the ratio is the noise floor" if same else ""))


if __name__ == "__main__":
    main()
