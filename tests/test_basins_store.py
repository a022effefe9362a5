"""Basin stores: resume, refusal of another plan, write errors, kill-and-resume, dask workers."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import dynsys as ds
from dynsys import chunkstore
from dynsys.basins import basins, package_basins, plan_basins, run_basin_chunk, teacher_slice
from dynsys.basins import run as basins_run
from dynsys.basins.store import BasinStore, StoreMismatch, StoreWriteError

FIELDS = ("labels", "loss", "lambda_min", "steps", "status")


def same(a, b):
    for f in FIELDS:
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f
    assert len(a.attractors) == len(b.attractors)
    for x, y in zip(a.attractors, b.attractors):
        assert x.kind == y.kind and x.count == y.count and np.array_equal(x.W, y.W)


@pytest.fixture(scope="module")
def m4():
    return ds.TeacherStudent(np.eye(4))


@pytest.fixture(scope="module")
def g4(m4):
    return teacher_slice(m4, [1, 0, 2, 3], shape=(10, 10))


@pytest.fixture(scope="module")
def ref(m4, g4):
    return basins(m4, g4)


def _markers(path):
    return sorted((path / "done").glob("*.json"))


def test_store_resume_computes_only_missing_chunks(tmp_path, m4, g4, ref, monkeypatch):
    p = tmp_path / "s"
    r = basins(m4, g4, store=p, chunk_size=15)
    same(r, ref)
    assert len(_markers(p)) == 7
    for mk in _markers(p)[2:4]:
        mk.unlink()
    ran = []
    real = basins_run.run_basin_chunk

    def counting(plan, lo, hi, **kw):
        ran.append((lo, hi))
        return real(plan, lo, hi, **kw)
    monkeypatch.setattr(basins_run, "run_basin_chunk", counting)
    r2 = basins(m4, g4, store=p)  # the store's chunk size is kept
    assert ran == [(30, 45), (45, 60)]
    same(r2, ref)
    ran.clear()
    same(basins(m4, g4, store=p), ref)  # complete: nothing to compute
    assert ran == []


@pytest.mark.parametrize("change", ["model", "sampler", "step", "version", "tolerance"])
def test_store_of_another_plan_is_refused(tmp_path, m4, g4, change, monkeypatch):
    p = tmp_path / "s"
    basins(m4, teacher_slice(m4, [1, 0, 2, 3], shape=(3, 3)), store=p)
    kw = {}
    model, sampler = m4, teacher_slice(m4, [1, 0, 2, 3], shape=(3, 3))
    if change == "model":
        model = ds.TeacherStudent(2 * np.eye(4))
        sampler = teacher_slice(model, [1, 0, 2, 3], shape=(3, 3))
    elif change == "sampler":
        sampler = teacher_slice(m4, [1, 0, 2, 3], s=(0.0, 1.0), shape=(3, 3))
    elif change == "step":
        kw["step"] = 0.05
    elif change == "tolerance":
        kw["point_rtol"] = 1e-5
    else:
        monkeypatch.setattr(basins_run, "__version__", "999.0")
    with pytest.raises(StoreMismatch, match="another plan"):
        basins(model, sampler, store=p, **kw)


def test_not_a_store(tmp_path, m4, g4):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a basin store"):
        basins(m4, g4, store=tmp_path)


@pytest.mark.parametrize("how", ["full", "read_only"])
def test_write_errors_keep_completed_chunks(tmp_path, m4, g4, ref, monkeypatch, how):
    import zarr

    p = tmp_path / "s"
    calls = []
    real_publish = chunkstore._publish
    real_set = zarr.Array.__setitem__

    def full(src, dst):  # the third marker finds the disk full
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_publish(src, dst)

    def read_only(self, key, value):
        raise PermissionError(13, "Permission denied")

    if how == "full":
        monkeypatch.setattr(chunkstore, "_publish", full)
        with pytest.raises(StoreWriteError, match="2 completed chunks in it are intact"):
            basins(m4, g4, store=p, chunk_size=20)
    else:
        basins(m4, g4, store=p, chunk_size=20)
        for mk in _markers(p)[3:]:
            mk.unlink()
        monkeypatch.setattr(zarr.Array, "__setitem__", read_only)
        with pytest.raises(StoreWriteError, match="3 completed chunks in it are intact"):
            basins(m4, g4, store=p)
        monkeypatch.setattr(zarr.Array, "__setitem__", real_set)
    monkeypatch.undo()
    same(basins(m4, g4, store=p), ref)


def test_interrupted_chunk_is_never_stored(tmp_path, m4, g4):
    plan = plan_basins(m4, g4, chunk_size=10)
    st = BasinStore.open(tmp_path / "s", plan)
    stop = np.ones(1, dtype=np.int8)
    ch = run_basin_chunk(plan, 0, 10, stop=stop)
    # a start on the singular set stops before the flag is read; every other cell is not computed
    assert not ch.complete
    assert np.all((ch.ends.outcome == ds.Label.NOT_COMPUTED) == (ch.status == ds.Status.INTERRUPTED))
    with pytest.raises(ValueError, match="interrupted"):
        st.write(ch)
    assert st.missing() == plan.chunks()
    r = package_basins(plan, [ch])
    assert r.n_not_computed == plan.n - int(np.sum(ch.status != ds.Status.INTERRUPTED)) and r.interrupted


SCRIPT = """
import sys
import numpy as np
import dynsys as ds
from dynsys.basins import basins, teacher_slice
m = ds.TeacherStudent(np.eye(4))
basins(m, teacher_slice(m, [1, 0, 2, 3], shape=(24, 24)), chunk_size=8, store=sys.argv[1])
"""


def _run(script, path, env):
    return subprocess.run([sys.executable, str(script), str(path)], env=env, check=True, timeout=300)


# tests/killharness.py (default run in test_census_store.py) kills a basin map too; this
# standalone copy is the long form
@pytest.mark.slow
def test_sigkill_and_resume_is_bitwise(tmp_path, m4):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    env = dict(os.environ)
    # every process below loads the kernels from Numba's cache (docs/engine.md: who compiled the
    # kernel can change the last bits): this first run fills the cache if it is empty
    _run(script, tmp_path / "ref", env)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(killed)], env=env)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        if (killed / "done").is_dir() and len(_markers(killed)) >= 4:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_killed = len(_markers(killed))
    assert 4 <= n_killed < 72, "the job was not killed mid-run"
    _run(script, killed, env)
    assert len(_markers(killed)) == 72
    g = teacher_slice(m4, [1, 0, 2, 3], shape=(24, 24))
    plan = plan_basins(m4, g, chunk_size=8)
    a, b = BasinStore(tmp_path / "ref", plan), BasinStore(killed, plan)
    import zarr
    za, zb = zarr.open_group(str(a.path), mode="r"), zarr.open_group(str(b.path), mode="r")
    for name in ("status", "steps", "outcome", "assign", "loss", "grad_norm", "lambda_min", "W"):
        assert np.array_equal(za[name][:], zb[name][:], equal_nan=True), name
    same(package_basins(plan, a.read_chunks()), package_basins(plan, b.read_chunks()))


def test_dask_local_cluster_gives_the_same_labels(tmp_path, m4, g4, ref):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        r = basins(m4, g4, executor=client, chunk_size=13)
        assert np.array_equal(r.labels, ref.labels)
        rs = basins(m4, g4, executor=client, chunk_size=13, store=tmp_path / "s")
        assert np.array_equal(rs.labels, ref.labels)
        assert len(_markers(tmp_path / "s")) == 8
        with pytest.raises(TypeError, match="Client"):
            basins(m4, g4, executor=object())


def test_dask_killed_worker_chunks_are_recomputed(tmp_path, m4):
    distributed = pytest.importorskip("distributed")
    import threading

    g = teacher_slice(m4, [1, 0, 2, 3], shape=(24, 24))
    ref = basins(m4, g)
    p = tmp_path / "s"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        client.run(lambda: None)  # workers up

        def kill_one():
            t0 = time.monotonic()
            while time.monotonic() - t0 < 120 and not ((p / "done").is_dir() and len(_markers(p)) >= 3):
                time.sleep(0.01)
            nanny = next(iter(cluster.workers.values()))
            killed_at.append(len(_markers(p)))
            os.kill(nanny.process.process.pid, signal.SIGKILL)

        killed_at = []

        th = threading.Thread(target=kill_one)
        th.start()
        r = basins(m4, g, executor=client, chunk_size=8, store=p)
        th.join()
    assert killed_at and killed_at[0] < 72, "the worker was not killed mid-run"
    assert len(_markers(p)) == 72
    assert np.array_equal(r.labels, ref.labels)
