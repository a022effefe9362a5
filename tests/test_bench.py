"""`dynsys bench` on fake benchmark scripts: row collection, environment, report, CLI."""

import json
import math
import shutil
from pathlib import Path

import pytest

from dynsys import benchreport as br
from dynsys.cli import main

COMMON = Path(__file__).resolve().parents[1] / "benchmarks" / "_common.py"

FAKE = '''
import os, sys
from _common import row
print("fake ran with", sys.argv[1:])
row("grad k=d=10", 1000.0, "grads/s", {"numpy": 100.0, "jax": 400.0},
    target=[("numpy", ">=", 4.0), ("jax", ">=", 4.0)], note="coretype " + os.environ.get("OPENBLAS_CORETYPE", "unset"),
    peak_fraction=0.25, roofline_fraction=0.5, flops_per_grad=7000)
row("1000 runs", 12.0, "s", {"scipy": 240.0}, higher_is_better=False, target=(None, "<=", 20.0))
row("peak FMA, 1 thread", 30.0, "GFLOP/s", section="peak", chains=30.0, horner=20.0)
'''

CRASH = '''
from _common import row
row("before the crash", 5.0, "traj/s", {"solve_ivp": float("nan")}, target=("solve_ivp", ">=", 20.0))
raise RuntimeError("boom")
'''


@pytest.fixture
def bench_dir(tmp_path):
    d = tmp_path / "benchmarks"
    d.mkdir()
    shutil.copy(COMMON, d / "_common.py")
    (d / "bench_fake.py").write_text(FAKE)
    (d / "bench_crash.py").write_text(CRASH)
    return d


def test_rows_collected_and_report_written(bench_dir, monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    res = br.run(bench_dir, quick=True, only=["fake", "bench_crash"], gpu=False)
    crash, fake = res["runs"]  # scripts outside SCRIPTS run in name order
    assert (fake.name, fake.returncode) == ("bench_fake", 0)
    assert "fake ran with []" in fake.output
    assert crash.returncode == 1 and "RuntimeError: boom" in crash.output
    grad, runs, peak = fake.rows
    # the OpenBLAS override is removed in the script's environment
    assert grad["note"] == "coretype unset"
    # ratios: rates dynsys / peer, times peer / dynsys
    assert grad["ratios"] == {"numpy": 10.0, "jax": 2.5}
    assert runs["ratios"] == {"scipy": 20.0}
    assert [t["met"] for t in grad["targets"]] == [True, False] and grad["met"] is False
    assert runs["met"] is True
    assert peak["met"] is None and peak["extra"]["section"] == "peak"
    # a crash keeps the rows recorded before it; a NaN peer leaves its target unmeasured
    (before,) = crash.rows
    assert math.isnan(before["ratios"]["solve_ivp"]) and before["met"] is None
    assert res["missed"] == ["grad k=d=10"]

    text = res["path"].read_text()
    assert res["path"] == bench_dir / "RESULTS.md"
    assert "| grad k=d=10 | 1e+03 | grads/s | numpy: 100<br>jax: 400 | 10x<br>2.50x |" in text
    assert "- grad k=d=10: x jax >= 4: **missed** (measured 2.5)" in text
    assert "not measured (a peer did not run): before the crash" in text
    assert "| grad k=d=10 | 7000 | 1e+03 | 0.007 | 25.0% | 50.0% |" in text
    assert "- peak FMA, 1 thread: 30 GFLOP/s (chains 30, Horner 20)" in text
    assert "**No GPU was measured**" in text and "load average" in text
    assert "| bench_crash | - | **exit 1** |" in text  # scripts outside the table get no --quick
    assert "numpy 2." in text and "fake ran with []" in text


def test_rows_written_only_when_asked(bench_dir, tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(bench_dir / "bench_fake.py")], cwd=tmp_path,
                         capture_output=True, text=True, env={"PATH": "", "PYTHONPATH": ""})
    assert out.returncode == 0 and not list(tmp_path.glob("*.json"))
    r = br.run_script(bench_dir, "bench_fake", ["--x"])
    assert r.returncode == 0 and len(r.rows) == 3 and "['--x']" in r.output
    json.dumps(r.rows)  # plain JSON types


def test_select_and_missing_checkout(bench_dir, tmp_path, monkeypatch):
    (bench_dir / "bench_field_cuda.py").write_text("")
    assert "bench_field_cuda" not in br.select(bench_dir, gpu=False)
    assert "bench_field_cuda" in br.select(bench_dir, gpu=True)
    with pytest.raises(br.BenchError, match="unknown benchmark bench_nope"):
        br.select(bench_dir, ["nope"], gpu=False)
    with pytest.raises(br.BenchError, match="source checkout"):
        br.find_bench_dir(tmp_path / "nowhere")
    assert main(["bench", "--dir", str(tmp_path / "nowhere")]) == 2


def test_cli_quick_args_and_exit_status(bench_dir, tmp_path, capsys):
    out = tmp_path / "R.md"
    assert br.script_argv("bench_trees", True, Path("/src"))[:4] == ["/src", "/src", "--repeats", "1"]
    assert br.script_argv("bench_field", True, Path("/src")) == ["--quick"]
    assert br.script_argv("bench_field", False, Path("/src")) == []
    assert main(["bench", "--dir", str(bench_dir), "--quick", "--only", "fake", "--out", str(out)]) == 0
    assert "targets missed: grad k=d=10" in capsys.readouterr().out
    assert out.is_file()
    assert main(["bench", "--dir", str(bench_dir), "--only", "crash", "--out", str(out)]) == 1
