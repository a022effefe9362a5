"""Ctrl-C (SIGINT) during find_critical_points on many seeds returns a partial result."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

import dynsys as ds

SCRIPT = """
import sys
import numpy as np
import dynsys as ds
m = ds.TeacherStudent(np.eye(5))
S = np.random.default_rng(0).normal(size=(int(sys.argv[2]), 5, 5)) / np.sqrt(5)
ds.find_critical_points(m, S[:3])  # kernels loaded before the clock starts
print("ready", flush=True)
cs = ds.find_critical_points(m, S)
cs.save(sys.argv[1])
print("saved", flush=True)
"""


def _seeds(n):
    return np.random.default_rng(0).normal(size=(n, 5, 5)) / np.sqrt(5)


def test_sigint_returns_a_partial_critical_set(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    out = tmp_path / "cs.npz"
    n = 40000  # about a minute of Newton on this machine: the SIGINT lands in it
    # a parent started in the background may ignore SIGINT, and a child inherits that: restore it
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(n)], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline().startswith("ready")
        time.sleep(1.5)
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
        waited = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "saved" in rest
    cs = ds.CriticalSet.load(out)
    inter = cs.status == ds.Status.INTERRUPTED
    assert 0 < inter.sum() < n, "the SIGINT did not land in the Newton chunks"
    assert np.all(cs.labels[inter] == -1)
    assert waited < 20.0, f"{waited:.1f} s from SIGINT to the saved result"
    # the seeds done are those of an unbroken call (the first ones; statuses and labels)
    done = np.flatnonzero(~inter)
    assert done[0] == 0
    m = ds.TeacherStudent(np.eye(5))
    first = done[:200]
    ref = ds.find_critical_points(m, _seeds(n)[first])
    assert np.array_equal(cs.status[first], ref.status)
    assert np.allclose(cs.residual[first], ref.residual, rtol=0.0, atol=1e-12)
    assert np.array_equal(cs.labels[first] >= 0, ref.labels >= 0)


def test_chunks_do_not_change_the_result(monkeypatch):
    """Newton in chunks (as Ctrl-C needs) gives bitwise what one chunk gives."""
    import importlib

    find = importlib.import_module("dynsys.critical.find")
    m = ds.TeacherStudent(np.eye(3), k=4)
    S = np.random.default_rng(1).normal(size=(300, 4, 3)) / np.sqrt(3)
    whole = ds.find_critical_points(m, S)
    monkeypatch.setattr(find, "FIND_FIRST_CHUNK", 7)
    monkeypatch.setattr(find, "FIND_CHUNK_S", 1e-4)
    parts = ds.find_critical_points(m, S)
    assert np.array_equal(whole.status, parts.status) and np.array_equal(whole.labels, parts.labels)
    assert np.array_equal(whole.residual, parts.residual, equal_nan=True)
    assert len(whole.points) == len(parts.points)
    for a, b in zip(whole.points, parts.points):
        assert np.array_equal(a.W, b.W)
