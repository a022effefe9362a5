"""The chunked engine (docs/engine.md): plan -> run_chunk -> package for flows and censuses, Ctrl-C.

- A subprocess runs a long gd flow (and a census); the test sends SIGINT after about 1 s and gets the
  partial result back within 2 s: finished trajectories bitwise equal to an uninterrupted run's,
  interrupted ones at the state they had reached.
- Plans pickle; a chunk run in another process is bitwise the chunk run here.
- Chunk by chunk equals one call; the chunk size and the thread count do not change results.
- The integrator kernels take one FieldArrays argument: one signature, a cache hit in a new process.
"""

import concurrent.futures
import json
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numba
import numpy as np
import pytest

import dynsys as ds
from dynsys._codes import INTERRUPTED, LABEL_NOT_COMPUTED
from dynsys.critical.census import (package_census, plan_census, random_starts, run_census_chunk)
from dynsys.flow import package, plan_flow, run_flow_chunk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _flow_fields(r):
    return {f: np.asarray(getattr(r, f)) for f in ("W", "loss", "grad_norm", "steps", "t", "status",
                                                   "plateau_time")}


def _assert_same(a, b):
    fa, fb = _flow_fields(a), _flow_fields(b)
    for key in fa:
        np.testing.assert_array_equal(fa[key], fb[key], err_msg=key, strict=True)


# ------------------------------------------------------------------------------------------------
# Ctrl-C in a subprocess
# ------------------------------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import dynsys as ds
    from dynsys.critical.census import random_starts
    what, n, k, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    m = ds.TeacherStudent(np.eye(k))
    W0 = random_starts(k, k, n, seed=1)
    if what == "flow":
        ds.flow(m, W0[:2], max_steps=10)          # load the kernel before the clock starts
        print("ready", flush=True)
        r = ds.flow(m, W0, progress=False)
        t = time.monotonic()
        np.savez(out, W=r.W, loss=r.loss, grad_norm=r.grad_norm, steps=r.steps, t=r.t,
                 status=r.status, plateau_time=r.plateau_time, interrupted=r.interrupted)
    else:
        ds.census(m, 40, seed=1)                  # load the kernels (spurious minima too)
        print("ready", flush=True)
        c = ds.census(m, n, seed=1, progress=False)
        t = time.monotonic()
        np.savez(out, labels=c.labels, loss=c.loss, steps=c.steps, n_interrupted=c.n_interrupted,
                 table=c.table())
    print(json.dumps({"returned": t}), flush=True)
