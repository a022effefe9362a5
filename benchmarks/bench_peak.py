"""The machine's peak: fused multiply-add throughput and the cost of the transcendentals the kernels use.

Run::

    python benchmarks/bench_peak.py [--quick]

FMA throughput: 128 independent accumulators ``y_i <- y_i * m + c`` (an array that stays in the
L1 cache) updated ``reps`` times, compiled by Numba with contraction allowed, so that the compiler
emits packed FMAs (AVX-512 or AVX2, whichever the CPU has) over 16 or more independent chains and
the FMA latency is hidden; and a degree-32 Horner polynomial per element of a 512-element array
(32 dependent FMAs per element, independent across elements). The larger of the two is the figure,
in FMAs per second (2 flops each), on one core and on 2 threads (one such loop per thread). Loads
and stores of the accumulators may bound the first loop before the FMA units do, so the figure is a
measured lower bound of the true peak, not the data-sheet number.

Transcendentals: ``math.acos``, ``math.atan2``, ``math.sin``, ``math.sqrt`` and dynsys's own
``acos_poly`` (the branch-free arccos the field kernel uses) over 4096 arguments in a tight loop
``y_i = f(x_i)`` (the form of the kernel's flat loops, which the compiler may vectorise), one core: nanoseconds per call (throughput, not latency).

``fma_rate`` and ``transcendental_ns`` are imported by ``bench_field.py`` for its fraction of peak.
"""

from __future__ import annotations

import argparse
import math
import time

import numba
import numpy as np
from numba import njit, prange

from _common import machine, row
from dynsys.systems.teacher_student import acos_poly

_CHAINS = 128
_HORNER = 32


@njit(cache=True, fastmath={"contract"})
def _chains(y, reps):
    for _ in range(reps):
        for i in range(_CHAINS):
            y[i] = y[i] * 0.9999999 + 1e-7
    return y[0]


@njit(cache=True, fastmath={"contract"})
def _horner(x, y, reps):
    for _ in range(reps):
        for i in range(x.size):
            t = x[i]
            p = 1.0
            for _ in range(_HORNER):
                p = p * t + 0.5
            y[i] += p
    return y[0]


@njit(cache=True, parallel=True)
def _chains_par(Y, reps):
    for c in prange(Y.shape[0]):
        _chains(Y[c], reps)
    return Y[0, 0]


@njit(cache=True, parallel=True)
def _horner_par(x, Y, reps):
    for c in prange(Y.shape[0]):
        _horner(x, Y[c], reps)
    return Y[0, 0]


def _best(fn, repeat):
    fn()
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def fma_rate(threads=1, seconds=0.2, repeat=3):
    """Measured FMAs per second on ``threads`` threads: the better of the two loops (module doc)."""
    reps_c = max(1, int(seconds * 1e10 / _CHAINS / 4))
    x = np.full(512, 0.3)
    reps_h = max(1, int(seconds * 1e10 / (x.size * _HORNER) / 4))
    if threads == 1:
        y = np.ones(_CHAINS)
        yh = np.zeros(x.size)
        t_c = _best(lambda: _chains(y, reps_c), repeat)
        t_h = _best(lambda: _horner(x, yh, reps_h), repeat)
    else:
        old = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            Y = np.ones((threads, _CHAINS))
            Yh = np.zeros((threads, x.size))
            t_c = _best(lambda: _chains_par(Y, reps_c), repeat)
            t_h = _best(lambda: _horner_par(x, Yh, reps_h), repeat)
        finally:
            numba.set_num_threads(old)
    chains = threads * _CHAINS * reps_c / t_c
    horner = threads * x.size * _HORNER * reps_h / t_h
    return max(chains, horner), {"chains": chains, "horner": horner}


@njit(cache=True)
def _t_acos(x, y, reps):
    for _ in range(reps):
        for i in range(x.size):
            y[i] = math.acos(x[i])
    return y[0]


@njit(cache=True)
def _t_acos_poly(x, y, reps):
    for _ in range(reps):
        for i in range(x.size):
            y[i] = acos_poly(x[i])
    return y[0]


@njit(cache=True)
def _t_atan2(x, y, reps):
    for _ in range(reps):
        for i in range(x.size):
            y[i] = math.atan2(x[i], 1.5 - x[i])
    return y[0]


@njit(cache=True)
def _t_sin(x, y, reps):
    for _ in range(reps):
        for i in range(x.size):
            y[i] = math.sin(x[i])
    return y[0]


@njit(cache=True)
def _t_sqrt(x, y, reps):
    for _ in range(reps):
        for i in range(x.size):
            y[i] = math.sqrt(x[i] + 1.0)
    return y[0]


@njit(cache=True)
def _t_add(x, y, reps):
    for _ in range(reps):
        for i in range(x.size):
            y[i] = x[i] + 1.0
    return y[0]


def transcendental_ns(reps=100, repeat=3):
    """Nanoseconds per call of acos, acos_poly, atan2, sin, sqrt in a tight loop (one core), less the
    loop's own cost (the same loop writing ``x + 1``)."""
    x = np.random.default_rng(0).uniform(-0.99, 0.99, 4096)
    y = np.empty_like(x)
    base = _best(lambda: _t_add(x, y, reps), repeat)
    out = {}
    for name, fn in (("acos", _t_acos), ("acos_poly", _t_acos_poly), ("atan2", _t_atan2),
                     ("sin", _t_sin), ("sqrt", _t_sqrt)):
        t = _best(lambda: fn(x, y, reps), repeat)
        out[name] = max(t - base, 0.0) / (x.size * reps) * 1e9
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter loops")
    args = p.parse_args(argv)
    print("machine:", machine())
    seconds = 0.1 if args.quick else 0.5
    one, parts1 = fma_rate(1, seconds)
    two, parts2 = fma_rate(2, seconds)
    print(f"FMA throughput, 1 thread: {one / 1e9:.2f} G FMA/s = {2 * one / 1e9:.1f} GFLOP/s "
          f"(chains {parts1['chains'] / 1e9:.2f}, Horner {parts1['horner'] / 1e9:.2f} G FMA/s)")
    print(f"FMA throughput, 2 threads: {two / 1e9:.2f} G FMA/s = {2 * two / 1e9:.1f} GFLOP/s "
          f"(chains {parts2['chains'] / 1e9:.2f}, Horner {parts2['horner'] / 1e9:.2f} G FMA/s)")
    row("peak FMA, 1 thread", 2 * one / 1e9, "GFLOP/s", note="best of FMA chains and Horner loops",
        section="peak", chains=2 * parts1["chains"] / 1e9, horner=2 * parts1["horner"] / 1e9)
    row("peak FMA, 2 threads", 2 * two / 1e9, "GFLOP/s", note="one loop per thread",
        section="peak", chains=2 * parts2["chains"] / 1e9, horner=2 * parts2["horner"] / 1e9)
    ns = transcendental_ns(reps=30 if args.quick else 200)
    for name, v in ns.items():
        print(f"{name:>10}: {v:6.2f} ns per call (one core, throughput)")
        row(f"cost of {name}", v, "ns/call", higher_is_better=False, section="peak",
            note="tight loop of 4096 calls, one core, loop cost removed")


if __name__ == "__main__":
    main()
