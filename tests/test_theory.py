"""Closed-form objects of the papers (``dynsys.theory``) against the full field and the papers' claims.

* the reduced 2D field of the orthonormal teacher equals the projection of the full population
  gradient (docs/math.md sections 2-3), its plane is invariant, its Jacobian is the derivative of the field;
* Theorem 7 of Tian (ICML 2017): the diagonal is a linear 1D system ending at the symmetric saddle, starts with
  ``1 >= x0 > y0 >= 0`` reach the teacher;
* every fixed point of the reduced plane (K = 2..20), and the symmetric saddle's full-space Morse index
  ``(K-1)(d-1)`` with nullity ``K-1``;
* the K = 2 saddle families (docs/math.md section 4): critical along the family, roots and indices;
* the normal equation (Tian (ICML 2017) Eqn 9-14): Proposition 1, the Theorem 3 identity, the K = 2 formula;
* the Conjecture 1 scan (Fig 10): no confirmed violation; the roundoff bound really bounds.

Numbers asserted here come from closed forms, from docs/math.md or from the papers, never from runs of the code.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy import integrate, optimize

from dynsys import theory as th
from dynsys.config import CONJ1_LOCATION_CAP
from dynsys.theory import conjecture_kernel as cj

PI = math.pi

#: reduced field vs projected full gradient (absolute; the field's terms are O(K))
FIELD_ATOL = 1e-13
#: Jacobian vs central differences of the field (h = 1e-6): O(h^2) + roundoff at generic points,
#: only O(h) on the lines where an angle is 0 or pi (the field is C^1, not C^2, there)
JAC_FD_H = 1e-6
JAC_FD_ATOL = 1e-8
JAC_FD_KINK_ATOL = 2 * JAC_FD_H
#: flows: distance of the end state to the predicted fixed point
FLOW_ATOL = 1e-8
#: fixed points: field residual, and agreement with closed forms
FP_ATOL = 1e-12
#: eigenvalue counted as zero / negative: |lambda| <= EIG_RTOL * max|lambda| (docs/math.md section 4)
EIG_RTOL = 1e-7
#: same with a finite-difference Hessian (O(h) accurate at collinear rows, h = FD_H)
FD_H = 1e-6
FD_EIG_RTOL = 1e-4
#: K = 2 families: gradient along the family; the 4-digit roots of docs/math.md section 4
FAMILY_GRAD_ATOL = 1e-12
MATH_MD_DIGITS_ATOL = 5e-5


# ---------------------------------------------------------------------------------------- oracles
def _angle(u, v):
    a = u / np.linalg.norm(u)
    b = v / np.linalg.norm(v)
    return 2.0 * math.atan2(np.linalg.norm(a - b), np.linalg.norm(a + b))


def full_grad(W, W_star):
    """Population gradient, all top weights 1, ReLU (docs/math.md section 2; Tian (ICML 2017) Eqn 8):

    ``2 pi grad_{w_j} L = pi w_j + sum_{i != j} [(pi - theta_ji) w_i + |w_i| sin(theta_ji) w_j/|w_j|]
                          - sum_k [(pi - theta_jk*) w*_k + |w*_k| sin(theta_jk*) w_j/|w_j|]``.
    """
    W = np.asarray(W, float)
    W_star = np.asarray(W_star, float)
    G = np.empty_like(W)
    for j, wj in enumerate(W):
        ej = wj / np.linalg.norm(wj)
        g = PI * wj
        for i, wi in enumerate(W):
            if i != j:
                t = _angle(wj, wi)
                g = g + (PI - t) * wi + np.linalg.norm(wi) * math.sin(t) * ej
        for ws in W_star:
            t = _angle(wj, ws)
            g = g - (PI - t) * ws - np.linalg.norm(ws) * math.sin(t) * ej
        G[j] = g / (2 * PI)
    return G


def _library_model(W_star):
    try:
        import dynsys
        return dynsys.TeacherStudent(np.asarray(W_star, float))
    except (ImportError, AttributeError):  # the model is built concurrently; fall back to the oracle
        return None


def hessian(W, W_star):
    """(Hessian, relative zero tolerance): the library's exact Hessian, else central differences."""
    m = _library_model(W_star)
    if m is not None:
        return m.hessian(np.asarray(W, float)), EIG_RTOL
    W = np.asarray(W, float)
    n = W.size
    H = np.empty((n, n))
    for c in range(n):
        E = np.zeros(n)
        E[c] = FD_H
        E = E.reshape(W.shape)
        H[:, c] = ((full_grad(W + E, W_star) - full_grad(W - E, W_star)) / (2 * FD_H)).ravel()
    return 0.5 * (H + H.T), FD_EIG_RTOL


