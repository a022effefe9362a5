"""The system protocol (dynsys.systems.base): the worked example of docs/systems.md, the three
systems of the package behind one contract, the reduced dynamics as a system (its metric), the
bordered Newton corrector, and the Newton kernel's one cached signature.

Oracles: closed forms (the tilted well's critical points are the roots of a cubic; a toy family whose
critical point moves as (1, p); the top-weight family of a TeacherStudent, whose global minimum moves
as W*/p), finite differences of the loss, the reduced field's own fixed points, and the slow
closed-form loss, gradient and Hessian of tests/naive.py for the residual (paper 002) model.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import dynsys as ds
import naive as nv
from dynsys.critical import bordered_newton, classify, find_critical_points, refine
from dynsys.systems import toys
from dynsys.systems.base import PointSystem, System

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "docs", "systems.md")

ROOT_ATOL = 1e-10       # converged roots against closed forms
FD_RTOL = 1e-6          # central differences (h = 1e-6) of the reduced loss
SYM_ATOL = 1e-12        # asymmetry of the reduced Hessian, relative to its largest entry


def _doc_example() -> dict:
    """Run the worked example's code block from docs/systems.md; return its namespace."""
    text = open(DOC).read()
    block = re.search(r"## Worked example.*?```python\n(.*?)```", text, re.S).group(1)
    ns: dict = {"__name__": "systems_doc_example"}
    exec(compile(block, DOC, "exec"), ns)  # noqa: S102 - our own documentation
    return ns


def test_worked_example_runs_and_finds_the_cubic_roots(capsys):
    ns = _doc_example()
    capsys.readouterr()
    well, cp, points = ns["well"], ns["cp"], ns["points"]
    roots = np.sort(np.roots([4.0, 0.0, -4.0, well.tilt]).real)   # x0 of the three critical points
    assert cp.kind == "spurious_minimum" and cp.morse_index == 0
    np.testing.assert_allclose(cp.W, [roots[2], 0.0], atol=ROOT_ATOL)
    found = {str(p.kind): np.asarray(p.W) for p in points}
    assert sorted(found) == ["global_minimum", "saddle", "spurious_minimum"]
    np.testing.assert_allclose(found["global_minimum"], [roots[0], 0.0], atol=ROOT_ATOL)
    np.testing.assert_allclose(found["saddle"], [roots[1], 0.0], atol=ROOT_ATOL)


def test_every_system_implements_the_protocol():
    systems = [ds.TeacherStudent(np.eye(3)), toys.DoubleWell(), toys.RingOfMinima(), ds.ReducedDynamics(3)]
    for s in systems:
        assert isinstance(s, System)
        x = np.zeros(s.state_shape) + 0.3
        x.reshape(-1)[0] = 0.9
        (f, g), st = s.loss_and_grad(x, return_status=True)
        assert st == 0 and np.shape(g) == tuple(s.state_shape) and math.isfinite(f)
        n = x.size
        assert np.shape(s.hessian(x)) == (n, n)
        np.testing.assert_allclose(s.hvp(x, np.ones_like(x)).reshape(-1), s.hessian(x) @ np.ones(n),
                                   rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="system protocol"):
        classify(object(), np.zeros(2))


def test_reduced_dynamics_is_a_gradient_system_in_the_induced_metric():
    for K in (2, 3, 5):
        rd = ds.ReducedDynamics(K)
        z = np.array([0.4, 0.15])
        M = np.diag([K, K * (K - 1.0)])
        fx, fy = rd.field(*z)
        np.testing.assert_allclose(rd.grad(z), -M @ [fx, fy], rtol=1e-14)
        h = 1e-6
        fd = [(rd.loss(z + h * e) - rd.loss(z - h * e)) / (2 * h) for e in np.eye(2)]
        np.testing.assert_allclose(rd.grad(z), fd, rtol=FD_RTOL)
        J = rd.jacobian(*z)
        H = rd.hessian(z)
        assert np.max(np.abs(H - H.T)) <= SYM_ATOL * np.max(np.abs(H))
        if K > 2:
            assert abs(J[0, 1] - J[1, 0]) > 1e-3 * np.max(np.abs(J))   # not symmetric in (x, y)
        # the embedding's loss is the model's loss
        assert rd.loss(z) == pytest.approx(ds.TeacherStudent(np.eye(K)).loss(rd.embed(*z)), rel=1e-14)


