"""dynsys.trace_manifold: manifolds of critical points against their known shapes and dimensions.

Oracles: ``tests/naive_manifold.py`` (finite-difference and closed-form gradients written apart from
the library, a brute-force correlation dimension) and the analytic sets: the circle ``|x| = 1`` of the
ring toy, the K = 2 families ``w_1 = c S e, w_2 = (1 - c) S e`` (docs/math.md section 4), the
symmetric saddle's split set (all rows along ``(1, ..., 1)``, total norm fixed), and the orbit of the
rotations fixing the teacher's span (paper 000 Thm 2: the in-span part and the Gram matrix stay fixed).
"""

import math

import matplotlib
import numpy as np
import pytest

import dynsys as ds
import naive_manifold as nm
from dynsys.systems.toys import DoubleWell, RingOfMinima

matplotlib.use("Agg")

#: What the library's gradient must meet at every traced point (its default gtol, 1e-11 relative).
GTOL = 1e-11
#: The independent closed-form gradient (Python loops, arccos angles) agrees to about this.
ORACLE_GRAD_ATOL = 1e-9
#: Central differences of the closed-form loss with h = 1e-6: truncation ~1e-12, roundoff ~1e-10.
FD_GRAD_ATOL = 1e-7
LOSS_SPREAD_RTOL = 1e-12


def _check_critical(m, W_star, every=1):
    assert np.all(m.grad_norm <= m.gtol)
    for W in m.W[::every]:
        assert nm.closed_form_grad_row_max(W, W_star) <= ORACLE_GRAD_ATOL
    assert nm.fd_grad_row_max(m.W[-1], W_star) <= FD_GRAD_ATOL


def _check_constant_loss(m):
    lo, hi = m.loss_range
    assert hi - lo <= LOSS_SPREAD_RTOL * max(1.0, abs(hi))


# ------------------------------------------------------------------------------------------ toy
def test_ring_of_minima_is_a_closed_circle():
    m = ds.trace_manifold(RingOfMinima(), [1.0, 0.0])
    assert m.status == ds.Status.CONVERGED and m.n_failed == 0
    assert (m.dim_null, m.dim_sampled, m.dim_expected) == (1, 1, 1)
    assert m.indices == (0,)
    np.testing.assert_allclose(np.linalg.norm(m.W, axis=1), 1.0, atol=1e-12)
    assert all(np.linalg.norm(nm.ring_toy_grad(x)) <= GTOL for x in m.W)
    _check_constant_loss(m)
    # the whole circle: angles cover [-pi, pi) with gaps of about one step
    ang = np.sort(np.arctan2(m.W[:, 1], m.W[:, 0]))
    gaps = np.diff(np.concatenate([ang, [ang[0] + 2 * math.pi]]))
    # (where the two arcs meet, the gap is below two steps: a closer prediction is dropped)
    assert gaps.max() <= 2 * m.step and m.n_points == pytest.approx(2 * math.pi / m.step, rel=0.05)
    assert nm.correlation_dimension(m.W, 2 * m.step, 0.5) == pytest.approx(1.0, abs=0.15)


def test_isolated_toy_minimum_is_refused():
    with pytest.raises(ValueError, match="isolated critical point"):
        ds.trace_manifold(DoubleWell(), [1.0, 0.0])


# ------------------------------------------------------------------------------ K = 2 families
@pytest.mark.parametrize("norms, theta12", [((1.0, 1.0), 1.2), ((1.0, 5.0), 3.0)])
def test_k2_families_are_one_dimensional(norms, theta12):
    for f in ds.k2_saddle_families(*norms, theta12):
        W_star = f.teacher(2)
        m = ds.trace_manifold(ds.TeacherStudent(W_star), f.W(0.5, 2))
        assert (m.dim_null, m.dim_sampled, m.dim_expected) == (1, 1, 1), f
        assert m.indices == (f.index(2),)
        _check_constant_loss(m)
        e = f.direction(2)
        # every point is on the family: both rows along e, norms summing to S
        np.testing.assert_allclose(m.W @ e, np.linalg.norm(m.W, axis=2), rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.linalg.norm(m.W, axis=2).sum(axis=1), f.S, rtol=1e-10)
        # ... and covers it: c from near 0 to near 1
        c = np.linalg.norm(m.W[:, 0], axis=1) / f.S
        assert c.min() < 0.05 and c.max() > 0.95
        _check_critical(m, W_star, every=8)