def morse(W, W_star):
    """(index, nullity) of the full-space Hessian."""
    H, rtol = hessian(W, W_star)
    ev = np.linalg.eigvalsh(H)
    tol = rtol * np.max(np.abs(ev))
    return int(np.sum(ev < -tol)), int(np.sum(np.abs(ev) <= tol))


def x_saddle(K):
    """Tian (ICML 2017) Thm 7(2)."""
    return (math.sqrt(K - 1) - math.acos(1 / math.sqrt(K)) + PI) / (PI * K)


def x_negative(K):
    """Fixed point of the diagonal for x < 0: rows ``x (1, ..., 1)`` give
    ``theta = phi* = pi - arccos(1/sqrt K)`` and ``phi = 0`` in the dx/dt line of docs/math.md section 3, so
    ``2 pi dx/dt = arccos(1/sqrt K) - sqrt(K-1) - pi K x``."""
    return (math.acos(1 / math.sqrt(K)) - math.sqrt(K - 1)) / (PI * K)


# ----------------------------------------------------------------------------- reduced dynamics
@pytest.mark.parametrize("bad", [1, 0, 2.5, True, "3"])
def test_reduced_validates_K(bad):
    with pytest.raises((TypeError, ValueError)):
        th.ReducedDynamics(bad)


def test_reduced_is_frozen_and_singular_at_origin():
    R = th.ReducedDynamics(3)
    with pytest.raises(Exception):
        R.K = 4
    with pytest.raises(ValueError, match="singular"):
        R.field(0.0, 0.0)
    with pytest.raises(ValueError, match="singular"):
        R.field(np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError):
        R.field(np.nan, 1.0)


_KINK_POINTS = [(0.7, 0.0), (-0.3, 0.0), (0.0, 0.6), (0.0, -0.2), (0.5, 0.5), (-0.4, -0.4), (1.0, 0.0),
                (1e-3, 0.0)]


def _random_points(rng):
    return [tuple(rng.normal(size=2) * s) for s in (0.05, 0.5, 1.0, 2.0) for _ in range(6)]


def _reduced_points(rng):
    return _KINK_POINTS + [(0.4, -0.4), (2.5, -1.5)] + _random_points(rng)


@pytest.mark.parametrize("K", range(2, 9))
def test_field_is_projected_full_gradient(K):
    """dx/dt = -(grad_{w_1} L)_1, dy/dt = -(grad_{w_1} L)_2 for x, y of both signs (negative gradient)."""
    rng = np.random.default_rng(K)
    R = th.ReducedDynamics(K)
    m = _library_model(np.eye(K))
    for x, y in _reduced_points(rng):
        W = R.embed(x, y)
        G = full_grad(W, np.eye(K))
        fx, fy = R.field(x, y)
        assert abs(fx + G[0, 0]) <= FIELD_ATOL
        assert abs(fy + G[0, 1]) <= FIELD_ATOL
        if m is not None:
            Gl = m.grad(W)
            assert abs(fx + Gl[0, 0]) <= FIELD_ATOL and abs(fy + Gl[0, 1]) <= FIELD_ATOL