def test_reduced_critical_points_are_its_fixed_points_with_matching_index():
    rd = ds.ReducedDynamics(3)
    fps = rd.fixed_points()
    for fp in fps:
        if fp.kind == "degenerate":
            continue
        cp = classify(rd, [fp.x, fp.y])
        np.testing.assert_allclose(cp.W, [fp.x, fp.y], atol=1e-8)
        # Sylvester: the Morse index of l is the number of unstable directions of the flow
        assert cp.morse_index == int(np.sum(np.asarray(fp.eigvals) > 0))
    sad = classify(rd, [rd.saddle() + 0.01, rd.saddle() - 0.01])
    np.testing.assert_allclose(sad.W, [rd.saddle()] * 2, atol=ROOT_ATOL)
    assert sad.kind == "saddle"


def test_reduced_k2_swap_symmetry_merges_mirror_points():
    rd = ds.ReducedDynamics(2)
    pts = find_critical_points(rd, np.array([[0.9, 0.1], [0.1, 0.9]]))
    assert len(pts) == 1 and pts.counts[0] == 2


def test_shared_row_max_and_spectrum():
    from dynsys.critical.shared import row_max, spectrum

    G = np.array([[3.0, 4.0], [1.0, 0.0]])
    assert row_max(G) == 5.0 and row_max(np.array([3.0, 4.0])) == 5.0
    np.testing.assert_array_equal(row_max(np.stack([G, 2 * G])), [5.0, 10.0])   # a batch
    index, nullity, tol = spectrum(np.array([-2.0, -1e-9, 0.0, 3.0, 4.0]), 1e-7)
    assert (index, nullity) == (1, 2) and tol == pytest.approx(4e-7)


# ------------------------------------------------------------------------------------------------
# Bordered Newton
# ------------------------------------------------------------------------------------------------

class CoupledWell(PointSystem):
    """f = (x0^2 - 1)^2 + (x1 - p x0)^2: minima (+-1, +-p), saddle (0, 0)."""

    state_shape = (2,)
    min_value = 0.0

    def __init__(self, p):
        self.p = float(p)

    def value(self, x):
        return (x[0] ** 2 - 1.0) ** 2 + (x[1] - self.p * x[0]) ** 2

    def gradient(self, x):
        r = x[1] - self.p * x[0]
        return np.array([4.0 * x[0] * (x[0] ** 2 - 1.0) - 2.0 * self.p * r, 2.0 * r])

    def hessian_at(self, x):
        p = self.p
        return np.array([[12.0 * x[0] ** 2 - 4.0 + 2.0 * p * p, -2.0 * p], [-2.0 * p, 2.0]])


def test_numpy_newton_agrees_with_the_kernel_on_the_same_function():
    """CoupledWell(0) is DoubleWell without a kernel view: both paths find the same points."""
    seeds = np.random.default_rng(1).uniform(-1.5, 1.5, (30, 2))
    a = find_critical_points(CoupledWell(0.0), seeds)
    b = find_critical_points(toys.DoubleWell(), seeds)
    def key(cs):
        return sorted((str(p.kind), round(float(p.W[0]), 8) + 0.0, round(float(p.W[1]), 8) + 0.0) for p in cs)

    assert key(a) == key(b) and len(a) == 3
    # deflation runs on the protocol's gradient and Hessian too, and finds what the kernel path finds
    d = find_critical_points(CoupledWell(0.0), np.array([[0.9, 0.1]]), deflation=2)
    e = find_critical_points(toys.DoubleWell(), np.array([[0.9, 0.1]]), deflation=2)
    assert len(d) >= 2 and key(d) == key(e)


def test_numpy_newton_statuses():
    rd = ds.ReducedDynamics(3)
    x_s = rd.saddle()
    r = refine(rd, np.array([[0.0, 0.0], [x_s + 1e-3, x_s - 1e-3]]))
    assert r.status[0] == ds.Status.SINGULAR and math.isnan(r.residual[0])
    assert r.status[1] == ds.Status.CONVERGED and r.residual[1] <= r.gtol
    assert refine(rd, [x_s + 0.1, x_s], max_steps=0).status == ds.Status.MAX_STEPS
    assert classify(rd, [0.0, 0.0]).kind == "singular"


