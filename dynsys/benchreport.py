"""``dynsys bench``: run the benchmark scripts of a source checkout and write one report.

The scripts live in ``benchmarks/`` of the repository, not in the installed package, so the runner
needs a checkout: it looks in ``./benchmarks`` and beside the ``dynsys`` package it imports, or
where ``bench_dir`` says. Each script runs in its own process with ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` removed from its environment (they slow NumPy's BLAS on some machines, and the
NumPy and SciPy peers must be fair ones) and ``DYNSYS_BENCH_JSON`` naming a file where the script's
``_common.row`` calls leave its result rows (docs/benchmarks.md). The report is Markdown: machine,
versions, load, one table of jobs with every peer and ratio, targets met or missed, the measured
peak, the scaling figure, the GPU jobs, and each script's own output.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

#: Scripts in the order they run. The CUDA ones run only where a CUDA GPU is present.
SCRIPTS = ("bench_peak", "bench_field", "bench_flow", "bench_critical", "bench_census", "bench_trees",
           "bench_basins", "bench_continuation", "bench_scaling")
CUDA_SCRIPTS = ("bench_field_cuda", "bench_flow_cuda")

#: Extra arguments per script, full and quick. "{root}" is the checkout; bench_trees compares the
#: checkout with itself, which times its workloads and shows the noise floor of a ratio;
#: bench_critical leaves the census to bench_census.
ARGS = {
    "bench_census": (["--baseline", "50"], []),
    "bench_critical": (["--no-census"], ["--no-census"]),
    "bench_flow_cuda": (["--k", "10", "50", "100"], ["--k", "10", "50", "100"]),
    "bench_trees": (["{root}", "{root}", "--repeats", "3"],
                    ["{root}", "{root}", "--repeats", "1", "--only", "grad k=d=10 n=1e4", "flow gd k=d=10 n=400"]),
    # quick: the 250 x 250 map (its target) without the big map, a smaller Xavier job
    "bench_basins": ([], ["--big", "0", "--xavier", "2000", "--compare", "2000", "--baseline", "3"]),
}
QUICK_FLAG = {"bench_peak", "bench_field", "bench_flow", "bench_critical", "bench_census", "bench_continuation",
              "bench_scaling", "bench_field_cuda", "bench_flow_cuda"}
SCRUBBED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
ROWS_ENV = "DYNSYS_BENCH_JSON"
PEERS_PKGS = ("numpy", "numba", "scipy", "jax", "jaxlib", "diffrax", "numba-cuda")


class BenchError(Exception):
    """The benchmarks cannot run (no checkout, unknown script name)."""


@dataclass
class ScriptRun:
    """One script's run: exit status, wall time, its rows and its output."""

    name: str
    argv: list
    returncode: int | None
    wall: float
    rows: list = field(default_factory=list)
    output: str = ""
    skipped: str = ""


def find_bench_dir(bench_dir=None) -> Path:
    """The ``benchmarks/`` folder: ``bench_dir``, else ``./benchmarks``, else beside the package."""
    if bench_dir is not None:
        cands = [Path(bench_dir)]
    else:
        cands = [Path.cwd() / "benchmarks", Path(__file__).resolve().parents[1] / "benchmarks"]
    for c in cands:
        if (c / "_common.py").is_file():
            return c.resolve()
    raise BenchError(
        "dynsys bench runs the scripts of a source checkout, and found no benchmarks/ folder with "
        f"_common.py in {', '.join(str(c) for c in cands)}: run it from the repository's root "
        "(git clone, then pip install -e '.[bench]') or pass --dir PATH/TO/benchmarks")


def cuda_present() -> bool:
    """Whether a CUDA GPU answers (numba's CUDA driver), without raising."""
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - no driver, no numba-cuda: no GPU
        return False


def select(bench_dir: Path, only=None, gpu=None):
    """Script names to run, in order; ``only`` names a subset (with or without ``bench_``)."""
    gpu = cuda_present() if gpu is None else gpu
    known = [n for n in SCRIPTS + CUDA_SCRIPTS if (bench_dir / f"{n}.py").is_file()]
    known += sorted(p.stem for p in bench_dir.glob("bench_*.py") if p.stem not in known)
    if only:
        want = [n if n.startswith("bench_") else f"bench_{n}" for n in only]
        unknown = [n for n in want if n not in known]
        if unknown:
            raise BenchError(f"--only: unknown benchmark {', '.join(unknown)}; known: {', '.join(known)}")
        names = [n for n in known if n in want]
    else:
        names = known
    return [n for n in names if gpu or n not in CUDA_SCRIPTS]