""")


def _interrupt(tmp_path, what, n, k, after=1.0):
    """Run the child, SIGINT it ``after`` s into the call; (seconds from SIGINT to return, npz)."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    out = tmp_path / "out.npz"
    # a parent started in the background may ignore SIGINT, and a child inherits that: restore it
    p = subprocess.Popen([sys.executable, str(script), what, str(n), str(k), str(out)],
                         stdout=subprocess.PIPE, text=True, env=_env(),
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(after)
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        line = p.stdout.readline()
        assert p.wait(timeout=60) == 0
    finally:
        if p.poll() is None:
            p.kill()
    returned = json.loads(line)["returned"]
    return returned - sent, np.load(out)


def test_sigint_flow_returns_partial_result_within_2s(tmp_path):
    k, n = 10, 4000
    latency, f = _interrupt(tmp_path, "flow", n, k)
    assert latency < 2.0
    status = f["status"]
    assert bool(f["interrupted"])
    conv = np.flatnonzero(status == ds.Status.CONVERGED)
    cut = np.flatnonzero(status == INTERRUPTED)
    assert conv.size > 0 and cut.size > 0
    assert conv.size + cut.size == n
    m = ds.TeacherStudent(np.eye(k))
    W0 = random_starts(k, k, n, seed=1)
    # finished trajectories: bitwise those of an uninterrupted run (trajectories are independent)
    pick = conv[:40]
    ref = ds.flow(m, W0[pick])
    for key in ("W", "loss", "grad_norm", "steps", "t", "plateau_time"):
        np.testing.assert_array_equal(f[key][pick], np.asarray(getattr(ref, key)), err_msg=key)
    # interrupted mid-way: the state after exactly `steps` steps, so a caller can continue from it
    mid = cut[f["steps"][cut] > 0][:5]
    assert mid.size > 0
    for i in mid:
        ref = ds.flow(m, W0[i], max_steps=int(f["steps"][i]))
        np.testing.assert_array_equal(f["W"][i], ref.W)
        assert f["loss"][i] == ref.loss
    # never started: the start, no loss
    fresh = cut[f["steps"][cut] == 0]
    np.testing.assert_array_equal(f["W"][fresh], W0[fresh])


def test_sigint_census_returns_partial_census_within_2s(tmp_path):
    k, n = 8, 5000
    latency, f = _interrupt(tmp_path, "census", n, k)
    assert latency < 2.0
    labels = f["labels"]
    n_int = int(f["n_interrupted"])
    assert 0 < n_int < n
    assert int(np.sum(labels == LABEL_NOT_COMPUTED)) == n_int
    assert f"interrupted: {n_int} of {n} runs not finished" in str(f["table"])
    fin = np.flatnonzero(labels != LABEL_NOT_COMPUTED)
    ref = ds.census(ds.TeacherStudent(np.eye(k)), int(fin.max()) + 1, seed=1)
    np.testing.assert_array_equal(f["steps"][fin], ref.steps[fin])
    np.testing.assert_array_equal(f["loss"][fin], ref.loss[fin])


# ------------------------------------------------------------------------------------------------
# Plans, chunks, processes
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def case():
    m = ds.TeacherStudent(np.eye(3), k=4)
    W0 = random_starts(4, 3, 23, seed=5)
    return m, W0


def _chunk_in_process(plan_bytes, lo, hi):
    from dynsys.flow import run_flow_chunk as run

    c = run(pickle.loads(plan_bytes), lo, hi)
    return c.W, c.loss, c.steps, c.status


def test_flow_plan_pickles_and_runs_in_another_process(case):
    """A pickled plan runs in a spawned process. Two processes that load the kernel from Numba's
    cache agree to the bit; the process that compiled the kernel itself (here, on an empty cache)
    may round differently in the last bits (fastmath code compiled in-process against the same code
    loaded from the cache, measured up to 4e-15 absolute: docs/engine.md), so it is held to 1e-12."""
    m, W0 = case
    plan = plan_flow(m, W0, method="gd", step=0.1, max_steps=3000)
    blob = pickle.dumps(plan)
    here = run_flow_chunk(plan, 5, 17)
    ctx = multiprocessing.get_context("spawn")
    outs = []
    for _ in range(2):
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as ex:
            outs.append(ex.submit(_chunk_in_process, blob, 5, 17).result(timeout=300))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
    W, loss, steps, status = outs[0]
    np.testing.assert_allclose(W, here.W, rtol=0, atol=1e-12)
    np.testing.assert_allclose(loss, here.loss, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(steps, here.steps)
    np.testing.assert_array_equal(status, here.status)


@pytest.mark.parametrize("method,kw", [("gd", {}), ("rk4", dict(save=7)),
                                       ("dopri5", dict(polish=True, save=np.linspace(0, 3, 5)))])
def test_chunk_by_chunk_equals_one_call(case, method, kw):
    m, W0 = case
    whole = ds.flow(m, W0, method=method, max_steps=2000, **kw)
    plan = pickle.loads(pickle.dumps(plan_flow(m, W0, method=method, max_steps=2000, **kw)))
    chunks = [run_flow_chunk(plan, lo, min(23, lo + 6)) for lo in (18, 0, 12, 6)]
    pieced = package(plan, chunks)
    _assert_same(whole, pieced)
    if kw.get("save") is not None:
        np.testing.assert_array_equal(whole.Ws, pieced.Ws)
    assert not pieced.interrupted and pieced.n_interrupted == 0


def test_missing_chunks_are_interrupted(case):
    m, W0 = case
    plan = plan_flow(m, W0)
    r = package(plan, [run_flow_chunk(plan, 0, 10)])
    assert r.interrupted and r.n_interrupted == 13
    np.testing.assert_array_equal(r.W[10:], W0[10:])
    assert np.isnan(r.loss[10:]).all() and (r.steps[10:] == 0).all()


def test_chunk_size_and_threads_do_not_change_results(case):
    m, W0 = case
    ref = ds.flow(m, W0, method="dopri5", gtol=1e-6, backend="cpu")
    _assert_same(ref, ds.flow(m, W0, method="dopri5", gtol=1e-6, chunk_size=4))
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        _assert_same(ref, ds.flow(m, W0, method="dopri5", gtol=1e-6, chunk_size=5))
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize("method", ["gd", "rk4", "dopri5"])
def test_stop_flag_mid_run_leaves_continuable_states(method):
    m = ds.TeacherStudent(np.eye(6))
    W0 = random_starts(6, 6, 400, seed=3)
    plan = plan_flow(m, W0, method=method, gtol=1e-9 if method != "dopri5" else 1e-7,
                     rtol=1e-10, atol=1e-12)
    stop = np.zeros(1, dtype=np.int8)
    timer = threading.Timer(0.3, stop.__setitem__, (0, 1))
    timer.start()
    c = run_flow_chunk(plan, 0, 400, stop=stop)
    timer.join()
    mid = np.flatnonzero((c.status == INTERRUPTED) & (c.steps > 0))[:3]
    assert mid.size > 0
    for i in mid:
        ref = ds.flow(m, W0[i], method=method, max_steps=int(c.steps[i]), gtol=plan.gtol,
                      rtol=1e-10, atol=1e-12)
        assert ref.status == ds.Status.MAX_STEPS
        np.testing.assert_array_equal(c.W[i], ref.W)
        assert c.t[i] == ref.t and c.loss[i] == ref.loss


def test_flow_from_a_non_main_thread_runs_in_place(case):
    m, W0 = case
    ref = ds.flow(m, W0)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        got = ex.submit(ds.flow, m, W0).result(timeout=120)
    _assert_same(ref, got)


def test_stop_flag_set_before_the_call_stops_every_trajectory(case):
    m, W0 = case
    plan = plan_flow(m, W0)
    done = np.zeros(23, dtype=np.int8)
    c = run_flow_chunk(plan, 0, 23, stop=np.ones(1, dtype=np.int8), done=done)
    assert (c.status == INTERRUPTED).all() and (c.steps == 0).all() and done.all()
    np.testing.assert_array_equal(c.W, W0)
    assert np.isfinite(c.loss).all()  # the loss at the start, where the trajectory stands


def test_progress_moves_inside_one_chunk(case):
    m, _ = case
    W0 = random_starts(4, 3, 200, seed=2)

    class Count:
        def __init__(self):
            self.calls, self.total = 0, 0

        def update(self, n):
            self.calls += n > 0
            self.total += n

        def close(self):
            pass

    bar = Count()
    t0 = time.perf_counter()
    ds.flow(m, W0, method="dopri5", rtol=1e-12, atol=1e-14, gtol=1e-8, progress=bar)
    assert bar.total == 200
    if time.perf_counter() - t0 > 0.5:  # one chunk, several updates while it ran
        assert bar.calls >= 2


def test_progress_notes_steps_inside_one_long_trajectory():
    m = ds.TeacherStudent(np.eye(40))
    W0 = random_starts(40, 40, 1, seed=1)[0]
    notes = []

    class Note:
        def update(self, n):
            pass

        def note(self, text):
            notes.append(text)

        def close(self):
            pass

    t0 = time.perf_counter()
    r = ds.flow(m, W0, max_steps=100000, progress=Note())
    assert notes[-1] == f"{float(r.steps):.3g} steps"
    if time.perf_counter() - t0 > 0.3:  # at least two polls while it ran
        assert len(set(notes)) >= 2


# ------------------------------------------------------------------------------------------------
# Census
# ------------------------------------------------------------------------------------------------

def test_start_convention_runs_depend_on_seed_and_index_only():
    np.testing.assert_array_equal(random_starts(5, 4, 100, seed=7, first=100),
                                  random_starts(5, 4, 1000, seed=7)[100:200])
    np.testing.assert_array_equal(random_starts(3, 3, 10, init="xavier_uniform", seed=2, first=3),
                                  random_starts(3, 3, 20, init="xavier_uniform", seed=2)[3:13])


def test_census_chunks_equal_one_call():
    m = ds.TeacherStudent(np.eye(3), k=4)
    whole = ds.census(m, 20, seed=4)
    plan = pickle.loads(pickle.dumps(plan_census(m, 20, seed=4)))
    # chunks travel too (a store or a dask worker sends them back)
    pieced = package_census(plan, [pickle.loads(pickle.dumps(run_census_chunk(plan, lo, min(20, lo + 7))))
                                   for lo in (14, 0, 7)])
    for c in (pieced, ds.census(m, 20, seed=4, chunk_size=3)):
        for key in ("labels", "loss", "grad_norm", "lambda_min", "steps"):
            np.testing.assert_array_equal(getattr(c, key), getattr(whole, key), err_msg=key)
        assert [x.count for x in c.classes] == [x.count for x in whole.classes]
        assert c.spurious_fraction == whole.spurious_fraction and c.n_interrupted == 0
    assert "interrupted" not in whole.table()


def test_partial_census_says_so():
    m = ds.TeacherStudent(np.eye(3))
    plan = plan_census(m, 12, seed=1)
    c = package_census(plan, [run_census_chunk(plan, 0, 5)])
    assert c.n_interrupted == 7
    assert (c.labels[5:] == LABEL_NOT_COMPUTED).all()
    assert "interrupted: 7 of 12 runs not finished" in c.table()
    total = sum(x.count for x in c.classes) + c.n_saddle + c.n_unconverged + c.n_failed + c.n_interrupted
    assert total == 12
    assert sum(x.fraction for x in c.classes) == pytest.approx(1.0 - (c.n_saddle + c.n_unconverged
                                                                      + c.n_failed) / 5)


# ------------------------------------------------------------------------------------------------
# One FieldArrays argument: one signature, cached across processes
# ------------------------------------------------------------------------------------------------

def test_integrators_one_signature_and_cache_hit_in_new_process():
    ds.flow(ds.TeacherStudent(np.eye(2)), np.eye(2), max_steps=3)  # fills the cache if empty
    code = textwrap.dedent("""
        import json, pickle
        import numpy as np
        import dynsys as ds
        from dynsys.flow import plan_flow, run_flow_chunk
        from dynsys.kernels import integrators as ig
        a = ds.TeacherStudent(np.eye(2))
        b = ds.TeacherStudent(np.eye(2), residual=0.1 * np.ones((2, 2)))
        ds.flow(a, np.eye(2), max_steps=3)
        ds.flow(b, np.eye(2)[None], max_steps=3, chunk_size=1)
        p = pickle.loads(pickle.dumps(plan_flow(b, np.ones((3, 2, 2)), max_steps=3)))
        run_flow_chunk(p, 0, 3)
        st = ig._fixed_batch.stats
        print(json.dumps({"sigs": len(ig._fixed_batch.signatures),
                          "hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values())}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(),
                         timeout=600, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"sigs": 1, "hits": 1, "misses": 0}