@pytest.mark.parametrize("K", [2, 3, 5])
@pytest.mark.parametrize("extra", [0, 2])
def test_reduced_plane_is_invariant(K, extra):
    """The full field at an embedded point is again of the embedded form (and has no component out of
    span(W*) when d > K)."""
    rng = np.random.default_rng(10 + K)
    R = th.ReducedDynamics(K)
    d = K + extra
    for x, y in _reduced_points(rng):
        F = -full_grad(R.embed(x, y, d), np.eye(K, d))
        fx, fy = R.field(x, y)
        np.testing.assert_allclose(F, R.embed(fx, fy, d), rtol=0, atol=FIELD_ATOL)


def test_field_vectorised_and_shapes():
    R = th.ReducedDynamics(4)
    x = np.linspace(-1, 1, 6).reshape(2, 3) + 0.01
    y = 0.3
    fx, fy = R.field(x, y)
    assert fx.shape == fy.shape == (2, 3)
    for idx in np.ndindex(2, 3):
        a, b = R.field(float(x[idx]), y)
        assert fx[idx] == a and fy[idx] == b
    assert R.jacobian(x, y).shape == (2, 3, 2, 2)
    assert R.embed(x, y, 6).shape == (2, 3, 4, 6)
    with pytest.raises(ValueError):
        R.embed(1.0, 0.0, 3)


@pytest.mark.parametrize("K", [2, 3, 5, 8])
def test_jacobian_matches_finite_differences(K):
    rng = np.random.default_rng(20 + K)
    R = th.ReducedDynamics(K)
    for pts, atol in ((_random_points(rng), JAC_FD_ATOL), (_KINK_POINTS, JAC_FD_KINK_ATOL)):
        for x, y in pts:
            J = R.jacobian(x, y)
            Jfd = np.empty((2, 2))
            hh = JAC_FD_H * min(1.0, math.hypot(x, y))  # the field's curvature grows like 1/|w| near 0
            for c, (dx, dy) in enumerate([(hh, 0.0), (0.0, hh)]):
                Jfd[:, c] = (np.array(R.field(x + dx, y + dy)) - np.array(R.field(x - dx, y - dy))) / (2 * hh)
            np.testing.assert_allclose(J, Jfd, rtol=0, atol=atol * max(1.0, np.abs(J).max()))


def test_saddle_formula_values():
    """docs/math.md section 3: K = 2: 0.53415..., K = 5: 0.25684..."""
    assert abs(th.ReducedDynamics(2).saddle() - 0.53415) < 1e-5
    assert abs(th.ReducedDynamics(5).saddle() - 0.25684) < 1e-5
    for K in range(2, 12):
        assert th.ReducedDynamics(K).saddle() == pytest.approx(x_saddle(K), rel=1e-15)


@pytest.mark.parametrize("K", [2, 3, 4, 7, 12])
def test_diagonal_field_is_linear(K):
    """Thm 7 / Tian (ICLR 2017) Thm 7.11: on x = y > 0, 2 pi dx/dt = -pi K (x - x_s); dx/dt = dy/dt there."""
    R = th.ReducedDynamics(K)
    xs = x_saddle(K)
    for x in (1e-3, 0.1, xs, 0.7, 1.0, 3.0):
        fx, fy = R.field(x, x)
        assert fx == pytest.approx(-0.5 * K * (x - xs), abs=FIELD_ATOL)
        assert fy == pytest.approx(fx, abs=FIELD_ATOL)
        assert R.diagonal_field(x) == pytest.approx(fx, abs=FIELD_ATOL)
    xn = x_negative(K)
    for x in (-1.0, -0.3, xn, -1e-3):
        fx, fy = R.field(x, x)
        assert fx == pytest.approx((PI * K) * (xn - x) / (2 * PI), abs=FIELD_ATOL)
        assert R.diagonal_field(x) == pytest.approx(fx, abs=FIELD_ATOL)


