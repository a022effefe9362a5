"""Census stores: resume bitwise, refusal of another plan, interrupted chunks, dask workers."""

import importlib

import numpy as np
import pytest

import dynsys as ds
from dynsys.chunkstore import StoreMismatch
from dynsys.critical.census import package_census, plan_census, run_census_chunk
from dynsys.critical.census_store import CensusJob, CensusStore, default_chunk_size

census_mod = importlib.import_module("dynsys.critical.census")
census_store = importlib.import_module("dynsys.critical.census_store")

N = 48
#: gradient descent cut short: about half the runs end unconverged, the others at the global minimum
KW = {"seed": 3, "max_steps": 2400}
ARRAYS = ("labels", "loss", "grad_norm", "lambda_min", "steps")


def same(a, b):
    """Bitwise the same census (per-run arrays and every class)."""
    for f in ARRAYS:
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f
    assert a.n_interrupted == b.n_interrupted
    assert len(a.classes) == len(b.classes)
    for x, y in zip(a.classes, b.classes):
        assert (x.kind, x.count, x.multiplicity, x.n_functions, x.nullity, x.first_run) == \
               (y.kind, y.count, y.multiplicity, y.n_functions, y.nullity, y.first_run)
        assert (x.loss, x.lambda_min, x.lambda_max, x.grad_norm, x.interval) == \
               (y.loss, y.lambda_min, y.lambda_max, y.grad_norm, y.interval)
        assert np.array_equal(x.W, y.W)


@pytest.fixture(scope="module")
def m3():
    return ds.TeacherStudent(np.eye(4))


@pytest.fixture(scope="module")
def ref(m3):
    c = ds.census(m3, N, **KW)
    assert 0 < c.n_unconverged < N and c.classes
    return c


def _markers(path):
    return sorted((path / "done").glob("*.json"))


def test_store_resume_computes_only_missing_chunks(tmp_path, m3, ref, monkeypatch):
    p = tmp_path / "s"
    same(ds.census(m3, N, **KW, store=p, chunk_size=10), ref)
    assert len(_markers(p)) == 5
    for mk in _markers(p)[1:3]:
        mk.unlink()
    ran = []
    real = census_mod.run_census_chunk

    def counting(plan, lo, hi, **kw):
        ran.append((lo, hi))
        return real(plan, lo, hi, **kw)
    monkeypatch.setattr(census_store, "run_census_chunk", counting)
    same(ds.census(m3, N, **KW, store=p), ref)  # the store's chunk size is kept
    assert ran == [(10, 20), (20, 30)]
    ran.clear()
    same(ds.census(m3, N, **KW, store=p, chunk_size=7), ref)  # complete: nothing to compute
    assert ran == []


def test_store_of_given_starts_and_certify(tmp_path, m3, ref):
    W0 = census_mod.random_starts(4, 4, N, seed=3)
    c = ds.census(m3, init=W0, max_steps=2400, store=tmp_path / "s", chunk_size=16, certify=True)
    same(c, ref)
    assert len(c.certificates) == len(c.classes)
    with pytest.raises(StoreMismatch, match="starts_sha256"):
        ds.census(m3, init=W0[::-1], max_steps=2400, store=tmp_path / "s")


@pytest.mark.parametrize("change", ["model", "seed", "step", "n_runs", "version", "init"])
def test_store_of_another_plan_is_refused(tmp_path, m3, change, monkeypatch):
    p = tmp_path / "s"
    ds.census(m3, 4, seed=1, store=p)
    model, kw = m3, {"seed": 1}
    n = 4
    if change == "model":
        model = ds.TeacherStudent(2 * np.eye(4))
    elif change == "seed":
        kw["seed"] = 2
    elif change == "step":
        kw["step"] = 0.05
    elif change == "n_runs":
        n = 5
    elif change == "init":
        kw["init"] = "xavier_uniform"
    else:
        monkeypatch.setattr(census_store, "__version__", "999.0")
    with pytest.raises(StoreMismatch, match="another plan"):
        ds.census(model, n, store=p, **kw)


def test_grouping_tolerances_are_not_part_of_the_store(tmp_path, m3, ref):
    p = tmp_path / "s"
    ds.census(m3, N, **KW, store=p, chunk_size=10)
    same(ds.census(m3, N, **KW, store=p, class_rtol=1e-6), ref)
    looser = ds.census(m3, N, **KW, class_rtol=1e-2, point_rtol=1e-3)
    same(ds.census(m3, N, **KW, store=p, class_rtol=1e-2, point_rtol=1e-3), looser)


def test_not_a_census_store(tmp_path, m3):
    from dynsys.basins import basins, teacher_slice

    m = ds.TeacherStudent(np.eye(3))
    basins(m, teacher_slice(m, [1, 0, 2], shape=(2, 2)), store=tmp_path / "b")
    with pytest.raises(ValueError, match="not a dynsys census store"):
        ds.census(m3, 4, store=tmp_path / "b")
    with pytest.raises(TypeError, match="store must be a path"):
        ds.census(m3, 4, store=1.5)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a census store"):
        ds.census(m3, 4, store=tmp_path / "x")


def test_interrupted_chunk_is_never_stored(tmp_path, m3):
    plan = plan_census(m3, 8, **KW)
    job = CensusJob(plan, 8)
    st = CensusStore.open(tmp_path / "s", job)
    stop = np.ones(1, dtype=np.int8)
    ch = run_census_chunk(plan, 0, 8, stop=stop)
    assert np.all(ch.labels == ds.Label.NOT_COMPUTED)
    with pytest.raises(ValueError, match="interrupted"):
        st.write(ch)
    assert st.missing() == job.chunks()
    assert package_census(plan, [ch]).n_interrupted == 8


