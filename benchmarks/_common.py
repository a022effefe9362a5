"""What every benchmark prints and how it times: the machine line and the best-of timer.

Benchmarks run as scripts (``python benchmarks/bench_x.py``), so this folder is on ``sys.path``.
"""

from __future__ import annotations

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