@pytest.mark.parametrize("K", [2, 3, 5, 10])
def test_diagonal_flow_reaches_symmetric_saddle(K):
    """Thm 7(2), tested on the exact 1D system and on the 2D field re-symmetrised at every evaluation.

    (Without re-symmetrising, a diagonal start leaves the diagonal by roundoff for most K: see the
    docstring of ReducedDynamics.integrate.)"""
    R = th.ReducedDynamics(K)
    xs = x_saddle(K)
    for x0 in (1.0, 0.5, 0.1, 1e-3):
        sol = integrate.solve_ivp(lambda t, z: [R.diagonal_field(z[0])], (0.0, 60.0), [x0], rtol=1e-12,
                                  atol=1e-14)
        assert abs(sol.y[0, -1] - xs) < FLOW_ATOL
        # the 1D system is linear: x(t) = xs + (x0 - xs) exp(-K t / 2)
        assert sol.y[0, -1] == pytest.approx(xs + (x0 - xs) * math.exp(-K * 30.0), abs=FLOW_ATOL)
        tr = R.integrate(x0, x0, 60.0, symmetrize=True)
        assert np.all(tr.x == tr.y)
        assert abs(tr.x[-1] - xs) < FLOW_ATOL


def test_diagonal_is_repelling_across():
    """Just off the diagonal the flow leaves it: below it to the teacher (Thm 7(1)); above it, for K >= 3,
    to the reduced sink with x < 0 < y (for K = 2 the permuted teacher (0, 1))."""
    R2 = th.ReducedDynamics(2)
    tr = R2.integrate(0.3, 0.3 + 1e-6, 200.0)
    assert abs(tr.x[-1]) < FLOW_ATOL and abs(tr.y[-1] - 1.0) < FLOW_ATOL
    R = th.ReducedDynamics(6)
    tr = R.integrate(0.3, 0.3 - 1e-6, 200.0)
    assert abs(tr.x[-1] - 1.0) < FLOW_ATOL and abs(tr.y[-1]) < FLOW_ATOL
    tr = R.integrate(0.3, 0.3 + 1e-6, 200.0)
    assert tr.x[-1] < 0 < tr.y[-1]
    assert max(abs(v) for v in R.field(tr.x[-1], tr.y[-1])) < 1e-9


@pytest.mark.parametrize("K", [2, 3, 5, 10])
def test_theorem7_starts_reach_teacher(K):
    """Thm 7(1): 1 >= x0 > y0 >= 0 converges to (1, 0), also from near the origin (Fig 8's (1e-3, 0))."""
    R = th.ReducedDynamics(K)
    for x0 in (1.0, 0.6, 0.2, 1e-3):
        for frac in (0.0, 0.5, 0.99):
            tr = R.integrate(x0, frac * x0, 200.0)
            assert abs(tr.x[-1] - 1.0) < FLOW_ATOL and abs(tr.y[-1]) < FLOW_ATOL, (x0, frac * x0)


def test_fig8_detour_from_aligned_start():
    """Fig 8(c, d): from (1e-3, 0) y first grows, then decays (K = 2, 5, 10); larger K converges faster."""
    times = []
    for K in (2, 5, 10):
        tr = th.ReducedDynamics(K).integrate(1e-3, 0.0, 100.0, t_eval=np.linspace(0.0, 100.0, 10001))
        assert tr.y.max() > 1e-2 and abs(tr.y[-1]) < FLOW_ATOL
        times.append(tr.t[np.argmax(np.hypot(tr.x - 1.0, tr.y) < 1e-3)])
    assert times[0] > times[1] > times[2]


def test_radius_bound_field_points_inwards():
    """Outside |w_1| <= R_K the radial component x dx/dt + (K-1) y dy/dt is negative (no fixed points)."""
    rng = np.random.default_rng(7)
    for K in (2, 3, 6, 20):
        R = th.ReducedDynamics(K)
        RK = R.radius_bound()
        psi = rng.uniform(0, 2 * PI, 400)
        r = RK * (1.0 + rng.exponential(1.0, 400))
        x, y = r * np.cos(psi), r * np.sin(psi) / math.sqrt(K - 1)
        fx, fy = R.field(x, y)
        assert np.all(x * fx + (K - 1) * y * fy < 0)


