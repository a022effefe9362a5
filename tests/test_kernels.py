"""The shape of ``dynsys.kernels``: one compiled signature per batch driver (the model's arrays go in as
one ``FieldArrays``), found again in Numba's cache by a second process; the shared network forward
pass against NumPy; importing dynsys leaves ``numba.cuda`` alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import dynsys as ds

HERE = os.path.dirname(os.path.abspath(__file__))

#: Exercise every CPU batch driver that takes a FieldArrays, on four model layouts (ReLU, leaky with
#: k != k*, residual, linear), then print each driver's signature count and cache statistics.
_DRIVE = r"""
import json
import numpy as np
import dynsys as ds
from dynsys.kernels import field, montecarlo as kmc, sgd as ksgd

rng = np.random.default_rng(0)
models = [ds.TeacherStudent(np.eye(3)),
          ds.TeacherStudent(rng.normal(size=(2, 3)), k=3, alpha=0.2, a=[1.0, -0.5, 2.0], a_star=[1.0, 0.7]),
          ds.TeacherStudent(0.3 * rng.normal(size=(3, 3)), residual=np.eye(3)),
          ds.TeacherStudent(np.eye(3), alpha=1.0)]
for m in models:
    W = rng.normal(size=(4, m.k, m.d))
    m.loss_and_grad(W); m.loss(W); m.hessian(W); m.hvp(W, W); m.grad_a(W)
    m.loss_and_grad(W, backend="cpu")
    ds.monte_carlo(m, W[0], 500, seed=1)
    ds.sgd(m, W[:2], n_samples=8, batch_size=4, step=0.05, epochs=1, seed=1)
kernels = {"field._loss_grad_batch": field._loss_grad_batch, "field._hessian_batch": field._hessian_batch,
           "field._hvp_batch": field._hvp_batch, "field._grad_a_batch": field._grad_a_batch,
           "montecarlo.model_blocks": kmc.model_blocks, "sgd.sgd_block": ksgd.sgd_block}
print(json.dumps({name: [len(k.signatures), sum(k.stats.cache_hits.values())]
                  for name, k in kernels.items()}))
"""


def _drive(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", _DRIVE], env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_one_signature_per_driver_and_a_cache_hit_in_a_second_process(tmp_path):
    first = _drive(tmp_path)
    second = _drive(tmp_path)
    for name, (nsig, _) in first.items():
        assert nsig == 1, f"{name}: {nsig} signatures for four model layouts (want one)"
    for name, (nsig, hits) in second.items():
        assert nsig == 1 and hits == 1, f"{name}: {nsig} signatures, {hits} cache hits in a second process"


def test_one_field_arrays_type_per_driver():
    from dynsys.kernels import field

    rng = np.random.default_rng(1)
    for m in (ds.TeacherStudent(np.eye(3)), ds.TeacherStudent(np.eye(3), residual=np.eye(3)),
              ds.TeacherStudent(rng.normal(size=(2, 3)), k=4, alpha=1.0)):
        W = rng.normal(size=(3, m.k, m.d))
        m.loss_and_grad(W)
        m.loss(W)
        m.grad_a(W)
    # one FieldArrays type for every model layout (other tests may add a signature for a read-only
    # batch W, which is the caller's array, not the model's)
    for kernel in (field._loss_grad_batch, field._grad_a_batch):
        assert len({sig[1] for sig in kernel.signatures}) == 1, kernel.signatures


def test_forward_matches_numpy():
    from dynsys.kernels.network import forward, output

    rng = np.random.default_rng(2)
    for alpha in (0.0, 0.3, 1.0):
        M = rng.normal(size=(5, 7))
        M[2] = 0.0  # a zero pre-activation: sigma'(0) = alpha
        c = rng.normal(size=5)
        x = rng.normal(size=7)
        s = np.empty(5)
        g = forward(M, c, alpha, x, s)
        h = M @ x
        assert g == pytest.approx(np.sum(c * np.where(h > 0, h, alpha * h)), rel=1e-13, abs=1e-15)
        np.testing.assert_allclose(s, c * np.where(h > 0, 1.0, alpha), rtol=0, atol=0)
        assert g == output(M, c, alpha, x)  # the same sums in the same order


def test_import_dynsys_leaves_numba_cuda_alone():
    code = "import sys, dynsys, dynsys.backends, dynsys.kernels.cuda; print('numba.cuda' in sys.modules)"
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
