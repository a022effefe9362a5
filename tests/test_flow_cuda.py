"""The CUDA flow integrators (``dynsys/kernels/cuda/integrators.py``) against the CPU integrators.

Every run: ``dynsys.flow(..., backend="cuda")`` against ``backend="parallel"`` in the numba-cuda
simulator (a subprocess: ``NUMBA_ENABLE_CUDASIM=1`` must be set before numba is imported; tiny sizes)
for gd, euler, rk4 and dopri5: convergence to gtol, MAX_STEPS (both stopping norms), t1, divergent
fixed steps, a singular start, alpha = 0.1 with mixed-sign a and a zero teacher row, a residual, the
linear model; statuses and step counts equal, states, losses, gradient norms and times within
``cuda_flow_sim_check.RTOL``; float32 kernels against the float64 CPU flow; grid-stride and unrolled
launches bitwise equal to the default. Also the real kernels compiled to PTX for sm_90 (the simulator
never types them) where libNVVM is installed. On a GPU, ``pytest -m cuda`` runs the comparison at
k = d = 10 with 512 trajectories per case, and checks bitwise repeatability.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from cuda_flow_sim_check import METHODS, RTOL

HERE = os.path.dirname(os.path.abspath(__file__))

from dynsys._codes import (MAX_STEPS as _MAX_STEPS,
                            DIVERGED as _DIVERGED, SINGULAR as _SINGULAR, T1_REACHED as _T1_REACHED)


def _run_helper(*args, simulator):
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), HERE, env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, os.path.join(HERE, "cuda_flow_sim_check.py"), *args], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"helper run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _tol(r):
    if r["dtype"] == "float32":
        return RTOL["float32"]
    return RTOL["dopri5" if r["method"] == "dopri5" else "fixed"]


def _check_results(results):
    assert results, "no comparison ran"
    for r in results:
        where = f"{r['case']} {r['method']} {r['dtype']}"
        assert r["status"] == r["status_cpu"], f"{where}: statuses {r['status']} != CPU {r['status_cpu']}"
        assert r["steps"] == r["steps_cpu"], f"{where}: steps {r['steps']} != CPU {r['steps_cpu']}"
        assert r["dtype_ok"], f"{where}: outputs not in W0's dtype (int64 steps, int8 status)"
        tol = _tol(r)
        for key in ("W_err", "loss_err", "gnorm_err", "t_err"):
            assert r[key] <= tol, f"{where}: {key} = {r[key]:.3g} > {tol}"
        if r["expected"] is not None:
            assert all(s == r["expected"] for s in r["status"]), f"{where}: statuses {r['status']}"


@pytest.fixture(scope="module")
def sim_report():
    return _run_helper(simulator=True)


def test_simulator_matches_cpu(sim_report):
    """Every case x method in float64, and the float32 runs: equal statuses and step counts, results
    within RTOL; each case's statuses as the mathematics says (see ``cuda_flow_sim_check.cases``)."""
    res = sim_report["results"]
    _check_results(res)
    f64 = [r for r in res if r["dtype"] == "float64"]
    assert {r["method"] for r in f64} == set(METHODS)
    assert {r["method"] for r in res if r["dtype"] == "float32"} == set(METHODS)
    seen = {s for r in f64 for s in r["status"]}
    assert {0, _MAX_STEPS, _DIVERGED, _SINGULAR, _T1_REACHED} <= seen, seen


def test_simulator_stop_details(sim_report):
    """The singular start stops at once (0 steps, t = 0) while its batch neighbours run on; t1 = 0.95
    with dt = 0.1: euler, rk4 and dopri5 land on t1 exactly (the last fixed step shortened to 0.05),
    gd takes ceil(0.95 / 0.1) = 10 whole steps to t = 1."""
    res = [r for r in sim_report["results"] if r["dtype"] == "float64"]
    for r in res:
        if r["case"] == "singular_start":
            assert r["status"][1] == _SINGULAR and r["steps"][1] == 0 and r["t"][1] == 0.0, r
            assert all(s == _MAX_STEPS for i, s in enumerate(r["status"]) if i != 1), r
        if r["case"] in ("t1", "t1_residual"):
            want = 1.0 if r["method"] == "gd" else 0.95
            assert all(abs(t - want) <= 1e-15 for t in r["t"]), r
            if r["method"] != "dopri5":
                assert r["steps"] == [10] * len(r["steps"]), r
        if r["case"] == "diverge":
            assert max(r["steps"]) <= 10, r  # growth by |1 - 40 lambda| >= 19 per gd step


def test_simulator_launch_variants_bitwise(sim_report):
    """Fewer threads than trajectories (grid-stride) and unrolled loops give the same bits."""
    v = sim_report["variants"]
    assert {(x["method"], x["variant"]) for x in v} == {(m, s) for m in ("rk4", "dopri5")
                                                        for s in ("gridstride", "unrolled")}
    assert all(x["equal"] for x in v), v