def test_k2_family_out_of_plane_adds_to_the_index():
    f = ds.k2_saddle_families(1.0, 1.0, 1.2)[0]
    m = ds.trace_manifold(ds.TeacherStudent(f.teacher(3)), f.W(0.3, 3), max_points=20)
    assert m.indices == (f.index(3),) and m.dim_sampled == 1 and m.dim_expected == 1


# ------------------------------------------------------------------ symmetric saddle (Thm 7)
def test_symmetric_saddle_split_set_has_dimension_K_minus_1():
    K = 3
    R = ds.ReducedDynamics(K)
    W0 = R.embed(R.saddle(), R.saddle(), K)
    m = ds.trace_manifold(ds.TeacherStudent(np.eye(K)), W0, step=0.2, max_points=60)
    assert (m.dim_null, m.dim_sampled, m.dim_expected) == (K - 1, K - 1, K - 1)
    assert m.indices == ((K - 1) * (K - 1),)
    _check_constant_loss(m)
    # every point splits the saddle's row among parallel rows: along (1, 1, 1), total norm fixed
    e = np.ones(K) / math.sqrt(K)
    nrm = np.linalg.norm(m.W, axis=2)
    np.testing.assert_allclose(m.W @ e, nrm, atol=1e-9)
    np.testing.assert_allclose(nrm.sum(axis=1), nrm[0].sum(), rtol=1e-10)
    _check_critical(m, np.eye(K), every=10)
    assert nm.correlation_dimension(m.W, 1.5 * m.step, 4 * m.step) == pytest.approx(2.0, abs=0.4)


# --------------------------------------------------------------------- Thm 2 rotation orbit
# Saddles with rows outside span(W*) found by find_critical_points on W* = I_K in R^(K+2) (nullity 1).
ORBIT_SEEDS = {
    (2, 4): [[0.525, 0.525, -0.409, 0.0], [0.525, 0.525, 0.409, 0.0]],
    (3, 5): [[0.054, 0.054, 1.232, 0.0, 0.0], [0.487, 0.487, -0.091, 0.0, 0.34],
             [0.487, 0.487, -0.091, 0.0, -0.34]],
}


@pytest.mark.parametrize("K, d", list(ORBIT_SEEDS))
def test_theorem2_orbit_is_a_circle(K, d):
    W_star = np.eye(K, d)
    m = ds.trace_manifold(ds.TeacherStudent(W_star), np.array(ORBIT_SEEDS[K, d]))
    assert m.status == ds.Status.CONVERGED
    assert (m.dim_null, m.dim_sampled, m.dim_expected) == (1, 1, 1)
    assert len(m.indices) == 1
    _check_constant_loss(m)
    # the orbit of the rotations fixing span(W*): in-span parts and the Gram matrix fixed
    assert np.abs(m.W[:, :, :K] - m.W[:1, :, :K]).max() <= 1e-9
    gram = np.einsum("nid,njd->nij", m.W, m.W)
    assert np.abs(gram - gram[:1]).max() <= 1e-9
    # the whole circle: the out-of-span part of the moving rows turns through 2 pi
    j = int(np.argmax(np.linalg.norm(m.W[0, :, K:], axis=1)))
    z = m.W[:, j, K] + 1j * m.W[:, j, K + 1]
    ang = np.sort(np.angle(z))
    assert np.diff(np.concatenate([ang, [ang[0] + 2 * math.pi]])).max() < 0.2
    _check_critical(m, W_star, every=10)