def _winding(R, x, y):
    fx, fy = R.field(x, y)
    a = np.unwrap(np.arctan2(fy, fx))
    return (a[-1] - a[0]) / (2 * PI)


@pytest.mark.parametrize("K", range(2, 21))
def test_fixed_points_all_K(K):
    """(1, 0), (x_s, x_s) and the negative-diagonal point (x_n, x_n) are always found; every point found is a
    fixed point; the Poincare indices of the points found add up to the field's winding number around
    the annulus between a tiny circle about the origin and the ellipse |w_1| = R_K."""
    R = th.ReducedDynamics(K)
    fps = R.fixed_points(n_radial=12, n_angular=36)
    pos = np.array([[p.x, p.y] for p in fps])
    for p in fps:
        assert p.residual <= FP_ATOL
        assert math.hypot(p.x, math.sqrt(K - 1) * p.y) <= R.radius_bound()
        assert p.kind in ("sink", "saddle", "source")

    def find(x, y):
        d = np.max(np.abs(pos - [x, y]), axis=1)
        assert d.min() < 1e-9, (K, x, y)
        return fps[int(np.argmin(d))]

    assert find(1.0, 0.0).kind == "sink"
    assert find(x_saddle(K), x_saddle(K)).kind == "saddle"
    assert find(x_negative(K), x_negative(K)).kind == "saddle"
    if K == 2:
        assert find(0.0, 1.0).kind == "sink"  # the permuted teacher
    # Poincare-Hopf on the annulus: winding(outer) - winding(inner) = sum of the indices
    # (+1 for a sink or source, -1 for a saddle)
    s = np.linspace(0, 2 * PI, 20001)
    RK = R.radius_bound()
    outer = _winding(R, 1.05 * RK * np.cos(s), 1.05 * RK * np.sin(s) / math.sqrt(K - 1))
    inner = _winding(R, 1e-6 * np.cos(s), 1e-6 * np.sin(s) / math.sqrt(K - 1))
    index_sum = sum(-1 if p.kind == "saddle" else 1 for p in fps)
    assert round(outer - inner) == index_sum
    assert abs(outer - round(outer)) < 1e-6 and abs(inner - round(inner)) < 1e-6


@pytest.mark.parametrize("K", [2, 3, 5])
@pytest.mark.parametrize("extra", [0, 2])
def test_symmetric_saddle_full_morse_index(K, extra):
    """docs/math.md section 3: in the full K x d space the symmetric saddle has index (K-1)(d-1), nullity K-1."""
    d = K + extra
    W = th.ReducedDynamics(K).embed(x_saddle(K), x_saddle(K), d)
    assert np.abs(full_grad(W, np.eye(K, d))).max() < FP_ATOL
    assert morse(W, np.eye(K, d)) == ((K - 1) * (d - 1), K - 1)


def test_teacher_is_a_minimum_in_full_space():
    for K in (2, 3):
        W = th.ReducedDynamics(K).embed(1.0, 0.0, K + 1)
        assert morse(W, np.eye(K, K + 1)) == (0, 0)


# ------------------------------------------------------------------------------ K = 2 saddles
def _check_family(f, ds=(2, 3)):
    for d in ds:
        Ws = f.teacher(d)
        for c in (0.2, 0.5, 0.8):
            W = f.W(c, d)
            assert np.abs(full_grad(W, Ws)).max() <= FAMILY_GRAD_ATOL
            m = _library_model(Ws)
            if m is not None:
                assert np.abs(m.grad(W)).max() <= FAMILY_GRAD_ATOL
        assert morse(f.W(0.5, d), Ws) == (f.index(d), 1)


