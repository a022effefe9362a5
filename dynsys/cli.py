"""The ``dynsys`` command.

``dynsys demo`` builds a model, evaluates the loss and the gradient at a random state and at the teacher,
and prints them with the time the kernels took to compile and to run. ``dynsys info`` prints the
versions and the threads in use. ``dynsys basins CONFIG.toml`` runs (or resumes) the basin map a TOML
config describes and writes its store, result and figure (docs/basins.md).
"""

from __future__ import annotations

import argparse
import sys
import time


def _demo(args) -> int:
    import numpy as np

    import dynsys as ds

    rng = np.random.default_rng(args.seed)
    k, d = args.k, args.d
    m = ds.TeacherStudent(np.eye(k, d))
    W = rng.normal(scale=1 / np.sqrt(d), size=(k, d))
    t0 = time.perf_counter()
    loss, g = m.loss_and_grad(W)
    t_compile = time.perf_counter() - t0
    print(f"model: {m}  (teacher W* = I, Gaussian input, ReLU)")
    print(f"random state (entries N(0, 1/d)):  loss = {loss:.6g}   |grad L|_F = {np.linalg.norm(g):.6g}")
    loss_t, g_t = m.loss_and_grad(m.W_star)
    print(f"teacher state W = W*:             loss = {loss_t:.3g}   |grad L|_F = {np.linalg.norm(g_t):.3g}")
    n = args.batch
    batch = rng.normal(scale=1 / np.sqrt(d), size=(n, k, d))
    t0 = time.perf_counter()
    m.grad(batch)
    t_run = time.perf_counter() - t0
    print(f"batch of {n} gradients: {t_run * 1e3:.1f} ms ({n / t_run:.3g} gradients/s); "
          f"first call incl. compile/cache load: {t_compile:.2f} s")
    return 0


def _info(args) -> int:
    import numba
    import numpy as np

    import dynsys as ds

    print(f"dynsys {ds.__version__}, numpy {np.__version__}, numba {numba.__version__}, "
          f"threads {numba.get_num_threads()}")
    return 0


def _warmup(args) -> int:
    import dynsys as ds
    from dynsys.config import COMPILE_ALL_S

    print(f"compiling and caching every dynsys kernel (both CPU backends): about {COMPILE_ALL_S:.0f} s "
          f"on an empty cache, a few seconds once cached", flush=True)
    times = ds.warmup(progress=False)
    for group, t in times.items():
        print(f"  {group:<9} {t:6.1f} s", flush=True)
    print(f"  {'total':<9} {sum(times.values()):6.1f} s")
    return 0


def _basins(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from dynsys.basins.config import ConfigError, run_config
    from dynsys.plotting import basin_map

    client = None
    if args.scheduler:
        from distributed import Client
        client = Client(args.scheduler)
    try:
        res, out = run_config(args.config, executor=client, progress=True)
    except ConfigError as exc:
        print(f"dynsys basins: {exc}", file=sys.stderr)
        return 2
    print(res.table())
    if res.grid_shape is not None and out["figure"] is not None:
        basin_map(res).figure.savefig(out["figure"], dpi=150)
        print(f"figure: {out['figure']}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dynsys", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="loss and gradient norm at a random state and at the teacher")
    p.add_argument("--k", type=int, default=10, help="student = teacher width (default 10)")
    p.add_argument("--d", type=int, default=10, help="input dimension (default 10)")
    p.add_argument("--batch", type=int, default=10000, help="batch size for the timing line")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo)
    p = sub.add_parser("info", help="versions and threads")
    p.set_defaults(func=_info)
    p = sub.add_parser("warmup", help="compile and cache every kernel now (first calls are then fast)")
    p.set_defaults(func=_warmup)
    p = sub.add_parser("basins", help="basin map from a TOML config (store, result, figure)")
    p.add_argument("config", help="e.g. analyses/configs/teacher_slice_k4.toml")
    p.add_argument("--scheduler", default=None, help="dask scheduler address (tcp://host:8786)")
    p.set_defaults(func=_basins)
    args = parser.parse_args(argv)
    if getattr(args, "k", 1) < 1 or getattr(args, "d", 1) < getattr(args, "k", 1):
        parser.error("--k must be >= 1 and --d >= --k (the teacher is I_k padded to d columns)")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
