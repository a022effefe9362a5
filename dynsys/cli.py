"""The dynsys command: reproduce the papers' figures and claims, run censuses and flows.

Commands:

  reproduce   compute every analysis of the papers, save its data, draw its figures, write claims.md
  figures     redraw the figures and the claims table from saved data (nothing is recomputed)
  census      gradient descent from random starts; classes of minima with fractions (saves a Census)
  flow        integrate or descend a batch of random starts (saves a FlowResult)
  basins      a basin map from a TOML config (store, result, figure; resumes a stopped run)
  warmup      compile and cache every kernel now, so that first calls are fast
  bench       run the benchmarks of a source checkout against their peers; write benchmarks/RESULTS.md
  info        versions and threads

Run 'dynsys COMMAND --help' for the options of one command.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

_MODEL_KEYS = ("k", "d", "student_k", "alpha", "teacher", "a", "a_star")


def _fmt_s(s):
    if s is None:
        return "unknown"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _reproduce(args) -> int:
    from . import reproduce as rp
    try:
        mods = rp.select(args.only)
    except rp.ReproduceError as exc:
        print(f"dynsys reproduce: {exc}", file=sys.stderr)
        return 2
    per, total = rp.estimate(mods, args.quick, args.out)
    size = "quick" if args.quick else "full (the papers' sizes)"
    print(f"dynsys reproduce, {size}: {len(mods)} analyses into {Path(args.out).resolve()}")
    if not args.quick:
        unknown = [n for n, s in per.items() if s is None]
        print(f"estimated time on 2 cores: {_fmt_s(total)}" +
              (f" plus {len(unknown)} analyses without an estimate" if unknown else "") +
              " (--quick takes a few minutes)")
    t0 = time.perf_counter()
    try:
        res = rp.run(mods.keys(), quick=args.quick, out=args.out, jobs=args.jobs, force=args.force,
                     mnist=args.mnist, log=print)
    except (PermissionError, rp.ReproduceError) as exc:
        print(f"dynsys reproduce: {exc}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - t0:.0f} s: {len(res['figures'])} figure files, "
          f"{len(res['claims'])} claims in {res['claims_md']} and {res['claims_json'].name}")
    if res["failed"]:
        print(f"FAILED: {', '.join(res['failed'])} (errors above)", file=sys.stderr)
        return 1
    return 0


def _figures(args) -> int:
    from . import reproduce as rp
    try:
        res = rp.redraw(args.only, out=args.out, log=print)
    except (PermissionError, rp.ReproduceError) as exc:
        print(f"dynsys figures: {exc}", file=sys.stderr)
        return 2
    print(f"{len(res['figures'])} figure files; claims in {res['claims_md']}")
    return 0


def _model_spec(args):
    """Model settings from --config (its [model] table) overridden by flags given explicitly."""
    spec = {}
    sections = {}
    if args.config:
        try:
            sections = tomllib.loads(Path(args.config).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"--config {args.config}: {exc}") from None
        spec.update(sections.get("model", {}))
        unknown = set(spec) - set(_MODEL_KEYS)
        if unknown:
            raise ValueError(f"--config {args.config}: unknown [model] keys {sorted(unknown)}; known: "
                             f"{', '.join(_MODEL_KEYS)}")
    for key in ("k", "d", "student_k", "alpha"):
        val = getattr(args, key)
        if val is not None:
            spec[key] = val
    return spec, sections


def _build_model(spec):
    import numpy as np

    import dynsys as ds
    teacher = spec.get("teacher", "identity")
    if isinstance(teacher, str):
        if teacher != "identity":
            raise ValueError(f"teacher must be 'identity' or a matrix (list of rows); got {teacher!r}")
        k = int(spec.get("k", 5))
        d = int(spec.get("d", k))
        if k < 1 or d < k:
            raise ValueError(f"need k >= 1 and d >= k for the identity teacher I_k padded to d columns; "
                             f"got k = {k}, d = {d}")
        W_star = np.eye(k, d)
    else:
        W_star = np.asarray(teacher, dtype=float)
    return ds.TeacherStudent(W_star, k=spec.get("student_k"), alpha=float(spec.get("alpha", 0.0)),
                             a=spec.get("a"), a_star=spec.get("a_star"))


def _settings(sections, name, args, keys):
    out = dict(sections.get(name, {}))
    for key in keys:
        val = getattr(args, key)
        if val is not None:
            out[key] = val
    return out


def _census(args) -> int:
    import dynsys as ds
    try:
        spec, sections = _model_spec(args)
        m = _build_model(spec)
        s = _settings(sections, "census", args, ("runs", "seed", "step", "gtol", "max_steps"))
        n = int(s.pop("runs", 100))
        print(f"census of {m}: {n} runs", flush=True)
        c = ds.census(m, n, progress=True, **s)
    except (ValueError, TypeError) as exc:
        print(f"dynsys census: {exc}", file=sys.stderr)
        return 2
    print(c.table())
    path = c.save(args.out, model=m)
    print(f"saved {path} (dynsys.load reads it)")
    return 0


def _flow(args) -> int:
    import numpy as np

    import dynsys as ds
    try:
        spec, sections = _model_spec(args)
        m = _build_model(spec)
        s = _settings(sections, "flow", args, ("starts", "seed", "method", "step", "gtol", "max_steps", "scale"))
        n = int(s.pop("starts", 100))
        seed = int(s.pop("seed", 0))
        scale = float(s.pop("scale", 1.0))
        rng = np.random.default_rng(seed)
        W0 = rng.normal(scale=scale / np.sqrt(m.d), size=(n, m.k, m.d))
        print(f"flow of {m}: {n} starts, entries N(0, ({scale}/sqrt(d))^2), seed {seed}", flush=True)
        r = ds.flow(m, W0, progress=True, **s)
    except (ValueError, TypeError) as exc:
        print(f"dynsys flow: {exc}", file=sys.stderr)
        return 2
    print(r.summary())
    path = r.save(args.out, model=m, meta={"starts": f"normal, scale {scale}/sqrt(d)", "seed": seed})
    print(f"saved {path} (dynsys.load reads it)")
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


def _bench(args) -> int:
    from . import benchreport as br

    try:
        bench_dir = br.find_bench_dir(args.dir)
        gpu = br.cuda_present()
        names = br.select(bench_dir, args.only, gpu)
    except br.BenchError as exc:
        print(f"dynsys bench: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else bench_dir / "RESULTS.md"
    print(f"dynsys bench{' --quick' if args.quick else ''}: {len(names)} scripts from {bench_dir} "
          f"({'with' if gpu else 'no'} CUDA GPU); report {out}", flush=True)
    if not args.quick:
        print("full sizes take an hour or more on 2 cores; --quick takes minutes once the kernels are "
              "cached (dynsys warmup)", flush=True)
    res = br.run(bench_dir, quick=args.quick, only=args.only, out=out, timeout=args.timeout, gpu=gpu,
                 log=lambda line: print(line, flush=True))
    print(f"wrote {res['path']}" + (f"; targets missed: {'; '.join(res['missed'])}" if res["missed"] else
                                     "; no target missed"))
    failed = [r.name for r in res["runs"] if r.returncode != 0]
    if failed:
        print(f"FAILED or stopped: {', '.join(failed)} (their output is in the report)", file=sys.stderr)
        return 1
    return 0


def _info(args) -> int:
    import numba
    import numpy as np

    import dynsys as ds

    print(f"dynsys {ds.__version__}, numpy {np.__version__}, numba {numba.__version__}, "
          f"threads {numba.get_num_threads()}")
    return 0


def _model_args(p):
    g = p.add_argument_group("model (flags override the [model] table of --config)")
    g.add_argument("--config", metavar="TOML", help="a TOML file with [model] and a table per command")
    g.add_argument("--k", type=int, help="teacher width: teacher I_k padded to d columns (default 5)")
    g.add_argument("--d", type=int, help="input dimension (default k)")
    g.add_argument("--student-k", dest="student_k", type=int, help="student width (default k)")
    g.add_argument("--alpha", type=float, help="leaky-ReLU slope (default 0, ReLU)")


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``dynsys`` (plain-text help)."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="dynsys", usage="dynsys [-h] COMMAND [options]", description=__doc__,
                                formatter_class=fmt)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS)

    q = sub.add_parser("reproduce", help="figures and claims of the papers", formatter_class=fmt,
                       description="Compute every analysis of the papers (or those named by --only), save its "
                                   "data (NAME.npz + NAME.json), draw its figures (PNG and PDF) and write "
                                   "claims.md and claims.json under --out. Saved data of this version and size "
                                   "is reused; --force recomputes.")
    q.add_argument("--quick", action="store_true", help="small sizes: minutes in all on 2 cores")
    q.add_argument("--only", nargs="+", metavar="NAME", help="analysis names or paper groups (000, 001, 002)")
    q.add_argument("--out", default="figures", help="output folder (default ./figures)")
    q.add_argument("--jobs", type=int, default=1, help="analyses computed at once (default 1)")
    q.add_argument("--force", action="store_true", help="recompute even when saved data exists")
    q.add_argument("--mnist", default=None, metavar="DIR",
                   help="folder with the four MNIST IDX files (optionally .gz): identity_digits trains on them "
                        "instead of scikit-learn's digits")
    q.set_defaults(func=_reproduce)

    q = sub.add_parser("figures", help="redraw figures and claims from saved data", formatter_class=fmt,
                       description="Redraw the figures and rewrite claims.md from the data in --out. Data "
                                   "written by another dynsys version is recomputed (and said so).")
    q.add_argument("--only", nargs="+", metavar="NAME", help="analysis names or paper groups")
    q.add_argument("--out", default="figures", help="folder holding the data (default ./figures)")
    q.set_defaults(func=_figures)

    q = sub.add_parser("census", help="classes of minima reached from random starts", formatter_class=fmt,
                       description="Gradient descent from Xavier starts, endpoints refined and classified "
                                   "(dynsys.census); prints the table and saves the Census.")
    _model_args(q)
    q.add_argument("--runs", type=int, help="number of runs (default 100)")
    q.add_argument("--seed", type=int)
    q.add_argument("--step", type=float, help="gradient-descent step (default 0.1)")
    q.add_argument("--gtol", type=float, help="gradient-norm stop (default 1e-9)")
    q.add_argument("--max-steps", dest="max_steps", type=int)
    q.add_argument("--out", default="census.npz", help="result file (default census.npz)")
    q.set_defaults(func=_census)

    q = sub.add_parser("flow", help="trajectories from random starts", formatter_class=fmt,
                       description="Gradient descent or ODE flow (dynsys.flow) from normal random starts; "
                                   "prints a summary and saves the FlowResult.")
    _model_args(q)
    q.add_argument("--starts", type=int, help="number of starts (default 100)")
    q.add_argument("--scale", type=float, help="start entries ~ N(0, (scale/sqrt(d))^2) (default 1)")
    q.add_argument("--seed", type=int)
    q.add_argument("--method", choices=("gd", "euler", "rk4", "dopri5"))
    q.add_argument("--step", type=float)
    q.add_argument("--gtol", type=float)
    q.add_argument("--max-steps", dest="max_steps", type=int)
    q.add_argument("--out", default="flow.npz", help="result file (default flow.npz)")
    q.set_defaults(func=_flow)

    q = sub.add_parser("basins", help="basin map from a TOML config", formatter_class=fmt,
                       description="Run (or resume) the basin map a TOML config describes and write its store, "
                                   "result and figure (docs/basins.md).")
    q.add_argument("config", help="e.g. analyses/configs/teacher_slice_k4.toml")
    q.add_argument("--scheduler", default=None, help="dask scheduler address (tcp://host:8786)")
    q.set_defaults(func=_basins)

    q = sub.add_parser("warmup", help="compile and cache every kernel now", formatter_class=fmt,
                       description="Compile and cache every kernel the public API uses (both CPU backends), so "
                                   "that first calls in later processes load from the cache in milliseconds.")
    q.set_defaults(func=_warmup)

    q = sub.add_parser("bench", help="benchmarks against peers; writes benchmarks/RESULTS.md", formatter_class=fmt,
                       description="Run every benchmark script of a source checkout (benchmarks/; the CUDA ones "
                                   "only where a CUDA GPU is present), each in its own process with the "
                                   "OpenBLAS overrides removed, and write one Markdown report: machine, "
                                   "versions, per job dynsys's figure and each peer's, the ratios, the "
                                   "targets, the fraction of the machine's peak, the scaling figure "
                                   "(docs/benchmarks.md). Run it from the repository's root.")
    q.add_argument("--quick", action="store_true", help="each script's small size (minutes in all)")
    q.add_argument("--only", nargs="+", metavar="NAME", help="script names, e.g. field flow (default: all)")
    q.add_argument("--out", default=None, help="the report (default benchmarks/RESULTS.md)")
    q.add_argument("--dir", default=None, help="the benchmarks folder (default ./benchmarks)")
    q.add_argument("--timeout", type=float, default=None, help="seconds per script (default: none)")
    q.set_defaults(func=_bench)

    q = sub.add_parser("info", help="versions and threads")
    q.set_defaults(func=_info)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