def script_argv(name: str, quick: bool, root: Path) -> list:
    full, short = ARGS.get(name, ([], []))
    argv = list(short if quick else full)
    if quick and name in QUICK_FLAG:
        argv.append("--quick")
    return [a.replace("{root}", str(root)) for a in argv]


def run_script(bench_dir: Path, name: str, argv, timeout=None) -> ScriptRun:
    """Run ``bench_dir/name.py argv`` in a subprocess with the scrubbed environment; collect its rows."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("MPLBACKEND", "Agg")
    with tempfile.TemporaryDirectory() as tmp:
        rows_path = Path(tmp) / "rows.json"
        env[ROWS_ENV] = str(rows_path)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(bench_dir / f"{name}.py"), *argv], env=env,
                                  cwd=bench_dir.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=timeout)
            rc, out = proc.returncode, proc.stdout
        except subprocess.TimeoutExpired as exc:
            rc = None
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            out += f"\n[stopped after the {timeout:.0f} s limit]"
        wall = time.perf_counter() - t0
        rows = []
        if rows_path.is_file():
            rows = json.loads(rows_path.read_text()).get("rows", [])
    return ScriptRun(name, list(argv), rc, wall, rows, out)


def machine_info() -> dict:
    """CPU model, cores, memory, Numba threads and the load average."""
    cpu = platform.processor() or platform.machine()
    mem = math.nan
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal"))
        mem = kb / 2**20
    except (OSError, StopIteration, ValueError):
        pass
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            fl = next(line.split(":", 1)[1].split() for line in f if line.startswith("flags"))
        flags = " ".join(x for x in ("avx2", "fma", "avx512f") if x in fl)
    except (OSError, StopIteration):
        pass
    import numba

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem, "simd": flags,
            "numba_threads": numba.get_num_threads(), "platform": platform.platform()}


def versions() -> dict:
    """Python and the installed versions of NumPy, Numba, SciPy and the peers (None: not installed)."""
    out = {"python": platform.python_version()}
    for pkg in PEERS_PKGS:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def run(bench_dir=None, quick=False, only=None, out=None, timeout=None, gpu=None, log=None) -> dict:
    """Run the benchmarks and write the report.

    Parameters
    ----------
    bench_dir : path, optional
        The ``benchmarks/`` folder (default: found by :func:`find_bench_dir`).
    quick : bool
        Each script's small size (the whole run in minutes).
    only : list of str, optional
        Script names (``field`` or ``bench_field``).
    out : path, optional
        The report (default ``bench_dir/RESULTS.md``).
    timeout : float, optional
        Seconds per script; a script past it is stopped and its finished rows kept.
    gpu : bool, optional
        Whether to run the CUDA scripts (default: whether a CUDA GPU is present).
    log : callable, optional
        Called with one line of progress per script.

    Returns
    -------
    dict
        ``runs`` (list of ScriptRun), ``path`` (the report), ``missed`` (jobs whose target is missed).
    """
    bench_dir = find_bench_dir(bench_dir)
    gpu = cuda_present() if gpu is None else gpu
    names = select(bench_dir, only, gpu)
    out = Path(out) if out is not None else bench_dir / "RESULTS.md"
    log = log or (lambda s: None)
    meta = {"machine": machine_info(), "versions": versions(), "quick": quick, "gpu": gpu,
            "load_start": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": "dynsys bench" + (" --quick" if quick else "") +
                       (f" --only {' '.join(only)}" if only else "")}
    runs = []
    t0 = time.perf_counter()
    for name in names:
        argv = script_argv(name, quick, bench_dir.parent)
        log(f"{name} {' '.join(argv)}".rstrip() + " ...")
        r = run_script(bench_dir, name, argv, timeout)
        r.argv = ["." if a == str(bench_dir.parent) else a for a in argv]  # no local paths in the report
        runs.append(r)
        state = "ok" if r.returncode == 0 else "stopped" if r.returncode is None else f"exit {r.returncode}"
        log(f"  {state} in {r.wall:.0f} s, {len(r.rows)} rows")
    meta["load_end"] = os.getloadavg()
    meta["wall"] = time.perf_counter() - t0
    text = report(runs, meta, figure=bench_dir / "scaling.png", out=out)
    out.write_text(text)
    missed = [row["job"] for r in runs for row in r.rows if row.get("met") is False]
    return {"runs": runs, "path": out, "missed": missed}


# ---------------------------------------------------------------- the report
def _num(x):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    a = abs(x)
    s = f"{x:.3g}" if (a == 0 or 1e-3 <= a < 1e5) else f"{x:.2e}"
    return s


def _ratio(x):
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.2f}x" if x < 10 else f"{x:.0f}x"


def _target_text(t):
    what = "dynsys" if t["peer"] is None else "roofline fraction" if t["peer"] == "peak_fraction" \
        else f"x {t['peer']}"
    mark = {True: "met", False: "**missed**", None: "not measured"}[t["met"]]
    val = t["value"]
    return f"{what} {t['op']} {val:g}: {mark}"


def _table(rows):
    lines = ["| job | dynsys | units | peers (same run) | dynsys / peer | target | met |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        peers = "<br>".join(f"{k}: {_num(v)}" for k, v in row["peers"].items()) or "-"
        ratios = "<br>".join(f"{_ratio(v)}" for v in row["ratios"].values()) or "-"
        targets = "<br>".join(_target_text(t) for t in row.get("targets", [])) or "-"
        met = {True: "yes", False: "**no**", None: "-"}[row.get("met")]
        lines.append(f"| {row['job']} | {_num(row['dynsys'])} | {row['units']} | {peers} | {ratios} | "
                     f"{targets} | {met} |")
    return lines


PEAK_METHOD = """\
Measured by `benchmarks/bench_peak.py` in this run (Numba, one process):