def _natural(p1):
    return lambda W, p: (p - p1, np.zeros((1, np.size(W))), np.eye(1))


def test_bordered_natural_step_on_a_toy_family():
    res = bordered_newton(lambda p: CoupledWell(p[0]), _natural(0.7), [0.95, 0.1], 0.2)
    assert res.status == ds.Status.CONVERGED
    np.testing.assert_allclose(res.p, [0.7], atol=ROOT_ATOL)
    np.testing.assert_allclose(res.W, [1.0, 0.7], atol=ROOT_ATOL)


def test_bordered_pseudo_arclength_step_stays_on_the_branch():
    family = lambda p: CoupledWell(p[0])  # noqa: E731
    x0, p0, ds_ = np.array([1.0, 0.2]), 0.2, 0.05
    # tangent of the branch (x0, x1, p) = (1, p, p): null vector of [H, dg/dp]
    t = np.array([0.0, 1.0, 1.0]) / math.sqrt(2.0)
    pred = np.concatenate([x0, [p0]]) + ds_ * t

    def arclength(W, p):
        z = np.concatenate([np.ravel(W), p])
        return np.array([t @ (z - pred)]), t[None, :2], t[None, 2:]

    res = bordered_newton(family, arclength, pred[:2] + [0.01, -0.02], pred[2] + 0.01)
    assert res.status == ds.Status.CONVERGED
    p = float(res.p[0])
    np.testing.assert_allclose(res.W, [1.0, p], atol=ROOT_ATOL)
    assert abs(math.hypot(p - p0, p - p0) - ds_) <= ROOT_ATOL   # the step has the arclength asked for


def test_bordered_step_along_the_top_weight_family_of_a_teacher():
    rng = np.random.default_rng(3)
    for k in (2, 3):
        W_star = np.eye(k) + 0.2 * rng.standard_normal((k, k))
        family = lambda p, W_star=W_star, k=k: ds.TeacherStudent(W_star, a=np.full(k, p[0]))  # noqa: E731
        # a = p 1: relu is positively homogeneous, so the global minimum is W* / p
        res = bordered_newton(family, _natural(1.25), W_star, 1.0)
        assert res.status == ds.Status.CONVERGED and res.steps <= 10
        np.testing.assert_allclose(res.W, W_star / 1.25, atol=ROOT_ATOL)
        # the same point by the batched kernel at fixed p
        ref = refine(family(np.array([1.25])), W_star / 1.2)
        np.testing.assert_allclose(res.W, ref.W, atol=ROOT_ATOL)


def test_bordered_step_along_the_leaky_slope_family_from_a_saddle():
    m0 = ds.TeacherStudent(np.eye(3), alpha=0.1)   # inside [0, 1]: central differences need p +- h
    cs = find_critical_points(m0, np.random.default_rng(0).standard_normal((60, 3, 3)) / 2)
    sad = next(p for p in cs if p.kind == "saddle" and p.nullity == 0 and np.min(np.abs(p.eigvals)) > 1e-3)
    family = lambda p: m0.replace(alpha=float(p[0]))  # noqa: E731
    res = bordered_newton(family, _natural(0.15), sad.W, 0.1)
    assert res.status == ds.Status.CONVERGED
    np.testing.assert_allclose(res.p, [0.15], atol=ROOT_ATOL)
    assert np.max(np.abs(res.W - sad.W)) > 1e-5      # the saddle moved (by about 3e-5)
    # oracle: the batched kernel at fixed alpha from the old saddle reaches the continued saddle
    ref = refine(family([0.15]), sad.W)
    assert ref.status == ds.Status.CONVERGED
    np.testing.assert_allclose(res.W, ref.W, atol=1e-9)
    assert classify(family([0.15]), res.W, refine=False).morse_index == sad.morse_index


# ------------------------------------------------------------------------------------------------
# The Newton kernel: one signature, cached across processes
# ------------------------------------------------------------------------------------------------