def test_k2_families_unequal_norms_math_md():
    """docs/math.md section 4: norms 1 and 5 at theta*_12 = 3.0: roots 0.0786, 0.2175, 2.9987 with indices 1, 2, 1."""
    fams = th.k2_saddle_families(1.0, 5.0, 3.0)
    assert [f.theta1 for f in fams] == pytest.approx([0.0786, 0.2175, 2.9987], abs=MATH_MD_DIGITS_ATOL)
    assert [f.index_in_plane for f in fams] == [1, 2, 1]
    for f in fams:
        assert f.theta1 + f.theta2 == pytest.approx(3.0, abs=1e-15)
        assert PI * f.S == pytest.approx(1.0 * th.h(f.theta1) + 5.0 * th.h(f.theta2), rel=1e-14)
        _check_family(f)


def test_k2_equal_norm_threshold():
    """Equal norms: the bisector has index 1 only below tan(T/2) = pi - T/2 (docs/math.md section 4: 2.2257); beyond it,
    index 2, and two asymmetric index-1 families (mirror images) appear."""
    T_star = 2 * optimize.brentq(lambda s: math.tan(s) - (PI - s), 0.5, 1.5, xtol=1e-15)
    assert T_star == pytest.approx(2.2257, abs=MATH_MD_DIGITS_ATOL)
    assert th.k2_equal_norm_threshold() == pytest.approx(T_star, abs=1e-13)
    for T in (0.5, 1.5, T_star - 0.02):
        fams = th.k2_saddle_families(1.0, 1.0, T)
        assert len(fams) == 1 and fams[0].theta1 == pytest.approx(T / 2, abs=1e-13)
        assert fams[0].index_in_plane == 1
    _check_family(th.k2_saddle_families(1.0, 1.0, T_star - 0.02)[0])
    for T in (T_star + 0.02, 2.6, 3.1):
        fams = th.k2_saddle_families(1.0, 1.0, T)
        assert len(fams) == 3
        lo, mid, hi = fams
        assert mid.theta1 == pytest.approx(T / 2, abs=1e-13) and mid.index_in_plane == 2
        assert lo.index_in_plane == hi.index_in_plane == 1
        assert lo.theta1 == pytest.approx(hi.theta2, abs=1e-12)
    for f in th.k2_saddle_families(1.0, 1.0, T_star + 0.02):
        _check_family(f, ds=(2,))


def test_k2_antiparallel_teacher():
    """theta*_12 = pi: f = sin(t1) [n1 (pi - t1) - n2 t1], one root t1 = pi n1 / (n1 + n2)."""
    fams = th.k2_saddle_families(1.0, 3.0, PI)
    assert len(fams) == 1 and fams[0].theta1 == pytest.approx(PI / 4, abs=1e-13)
    W = fams[0].W(0.3, 3)
    assert np.abs(full_grad(W, fams[0].teacher(3))).max() <= FAMILY_GRAD_ATOL


def test_k2_validation():
    with pytest.raises(ValueError):
        th.k2_saddle_families(1.0, 1.0, 0.0)
    with pytest.raises(ValueError):
        th.k2_saddle_families(-1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        th.k2_saddle_families(1.0, 1.0, 3.5)
    f = th.k2_saddle_families(1.0, 1.0, 1.0)[0]
    with pytest.raises(ValueError):
        f.W(1.0)


# ---------------------------------------------------------------------------- normal equation
def _random_rows(rng, k, d):
    return rng.normal(size=(k, d)) * rng.uniform(0.3, 2.0, size=(k, 1))


@pytest.mark.parametrize("K, K_star, d", [(2, 2, 2), (2, 2, 4), (3, 3, 3), (3, 2, 5), (4, 4, 6)])
def test_normal_matrices_project_the_gradient(K, K_star, d):
    """Eqn 10-12: 2 pi grad_{w_j} L . e_{j'} = sum_k M[j,j',k] |w_k| - sum_k M*[j,j',k] |w*_k|."""
    rng = np.random.default_rng(100 + K + d)
    for _ in range(5):
        W, Ws = _random_rows(rng, K, d), _random_rows(rng, K_star, d)
        M, Ms = th.normal_matrices(W, Ws)
        assert M.shape == (K, K, K) and Ms.shape == (K, K, K_star)
        E = W / np.linalg.norm(W, axis=1, keepdims=True)
        lhs = 2 * PI * full_grad(W, Ws) @ E.T
        rhs = M @ np.linalg.norm(W, axis=1) - Ms @ np.linalg.norm(Ws, axis=1)
        np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-12)
        # diagonal constraints (Eqn 13): M_r = h(Theta)
        idx = np.arange(K)
        Th = np.array([[_angle(a, b) for b in W] for a in W])
        np.testing.assert_allclose(M[idx, idx, :], th.h(Th), rtol=0, atol=1e-14)