def test_simulator_nonfinite_start(sim_report):
    """A NaN in a start: NONFINITE at once (0 steps, t = 0, NaN loss and gradient norm), the other
    trajectory of the batch unaffected (MAX_STEPS after its 5 steps); nonlinear and linear field."""
    rows = sim_report["nonfinite"]
    assert {(r["case"], r["method"], r["dtype"]) for r in rows} == {
        (c, m, dt) for c in ("max_steps", "linear_alpha1") for m in METHODS for dt in ("float64", "float32")}
    for r in rows:
        assert r["status"] == [_MAX_STEPS, 4] and r["steps"] == [5, 0] and r["t1"] == 0.0, r
        assert r["loss_nan"] == [False, True] and r["gnorm_nan"] == [False, True], r


def test_kernels_lower_to_ptx_for_sm90():
    """The real kernels type-check and lower through NVVM, and the float32 ones contain no float64
    operation (the same pattern does find float64 code in the float64 kernels); skipped where libNVVM
    is absent."""
    rep = _run_helper("--ptx", simulator=False)
    if "skipped" in rep:
        pytest.skip(rep["skipped"])
    assert len(rep["compiled"]) == 4, rep
    assert rep["bad_f32"] == [], f"float64 in float32 kernels: {rep['bad_f32']}"
    assert rep["f64_seen_in_float64"] and all(rep["f64_seen_in_float64"]), rep


def test_cuda_backend_without_gpu_raises():
    from numba import cuda

    if cuda.is_available():
        pytest.skip("a GPU is present: this test is for machines without one")
    from dynsys import TeacherStudent
    from dynsys.flow import flow

    m = TeacherStudent(np.eye(2))
    with pytest.raises(ValueError, match="GPU.*backend='parallel'"):
        flow(m, np.ones((3, 2, 2)), method="dopri5", gtol=1e-5, backend="cuda")
    with pytest.raises(ValueError, match="final states only"):
        flow(m, np.ones((2, 2)), method="gd", backend="cuda", save=5)


def test_run_rejects_bad_arguments():
    """Host-side checks come before any device call (no GPU needed)."""
    from dynsys.kernels.cuda import integrators as ic

    W = np.ones((2, 2, 2))
    args = (np.zeros((0, 0)), np.eye(2), np.ones(2), np.ones(2), np.ones(2), 0.0, 1.0, 1e-9, 0.1,
            math.inf, 1e-6, 0, 10, 1e6, 1e-8, 1e-10)
    with pytest.raises(ValueError, match="method"):
        ic.run("adams", W, *args)
    with pytest.raises(TypeError, match="float64 or float32"):
        ic.run("gd", W.astype(np.float16), *args)
    with pytest.raises(ValueError, match="norm_code"):
        ic.run("gd", W, *args[:11], 2, *args[12:])
    # dopri5 at k = d = 100 needs 9 * 10^4 * 8 bytes per thread, above CUDA's 512 KiB of local memory
    assert ic.local_bytes("dopri5", 100, 100, 8) > 512 * 1024 > ic.local_bytes("dopri5", 100, 100, 4)
    big = np.ones((1, 100, 100))
    with pytest.raises(ValueError, match="local memory.*backend='parallel'"):
        ic.run("dopri5", big, np.zeros((0, 0)), np.eye(100), np.ones(100), np.ones(100), np.ones(100),
               *args[5:])


def test_steps_to_t1_matches_flow():
    """The fixed-step methods' t1 step count is dynsys.flow's: ceil(t1 / step), robust to the rounding
    of t1 / step (0.3 / 0.1 = 2.9999999999999996 is 3 steps, not 4)."""
    from dynsys.kernels.cuda.integrators import _NEVER, steps_to_t1

    assert steps_to_t1(0.3, 0.1) == 3
    assert steps_to_t1(0.95, 0.1) == 10
    assert steps_to_t1(1e-9, 0.1) == 1
    assert steps_to_t1(math.inf, 0.1) == _NEVER


@pytest.mark.cuda
def test_gpu_matches_cpu_and_repeats():
    """On a real GPU: every case at k = d = 10 (12 x 7 with mixed a), 512 trajectories, float64 and
    float32, against the CPU; then two runs of 4096 dopri5 trajectories are bitwise equal."""
    from numba import cuda

    if not cuda.is_available():
        pytest.skip("no GPU")
    import cuda_flow_sim_check as chk
    from dynsys import TeacherStudent
    from dynsys.flow import flow

    _check_results(chk.run_all("gpu"))
    rng = np.random.default_rng(11)
    m = TeacherStudent(rng.standard_normal((10, 10)), alpha=0.1)
    W0 = rng.standard_normal((4096, 10, 10))
    one, two = (flow(m, W0, method="dopri5", max_steps=300, gtol=1e-6, rtol=1e-6, atol=1e-8, backend="cuda")
                for _ in range(2))
    for name in ("W", "loss", "grad_norm", "steps", "t", "status"):
        assert np.array_equal(getattr(one, name), getattr(two, name), equal_nan=True), name
