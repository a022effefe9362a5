"""dynsys reproduce: the runner, the claims table, the command line, and every analysis at a small size.

Exact claims (saddle location, Lemma 2.1, fixed-point counts and indices, Conjecture 1's scan, the K = 2
families) have their verdict asserted; the oracles are independent closed forms written here. Full-size
runs of each analysis are ``slow``.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import dynsys as ds  # noqa: E402
from dynsys import cli  # noqa: E402
from dynsys import reproduce as rp  # noqa: E402
from dynsys.reproduce import store  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMES = sorted(rp.analyses())
PAPERS = {"000", "001", "002"}


def _x_s(K):
    """The symmetric saddle of paper 000 Thm 7(2), written out independently."""
    return (math.sqrt(K - 1) - math.acos(1 / math.sqrt(K)) + math.pi) / (math.pi * K)


def _verdicts(mod, data):
    rows = mod.claims(data)
    for r in rows:
        rp.claims.check_claim(r, mod.NAME)
    return [r["verdict"] for r in rows]


def _roundtrip(mod, data, tmp_path):
    """Save and load the data as the runner does, draw the figures, return (loaded data, figure paths)."""
    store.save_data(data, tmp_path, mod.NAME, title=mod.TITLE, groups=mod.GROUPS, quick=True)
    loaded = store.load_data(tmp_path, mod.NAME)
    paths = mod.figures(loaded, tmp_path)
    assert paths and all(Path(p).exists() and Path(p).stat().st_size > 1000 for p in paths)
    assert {Path(p).suffix for p in paths} == {".png", ".pdf"}
    return loaded, paths


# ------------------------------------------------------------------------------------------ registry
def test_every_analysis_has_the_interface():
    mods = rp.analyses()
    assert len(mods) >= 10
    for name, mod in mods.items():
        assert mod.NAME == name
        assert mod.GROUPS and set(mod.GROUPS) <= PAPERS, name
        assert isinstance(mod.TITLE, str) and mod.TITLE
        for f in ("compute", "figures", "claims"):
            assert callable(getattr(mod, f))


def test_select_by_name_and_group_and_unknown_names_list_the_valid_ones():
    assert list(rp.select(["k2_saddles"])) == ["k2_saddles"]
    in_001 = rp.select(["001"])
    assert "thm7_fixed_points" in in_001 and "conjecture1" not in in_001
    with pytest.raises(rp.UnknownAnalysis) as e:
        rp.select(["k2_saddles", "fig99"])
    msg = str(e.value)
    assert "'fig99'" in msg and all(n in msg for n in NAMES) and "000" in msg


# ------------------------------------------------------------------------------------------ store, claims
def test_store_roundtrip_and_other_version(tmp_path):
    data = {"a": np.arange(3.0), "s": 2.5, "flag": True, "names": np.array(["x", "yy"]), "meta": {"seed": 1}}
    store.save_data(data, tmp_path, "demo_x", title="t", groups=("000",), quick=True, wall_time=1.25)
    back = store.load_data(tmp_path, "demo_x")
    assert np.array_equal(back["a"], data["a"]) and back["s"] == 2.5 and back["flag"] is True
    assert list(back["names"]) == ["x", "yy"] and back["meta"] == {"seed": 1}
    info = json.loads((tmp_path / "demo_x.json").read_text())
    assert info["dynsys_version"] == ds.__version__ and info["wall_time_s"] == 1.25 and info["quick"] is True
    info["dynsys_version"] = "0.0.0-old"
    (tmp_path / "demo_x.json").write_text(json.dumps(info))
    with pytest.raises(store.StaleDataError, match="0.0.0-old"):
        store.load_data(tmp_path, "demo_x")
    with pytest.raises(TypeError, match="dtype object"):
        store.save_data({"bad": [1, "a", None]}, tmp_path, "bad")


def test_claims_writer_checks_verdicts(tmp_path):
    row = {"paper": "000", "where": "Thm 1", "says": "a | b", "measured": "1.0", "verdict": "reproduced",
           "reason": "r"}
    with pytest.raises(ValueError, match="verdict"):
        rp.claims.check_claim(dict(row, verdict="sort of"), "x")
    with pytest.raises(ValueError, match="lacks"):
        rp.claims.check_claim({"paper": "000"}, "x")
    md, js = rp.write_claims([rp.claims.check_claim(row, "x")], tmp_path, quick=True)
    text = md.read_text()
    assert "a \\| b" in text and "| reproduced |" in text
    assert json.loads(js.read_text())["counts"]["reproduced"] == 1


def test_runner_recomputes_data_of_another_version_and_reuses_its_own(tmp_path):
    lines = []
    rp.run(["prop2_backward"], quick=True, out=tmp_path, log=lines.append)
    info = json.loads((tmp_path / "prop2_backward.json").read_text())
    info["dynsys_version"] = "0.0.0-old"
    (tmp_path / "prop2_backward.json").write_text(json.dumps(info))
    lines.clear()
    rp.run(["prop2_backward"], quick=True, out=tmp_path, log=lines.append)
    assert any("0.0.0-old" in ln and "recomputing" in ln for ln in lines)
    lines.clear()
    res = rp.run(["prop2_backward"], quick=True, out=tmp_path, log=lines.append)
    assert any("using the saved data" in ln for ln in lines) and not res["times"]
    lines.clear()
    rp.redraw(["prop2_backward"], out=tmp_path, log=lines.append)
    assert lines == ["prop2_backward: redrawn"]
    (tmp_path / "prop2_backward.json").write_text(json.dumps(info))          # the old version again
    lines.clear()
    rp.redraw(["prop2_backward"], out=tmp_path, log=lines.append)
    assert "0.0.0-old" in lines[0] and "recomputing" in lines[0] and lines[-1] == "prop2_backward: redrawn"
    assert store.load_data(tmp_path, "prop2_backward")["meta"]["samples"] == 200      # recomputed, quick size


def test_a_failing_analysis_does_not_stop_the_others(tmp_path, monkeypatch):
    mod = rp.analyses()["prop2_backward"]
    monkeypatch.setattr(mod, "compute", lambda quick: 1 / 0)
    lines = []
    res = rp.run(["prop2_backward", "k2_saddles"], quick=True, out=tmp_path, log=lines.append)
    assert list(res["failed"]) == ["prop2_backward"] and "ZeroDivisionError" in res["failed"]["prop2_backward"]
    assert (tmp_path / "k2_saddles.png").exists()


# ------------------------------------------------------------------------------------------ analyses
def test_thm7_fixed_points(tmp_path):
    mod = rp.analyses()["thm7_fixed_points"]
    data, _ = _roundtrip(mod, mod.compute(True), tmp_path)
    assert np.allclose(data["x_s_closed"], [_x_s(K) for K in range(2, 21)], atol=1e-15, rtol=0)
    assert abs(data["x_s_found"][0] - 0.53415) < 1e-5 and abs(data["x_s_found"][3] - 0.25684) < 1e-5
    assert all(np.sum(data["fp_K"] == K) == 4 for K in range(2, 21))
    assert _verdicts(mod, data) == ["reproduced"] * 4


def test_prop2_backward(tmp_path):
    mod = rp.analyses()["prop2_backward"]
    data, _ = _roundtrip(mod, mod.compute(True), tmp_path)
    assert data["rel_error"].shape == (3, 3, 4) and np.nanmax(data["rel_error"]) < 1e-6
    assert _verdicts(mod, data) == ["reproduced"]


def test_prop2_formula_detects_a_wrong_gating(monkeypatch):
    """The check has teeth: with Q = I on every layer (no layer-by-layer gating) the lower layers disagree."""
    from dynsys.reproduce.analyses import prop2_backward as p2
    rng = np.random.default_rng(0)
    Ws = [rng.normal(size=(4, 6)) / 2, rng.normal(size=(4, 4)) / 2, rng.normal(size=(4, 4)) / 2]
    Wt = [rng.normal(size=(4, 6)) / 2, rng.normal(size=(4, 4)) / 2, rng.normal(size=(4, 4)) / 2]
    X = rng.normal(size=(50, 6))
    fd = p2._finite_diff(Ws, Wt, X)
    good = p2._formula(Ws, Wt, X)
    assert all(np.linalg.norm(g - f) < 1e-6 * np.linalg.norm(f) for g, f in zip(good, fd))
    monkeypatch.setattr(p2, "_gating", lambda W, us: [np.ones_like(u) for u in us])
    bad = p2._formula(Ws, Wt, X)
    assert np.linalg.norm(bad[0] - fd[0]) > 1e-2 * np.linalg.norm(fd[0])
    assert np.linalg.norm(bad[-1] - fd[-1]) < 1e-6 * np.linalg.norm(fd[-1])     # the top layer has Q = 1


def test_conjecture1(tmp_path):
    mod = rp.analyses()["conjecture1"]
    data, _ = _roundtrip(mod, mod.compute(True), tmp_path)
    assert data["mid_n_confirmed"] == 0 and data["end_n_confirmed"] == 0
    assert data["end_n_float64"] > 0            # the paper's endpoint grid shows naive float64 "violations"
    assert _verdicts(mod, data) == ["reproduced"] * 3


def test_k2_saddles(tmp_path):
    mod = rp.analyses()["k2_saddles"]
    data, _ = _roundtrip(mod, mod.compute(True), tmp_path)
    # tan(t/2) = pi - t/2, solved here by bisection (independent of dynsys).
    lo, hi = 2.0, 2.5
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if math.tan(mid / 2) < math.pi - mid / 2 else (lo, mid)
    assert abs(0.5 * (data["switch_lo"] + data["switch_hi"]) - lo) < 1e-5
    assert np.allclose(sorted(data["ex_theta1"]), [0.0786, 0.2175, 2.9987], atol=1e-4)
    assert list(data["ex_meas"]) == [1, 2, 1]
    # continuation finds the same branch point (to 1e-8) and the fold of the norms-1-and-5 families
    assert abs(data["cont_bp"] - lo) < 1e-8 and list(data["cont_bp_index"]) == [1, 2]
    assert abs(data["cont_fold"] - 2.990099102) < 1e-8 and list(data["cont_fold_index"]) == [2, 1]
    # Thm 2: the orbits outside the span have the predicted dimension 1, measured twice
    orbit = data["manifolds"][data["manifolds"][:, 3] > 0]
    assert np.all(orbit[:, 2] == 1) and np.all(orbit[:, 5] == 1) and np.all(orbit[:, 6] == 1)
    assert _verdicts(mod, data) == ["reproduced"] * 4


def test_fig8_reduced_flow(tmp_path):
    mod = rp.analyses()["fig8_reduced_flow"]
    data, paths = _roundtrip(mod, mod.compute(True), tmp_path)
    assert len(paths) == 4
    assert np.all(np.diff(data["t_conv"]) < 0)                       # larger K converges faster
    assert sorted(data["fp2_index"]) == [0, 0, 1, 2] and sorted(data["fp5_index"]) == [0, 6, 16, 20]
    assert _verdicts(mod, data) == ["reproduced"] * 3


def test_symmetry_breaking(tmp_path):
    mod = rp.analyses()["symmetry_breaking"]
    data, _ = _roundtrip(mod, mod.compute(True), tmp_path)
    assert len(data["labels"]) >= 300 and np.all(data["labels"] >= 0)
    assert _verdicts(mod, data) == ["reproduced"]


def test_fig7_sampling_tiny(tmp_path, monkeypatch):
    mod = rp.analyses()["fig7_sampling"]
    monkeypatch.setitem(mod.SIZES, "quick", {"pairs": (20, 10, 10), "N_b": (100, 1000, 10000), "d_c": (5, 10),
                                             "N_c": 20000})
    data, _ = _roundtrip(mod, mod.compute(True), tmp_path)
    assert np.all(np.isfinite(data["err_a"])) and data["err_b"].shape == (3, 10)
    assert abs(data["scale_c"][0] - 1 / 12) < 0.01                  # uniform [-1/2, 1/2]: variance 1/12
    assert _verdicts(mod, data)[2] == "partly"


def test_k1_convergence_tiny(tmp_path, monkeypatch):
    mod = rp.analyses()["k1_convergence"]
    monkeypatch.setitem(mod.SIZES, "quick", (4000, 4))
    data, _ = _roundtrip(mod, mod.compute(True), tmp_path)
    assert data["dV_max"] < 0                                         # Thm 5, pointwise
    eps = data["eps"]
    assert np.all(data["prob"] >= (1 - eps)[None, :] / 2 - 0.03)      # Thm 6's bound, within sampling noise
    assert _verdicts(mod, data)[0] == "reproduced"


def test_fig9_noise_tiny(tmp_path, monkeypatch):
    mod = rp.analyses()["fig9_noise"]
    monkeypatch.setitem(mod.SIZES, "quick", (3000, 500, 4))
    data, paths = _roundtrip(mod, mod.compute(True), tmp_path)
    assert len(paths) == 4
    assert np.all(data["top5_final_0"] < 1e-3)                       # tiny noise at K = 5: all converge
    assert len(_verdicts(mod, data)) == 4 and "pending" not in _verdicts(mod, data)
    # the basin fractions: at tiny noise and K = 5 every run reaches a teacher permutation
    assert data["frac5_count"][0] == 4 and data["frac5_spurious"][0] == 0
    n = data["frac_n"]
    for K in data["Ks"]:
        assert np.all(data[f"frac{K}_count"] + data[f"frac{K}_spurious"] + data[f"frac{K}_other"] == n)


def test_ss18_census_tiny(tmp_path, monkeypatch):
    mod = rp.analyses()["ss18_census"]
    monkeypatch.setitem(mod.SIZES, "quick", ((6, 7), 4))
    data, _ = _roundtrip(mod, mod.compute(True), tmp_path)
    assert list(data["published"]) == [0.3, 5.5]
    assert np.all((data["interval"][:, 0] <= data["spurious"]) & (data["spurious"] <= data["interval"][:, 1]))
    assert len(_verdicts(mod, data)) == 1


def test_bifurcations_tiny(tmp_path, monkeypatch):
    mod = rp.analyses()["bifurcations"]
    monkeypatch.setitem(mod.SIZES, "quick", ((8,), 40))
    data, _ = _roundtrip(mod, mod.compute(True), tmp_path)
    assert abs(data["sbp_p"] - ds.k2_equal_norm_threshold()) < 1e-7
    assert list(data["sbp_index"]) == [1, 2]
    # both mirror-image branches switched onto, each a closed-form asymmetric family at the end
    assert len(data["sbp_matched"]) == 2 and data["sbp_matched"].all()
    folds = [e[1] for e, k in zip(data["fold_ev"], data["fold_evkind"]) if k == "fold"]
    assert len(folds) == 1 and abs(folds[0] - 2.990099102) < 1e-6
    rows = data["alpha_rows"]
    assert len(rows) >= 1 and np.all(rows[:, 0] == 8) and np.all(rows[:, 8] < 1e-8)
    assert len(_verdicts(mod, data)) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_full_size(name, tmp_path):
    res = rp.run([name], quick=False, out=tmp_path)
    assert not res["failed"] and res["claims"]


# ------------------------------------------------------------------------------------------ command line
def _cli(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "dynsys.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_cli_reproduce_end_to_end(tmp_path):
    p = _cli(["reproduce", "--quick", "--only", "k2_saddles"], tmp_path)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "figures"                                         # default: ./figures of the cwd
    for f in ("k2_saddles.png", "k2_saddles.pdf", "k2_saddles.npz", "k2_saddles.json", "claims.md", "claims.json"):
        assert (out / f).exists(), f
    assert "[1/1] k2_saddles" in p.stdout and "4 claims" in p.stdout
    rows = json.loads((out / "claims.json").read_text())["claims"]
    assert [r["verdict"] for r in rows] == ["reproduced"] * 4
    p = _cli(["figures"], tmp_path)
    assert p.returncode == 0 and "k2_saddles: redrawn" in p.stdout


def test_cli_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for cmd in ("reproduce", "figures", "census", "flow", "info"):
        assert f"  {cmd}" in text
    assert "``" not in text and "demo" not in text


def test_cli_bad_input(tmp_path, capsys):
    assert cli.main(["reproduce", "--only", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "thm7_fixed_points" in err
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert cli.main(["reproduce", "--quick", "--only", "prop2_backward", "--out", str(blocker / "sub")]) == 2
    assert "not a writable folder" in capsys.readouterr().err
    assert cli.main(["reproduce", "--quick", "--only", "prop2_backward", "--jobs", "0", "--out", str(tmp_path)]) == 2


def test_cli_census_and_flow_from_toml_and_flags(tmp_path, capsys):
    cfg = tmp_path / "m.toml"
    cfg.write_text("[model]\nk = 3\n\n[census]\nruns = 4\nseed = 2\n")
    out = tmp_path / "c.npz"
    assert cli.main(["census", "--config", str(cfg), "--out", str(out)]) == 0
    c = ds.load(out)
    assert c.n_runs == 4 and c.k == 3
    out = tmp_path / "f.npz"
    assert cli.main(["flow", "--k", "2", "--d", "3", "--starts", "3", "--max-steps", "50", "--out", str(out)]) == 0
    r = ds.load(out)
    assert r.W.shape == (3, 2, 3)
    cfg.write_text("[model]\nkk = 3\n")
    assert cli.main(["census", "--config", str(cfg)]) == 2
    assert "unknown [model] keys" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ plotting
def test_phase_portrait_marks_fixed_points_by_index():
    import matplotlib.pyplot as plt

    from dynsys.plotting import phase_portrait
    red = ds.ReducedDynamics(2)
    fps = red.fixed_points()
    tr = red.integrate(1e-3, 0.0, 30.0)
    ax = phase_portrait(red, fixed_points=fps, indices=[2, 1, 0, 0][:len(fps)], trajectories=[tr], labels=["K = 2"])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "sink (index 0)" in labels and "K = 2" in labels
    assert ax.get_xlabel().startswith("x") and ax.get_ylabel().startswith("y")
    plt.close("all")


def test_jobs_run_analyses_in_processes(tmp_path):
    res = rp.run(["prop2_backward", "k2_saddles"], quick=True, out=tmp_path, jobs=2)
    assert not res["failed"] and set(res["times"]) == {"prop2_backward", "k2_saddles"}
    assert {r["analysis"] for r in res["claims"]} == {"prop2_backward", "k2_saddles"}


def test_full_run_states_its_duration_first(tmp_path, capsys):
    assert cli.main(["reproduce", "--only", "prop2_backward", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("estimated time on 2 cores:")
    assert json.loads((tmp_path / "prop2_backward.json").read_text())["quick"] is False