@pytest.mark.parametrize("K, d", [(2, 2), (2, 3), (3, 3), (3, 5), (4, 4)])
def test_proposition1(K, d):
    """L_jj = 0 always; L_jj' = 0 when e* coincides with some e_l."""
    rng = np.random.default_rng(200 + K + d)
    for _ in range(4):
        E = _random_rows(rng, K, d)
        es = rng.normal(size=(6, d))
        for j in range(K):
            np.testing.assert_allclose(th.L_jjp(E, es, j, j), 0.0, atol=1e-12)
            for jp in range(K):
                for l in range(K):
                    assert abs(th.L_jjp(E, E[l] * 2.5, j, jp)) < 1e-12


@pytest.mark.parametrize("K, d", [(2, 2), (2, 4), (3, 3), (3, 4)])
def test_theorem3_identity(K, d):
    """With norms solving Eqn 13 (|w| = M_r^{-1} M*_r |w*|):
    2 pi grad_{w_j} L . e_j' = -sum_k |w*_k| L_jj'(e*_k)."""
    rng = np.random.default_rng(300 + K + d)
    checked = 0
    for _ in range(40):
        if checked == 4:
            break
        E = rng.normal(size=(K, d))
        E /= np.linalg.norm(E, axis=1, keepdims=True)
        Ws = _random_rows(rng, K, d)
        Mr = th.h(np.array([[_angle(a, b) for b in E] for a in E]))
        Mrs = th.h(np.array([[_angle(a, b) for b in Ws] for a in E]))
        norms = np.linalg.solve(Mr, Mrs @ np.linalg.norm(Ws, axis=1))
        if np.any(norms <= 0):
            continue
        W = norms[:, None] * E
        lhs = 2 * PI * full_grad(W, Ws) @ E.T
        for j in range(K):
            for jp in range(K):
                rhs = -sum(np.linalg.norm(ws) * th.L_jjp(E, ws, j, jp) for ws in Ws)
                assert lhs[j, jp] == pytest.approx(rhs, abs=1e-11)
        checked += 1
    assert checked == 4


def test_L12_closed_form_matches_general_and_reflection():
    """The K = 2 formula equals Eqn 14 evaluated generally; L_21(t, phi) = L_12(t, t - phi);
    L_12(pi, .) = 0; signs at a few points well inside / outside the cone."""
    rng = np.random.default_rng(4)
    t = rng.uniform(0.05, PI - 0.05, 300)
    phi = rng.uniform(0, 2 * PI, 300)
    L = th.L12(t, phi)
    for k in range(0, 300, 7):
        E = np.array([[1.0, 0.0], [math.cos(t[k]), math.sin(t[k])]])
        es = np.array([math.cos(phi[k]), math.sin(phi[k])])
        assert L[k] == pytest.approx(th.L_jjp(E, es, 0, 1), abs=1e-12)
        assert th.L_jjp(E, es, 1, 0) == pytest.approx(th.L12(t[k], t[k] - phi[k]), abs=1e-12)
        assert float(th.L12(t[k], phi[k], dps=30)) == pytest.approx(L[k], abs=1e-13)
    assert np.all(np.abs(th.L12(PI, phi)) < 1e-14)
    assert np.all(th.L12(t[t > 0.2], 0.1) > 0) and np.all(th.L12(t, t + 0.1) < 0)
    with pytest.raises(ValueError):
        th.L12(0.0, 1.0)