# ------------------------------------------------------------------------------- bad input
def test_bad_input():
    model = ds.TeacherStudent(np.eye(2))
    with pytest.raises(ValueError, match="not a critical point"):
        ds.trace_manifold(model, [[1.0, 0.2], [0.1, 1.0]], refine=False)
    with pytest.raises(ValueError, match="isolated"):
        ds.trace_manifold(model, np.eye(2))
    with pytest.raises(ValueError, match="singular set"):
        ds.trace_manifold(model, [[0.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="step"):
        ds.trace_manifold(RingOfMinima(), [1.0, 0.0], step=0.0)
    with pytest.raises(ValueError, match="W0"):
        ds.trace_manifold(RingOfMinima(), np.ones((3, 2, 2)))
    with pytest.raises(TypeError, match="system protocol"):
        ds.trace_manifold(object(), [1.0, 0.0])


def test_max_points_and_radius():
    m = ds.trace_manifold(RingOfMinima(), [1.0, 0.0], max_points=10)
    assert m.status == ds.Status.MAX_STEPS and m.n_points == 10
    m = ds.trace_manifold(RingOfMinima(), [1.0, 0.0], radius=0.5)
    assert m.status == ds.Status.CONVERGED
    assert np.all(np.linalg.norm(m.W - m.W[0], axis=1) <= 0.5 + 1e-12)


def test_save_load_summary(tmp_path):
    m = ds.trace_manifold(RingOfMinima(), [0.0, 1.0], max_points=30)
    back = ds.Manifold.load(m.save(tmp_path / "ring"))
    np.testing.assert_array_equal(back.W, m.W)
    np.testing.assert_array_equal(back.parent, m.parent)
    assert back.status == m.status and back.dim_sampled == m.dim_sampled
    assert "dimension 1" in m.summary() and "Manifold(" in repr(m)


def test_plot(tmp_path):
    from dynsys import plotting
    f = ds.k2_saddle_families(1.0, 1.0, 1.2)[0]
    m = ds.trace_manifold(ds.TeacherStudent(f.teacher(2)), f.W(0.5, 2))
    ax = plotting.manifold(m, coords=((0, 0), (1, 0)), color="index")
    assert ax.get_xlabel() == "W[0, 0]" and ax.get_ylabel() == "W[1, 0]"
    ax.figure.savefig(tmp_path / "k2.png")
    ax = plotting.manifold(ds.trace_manifold(RingOfMinima(), [1.0, 0.0]))
    assert "principal" in ax.get_xlabel()
    with pytest.raises(ValueError, match="coords"):
        plotting.manifold(m, coords=((5, 5), (0, 0)))
    with pytest.raises(ValueError, match="color"):
        plotting.manifold(m, color="age")


def test_split_minimum_extra_flat_directions_are_not_a_manifold():
    """k = 3 students, teacher I_2 in R^3, w*_2 split between two aligned rows: nullity 3 against 1
    that symmetry explains (docs/math.md section 4). Only the mass-sharing direction carries critical
    points: the sample is one-dimensional, every point a global minimum (the teacher's function)."""
    model = ds.TeacherStudent(np.eye(2, 3), k=3)
    m = ds.trace_manifold(model, [[1.0, 0.0, 0.0], [0.0, 0.4, 0.0], [0.0, 0.6, 0.0]], max_points=40)
    assert (m.dim_null, m.dim_sampled, m.dim_expected) == (3, 1, 1)
    assert m.indices == (0,) and np.all(np.abs(m.loss) <= 1e-14)
    # every point splits each teacher row among parallel student rows: the function is the teacher's.
    # Rows align only to about 1e-5 (the gradient grows like the square of their angle, and the two
    # extra flat directions counter-rotate the split pair).
    for W in m.W:
        merged = np.zeros((2, 3))
        for w in W:
            k = int(np.argmax(np.abs(w[:2])))
            assert np.linalg.norm(w - w[k] * np.eye(3)[k]) <= 1e-4 * np.linalg.norm(w)
            merged[k] += w
        np.testing.assert_allclose(merged, np.eye(2, 3), atol=1e-5)
    _check_critical(m, np.eye(2, 3), every=5)


def test_ctrl_c_returns_the_points_so_far(monkeypatch):
    from dynsys.critical import manifold as mod
    calls = []
    real = mod._correct

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mod, "_correct", interrupted)
    m = ds.trace_manifold(RingOfMinima(), [1.0, 0.0])
    assert m.status == ds.Status.INTERRUPTED and m.n_points == 10
    assert m.parent.shape == m.loss.shape == (10,) and np.all(m.grad_norm <= m.gtol)
