"""What every benchmark prints and how it times: the machine line, the best-of timer, result rows.

Benchmarks run as scripts (``python benchmarks/bench_x.py``), so this folder is on ``sys.path``.
"""

from __future__ import annotations

import atexit
import math
import os
import platform
import time

import numba
import numpy as np


def machine() -> str:
    """CPU model, cores, Numba threads, NumPy and its BLAS, the OpenBLAS override and the load."""
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        blas = " " + ", ".join(f"{i['internal_api']} {i.get('architecture', '')}" for i in threadpool_info())
    except ImportError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}; {os.cpu_count()} cores; numba {numba.__version__} with {numba.get_num_threads()} "
            f"threads; numpy {np.__version__}{blas}; OPENBLAS_CORETYPE="
            f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; load average {load}")


def best_time(fn, repeat=5, min_time=0.2):
    """Best per-call wall time over ``repeat`` rounds of enough calls to last ``min_time``."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    calls = max(1, int(min_time / once))
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


# ---------------------------------------------------------------- result rows for `dynsys bench`
# Each script records its headline figures with row(); when the environment names a file in
# DYNSYS_BENCH_JSON (`dynsys bench` does), the rows are written there as JSON when the script
# exits, also after an error, so that the runner keeps what finished. Run by hand, nothing changes.
ROWS_ENV = "DYNSYS_BENCH_JSON"
_rows: list[dict] = []


def _compare(x, op, value):
    return x >= value if op == ">=" else x <= value


def row(job, dynsys, units, peers=None, *, higher_is_better=True, target=None, note="", **extra):
    """Record one job's result: the dynsys figure, each peer's figure from the same run, the target.

    Parameters
    ----------
    job : str
        What was measured, e.g. ``"field grad k=d=10, batch 10^4"``.
    dynsys : float
        dynsys's figure in ``units``.
    units : str
        e.g. ``"grads/s"``, ``"traj/s"``, ``"s"``.
    peers : dict of str to float, optional
        The same job by other means, in the same units (NaN where a peer did not run).
    higher_is_better : bool
        True for rates, False for times. The ratio of a peer is how many times dynsys is better:
        ``dynsys / peer`` for rates, ``peer / dynsys`` for times.
    target : tuple or list of tuples, optional
        ``(peer, op, value)``: the ratio against ``peer`` must be ``op`` (">=" or "<=") ``value``;
        ``(None, op, value)``: the dynsys figure itself must be ``op value``;
        ``("peak_fraction", op, value)``: the ``roofline_fraction`` given in ``extra``.
        ``met`` is True when all hold, None when one could not be measured.
    note : str
        One line for the report (sizes, caveats).
    **extra
        Further numbers the report shows (e.g. ``peak_fraction``).
    """
    peers = {name: float(v) for name, v in (peers or {}).items()}
    d = float(dynsys)
    ratios = {}
    for name, v in peers.items():
        if math.isfinite(v) and v > 0 and math.isfinite(d) and d > 0:
            ratios[name] = d / v if higher_is_better else v / d
        else:
            ratios[name] = math.nan
    targets = []
    for peer, op, value in ([target] if isinstance(target, tuple) else target or []):
        if peer == "peak_fraction":
            x = float(extra.get("roofline_fraction", math.nan))
        else:
            x = d if peer is None else ratios.get(peer, math.nan)
        targets.append({"peer": peer, "op": op, "value": value, "actual": x,
                        "met": bool(_compare(x, op, value)) if math.isfinite(x) else None})
    met = (False if any(t["met"] is False for t in targets) else
           None if not targets or any(t["met"] is None for t in targets) else True)
    _rows.append({"job": job, "dynsys": d, "units": units, "peers": peers, "ratios": ratios,
                  "higher_is_better": higher_is_better, "targets": targets, "met": met, "note": note,
                  "extra": {k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v)
                            for k, v in extra.items()}})


def _write_rows():
    path = os.environ.get(ROWS_ENV)
    if path:
        import json

        with open(path, "w") as f:
            json.dump({"rows": _rows}, f, indent=1, allow_nan=True)


atexit.register(_write_rows)