def test_newton_kernel_one_signature_and_a_cache_hit_in_a_second_process():
    refine(ds.TeacherStudent(np.eye(3)), np.eye(3) + 0.01)   # compiles or loads, and writes the cache
    code = ("import numpy as np, dynsys as ds\n"
            "from dynsys.critical import refine\n"
            "from dynsys.kernels import newton as kn\n"
            "from dynsys.systems import toys\n"
            "refine(ds.TeacherStudent(np.eye(3)), np.eye(3) + 0.01, backend='cpu')\n"
            "refine(ds.TeacherStudent(np.eye(2, 4), k=3, residual=None), np.ones((3, 4)), backend='cpu')\n"
            "refine(toys.DoubleWell(), [0.9, 0.1], backend='cpu')\n"
            "d = kn.newton_range\n"
            "print(len(d.signatures), sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(),
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    n_sig, hits, misses = map(int, out.stdout.split()[-3:])
    assert (n_sig, hits, misses) == (1, 1, 0)


# ------------------------------------------------------------------------------------------------
# The residual model is the offset model (paper 002: rows w_i + e_i, PReLU, K = d)
# ------------------------------------------------------------------------------------------------

RESID_LOSS_ATOL = 1e-15     # times S^2, S = sum |v_j| + sum |v*_k| (the loss is a difference of O(S^2) terms)
RESID_GRAD_RTOL = 1e-14     # relative to S (measured 3e-17)
RESID_HESS_RTOL = 1e-13     # relative to max |H| (measured 2e-15)
RESID_SAME_RTOL = 1e-14     # residual model vs offset model, both dynsys (the same arithmetic)


@pytest.mark.parametrize("d,alpha,offset", [(10, 0.25, "identity"), (5, 0.1, "identity"), (4, 0.5, "general")])
def test_residual_model_is_the_offset_model(d, alpha, offset):
    """TeacherStudent(W*, alpha, residual=U) at W is TeacherStudent(W* + U, alpha) at W + U: loss,
    gradient and Hessian (the residual is constant, so d/dW = d/d(W + U)), at several random points
    near and far from the teacher, both against the slow closed-form oracles of the offset rows."""
    rng = np.random.default_rng(100 + d)
    U = np.eye(d) if offset == "identity" else rng.normal(size=(d, d))
    W_star = rng.normal(size=(d, d)) * (0.1 / math.sqrt(d))          # paper 002's small teacher
    res = ds.TeacherStudent(W_star, alpha=alpha, residual=U)
    off = ds.TeacherStudent(W_star + U, alpha=alpha)
    Ws = np.stack([W_star + 0.05 * rng.normal(size=(d, d)), 0.3 * rng.normal(size=(d, d)),
                   rng.normal(size=(d, d)), np.zeros((d, d))])
    L, G, H = res.loss(Ws), res.grad(Ws), res.hessian(Ws)
    Lo, Go, Ho = off.loss(Ws + U), off.grad(Ws + U), off.hessian(Ws + U)
    for got, want in ((L, Lo), (G, Go), (H, Ho)):
        np.testing.assert_allclose(got, want, rtol=RESID_SAME_RTOL, atol=RESID_SAME_RTOL * np.abs(want).max())
    for i, W in enumerate(Ws):
        S = np.abs(W + U).sum() + np.abs(W_star + U).sum()
        ref_L = nv.loss_closed_form(W + U, W_star + U, alpha=alpha)
        ref_G = nv.grad_closed_form(W + U, W_star + U, alpha=alpha)
        ref_H = nv.hessian_closed_form(W + U, W_star + U, alpha=alpha)
        for got in (L[i], nv.loss_closed_form(W, W_star, alpha=alpha, U=U)):
            assert abs(got - ref_L) <= 1e-12 * abs(ref_L) + RESID_LOSS_ATOL * S * S, (i, got, ref_L)
        assert np.abs(G[i] - ref_G).max() <= RESID_GRAD_RTOL * S, i
        assert np.abs(H[i] - ref_H).max() <= RESID_HESS_RTOL * np.abs(ref_H).max(), i
    # at the teacher the residual model is at its global minimum, like the offset model at W* + U
    assert res.loss(W_star) <= RESID_LOSS_ATOL * (2 * np.abs(W_star + U).sum()) ** 2
    assert np.abs(res.grad(W_star)).max() <= RESID_GRAD_RTOL * 2 * np.abs(W_star + U).sum()
    assert np.linalg.eigvalsh(res.hessian(W_star))[0] > 0
