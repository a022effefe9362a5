"""Monte Carlo estimates (dynsys.monte_carlo, dynsys.monte_carlo_gating) against the closed forms,
the NumPy oracle, and themselves (determinism, standard errors).

Every statistical check uses fixed seeds (deterministic). The tolerance for "agrees with the closed
form" is ``N_SE`` standard errors per entry; with the number of entries checked here, a correct
estimator passes all of them with probability above 99%.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

import naive as nv

N_SE = 4.0
N_MC = 200_000
#: the standard error of the reduction vs a two-pass NumPy std on the same samples
SE_RTOL = 1e-9
#: estimate from a callable sampler vs the NumPy oracle drawing the same inputs
ORACLE_RTOL = 1e-11
#: uniform inputs on the cube, d = 10: relative error after fitting one global scale
UNIFORM_FIT_RTOL = 0.10


@pytest.fixture(scope="module")
def ds():
    import dynsys

    return dynsys


def _models(ds):
    rng = np.random.default_rng(42)
    d = 5
    Ws = rng.normal(size=(3, d))
    out = {
        "relu": (ds.TeacherStudent(Ws), rng.normal(size=(3, d))),
        "leaky_mixed_a": (ds.TeacherStudent(Ws, alpha=0.1, a=[1.0, -0.7, 1.5], a_star=[1.0, 2.0, -1.0]),
                          rng.normal(size=(3, d))),
        "residual": (ds.TeacherStudent(Ws[:, :3][:3], alpha=0.1, residual=np.eye(3)),
                     0.3 * rng.normal(size=(3, 3))),
        "k_ne_kstar": (ds.TeacherStudent(Ws[:2], k=4), rng.normal(size=(4, d))),
    }
    return out


def _mc(ds):
    from dynsys.montecarlo import monte_carlo

    return monte_carlo


def _gating(*args, **kw):
    from dynsys.montecarlo import monte_carlo_gating

    return monte_carlo_gating(*args, **kw)


@pytest.mark.parametrize("name", ["relu", "leaky_mixed_a", "residual", "k_ne_kstar"])
def test_closed_form_within_standard_errors(ds, name):
    m, W = _models(ds)[name]
    est = _mc(ds)(m, W, N_MC, seed=1)
    zl, zg = est.z_scores(m.loss(W), m.grad(W))
    assert abs(zl) <= N_SE
    assert np.max(np.abs(zg)) <= N_SE
    assert est.grad.shape == est.grad_se.shape == (m.k, m.d)
    assert est.n_samples == N_MC and est.sampler == "gaussian"
    # the errors are really of the size of the standard errors: not all tiny (a wrong se would be)
    assert np.sqrt(np.mean(zg**2)) > 0.3


def test_callable_sampler_matches_numpy_oracle(ds):
    """Same inputs (numpy Generator, same seed) -> same per-sample quantities as tests/naive.py."""
    m, W = _models(ds)["leaky_mixed_a"]

    def gauss(gen, n, d):
        return gen.standard_normal((n, d))

    n = 30_000
    est = _mc(ds)(m, W, n, sampler=gauss, seed=3, chunk_size=4096)
    lo, lo_se = nv.loss_monte_carlo(W, m.W_star, m.a, m.a_star, m.alpha, n_samples=n, seed=3,
                                    sampler=gauss)
    go, go_se = nv.grad_monte_carlo(W, m.W_star, m.a, m.a_star, m.alpha, n_samples=n, seed=3,
                                    sampler=gauss)
    assert est.sampler == "callable"
    assert math.isclose(est.loss, lo, rel_tol=ORACLE_RTOL)
    np.testing.assert_allclose(est.grad, go, rtol=ORACLE_RTOL, atol=ORACLE_RTOL * np.abs(go).max())
    assert math.isclose(est.loss_se, lo_se, rel_tol=1e-6)
    np.testing.assert_allclose(est.grad_se, go_se, rtol=1e-6)


def test_callable_sampler_reproduces_closed_form(ds):
    m, W = _models(ds)["residual"]
    est = _mc(ds)(m, W, N_MC, sampler=lambda gen, n, d: gen.normal(size=(n, d)), seed=5)
    zl, zg = est.z_scores(m.loss(W), m.grad(W))
    assert abs(zl) <= N_SE and np.max(np.abs(zg)) <= N_SE


def test_standard_error_is_exact_sample_std(ds):
    """The blockwise Welford/Chan reduction gives the two-pass sample std (ddof 1) over sqrt(N)."""
    m, W = _models(ds)["relu"]
    n = 5000
    X = np.random.default_rng(8).normal(size=(n, m.d)) * 10.0 + 3.0   # large mean: cancellation-prone

    est = _mc(ds)(m, W, n, sampler=lambda gen, nn, d: X[:nn] if nn == n else None, chunk_size=10**6)
    f = nv.network(X, m.W_star) - nv.network(X, W)
    per_loss = 0.5 * f * f
    assert math.isclose(est.loss, per_loss.mean(), rel_tol=1e-12)
    assert math.isclose(est.loss_se, per_loss.std(ddof=1) / math.sqrt(n), rel_tol=SE_RTOL)
    D = nv.sigma_prime(X @ W.T)
    per_grad = -(f[:, None, None] * D[:, :, None] * X[:, None, :])
    np.testing.assert_allclose(est.grad_se, per_grad.std(axis=0, ddof=1) / math.sqrt(n), rtol=SE_RTOL)


def test_standard_errors_shrink_like_inverse_sqrt_n(ds):
    m, W = _models(ds)["leaky_mixed_a"]
    small = _mc(ds)(m, W, 16_384, seed=2)
    big = _mc(ds)(m, W, 16 * 16_384, seed=2)
    # se ratio sqrt(16) = 4, up to the sampling error of the std estimates (a few percent here)
    assert 3.4 < small.loss_se / big.loss_se < 4.6
    assert 3.6 < np.median(small.grad_se / big.grad_se) < 4.4


def test_standard_error_matches_spread_over_seeds(ds):
    """The reported se predicts the scatter of independent estimates (30 seeds)."""
    m, W = _models(ds)["relu"]
    ests = [_mc(ds)(m, W, 4096, seed=s) for s in range(30)]
    spread = np.std([e.loss for e in ests], ddof=1)
    se = np.sqrt(np.mean([e.loss_se**2 for e in ests]))
    # std of 30 values is within about 35% of its expectation with overwhelming probability
    assert 0.65 < spread / se < 1.5


def test_identical_across_threads_and_chunks(ds):
    m, W = _models(ds)["residual"]
    n = 50_001  # not a multiple of the block size
    ref = _mc(ds)(m, W, n, seed=9)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _mc(ds)(m, W, n, seed=9, chunk_size=3000)
    finally:
        numba.set_num_threads(before)
    for other in (one, _mc(ds)(m, W, n, seed=9, chunk_size=1), _mc(ds)(m, W, n, seed=9, chunk_size=10**7)):
        assert other.loss == ref.loss and other.loss_se == ref.loss_se
        assert np.array_equal(other.grad, ref.grad) and np.array_equal(other.grad_se, ref.grad_se)
    assert _mc(ds)(m, W, n, seed=10).loss != ref.loss


def test_uniform_sampler_finite_with_sane_se(ds):
    m, W = _models(ds)["relu"]
    est = _mc(ds)(m, W, 20_000, sampler="uniform", seed=4)
    assert est.sampler == "uniform"
    assert np.isfinite(est.loss) and 0.0 < est.loss_se < est.loss
    assert np.all(np.isfinite(est.grad)) and np.all(est.grad_se > 0.0)
    # inputs on [-1/2, 1/2]^d have covariance I/12: the loss is about L/12 (exact for alpha = 1)
    lin = ds.TeacherStudent(m.W_star, alpha=1.0)
    e1 = _mc(ds)(lin, W, 20_000, sampler="uniform", seed=4)
    assert abs(e1.loss - lin.loss(W) / 12.0) <= N_SE * e1.loss_se


def test_one_sample_has_nan_se(ds):
    m, W = _models(ds)["relu"]
    est = _mc(ds)(m, W, 1)
    assert np.isfinite(est.loss) and np.isnan(est.loss_se)


# ------------------------------------------------------------------------------------------------
# Tian (ICML 2017) Theorem 1 (Sec 7.1, Fig 7): the gating function
# ------------------------------------------------------------------------------------------------

def _pairs(d, n, seed, theta_max=math.pi, theta=None):
    """n pairs (e, w) with angle uniform in (0, theta_max) (or equal to ``theta``), random
    orientation, |w| random."""
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(n, d))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    P = rng.normal(size=(n, d))
    P -= np.sum(P * E, axis=1, keepdims=True) * E
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    th = rng.uniform(0.02, theta_max - 0.02, size=n) if theta is None else np.full(n, theta)
    r = rng.uniform(0.5, 2.0, size=(n, 1))
    Wp = r * (np.cos(th)[:, None] * E + np.sin(th)[:, None] * P)
    return E, Wp, th


def test_gating_closed_form_gaussian(ds):
    E, Wp, th = _pairs(6, 12, seed=0)
    g = _gating(3.0 * E, Wp, N_MC, seed=2)   # only e's direction matters
    np.testing.assert_allclose(g.theta, th, atol=1e-12)
    assert np.max(np.abs(g.F - g.closed_form) / g.F_se) <= N_SE


def test_gating_error_grows_towards_pi(ds):
    """Fig 7(a): the relative error grows with the angle (F shrinks like (pi - theta)^2 near pi,
    faster than the sampling noise): mean over 10 pairs at each of three angles."""
    errs = []
    for k, th in enumerate((0.3, 1.6, 2.9)):
        E, Wp, _ = _pairs(6, 10, seed=10 + k, theta_max=None, theta=th)
        errs.append(_gating(E, Wp, 20_000, seed=1).relative_error().mean())
    assert errs[0] < errs[1] < errs[2]
    assert errs[2] > 3.0 * errs[0]


def test_gating_relative_error_decays_like_inverse_sqrt_n(ds):
    """Fig 7(b): the mean relative error over pairs falls by sqrt(16) = 4 when N grows 16-fold."""
    E, Wp, _ = _pairs(5, 40, seed=1, theta_max=math.pi / 2)
    e_small = _gating(E, Wp, 4096, seed=3).relative_error().mean()
    e_big = _gating(E, Wp, 16 * 4096, seed=3).relative_error().mean()
    assert 2.5 < e_small / e_big < 6.5


def test_gating_uniform_inputs_up_to_scale(ds):
    """Fig 7(c): for x uniform on [-1/2, 1/2]^10 the formula holds up to one global scale (about the
    coordinate variance 1/12), with a relative error of a few percent (docs/math.md section 2)."""
    E, Wp, _ = _pairs(10, 20, seed=4, theta_max=math.pi / 2)
    g = _gating(E, Wp, N_MC, sampler="uniform", seed=6)
    assert abs(12.0 * g.fitted_scale - 1.0) < 0.1
    assert np.all(g.relative_error("fit") < UNIFORM_FIT_RTOL)
    assert np.all(np.isfinite(g.F_se)) and np.all(g.F_se > 0)


def test_gating_single_pair_shapes(ds):
    g = _gating([1.0, 0.0, 0.0], [0.0, 2.0, 0.0], 2048)
    assert g.F.shape == g.F_se.shape == g.closed_form.shape == (3,)
    assert np.ndim(g.theta) == 0 and math.isclose(float(g.theta), math.pi / 2)
    np.testing.assert_allclose(g.closed_form, [2.0 / (2 * math.pi), 1.0 / 2, 0.0], atol=1e-15)


# ------------------------------------------------------------------------------------------------
# Input validation
# ------------------------------------------------------------------------------------------------

def test_bad_input(ds):
    m, W = _models(ds)["relu"]
    mc = _mc(ds)
    with pytest.raises(ValueError, match="n_samples"):
        mc(m, W, 0)
    with pytest.raises(TypeError, match="n_samples"):
        mc(m, W, 10.0)
    with pytest.raises(ValueError, match="sampler"):
        mc(m, W, 10, sampler="cauchy")
    with pytest.raises(ValueError, match="sampler"):
        mc(m, W, 10, sampler=lambda g, n, d: np.zeros((n, d + 1)))
    with pytest.raises(ValueError, match="sampler"):
        mc(m, W, 10, sampler=lambda g, n, d: np.full((n, d), np.nan))
    with pytest.raises(ValueError, match="sampler"):
        mc(m, W, 10, sampler=lambda g, n, d: np.array([["a"] * d] * n))
    with pytest.raises(ValueError, match="one state"):
        mc(m, W[None].repeat(2, 0), 10)
    with pytest.raises(ValueError, match="W must have shape"):
        mc(m, W[:, :-1], 10)
    with pytest.raises(ValueError, match="W must be finite"):
        mc(m, np.full_like(W, np.inf), 10)
    with pytest.raises(ValueError, match="seed"):
        mc(m, W, 10, seed=-1)
    with pytest.raises(ValueError, match="chunk_size"):
        mc(m, W, 10, chunk_size=0)
    with pytest.raises(TypeError, match="model"):
        mc("model", W, 10)
    with pytest.raises(ValueError, match="w must have nonzero rows"):
        _gating(np.ones((2, 3)), np.zeros((2, 3)), 10)
    with pytest.raises(ValueError, match="e and w"):
        _gating(np.ones((2, 3)), np.ones((3, 3)), 10)
