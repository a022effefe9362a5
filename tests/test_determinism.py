"""Same seed, same bits: across Numba thread counts, chunk sizes, and processes (docs/trust.md).

Bitwise equality holds for every thread count and chunk size, and among processes that load the
kernels from Numba's cache. A process that compiles a kernel itself (empty cache) differs in the last
bits (the kernels' ``reassoc`` fastmath flag; docs/trust.md gives the measurements): the slow test
pins that bound.
"""

import dataclasses
import os
import subprocess
import sys
import tempfile

import numba
import numpy as np
import pytest

import dynsys as ds

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TWO_THREADS = numba.config.NUMBA_NUM_THREADS >= 2


def _arrays(obj, prefix="", depth=0):
    """Every numeric array and float of a result, by a dotted name."""
    out = {}
    if depth > 3:
        return out
    if isinstance(obj, (np.ndarray, float, int, np.floating, np.integer)) and not isinstance(obj, bool):
        return {prefix: np.asarray(obj)}
    if isinstance(obj, (tuple, list)):
        for i, it in enumerate(obj):
            out.update(_arrays(it, f"{prefix}[{i}]", depth + 1))
        return out
    fields = ({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj)
              else {})
    for key, val in fields.items():
        if key.endswith("_time") or key in ("elapsed", "wall_time"):
            continue  # wall clock, not a result
        out.update(_arrays(val, f"{prefix}.{key}", depth + 1))
    return out


def assert_bitwise(a, b):
    A, B = _arrays(a), _arrays(b)
    assert A.keys() == B.keys()
    for key in A:
        assert A[key].shape == B[key].shape, key
        assert A[key].tobytes() == B[key].tobytes(), (key, np.max(np.abs(A[key] - B[key])))


M = ds.TeacherStudent(np.eye(3), k=4)
W0 = np.random.default_rng(5).normal(size=(24, 4, 3))

CALLS = {
    "loss_and_grad": lambda chunk: M.loss_and_grad(W0),
    "hessian": lambda chunk: M.hessian(W0[:8]),
    "flow_gd": lambda chunk: ds.flow(M, W0, max_steps=400, chunk_size=chunk),
    "flow_dopri5": lambda chunk: ds.flow(M, W0[:8], method="dopri5", gtol=1e-6, max_steps=2000,
                                         chunk_size=chunk),
    "find_critical_points": lambda chunk: ds.find_critical_points(M, W0[:8], max_steps=40),
    "census": lambda chunk: ds.census(M, 24, seed=3, max_steps=20000, chunk_size=chunk),
    "monte_carlo": lambda chunk: ds.monte_carlo(M, W0[0], 5000, seed=2, chunk_size=chunk),
    "sgd": lambda chunk: ds.sgd(M, W0[:4], n_samples=64, epochs=2, seed=1),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_threads_and_chunks_bitwise(name):
    call = CALLS[name]
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(2 if TWO_THREADS else 1)
        ref = call(None)
        numba.set_num_threads(1)
        one = call(None)
        chunked = [call(c) for c in (1, 5)] if name in ("flow_gd", "flow_dopri5", "census") else []
        if name == "monte_carlo":
            chunked = [call(1024), call(3072)]
    finally:
        numba.set_num_threads(before)
    assert_bitwise(ref, one)
    for c in chunked:
        assert_bitwise(ref, c)


_PROBE = r"""
import sys, numpy as np, dynsys as ds
m = ds.TeacherStudent(np.eye(3), k=4)
W0 = np.random.default_rng(3).normal(size=(16, 4, 3))
r = ds.flow(m, W0, max_steps=3000, gtol=1e-12)
L, G = m.loss_and_grad(W0)
kind = ds.classify(ds.TeacherStudent(np.eye(3)), 1e150 * np.eye(3)).kind
np.savez(sys.argv[1], W=r.W, L=L, G=G, kind=np.array(str(kind)))
"""


def _probe(path, cache_dir):
    env = dict(os.environ, PYTHONPATH=ROOT, NUMBA_CACHE_DIR=cache_dir)
    subprocess.run([sys.executable, "-c", _PROBE, path], env=env, check=True, timeout=600,
                   capture_output=True)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_cache_loading_processes_agree_bitwise(tmp_path):
    cache = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "dynsys_det_cache")
    _probe(str(tmp_path / "w.npz"), cache)          # warms the cache if it is cold
    a = _probe(str(tmp_path / "a.npz"), cache)
    b = _probe(str(tmp_path / "b.npz"), cache)
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key


@pytest.mark.slow
def test_cold_compile_against_cache_load(tmp_path):
    """A fresh cache: the compiling process against two loading ones (the documented bound)."""
    cache = str(tmp_path / "nc")
    cold = _probe(str(tmp_path / "cold.npz"), cache)
    warm = _probe(str(tmp_path / "warm.npz"), cache)
    warm2 = _probe(str(tmp_path / "warm2.npz"), cache)
    for key in ("W", "L", "G"):
        assert warm[key].tobytes() == warm2[key].tobytes(), key
        scale = 1.0 + np.max(np.abs(warm[key]))
        assert np.max(np.abs(cold[key] - warm[key])) <= 1e-13 * scale, key
    assert str(cold["kind"]) == str(warm["kind"]) == "global_minimum"
