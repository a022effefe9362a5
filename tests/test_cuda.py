"""The CUDA twins of the loss and gradient (``dynsys/kernels/cuda/field.py``) against the CPU kernels.

Every run: both kernel shapes in the numba-cuda simulator (a subprocess: ``NUMBA_ENABLE_CUDASIM=1``
must be set before numba is imported), tiny sizes, float64 to 1e-12 and float32 to 1e-4 of the terms'
scale (``tests/cuda_sim_check.py`` explains the scale); and the real kernels compiled to PTX for sm_90
(the simulator never types them), where libNVVM is installed. On a GPU: ``pytest -m cuda`` runs the
same comparison at moderate sizes on the device, with bitwise repeatability.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cuda_sim_check import RTOL

HERE = os.path.dirname(os.path.abspath(__file__))


def _check_results(results):
    assert results, "no comparison ran"
    for r in results:
        where = f"{r['case']} {r['dtype']} {r['variant']} want_grad={r['want_grad']}"
        tol = RTOL[r["dtype"]]
        assert r["status_equal"], f"{where}: statuses differ from the CPU kernel: {r['status']}"
        assert r["bad_zeroed"], f"{where}: bad states not zeroed"
        assert r["dtype_ok"], f"{where}: outputs not in W's dtype or wrong shape"
        assert r["loss_err"] <= tol, f"{where}: loss error {r['loss_err']:.3g} > {tol}"
        assert r["grad_err"] <= tol, f"{where}: gradient error {r['grad_err']:.3g} > {tol}"


def _expected_statuses(results):
    # cases() puts a zero row (3, singular) in state 1 and a NaN (4, non-finite) in state 2; at
    # alpha = 1 nothing is singular (the linear model is smooth), so state 1 is ok there.
    for r in results:
        want = [0, 0, 4] if r["case"].startswith("linear") else [0, 3, 4]
        assert r["status"][:3] == want, f"{r['case']} {r['variant']}: statuses {r['status']}"
        assert all(s == 0 for s in r["status"][3:])


def _run_helper(*args, simulator):
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), HERE, env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, os.path.join(HERE, "cuda_sim_check.py"), *args], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"helper run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sim_report():
    return _run_helper(simulator=True)


def test_simulator_both_shapes_match_cpu(sim_report):
    """generic, k != k*, alpha in {0, 0.1, 1}, mixed-sign a, zero teacher row, residual, near-parallel
    and antiparallel rows (atan2 angle), a singular and a NaN state; float64 and float32; the thread
    kernel, the block kernel with shared and with global workspace, loops rolled and unrolled;
    grid-stride launches; loss-only kernels."""
    res = sim_report["results"]
    _check_results(res)
    _expected_statuses(res)
    variants = {r["variant"] for r in res}
    assert {"thread", "thread_unrolled", "block_shared", "block_global_unrolled"} <= variants
    assert {r["dtype"] for r in res} == {"float64", "float32"}
    assert any(not r["want_grad"] for r in res)


def test_simulator_model_backend_cuda(sim_report):
    """``TeacherStudent.loss_and_grad(W, backend="cuda")`` end to end; float32 stays float32."""
    m = sim_report["model"]
    for dtype in ("float64", "float32"):
        assert m[dtype]["dtype"] == f"{dtype}/{dtype}"
        assert m[dtype]["loss_err"] <= RTOL[dtype] and m[dtype]["grad_err"] <= RTOL[dtype], m[dtype]
    assert m["single_state_err"] <= RTOL["float64"]


def test_kernels_lower_to_ptx_for_sm90():
    """The real (not simulated) kernels type-check and lower through NVVM, and the float32 kernels
    neither load nor store float64 nor promote float32 values (skipped where libNVVM is absent)."""
    rep = _run_helper("--ptx", simulator=False)
    if "skipped" in rep:
        pytest.skip(rep["skipped"])
    assert len(rep["compiled"]) == 8, rep
    assert rep["bad_f32"] == [], f"float64 in float32 kernels: {rep['bad_f32']}"


def test_kernel_shape_threshold():
    from dynsys.config import CUDA_BLOCK_KERNEL_MIN_KD
    from dynsys.kernels.cuda.field import kernel_shape

    assert kernel_shape(1, CUDA_BLOCK_KERNEL_MIN_KD) == "thread"
    assert kernel_shape(1, CUDA_BLOCK_KERNEL_MIN_KD + 1) == "block"
    assert kernel_shape(50, 50) == "block" and kernel_shape(10, 10) == "thread"


def test_cuda_backend_without_gpu_raises():
    from numba import cuda

    if cuda.is_available():
        pytest.skip("a GPU is present: this test is for machines without one")
    from dynsys import TeacherStudent

    m = TeacherStudent(np.eye(2))
    with pytest.raises(ValueError, match="GPU.*backend='parallel'"):
        m.loss_and_grad(np.ones((2, 2)), backend="cuda")
    with pytest.raises(ValueError, match="backend='parallel'"):
        m.loss(np.ones((3, 2, 2)), backend="cuda")


@pytest.mark.cuda
def test_gpu_matches_cpu_and_repeats():
    """On a real GPU: every case at n = 2000, k = d = 10 (and 12 x 7 teachers), both shapes and both
    workspaces, grid-stride launches; then larger shapes; then bitwise repeatability."""
    from numba import cuda

    if not cuda.is_available():
        pytest.skip("no GPU")
    import cuda_sim_check as chk
    from dynsys import TeacherStudent
    from dynsys.kernels.cuda import field as field_cuda

    _check_results(chk.run_all("gpu"))
    m = chk.run_model("gpu")
    for dtype in ("float64", "float32"):
        assert m[dtype]["loss_err"] <= RTOL[dtype] and m[dtype]["grad_err"] <= RTOL[dtype], m[dtype]

    rng = np.random.default_rng(3)
    for k, ks, d, alpha in ((30, 30, 30, 0.0), (50, 20, 40, 0.3), (8, 8, 200, 0.0)):
        model = TeacherStudent(rng.standard_normal((ks, d)), k=k, alpha=alpha)
        W = rng.standard_normal((300, k, d))
        for dtype in ("float64", "float32"):
            for kw in (dict(shape="thread"), dict(shape="block", workspace="shared"),
                       dict(shape="block", workspace="global")):
                r = chk.compare(model, W, dtype, **kw)
                _check_results([dict(case=f"k{k} d{d}", dtype=dtype, variant=str(kw), want_grad=True, **r)])

    model = TeacherStudent(rng.standard_normal((20, 30)), alpha=0.1)
    W = rng.standard_normal((500, 20, 30))
    A = model.arrays
    for shape in ("thread", "block"):
        one, two = (field_cuda.loss_grad(W, *A, True, shape=shape) for _ in range(2))
        for x, y in zip(one, two):
            assert np.array_equal(x, y), f"{shape}: two runs differ"