def test_ctrl_c_keeps_completed_chunks(tmp_path, m3, ref, monkeypatch):
    p = tmp_path / "s"
    real = census_mod.run_census_chunk

    def third_is_interrupted(plan, lo, hi, **kw):
        if lo == 20:
            raise KeyboardInterrupt
        return real(plan, lo, hi, **kw)
    monkeypatch.setattr(census_store, "run_census_chunk", third_is_interrupted)
    part = ds.census(m3, N, **KW, store=p, chunk_size=10)
    assert part.n_interrupted == N - 20 and len(_markers(p)) == 2
    assert np.array_equal(part.labels[:20] < 0, ref.labels[:20] < 0)
    monkeypatch.undo()
    same(ds.census(m3, N, **KW, store=p), ref)


def test_default_chunk_size():
    assert default_chunk_size(5) == 5
    assert default_chunk_size(1000) == 64
    assert default_chunk_size(10**5) == 1000
    assert default_chunk_size(10**8) == 4096


# ------------------------------------------------------------------------------------------------
# Killed jobs (tests/killharness.py): SIGKILL at seeded random moments, resume, compare bitwise
# ------------------------------------------------------------------------------------------------

def _kill_resume(tmp_path, spec, n_kills, seed):
    import killharness as kh

    span = kh.run_job(tmp_path, tmp_path / "ref", spec)  # also fills the Numba cache if it is empty
    kills = kh.kill_and_resume(tmp_path, tmp_path / "killed", spec, n_kills, span, seed)
    assert kills, "no kill landed inside the job"
    kh.assert_same_stores(tmp_path / "ref", tmp_path / "killed")
    kh.assert_same_results(spec, tmp_path / "ref", tmp_path / "killed")
    return kills, kh.recompute_fraction(kills, span)


def test_sigkill_census_and_basins_resume_bitwise(tmp_path):
    import killharness as kh

    kills, lost = _kill_resume(tmp_path, kh.SMALL, n_kills=2, seed=0)
    # one chunk of 1/16 of the census (or 1/13 of the map) at most, plus its write
    assert max(lost) < 0.25, (kills, lost)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_full_harness(tmp_path, seed):
    """Five kills on a job in chunks of 1% of each part; after each kill at most a few % lost."""
    import killharness as kh

    kills, lost = _kill_resume(tmp_path, kh.FULL, n_kills=5, seed=seed)
    print(f"seed {seed}: kills at {[round(k.at_s, 2) for k in kills]} s, lost {[f'{x:.2%}' for x in lost]}")
    assert max(lost) <= 0.05


def test_dask_same_census_and_killed_worker_chunks_are_recomputed(tmp_path, m3, ref):
    distributed = pytest.importorskip("distributed")
    import killharness as kh

    n = 120
    ref_n = ds.census(m3, n, **KW)
    p = tmp_path / "s"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        same(ds.census(m3, N, **KW, executor=client, chunk_size=13), ref)
        with pytest.raises(TypeError, match="Client"):
            ds.census(m3, N, **KW, executor=object(), store=tmp_path / "t")
        assert not (tmp_path / "t").exists()
        th, killed_at = kh.dask_kill_worker(client, cluster, p, min_chunks=3)
        r = ds.census(m3, n, **KW, executor=client, chunk_size=6, store=p)
        th.join()
    assert killed_at and killed_at[0] < 20, "the worker was not killed mid-run"
    assert len(_markers(p)) == 20
    same(r, ref_n)


def test_census_sweep_refuses_one_store_for_many_ks(tmp_path):
    with pytest.raises(TypeError, match="store"):
        ds.census_sweep([2, 3], 4, store=tmp_path / "s")
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_dask_worker_killed_at_a_random_chunk_full(tmp_path, seed):
    """A larger census and basin map on a LocalCluster, a worker SIGKILLed after a seeded random
    number of chunks: every chunk stored once, results bitwise the local ones."""
    distributed = pytest.importorskip("distributed")
    import killharness as kh
    from dynsys.basins import basins, teacher_slice

    spec = kh.FULL
    m = ds.TeacherStudent(np.eye(spec["k"]))
    g = teacher_slice(m, list(range(1, spec["k"])) + [0], shape=(spec["grid"], spec["grid"]))
    kw = {"seed": spec["seed"], "max_steps": spec["max_steps"], "progress": False}
    ref_c, ref_b = ds.census(m, spec["n_runs"], **kw), basins(m, g, progress=False)
    rng = np.random.default_rng(seed)
    n_c = -(-spec["n_runs"] // spec["census_chunk"])
    n_b = -(-spec["grid"] ** 2 // spec["basins_chunk"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        th, at = kh.dask_kill_worker(client, cluster, tmp_path / "c", int(rng.integers(1, n_c)))
        c = ds.census(m, spec["n_runs"], **kw, executor=client, chunk_size=spec["census_chunk"],
                      store=tmp_path / "c")
        th.join()
        th, at_b = kh.dask_kill_worker(client, cluster, tmp_path / "b", int(rng.integers(1, n_b)))
        b = basins(m, g, executor=client, chunk_size=spec["basins_chunk"], store=tmp_path / "b", progress=False)
        th.join()
    print(f"seed {seed}: census worker killed at {at} of {n_c} chunks, basins at {at_b} of {n_b}")
    assert at[0] < n_c and at_b[0] < n_b
    assert len(_markers(tmp_path / "c")) == n_c and len(_markers(tmp_path / "b")) == n_b
    same(c, ref_c)
    for f in ("labels", "loss", "lambda_min", "steps", "status"):
        assert np.array_equal(getattr(b, f), getattr(ref_b, f), equal_nan=True), f
