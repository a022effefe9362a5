"""Saving, loading and printing results (dynsys.results.io, docs/results.md).

Every result type is produced by a real small dynsys call, saved and loaded back: each field must
come back identical (arrays bitwise with their dtype, shape, memory order and read-only flag; enums
as enums; tuples as tuples; Python and NumPy scalars with their type).
"""

import dataclasses
import enum
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import dynsys as ds
from dynsys import results
from dynsys.results import ResultFileError, io
from dynsys.systems import toys


def assert_same(a, b, where="result"):
    """``a`` and ``b`` equal field by field, bitwise, with the same types."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        assert a.flags.writeable == b.flags.writeable, f"{where}: read-only flag differs"
        assert a.flags.f_contiguous == b.flags.f_contiguous or a.ndim < 2, f"{where}: memory order differs"
        assert a.tobytes() == b.tobytes(), f"{where}: values differ"
    elif isinstance(a, enum.Enum) or a is None or isinstance(a, (str, bool)):
        assert a == b, f"{where}: {a!r} vs {b!r}"
    elif isinstance(a, (float, np.generic)):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), f"{where}: {a!r} vs {b!r}"
    elif isinstance(a, int):
        assert a == b, f"{where}: {a} vs {b}"
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), f"{where}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    else:
        raise AssertionError(f"{where}: unexpected type {type(a).__name__}")


# ------------------------------------------------------------------------------ one of each
def _starts(model, n, scale, seed):
    return np.random.default_rng(seed).normal(scale=scale, size=(n, model.k, model.d))


@pytest.fixture(scope="module")
def produced():
    """name -> (result, model): every result type from a real small call."""
    m3 = ds.TeacherStudent(np.eye(3))
    leaky = ds.TeacherStudent(np.random.default_rng(1).normal(size=(2, 3)), k=3, alpha=0.2,
                              a=[1.0, -0.5, 2.0], a_star=[1.0, 0.7])
    resid = ds.TeacherStudent(0.3 * np.random.default_rng(2).normal(size=(3, 3)), residual=np.eye(3))
    m2 = ds.TeacherStudent(np.eye(2))
    W0 = _starts(m3, 5, 0.5, 3)
    near = np.eye(3)[[1, 0, 2]] + 0.05 * _starts(m3, 1, 1.0, 4)[0]
    rd = ds.ReducedDynamics(3)
    out = {
        "flow.gd": (ds.flow(m3, W0, max_steps=300, throw=False), m3),
        "flow.single": (ds.flow(resid, _starts(resid, 1, 0.1, 5)[0], step=0.2, throw=False), resid),
        "flow.rk4.save": (ds.flow(m3, W0, method="rk4", step=0.2, save=4, max_steps=200, throw=False), m3),
        "flow.dopri5.polish": (ds.flow(m3, W0[:2], method="dopri5", polish=True, throw=False), m3),
        "sgd": (ds.sgd(leaky, _starts(leaky, 2, 0.5, 6), n_samples=64, batch_size=4, step=0.05,
                       epochs=2, seed=2, project=("fro", 3.0)), leaky),
        "monte_carlo": (ds.monte_carlo(leaky, _starts(leaky, 1, 0.5, 7)[0], 2000, seed=4), leaky),
        "monte_carlo_gating": (ds.monte_carlo_gating(np.eye(3), np.ones((3, 3)), 2000, seed=5), None),
        "classify": (ds.classify(m3, near), m3),
        "classify.toy": (ds.classify(toys.DoubleWell(), np.array([0.9, 0.1])), toys.DoubleWell()),
        "find_critical_points": (ds.find_critical_points(m3, np.concatenate([near[None], W0])), m3),
        "saddle_between": (ds.saddle_between(m2, np.eye(2), np.eye(2)[::-1]), m2),
        "census": (ds.census(m3, 12, seed=3), m3),
        "census_sweep": (ds.census_sweep([2, 3], 6, seed=1), None),
        "reduced.fixed_point": (rd.fixed_points()[0], rd),
        "reduced.integrate": (rd.integrate(0.3, 0.2, 5.0, t_eval=np.linspace(0, 5, 6)), rd),
        "k2_saddle_family": (ds.k2_saddle_families(1.0, 5.0, 3.0)[0], None),
        "conjecture1_scan": (ds.conjecture1_scan(40), None),
    }
    ef = ds.eigenvector_following(m2, np.eye(2), n_directions=2)
    out["eigenvector_following"] = (ef[0] if isinstance(ef, (tuple, list)) else ef, m2)
    c = out["census"][0]
    out["census_class"] = (c.classes[0], m3)
    out["critical_set.point"] = (out["find_critical_points"][0][0], m3)
    return out


ALL_TYPES = {"FlowResult", "SGDResult", "MonteCarloEstimate", "GatingEstimate", "CriticalPoint",
             "CriticalSet", "SaddlePoint", "SaddlePath", "Census", "CensusClass", "CensusSweep",
             "ReducedFixedPoint", "ReducedTrajectory", "K2SaddleFamily", "Conjecture1Scan"}


def test_every_result_type_is_covered(produced):
    assert {type(r).__name__ for r, _ in produced.values()} == ALL_TYPES
    assert ALL_TYPES <= set(io._TYPES)


@pytest.mark.parametrize("name", ["flow.gd", "flow.single", "flow.rk4.save", "flow.dopri5.polish", "sgd",
                                  "monte_carlo", "monte_carlo_gating", "classify", "classify.toy",
                                  "find_critical_points", "critical_set.point", "saddle_between",
                                  "eigenvector_following", "census", "census_class", "census_sweep",
                                  "reduced.fixed_point", "reduced.integrate", "k2_saddle_family",
                                  "conjecture1_scan"])
def test_round_trip(produced, name, tmp_path):
    r, model = produced[name]
    path = r.save(tmp_path / "r.npz", model=model)
    assert path == tmp_path / "r.npz" and path.exists()
    back = type(r).load(path)
    assert_same(r, back)
    assert_same(r, results.load(path))  # the generic loader dispatches on the stored type
    meta = io.read_meta(path)
    assert meta["type"] == type(r).__name__ and meta["dynsys_version"] == ds.__version__
    assert meta["format_version"] == io.FORMAT_VERSION
    assert [p for p in os.listdir(tmp_path) if p != "r.npz"] == []  # no temporary file left


def test_nested_results_round_trip(produced, tmp_path):
    cs = produced["find_critical_points"][0]
    back = ds.CriticalSet.load(cs.save(tmp_path / "cs"))
    assert len(back) == len(cs) and all(isinstance(p, ds.CriticalPoint) for p in back)
    assert all(isinstance(p.status, results.Status) for p in back)
    sweep = produced["census_sweep"][0]
    b = results.CensusSweep.load(sweep.save(tmp_path / "sweep"))
    assert isinstance(b.ks, tuple) and all(isinstance(c, results.Census) for c in b.censuses)
    assert all(isinstance(k, results.CensusClass) for c in b.censuses for k in c.classes)
    assert b.table() == sweep.table()
    path = produced["saddle_between"][0]
    pb = results.SaddlePath.load(path.save(tmp_path / "path"))
    assert isinstance(pb.saddle, results.SaddlePoint) and isinstance(pb.barriers, tuple)


def test_call_seed_and_model_metadata(produced, tmp_path):
    c, m3 = produced["census"]
    p = c.save(tmp_path / "c.npz", model=m3, call={"n_runs": 12}, meta={"wall_time": 1.5, "note": "x"})
    meta = io.read_meta(p)
    assert meta["seed"] == 3 and meta["call"]["seed"] == 3 and meta["call"]["n_runs"] == 12
    assert meta["call"]["step"] == c.step and meta["meta"] == {"wall_time": 1.5, "note": "x"}
    assert meta["model"]["class"] == "TeacherStudent"
    sgd, leaky = produced["sgd"]
    p = sgd.save(tmp_path / "s.npz", model=leaky)
    assert io.read_meta(p)["call"]["project"] == {"tuple": ["fro", 3.0]}
    assert io.read_meta(p)["seed"] == 2


@pytest.mark.parametrize("model", [
    ds.TeacherStudent(np.eye(3)),
    ds.TeacherStudent(np.random.default_rng(1).normal(size=(2, 3)), k=3, alpha=0.2, a=[1.0, -0.5, 2.0],
                      a_star=[1.0, 0.7]),
    ds.TeacherStudent(0.3 * np.random.default_rng(2).normal(size=(3, 3)), residual=np.eye(3)),
    toys.DoubleWell(),
    toys.RingOfMinima(),
    ds.ReducedDynamics(5),
])
def test_model_is_rebuilt(produced, model, tmp_path):
    r = produced["k2_saddle_family"][0]
    p = r.save(tmp_path / "m", model=model)
    back = io.load_model(p)
    assert type(back) is type(model)
    if isinstance(model, ds.TeacherStudent):
        for name in ("W_star", "k", "alpha", "a", "a_star", "residual"):
            assert_same(getattr(model, name), getattr(back, name), name)
        W = np.random.default_rng(0).normal(size=(model.k, model.d))
        assert model.loss(W) == back.loss(W)
    elif isinstance(model, ds.ReducedDynamics):
        assert back == model
    assert io.load_model(produced["k2_saddle_family"][0].save(tmp_path / "none")) is None


def test_same_result_gives_same_bytes(produced, tmp_path):
    r, m = produced["flow.gd"]
    a, b = r.save(tmp_path / "a", model=m), r.save(tmp_path / "b", model=m)
    assert a.read_bytes() == b.read_bytes()


def test_compressed_file_round_trips(produced, tmp_path):
    r, m = produced["census"]
    assert_same(r, results.Census.load(r.save(tmp_path / "z", model=m, compress=True)))


def test_readable_without_dynsys(produced, tmp_path):
    """Plain numpy and json read the arrays and the metadata (docs/results.md's recipe)."""
    r, m = produced["flow.gd"]
    p = r.save(tmp_path / "f.npz", model=m)
    with np.load(p) as f:
        meta = json.loads(f["meta.json"])
        W = f[meta["fields"]["W"]["array"]]
        Wstar = f[meta["model"]["args"]["W_star"]["array"]]
    assert np.array_equal(W, r.W) and np.array_equal(Wstar, m.W_star)
    assert meta["fields"]["method"] == "gd" and meta["fields"]["status"]["array"] == "status"
    with zipfile.ZipFile(p) as z:
        assert json.loads(z.read("meta.json")) == meta


def test_path_suffix_and_overwrite(produced, tmp_path):
    r, _ = produced["monte_carlo"]
    p = r.save(tmp_path / "mc")
    assert p.name == "mc.npz"
    assert_same(r, results.MonteCarloEstimate.load(tmp_path / "mc"))
    other = produced["monte_carlo_gating"][0]
    other.save(p)  # overwriting replaces the whole file
    assert isinstance(results.load(p), results.GatingEstimate)


# ------------------------------------------------------------------------------ bad files
def _rewrite_meta(path, change):
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(members["meta.json"])
    change(meta)
    members["meta.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


def test_other_type_is_refused(produced, tmp_path):
    p = produced["flow.gd"][0].save(tmp_path / "f.npz")
    with pytest.raises(ResultFileError, match=r"f\.npz: holds a FlowResult, not a Census"):
        results.Census.load(p)


def test_newer_format_is_refused(produced, tmp_path):
    p = produced["flow.gd"][0].save(tmp_path / "f.npz")
    _rewrite_meta(p, lambda m: m.update(format_version=io.FORMAT_VERSION + 1))
    with pytest.raises(ResultFileError, match=r"f\.npz: written in result format version 2 .*newer"):
        results.FlowResult.load(p)


def test_not_a_result_file(tmp_path):
    text = tmp_path / "t.npz"
    text.write_text("hello")
    with pytest.raises(ResultFileError, match=r"t\.npz: not a dynsys result file"):
        results.load(text)
    plain = tmp_path / "p.npz"
    np.savez(plain, W=np.ones(3))
    with pytest.raises(ResultFileError, match=r"p\.npz: no meta\.json member"):
        results.load(plain)
    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        results.load(tmp_path / "missing.npz")


def test_damaged_files(produced, tmp_path):
    p = produced["census"][0].save(tmp_path / "c.npz")
    with zipfile.ZipFile(p) as z:
        members = {n: z.read(n) for n in z.namelist()}
    gone = tmp_path / "gone.npz"
    with zipfile.ZipFile(gone, "w") as z:
        for n, data in members.items():
            if n != "classes/0/W.npy":
                z.writestr(n, data)
    with pytest.raises(ResultFileError, match=r"gone\.npz: array member classes/0/W\.npy is missing"):
        results.load(gone)
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("meta.json", b"{not json")
    with pytest.raises(ResultFileError, match=r"bad\.npz: meta\.json is not valid JSON"):
        results.load(bad)
    _rewrite_meta(p, lambda m: m.update(type="NoSuchResult"))
    with pytest.raises(ResultFileError, match=r"c\.npz: result type .*NoSuchResult does not exist"):
        results.load(p)
    truncated = tmp_path / "trunc.npz"
    data = produced["flow.gd"][0].save(tmp_path / "whole.npz").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultFileError, match=r"trunc\.npz: not a dynsys result file"):
        results.load(truncated)


def test_imports_only_inside_dynsys(produced, tmp_path):
    p = produced["k2_saddle_family"][0].save(tmp_path / "k", model=toys.DoubleWell())
    _rewrite_meta(p, lambda m: m["model"].update(module="os", **{"class": "system"}))
    with pytest.raises(ResultFileError, match=r"k\.npz: model class os\.system is outside dynsys"):
        io.load_model(p)
    _rewrite_meta(p, lambda m: m["model"].update(module="dynsys.cli", **{"class": "main"}))
    with pytest.raises(ResultFileError, match=r"k\.npz: model class dynsys\.cli\.main is not a class"):
        io.load_model(p)


def test_killed_write_keeps_the_old_file(produced, tmp_path, monkeypatch):
    r, _ = produced["flow.gd"]
    p = r.save(tmp_path / "f.npz")
    before = p.read_bytes()
    calls = []

    def dies(f, a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(f, a, **kw)

    real = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", dies)
    with pytest.raises(KeyboardInterrupt):
        produced["census"][0].save(p)
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["f.npz"]


def test_sigkill_while_writing_leaves_a_whole_file(tmp_path):
    """A writer killed at a random moment in a loop of saves: the target always loads whole."""
    target = tmp_path / "big.npz"
    code = f"""
import numpy as np
from dynsys.results import FlowResult
n = 3000
fr = FlowResult(W=np.random.default_rng(0).normal(size=(n, 10, 10)), loss=np.zeros(n),
                grad_norm=np.zeros(n), steps=np.zeros(n, np.int64), t=np.zeros(n),
                status=np.zeros(n, np.int8), plateau_time=np.zeros(n))
while True:
    fr.save({str(target)!r})
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pathlib.Path(ds.__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60
        while not target.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(0.05 + 0.1 * np.random.default_rng().random())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    r = results.FlowResult.load(target)
    assert r.W.shape == (3000, 10, 10)
    assert all(p == "big.npz" or p.endswith(".tmp") for p in os.listdir(tmp_path))


def test_unsupported_values_are_refused(produced, tmp_path):
    r, _ = produced["flow.gd"]
    with pytest.raises(TypeError, match="cannot save meta/f: a builtin_function"):
        r.save(tmp_path / "x", meta={"f": print})
    with pytest.raises(TypeError, match="object array"):
        r.save(tmp_path / "x", meta={"a": np.array([1, None])})
    with pytest.raises(TypeError, match="save needs a dynsys result"):
        io.save({"W": 1}, tmp_path / "x")
    with pytest.raises(FileNotFoundError, match=r"no_dir/x\.npz: cannot save, the folder .*no_dir does not exist"):
        r.save(tmp_path / "no_dir" / "x")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------ printing
@pytest.mark.parametrize("name", ["flow.gd", "flow.single", "flow.rk4.save", "flow.dopri5.polish", "sgd",
                                  "monte_carlo", "monte_carlo_gating", "classify", "find_critical_points",
                                  "saddle_between", "eigenvector_following", "census", "census_class",
                                  "census_sweep", "reduced.fixed_point", "reduced.integrate",
                                  "k2_saddle_family", "conjecture1_scan"])
def test_short_repr_and_summary(produced, name):
    r, _ = produced[name]
    text = repr(r)
    assert "\n" not in text and len(text) < 400 and "array(" not in text, text
    assert text.startswith(type(r).__name__ + "(")
    summary = r.summary()
    assert len(summary.splitlines()) <= 40 and "array(" not in summary
    assert str(r) in (summary, text)


def test_statuses_print_as_names(produced):
    fr = produced["flow.gd"][0]
    counts = fr.status_counts()
    for name, n in counts.items():
        assert f"{name} {n}" in repr(fr)
    assert "status" in fr.summary() and str(int(fr.status[0])) + "," not in repr(fr)
    single = produced["flow.single"][0]
    assert single.status.name in repr(single)
    traj = produced["reduced.integrate"][0]
    assert traj.status.name in repr(traj)
    sp = produced["saddle_between"][0]
    assert results.Status(sp.status).name in repr(sp)


def test_large_flow_result_prints_briefly():
    n = 10_000
    W = np.zeros((n, 10, 10))
    st = np.zeros(n, np.int8)
    st[:7] = results.Status.MAX_STEPS
    fr = results.FlowResult(W=W, loss=np.zeros(n), grad_norm=np.zeros(n), steps=np.zeros(n, np.int64),
                            t=np.zeros(n), status=st, plateau_time=np.zeros(n))
    assert repr(fr) == "FlowResult(10000 trajectories, k=10, d=10, gd step 0.1: CONVERGED 9993, MAX_STEPS 7)"
    assert len(str(fr)) < 2000


def test_census_keeps_its_table(produced):
    c = produced["census"][0]
    assert str(c) == c.table() == c.summary()
    assert repr(c).startswith(f"Census(k={c.k}, k_star={c.k_star}, d={c.d}, {c.n_runs} runs")
    cp = produced["classify"][0]
    assert repr(cp).startswith("CriticalPoint(k=3, d=3: ") and str(cp) == cp.summary()
    assert "unmatched teacher rows" in str(cp)
