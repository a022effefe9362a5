"""Certificates (dynsys.certify, dynsys.bounds): points that must certify, with their radius and proven
Morse index; points built to fail, with their reason; the Hessian's Lipschitz bound against sampled
ratios (coincident and antiparallel rows included); the rounding error model against ball arithmetic
(tests/naive_certify.py, python-flint); and the honest classification of a row near zero."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest

import dynsys as ds
import naive_certify as nc
from dynsys.bounds import (definite_radius, eigvalsh_bounded, gradient_error_bound, hessian_error_bound,
                           hessian_lipschitz)

I3 = np.eye(3)
DATA = Path(__file__).parent / "data"


def _sym_saddle(K):
    xs = (math.sqrt(K - 1) - math.acos(1 / math.sqrt(K)) + math.pi) / (math.pi * K)
    return xs * np.ones((K, K))


def _k2_family_point(norm1=1.0, norm2=5.0, theta12=3.0, c=0.3):
    """A point of the K = 2 saddle family (MATH.md section 4): a line of critical points in d = 2."""
    fam = ds.k2_saddle_families(norm1, norm2, theta12)[0]
    T = np.array([[norm1, 0.0], [norm2 * math.cos(theta12), norm2 * math.sin(theta12)]])
    e = np.array([math.cos(fam.theta1), math.sin(fam.theta1)])
    return ds.TeacherStudent(T), np.array([c * fam.S * e, (1 - c) * fam.S * e])


def test_teacher_certified(tmp_path):
    m = ds.TeacherStudent(I3)
    c = ds.certify(m, I3)
    assert isinstance(c, ds.Certificate)
    assert c.certified and c.reason is None and c.morse_index == 0
    assert 0 < c.radius < 1e-11 and c.radius < c.unique_radius
    assert c.h <= 0.5 and c.radius <= 2 * c.eta
    assert c.weyl_margin < c.eig_gap
    back = ds.Certificate.load(c.save(tmp_path / "teacher"))
    assert back.certified and back.radius == c.radius and back.morse_index == 0
    assert "certified" in c.summary()


def test_index1_saddle_certified():
    m = ds.TeacherStudent(I3)
    sp = ds.saddle_between(m, I3, I3[[1, 0, 2]])
    c = ds.certify(m, sp.saddle.W)
    assert c.certified and c.morse_index == 1 and c.radius < 1e-8
    assert c.lambda_min < 0


def test_spurious_minimum_certified():
    """A spurious minimum of W* = I_7 from a census (seed 0, 300 runs; stored): refined, certified index 0."""
    W0 = np.load(DATA / "spurious_k7.npy")
    m = ds.TeacherStudent(np.eye(7))
    cp = ds.classify(m, W0)
    assert cp.kind == "spurious_minimum"
    c = ds.certify(m, cp)
    assert c.certified and c.morse_index == 0 and c.radius < 1e-9


@pytest.mark.parametrize("K", [3, 4])
def test_symmetric_saddle_is_degenerate(K):
    """The symmetric saddle lies on a manifold of critical points (nullity K - 1): not isolated."""
    m = ds.TeacherStudent(np.eye(K))
    W = _sym_saddle(K)
    assert ds.classify(m, W, refine=False).nullity == K - 1
    c = ds.certify(m, W)
    assert not c.certified and c.reason == "degenerate" and c.morse_index == -1
    assert math.isnan(c.radius)


def test_k2_family_is_degenerate():
    m, W = _k2_family_point()
    cp = ds.classify(m, W, refine=False)
    assert cp.is_critical and cp.nullity == 1
    assert ds.certify(m, W).reason == "degenerate"


def test_aligned_split_global_minimum():
    """k = 3, k* = 2, d = 3, a teacher row split exactly: a global minimum by MATH.md's precedence (nullity 3
    against 1 expected is reported on the point), and never certified as isolated."""
    T = np.eye(3)[:2]
    m = ds.TeacherStudent(T, k=3)
    W = np.array([[0.5, 0, 0], [0.5, 0, 0], [0, 1.0, 0]])
    cp = ds.classify(m, W, refine=False)
    assert cp.kind == "global_minimum" and cp.nullity > cp.nullity_expected
    assert ds.certify(m, W).reason == "degenerate"


def test_not_critical():
    m = ds.TeacherStudent(I3)
    W = np.random.default_rng(1).normal(size=(3, 3))
    c = ds.certify(m, W)
    assert not c.certified and c.reason == "not critical" and c.h > 0.5


def test_zero_rows():
    m = ds.TeacherStudent(I3)
    W = I3.copy()
    W[2] = 0.0
    assert ds.certify(m, W).reason == "too close to a zero row"
    # a row of norm 1e-11 at a global minimum: never a clean minimum, never certified
    m4 = ds.TeacherStudent(I3, k=4)
    Wt = np.vstack([I3, [[1e-11, 0, 0]]])
    for refine in (False, True):
        cp = ds.classify(m4, Wt, refine=refine)
        assert cp.kind == "singular", cp.summary()
        assert ds.certify(m4, cp).reason == "too close to a zero row"


def test_batch_and_hooks(tmp_path):
    m = ds.TeacherStudent(I3)
    rng = np.random.default_rng(0)
    seeds = I3[None] + 0.05 * rng.standard_normal((6, 3, 3))
    seeds = np.concatenate([seeds, _sym_saddle(3)[None] + 1e-3 * rng.standard_normal((1, 3, 3))])
    cs = ds.find_critical_points(m, seeds, certify=True)
    assert isinstance(cs.certificates, ds.CertificateSet) and len(cs.certificates) == len(cs)
    alone = ds.certify(m, cs)
    assert [c.reason for c in alone] == [c.reason for c in cs.certificates]
    for p, c in zip(cs, cs.certificates):
        if c.certified:
            assert c.morse_index == p.morse_index
    assert np.all(cs.certificates.certified[[p.kind == "global_minimum" for p in cs]])
    back = ds.CertificateSet.load(cs.certificates.save(tmp_path / "set"))
    assert np.array_equal(back.certified, cs.certificates.certified)
    assert "certified" in cs.certificates.summary()
    # a batch array gives a set, one state a certificate
    assert len(ds.certify(m, np.stack([I3, I3[[2, 0, 1]]]))) == 2
    c = ds.census(m, 3, seed=0, certify=True)
    assert len(c.certificates) == len(c.classes)
    assert all(cert.certified and cert.morse_index == 0 for cert in c.certificates)
    with pytest.raises(TypeError, match="certify"):
        ds.find_critical_points(m, seeds, certify="yes")
    with pytest.raises(ValueError, match="point_or_set"):
        ds.certify(m, np.zeros((2, 3)))


LIPSCHITZ_CASES = {
    "teacher": (I3, I3),
    "symmetric saddle": (_sym_saddle(3), I3),
    "antiparallel": (np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0]]), I3),
    "near coincident": (np.array([[1.0, 0, 0], [1.0, 1e-7, 0], [0, 0, 1.0]]), I3),
    "antiparallel to teacher": (np.array([[-1.0, 1e-9, 0], [0, 1.0, 0], [0, 0, 1.0]]), I3),
    "generic": (np.random.default_rng(3).normal(size=(3, 3)), I3),
}


@pytest.mark.parametrize("name", list(LIPSCHITZ_CASES))
def test_lipschitz_bound_holds(name):
    """|H(X) - H(Y)| / |X - Y| over sampled pairs in the ball stays below L (the NumPy closed form)."""
    W, T = LIPSCHITZ_CASES[name]
    m = ds.TeacherStudent(T)
    rng = np.random.default_rng(0)
    for rho in (0.5 * np.linalg.norm(W, axis=1).min(), 1e-3):
        L = hessian_lipschitz(m, W, rho)
        ratios = nc.lipschitz_ratios(W, T, rho, 150, rng)
        assert ratios.max() <= L, (name, rho, ratios.max(), L)
        assert ratios.max() >= L / 100  # and not absurdly loose


def test_lipschitz_bound_leaky_top_weights():
    T = np.array([[1.0, 0.2, 0], [0, 1.5, 0.3]])
    a, a_s, alpha = np.array([1.0, -0.7, 1.3]), np.array([0.8, 1.2]), 0.3
    m = ds.TeacherStudent(T, k=3, alpha=alpha, a=a, a_star=a_s)
    W = np.array([[1.0, 0.2, 1e-8], [-1.0, -0.2, 0], [0.1, 1.4, 0.3]])
    rng = np.random.default_rng(1)
    rho = 0.3
    L = hessian_lipschitz(m, W, rho)

    def hess(X, T_):
        return nc.hessian_closed_form(X, T_, a=a, a_star=a_s, alpha=alpha)

    ratios = nc.lipschitz_ratios(W, T, rho, 150, rng, hessian=hess)
    assert ratios.max() <= L
    assert hessian_lipschitz(m, W, 2.0) == math.inf
    assert hessian_lipschitz(ds.TeacherStudent(T, k=3, alpha=1.0), W, rho) == 0.0


def test_rounding_error_model_against_ball_arithmetic():
    """The float64 gradient and Hessian (both compiled paths) lie within the error bounds of the exact
    values enclosed by arb balls; at certified points the residual bound holds the exact residual."""
    from dynsys.critical.shared import grad_hess

    rng = np.random.default_rng(0)
    for trial in range(6):
        k, d = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        T = rng.normal(size=(k, d))
        m = ds.TeacherStudent(T)
        W = rng.normal(size=(k, d))
        if trial % 2:
            W[1] = W[0] * (1 + 1e-9)          # nearly coincident rows
        ga = nc.grad_arb(W, T)
        G2, H2, _ = grad_hess(m, W)
        for G in (m.grad(W), G2):
            assert nc.distance_upper(G, ga) <= gradient_error_bound(m, W)
        if trial % 2 == 0:
            Ha = nc.hessian_arb(W, T)
            for H in (m.hessian(W), H2):
                assert nc.distance_upper(H, Ha) <= hessian_error_bound(m, W)
    m = ds.TeacherStudent(I3)
    sp = ds.saddle_between(m, I3, I3[[1, 0, 2]]).saddle.W
    for W in (I3, sp, I3[[2, 0, 1]]):
        c = ds.certify(m, W)
        assert c.certified
        assert nc.norm_upper(nc.grad_arb(W, I3)) <= c.residual_bound


def test_eigvalsh_bounded():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 30))
    A = A + A.T
    lam, err = eigvalsh_bounded(A)
    exact = np.linalg.eigvalsh(A.astype(np.longdouble).astype(float))
    assert np.all(np.abs(lam - exact) <= err) and np.all(err < 1e-10)


def test_definite_radius():
    m = ds.TeacherStudent(I3)
    r, q = definite_radius(m, I3, step=0.1)
    assert 0 < r < 1 and 0 < q < 1
    # every sampled Hessian in the ball is positive definite
    rng = np.random.default_rng(0)
    for _ in range(20):
        D = rng.standard_normal((3, 3))
        X = I3 + D / np.linalg.norm(D) * r * rng.uniform()
        assert np.linalg.eigvalsh(m.hessian(X))[0] > 0
    assert definite_radius(m, _sym_saddle(3))[0] == 0.0


@pytest.mark.parametrize("lam0, kind", [(-1e-9, "degenerate"), (0.0, "degenerate"), (-1e-3, "saddle"),
                                        (1e-3, "spurious_minimum")])
def test_near_degenerate_spectra_are_never_clean_minima(monkeypatch, lam0, kind):
    """At a spurious minimum, replace the smallest Hessian eigenvalue: a tiny negative one (inside
    eig_tol) or a zero one is nullity beyond what symmetry explains (degenerate), a clearly negative one
    a saddle; only a positive one leaves a spurious minimum. Every minimum carries |g| and lambda_min."""
    cl = importlib.import_module("dynsys.critical.classify")  # the package exports a function of that name

    W0 = np.load(DATA / "spurious_k7.npy")
    m = ds.TeacherStudent(np.eye(7))
    true_eigs = cl._eigenvalues

    def fake(model, W, n, method, n_eig, nexp):
        eigs, complete = true_eigs(model, W, n, method, n_eig, nexp)
        eigs = eigs.copy()
        eigs[0] = lam0 * eigs[-1]
        return np.sort(eigs), complete

    monkeypatch.setattr(cl, "_eigenvalues", fake)
    cp = ds.classify(m, W0)
    assert cp.nullity_expected == 0
    assert cp.kind == kind, cp.summary()
    assert math.isfinite(cp.grad_norm) and cp.grad_norm <= cp.gtol and math.isfinite(cp.lambda_min)


@pytest.mark.slow
def test_census_minima_certified_k6_to_12():
    """Every class of minima of the W* = I_k census (100 runs, seed 0) for k = 6..12 is certified with
    index 0 (measured: radii 3e-12 to 8e-11, h at most 2e-6)."""
    for k in range(6, 13):
        c = ds.census(ds.TeacherStudent(np.eye(k)), 100, seed=0, certify=True)
        assert any(cl.kind == "spurious_minimum" for cl in c.classes) or k < 7
        for cl, cert in zip(c.classes, c.certificates):
            assert cert.certified and cert.morse_index == 0 and cert.radius < 1e-9, (k, cl.kind, cert)