def test_conjecture_kernel_bound_holds():
    """The running roundoff bound of the careful float64 P really bounds |P - P_exact| (50 digits),
    including at tiny t, t near pi and near the cone's edges, where L_12 is a difference of near-equal
    terms."""
    rng = np.random.default_rng(5)
    n = 240
    t = np.concatenate([10 ** rng.uniform(-5, -0.5, n // 3), rng.uniform(0.3, 2.8, n // 3),
                        PI - 10 ** rng.uniform(-5, -0.5, n // 3)])
    phi = rng.uniform(0, 2 * PI, n)
    phi[: n // 4] = t[: n // 4] * (1 + 10 ** rng.uniform(-9, -1, n // 4) * rng.choice([-1, 1], n // 4))
    P, eP, D, eD, Ln = (np.empty(n) for _ in range(5))
    cj.l12_batch(t, phi, 1.0, P, eP, D, eD, Ln)
    for k in range(n):
        with mpmath.workdps(50):
            L, _ = th._l12_mp(t[k], phi[k], 50)
            tk = mpmath.mpf(t[k])
            hk = (mpmath.pi - tk) * mpmath.cos(tk) + mpmath.sin(tk)
            Dk = mpmath.pi**2 - hk**2
            assert abs(D[k] - Dk) <= eD[k]
            assert abs(P[k] - L * Dk) <= eP[k]


def test_conjecture1_scan_small():
    """Fig 10 / Conjecture 1 at N = 500 on both grids: no confirmed violation; boundary and excluded counts
    follow from the grids: midpoint has no edge point; the endpoint grid's interior rows i = 1..N-2 hit
    the edges at phi = 0, phi = 2 pi (N-1)/(N-1) and, for even i, phi_{i/2} = t_i."""
    N = 500
    r = th.conjecture1_scan(N, "midpoint")
    assert r.n_confirmed == 0 and r.holds and r.complete
    assert r.n_boundary == 0 and r.n_excluded == 0 and r.n_wrong_certified == 0
    assert r.n_points == N * N
    # inside: phi_j < t_i  <=>  2 (j + 1/2) < i + 1/2
    assert r.n_inside == sum(sum(1 for j in range(N) if 2 * j + 1 < i + 0.5) for i in range(N))
    e = th.conjecture1_scan(N, "endpoint")
    assert e.n_confirmed == 0 and e.n_wrong_certified == 0
    assert e.n_excluded == 2 * N
    assert e.n_boundary == 2 * (N - 2) + len(range(2, N - 1, 2))
    # t = 0: M_r singular, every naive evaluation fails
    assert e.n_float64_excluded >= N
    assert e.n_mp == e.n_doubtful
    assert e.float64_locations.shape[1] == 2 and len(e.float64_locations) <= CONJ1_LOCATION_CAP


def test_conjecture1_scan_validation():
    with pytest.raises(ValueError):
        th.conjecture1_scan(100, "corners")
    with pytest.raises((TypeError, ValueError)):
        th.conjecture1_scan(1)
    r = th.conjecture1_scan(64, high_precision=False)
    assert r.n_confirmed is None and r.holds is None


@pytest.mark.slow
@pytest.mark.parametrize("grid", ["midpoint", "endpoint"])
def test_conjecture1_scan_full(grid):
    """The paper's 10^4 x 10^4 grid: no counterexample once roundoff is controlled."""
    r = th.conjecture1_scan(10_000, grid)
    assert r.complete and r.n_wrong_certified == 0 and r.n_confirmed == 0


@pytest.mark.slow
@pytest.mark.parametrize("K", [2, 3, 6, 12])
def test_fixed_points_fine_grid_agrees(K):
    R = th.ReducedDynamics(K)
    a = R.fixed_points(n_radial=12, n_angular=36)
    b = R.fixed_points(n_radial=80, n_angular=240)
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert abs(p.x - q.x) < 1e-9 and abs(p.y - q.y) < 1e-9 and p.kind == q.kind