- FMA throughput: 128 independent accumulators `y_i <- y_i * m + c` held in an L1-resident array,
  updated many times, compiled with contraction on so that the compiler emits packed FMAs (AVX-512
  where present); and a degree-32 Horner polynomial per element of a 512-element array (dependent
  within an element, independent across elements). The better of the two, on one thread and on 2
  threads (one loop per thread). Loads and stores may bound the first loop before the FMA units do,
  so this is a measured lower bound of the peak, not the data-sheet figure.
- Transcendentals: `math.acos`, `math.atan2`, `math.sin`, `math.sqrt` and dynsys's `acos_poly` (the
  arccos the field kernel uses) in a loop `y_i = f(x_i)` over 4096 arguments in [-0.99, 0.99], one
  core, the same loop writing `x_i + 1` subtracted: nanoseconds per call, throughput.
- Field job: the operations of one gradient are counted from the loops of `loss_grad`
  (dynsys/systems/teacher_student.py) at k = k* = d with M = k(k-1)/2 + k^2 pairs: row norms k d
  FMAs and k square roots; cosines M d FMAs; per pair one `acos_poly` (13-term polynomial plus a
  square root) and one square root for the sine, about 20 flops of coefficients; the gradient 2 d FMAs
  per student pair and d per teacher pair, then k d FMAs for the row's own term (`field_cost` in
  bench_field.py). "flops/grad" counts an FMA as 2. **Fraction of peak** = flop rate / FMA peak on
  all threads; **roofline fraction** = (FMAs at the measured rate + square roots and `acos_poly` at
  their measured cost, over the threads) / measured time per gradient. The angles, not the FMAs,
  bound this kernel, so the roofline fraction is the honest one.
"""

GPU_JOBS = """\
With a CUDA GPU present, `dynsys bench` also runs `bench_field_cuda.py` (gradients/s at k = d in
{10, 50, 100}, float64 and float32, every kernel variant and the default choice, against
`jax.jit(jax.vmap(jax.value_and_grad(loss)))` on the same GPU; target >= 2x JAX) and
`bench_flow_cuda.py` (trajectories/s and gradient evaluations/s of gd and dopri5 at k = d in
{10, 50, 100}, float64 through `dynsys.flow(..., backend="cuda")` and float32, against the CPU
backend on a sample; the flow has no JAX GPU peer yet).
"""


def report(runs, meta, figure=None, out=None) -> str:
    """The Markdown report of ``runs`` (list of ScriptRun) and ``meta`` (see :func:`run`)."""
    m, v = meta["machine"], meta["versions"]
    rows = [row for r in runs for row in r.rows]
    peak = [row for row in rows if row.get("extra", {}).get("section") == "peak"]
    jobs = [row for row in rows if row.get("extra", {}).get("section") not in ("peak", "scaling")]
    scaling = [row for row in rows if row.get("extra", {}).get("section") == "scaling"]
    ls = ["# Benchmark results", "",
          f"Written by `{meta['command']}` on {meta['started']}"
          f" ({'quick sizes: smoke-run figures, not the papers-size ones' if meta['quick'] else 'full sizes'}),"
          f" {meta.get('wall', 0):.0f} s in all. Regenerate with the same command from the repository's root.", "",
          "## Machine", "",
          f"- CPU: {m['cpu']}, {m['cores']} cores ({m['simd']}), {m['memory_gib']:.1f} GiB memory; "
          f"Numba threads {m['numba_threads']}; {m['platform']}",
          f"- load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in meta['load_start'])}; "
          f"at the end: {', '.join(f'{x:.2f}' for x in meta.get('load_end', meta['load_start']))}"
          + (" (above the core count: other processes shared the machine, so rates are low and noisy; "
             "ratios from interleaved runs suffer less)"
             if max(meta["load_start"][0], meta.get("load_end", (0,))[0]) > (m["cores"] or 1) else ""),
          "- each script ran in its own process with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed "
          "from its environment", "",
          "## Versions", "",
          "- " + ", ".join(f"{k} {val}" for k, val in v.items() if val is not None),
          "- not installed: " + (", ".join(k for k, val in v.items() if val is None) or "none")
          + ("" if v.get("jax") else " (the JAX and diffrax peers were skipped: pip install -e '.[bench]')"),
          "", "## Jobs", "",
          "Ratios are how many times dynsys is better than the peer (rates: dynsys / peer; times: "
          "peer / dynsys). Targets are those set when each part was built.", ""]
    ls += _table(jobs)
    notes = [f"- {row['job']}: {row['note']}" for row in jobs if row.get("note")]
    if notes:
        ls += ["", "Notes:", ""] + notes
    missed = [row for row in jobs if row.get("met") is False]
    ls += ["", "### Targets missed", ""]
    if missed:
        for row in missed:
            ts = "; ".join(f"{_target_text(t)} (measured {_num(t['actual'])})"
                           for t in row["targets"] if t["met"] is False)
            ls.append(f"- {row['job']}: {ts}")
    else:
        ls.append("- none among the jobs that ran")
    unmeasured = [row["job"] for row in jobs if row.get("targets") and row.get("met") is None]
    if unmeasured:
        ls.append("- not measured (a peer did not run): " + "; ".join(unmeasured))
    ls += ["", "## Peak of this machine", "", PEAK_METHOD]
    if peak:
        ls += [f"- {row['job']}: {_num(row['dynsys'])} {row['units']}"
               + (f" (chains {_num(row['extra']['chains'])}, Horner {_num(row['extra']['horner'])})"
                  if "chains" in row.get("extra", {}) else "") for row in peak]
    field_rows = [row for row in jobs if "peak_fraction" in row.get("extra", {})]
    if field_rows:
        ls += ["", "| field job | flops/grad | grads/s | GFLOP/s | fraction of FMA peak | roofline fraction |",
               "|---|---|---|---|---|---|"]
        for row in field_rows:
            e = row["extra"]
            ls.append(f"| {row['job']} | {e['flops_per_grad']:.0f} | {_num(row['dynsys'])} | "
                      f"{_num(e['flops_per_grad'] * row['dynsys'] / 1e9)} | {e['peak_fraction']:.1%} | "
                      f"{e['roofline_fraction']:.1%} |")
    ls += ["", "## Scaling", ""]
    if figure is not None and Path(figure).is_file():
        rel = os.path.relpath(figure, Path(out).parent) if out is not None else Path(figure).name
        ls += [f"![time against batch, k = d, d and threads]({rel})", "",
               "Time per state (field: one gradient; gd flow: one step) against the batch size, k = d and d "
               "at k = 10, on 1 and 2 threads (`benchmarks/bench_scaling.py`)."]
    else:
        ls.append("No scaling figure in this run (bench_scaling did not run).")
    if scaling:
        ls += [""] + [f"- {row['job']}: {_num(row['dynsys'])} {row['units']}"
                      + (f" ({row['note']})" if row.get("note") else "") for row in scaling]
    ls += ["", "## GPU", ""]
    if meta["gpu"]:
        ls.append("A CUDA GPU was present; its jobs are in the table above (bench_field_cuda, bench_flow_cuda).")
    else:
        ls.append("**No GPU was measured**: no CUDA GPU was present on this machine.")
    ls += ["", GPU_JOBS]
    ls += ["## Scripts", "", "| script | arguments | status | wall s | rows |", "|---|---|---|---|---|"]
    for r in runs:
        state = "ok" if r.returncode == 0 else "stopped (time limit)" if r.returncode is None \
            else f"**exit {r.returncode}**"
        ls.append(f"| {r.name} | {' '.join(r.argv) or '-'} | {state} | {r.wall:.0f} | {len(r.rows)} |")
    ls += ["", "## Output of each script", ""]
    for r in runs:
        ls += [f"<details><summary>{r.name}</summary>", "", "```", r.output.rstrip(), "```", "", "</details>", ""]
    return "\n".join(ls) + "\n"
