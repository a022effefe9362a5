"""The teacher-student field (loss, gradient, Hessian, hvp, grad_a, Monte Carlo) against slow oracles.

The oracles live in ``tests/naive.py`` (plain NumPy loops transcribed from docs/math.md sections 1-2) and
share no code with ``dynsys``. The first group of tests checks the oracles against each other
(closed form vs quadrature vs finite differences vs Monte Carlo); the rest hold the library's fast
kernels against them on a catalogue of adversarial states (collinear / antiparallel rows, rows equal
to teacher rows, nearly collinear pairs, tiny rows, k != k_star, leaky slopes, mixed-sign top weights,
residual offsets), then check invariances, batching, singular states and input validation.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import naive as nv

# ------------------------------------------------------------------------------------------------
# Tolerances (named once, used everywhere below)
# ------------------------------------------------------------------------------------------------

#: oracle vs oracle
QUAD_RTOL = 1e-11            # loss_closed_form vs loss_quadrature (2D states)
MPMATH_RTOL = 1e-13          # loss_closed_form vs 40-digit evaluation
ORACLE_GRAD_FD_RTOL = 1e-7   # grad_closed_form vs central differences of loss_closed_form
ORACLE_HESS_FD_RTOL = 1e-6   # hessian_closed_form vs central differences of grad_closed_form
ORACLE_GRAD_A_FD_RTOL = 1e-7
MC_N_SE = 4.0                # Monte Carlo: |estimate - exact| <= MC_N_SE standard errors
MC_N_SAMPLES = 200_000

#: library vs oracle
LOSS_RTOL = 1e-12
LOSS_ATOL = 1e-14            # times S^2, S = sum |a_j||v_j| + sum |a*_k||v*_k|
GRAD_RTOL = 1e-11            # relative to max(max |grad|, max|a| * S)
GRAD_FD_RTOL = 1e-7          # library grad vs central differences of the library loss
GRAD_FD_H = 1e-5
HESS_SYM_RTOL = 1e-13
HESS_RTOL = 1e-10            # library hessian vs hessian_closed_form, relative to max |H|
HESS_FD_RTOL = 1e-6          # library hessian vs central differences of the library grad
HESS_FD_H = 1e-6
HESS_LIMIT_ATOL = 1e-13      # collinear / antiparallel pair block vs its closed-form limit
HESS_KINK_H = (1e-4, 1e-5)   # two steps for the O(h) check at collinear pairs
HESS_KINK_C = 10.0           # |H_fd(h) - H| <= HESS_KINK_C * h * max|H|
HESS_KINK_SHRINK = 0.2       # error at h/10 must be <= this times the error at h (O(h): ~0.1)
HVP_RTOL = 1e-12
PERM_RTOL = 1e-14
LINEAR_RTOL = 1e-13
GRAD_A_RTOL = 1e-11


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ds():
    """The library; an ImportError here is a real failure (not a skip)."""
    import dynsys

    return dynsys


def _perp_unit(rng, w):
    e = rng.standard_normal(w.size)
    e -= (e @ w) / (w @ w) * w
    return e / np.linalg.norm(e)


def _rotated(rng, w, angle, scale=1.0):
    """A vector at exactly ``angle`` from w (up to roundoff), norm scale * |w|."""
    e = _perp_unit(rng, w)
    n = np.linalg.norm(w)
    return scale * (math.cos(angle) * w + math.sin(angle) * n * e)


def _state(name):
    """A named test state: dict(W, W_star, a, a_star, alpha, U, kinky, tiny).

    ``kinky``: has an (exactly or nearly) collinear or antiparallel pair, so finite-difference
    Hessians are only O(h) there. ``tiny``: has a row so small that a finite-difference step of 1e-5
    crosses zero, or a scale at which an absolute finite-difference step makes no sense.
    """
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(name))
    rng = np.random.default_rng(seed)
    k, ks, d = 3, 3, 4
    alpha, a, a_star, U = 0.0, None, None, None
    kinky = tiny = False
    if name == "k3_ks2":
        ks = 2
    elif name == "k2_ks4":
        k, ks, d = 2, 4, 5
    elif name.startswith("residual"):
        k = ks = d = 3
    elif name == "d1":
        k, ks, d = 2, 2, 1
    W_star = rng.standard_normal((ks, d))
    W = rng.standard_normal((k, d))
    if name == "generic":
        pass
    elif name in ("k3_ks2", "k2_ks4"):
        alpha = 0.1
        a = rng.uniform(0.5, 1.5, k)
    elif name == "alpha0.1":
        alpha = 0.1
    elif name == "alpha1":
        alpha = 1.0
    elif name == "mixed_signs":
        alpha = 0.1
        a = np.array([1.3, -0.7, 0.5])
        a_star = np.array([-1.0, 0.8, 1.1])
    elif name == "mixed_signs_relu":
        a = np.array([-1.2, 0.9, 0.6])
        a_star = np.array([1.0, -0.5, 1.4])
    elif name == "residual":
        U = np.eye(d)
        W, W_star = 0.5 * W, 0.5 * W_star
    elif name == "residual_leaky":
        U = np.eye(d)
        W, W_star = 0.5 * W, 0.5 * W_star
        alpha = 0.25
    elif name == "collinear":
        W[1] = 2.5 * W[0]
        kinky = True
    elif name == "collinear_leaky_mixed":
        W[1] = 2.5 * W[0]
        alpha = 0.1
        a = np.array([1.3, -0.7, 0.5])
        kinky = True
    elif name == "antiparallel":
        W[1] = -0.7 * W[0]
        kinky = True
    elif name == "antiparallel_leaky":
        W[1] = -0.7 * W[0]
        alpha = 0.1
        kinky = True
    elif name == "row_equals_teacher":
        W[0] = W_star[1]
        kinky = True
    elif name == "at_teacher":
        W = W_star[[2, 0, 1]].copy()
        kinky = True
    elif name == "near_collinear":
        W[1] = _rotated(rng, W[0], 1e-9, 1.3)
        kinky = True
    elif name == "near_antiparallel":
        W[1] = _rotated(rng, W[0], math.pi - 1e-9, 0.8)
        kinky = True
    elif name == "tiny_row":
        W[2] = 1e-6 * W[2] / np.linalg.norm(W[2])
        tiny = True
    elif name == "duplicate_rows":
        W[1] = W[0]
        alpha = 0.2
        kinky = True
    elif name == "zero_top_weights":
        a = np.array([0.0, 1.0, -1.0])
        a_star = np.array([1.0, 0.0, 1.0])
        alpha = 0.1
    elif name == "d1":
        W_star = np.array([[1.0], [-2.0]])
        W = np.array([[0.5], [0.7]])
        alpha = 0.1
        kinky = True
    elif name == "scale_1e-150":
        W, W_star = 1e-150 * W, 1e-150 * W_star
        tiny = True
    elif name == "scale_1e150":
        W, W_star = 1e150 * W, 1e150 * W_star
        tiny = True
    else:
        raise KeyError(name)
    return dict(W=W, W_star=W_star, a=a, a_star=a_star, alpha=alpha, U=U, kinky=kinky, tiny=tiny)


STATE_NAMES = [
    "generic", "k3_ks2", "k2_ks4", "alpha0.1", "alpha1", "mixed_signs", "mixed_signs_relu",
    "residual", "residual_leaky", "collinear", "collinear_leaky_mixed", "antiparallel",
    "antiparallel_leaky", "row_equals_teacher", "at_teacher", "near_collinear", "near_antiparallel",
    "tiny_row", "duplicate_rows", "zero_top_weights", "d1", "scale_1e-150",
    "scale_1e150",
]
SMOOTH_NAMES = [n for n in STATE_NAMES if not _state(n)["kinky"] and not _state(n)["tiny"]]
NOT_TINY_NAMES = [n for n in STATE_NAMES if not _state(n)["tiny"]]
KINK_NAMES = ["collinear", "collinear_leaky_mixed", "antiparallel", "antiparallel_leaky"]


def _oracle_args(s):
    return (s["W"], s["W_star"], s["a"], s["a_star"], s["alpha"], s["U"])


def _model(ds, s):
    return ds.TeacherStudent(s["W_star"], k=s["W"].shape[0], alpha=s["alpha"], a=s["a"],
                             a_star=s["a_star"], residual=s["U"])


def _scales(s):
    """(S, gscale): output scale S = sum |a||v| + sum |a*||v*|, gradient scale max|a| * S."""
    V, Vs, a, a_s = nv._setup(s["W"], s["W_star"], s["a"], s["a_star"], s["U"])
    S = float(np.abs(a) @ np.linalg.norm(V, axis=1) + np.abs(a_s) @ np.linalg.norm(Vs, axis=1))
    return S, float(np.abs(a).max()) * S


def _max_rel(x, ref, floor=0.0):
    x = np.asarray(x, dtype=float)
    ref = np.asarray(ref, dtype=float)
    return float(np.abs(x - ref).max() / max(np.abs(ref).max(), floor, 1e-300))


def _fd_grad_batched(m, W, h):
    """Central differences of m.loss, all 2 k d perturbed states in one batch call."""
    k, d = W.shape
    E = np.eye(k * d).reshape(k * d, k, d)
    L = m.loss(np.concatenate([W[None] + h * E, W[None] - h * E]))
    return ((L[: k * d] - L[k * d:]) / (2.0 * h)).reshape(k, d)


def _fd_hessian_batched(m, W, h):
    """Central differences of m.grad: column c from the states W +- h e_c (one batch call)."""
    k, d = W.shape
    E = np.eye(k * d).reshape(k * d, k, d)
    G = m.grad(np.concatenate([W[None] + h * E, W[None] - h * E]))
    return ((G[: k * d] - G[k * d:]) / (2.0 * h)).reshape(k * d, k * d).T


# ------------------------------------------------------------------------------------------------
# 1. Oracle self-consistency (no dynsys)
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("d", [2, 4])
def test_oracle_closed_form_equals_quadrature(d, alpha):
    rng = np.random.default_rng(10 * d + int(10 * alpha))
    B = np.linalg.qr(rng.standard_normal((d, 2)))[0]           # planar states in d = 4
    W = rng.standard_normal((3, 2)) @ B.T
    W_star = rng.standard_normal((2, 2)) @ B.T
    a = rng.standard_normal(3)
    a_star = rng.standard_normal(2)
    ref = nv.loss_closed_form(W, W_star, a, a_star, alpha)
    q = nv.loss_quadrature(W, W_star, a, a_star, alpha)
    assert abs(q - ref) <= QUAD_RTOL * abs(ref)
    q2 = nv.loss_quadrature_scipy(W, W_star, a, a_star, alpha)
    assert abs(q2 - ref) <= 1e-10 * abs(ref)


def test_oracle_quadrature_kinky_and_residual_2d():
    rng = np.random.default_rng(7)
    W_star = rng.standard_normal((2, 2))
    W = rng.standard_normal((2, 2))
    W[1] = -0.7 * W[0]                                          # antiparallel: coincident kinks
    for alpha in (0.0, 0.3):
        ref = nv.loss_closed_form(W, W_star, alpha=alpha)
        assert abs(nv.loss_quadrature(W, W_star, alpha=alpha) - ref) <= QUAD_RTOL * ref
    U = np.eye(2)
    ref = nv.loss_closed_form(W, W_star, alpha=0.2, U=U)
    assert abs(nv.loss_quadrature(W, W_star, alpha=0.2, U=U) - ref) <= QUAD_RTOL * ref


def test_oracle_quadrature_rejects_3d_span():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        nv.loss_quadrature(rng.standard_normal((3, 4)), rng.standard_normal((2, 4)))


@pytest.mark.parametrize("name", ["generic", "mixed_signs", "residual_leaky", "near_antiparallel"])
def test_oracle_closed_form_equals_mpmath(name):
    s = _state(name)
    ref = nv.loss_mpmath(*_oracle_args(s))
    S, _ = _scales(s)
    assert abs(nv.loss_closed_form(*_oracle_args(s)) - ref) <= MPMATH_RTOL * max(abs(ref), S * S * 1e-3)


@pytest.mark.parametrize("name", ["generic", "k3_ks2", "k2_ks4", "alpha1", "mixed_signs", "residual_leaky",
                                  "collinear_leaky_mixed"])
def test_oracle_grad_equals_fd_of_loss(name):
    s = _state(name)
    args = _oracle_args(s)
    G = nv.grad_closed_form(*args)
    Gfd = nv.grad_central_differences(lambda X: nv.loss_closed_form(X, *args[1:]), s["W"], h=1e-4, order=4)
    assert _max_rel(Gfd, G, _scales(s)[1]) <= ORACLE_GRAD_FD_RTOL


@pytest.mark.parametrize("name", ["generic", "k3_ks2", "k2_ks4", "alpha0.1", "mixed_signs", "residual_leaky"])
def test_oracle_hessian_equals_fd_of_grad(name):
    s = _state(name)
    args = _oracle_args(s)
    H = nv.hessian_closed_form(*args)
    Hfd = nv.hessian_central_differences(lambda X: nv.grad_closed_form(X, *args[1:]), s["W"], h=1e-5, order=4)
    assert _max_rel(Hfd, H) <= ORACLE_HESS_FD_RTOL
    assert np.abs(H - H.T).max() <= HESS_SYM_RTOL * np.abs(H).max()


@pytest.mark.parametrize("name", KINK_NAMES)
def test_oracle_hessian_at_kink_is_O_h(name):
    s = _state(name)
    args = _oracle_args(s)
    H = nv.hessian_closed_form(*args)
    errs = [np.abs(nv.hessian_central_differences(lambda X: nv.grad_closed_form(X, *args[1:]), s["W"], h=h)
                   - H).max() for h in HESS_KINK_H]
    assert errs[0] <= HESS_KINK_C * HESS_KINK_H[0] * np.abs(H).max()
    assert errs[1] <= HESS_KINK_SHRINK * errs[0]


@pytest.mark.parametrize("name", ["generic", "alpha1", "mixed_signs", "residual_leaky"])
def test_oracle_linear_and_grad_a(name):
    s = _state(name)
    args = _oracle_args(s)
    if s["alpha"] == 1.0:
        lin = nv.linear_loss(s["W"], s["W_star"], s["a"], s["a_star"], s["U"])
        assert abs(nv.loss_closed_form(*args) - lin) <= LINEAR_RTOL * max(lin, 1.0)
        assert _max_rel(nv.grad_closed_form(*args),
                        nv.linear_grad(s["W"], s["W_star"], s["a"], s["a_star"], s["U"]), 1.0) <= 1e-13
    k = s["W"].shape[0]
    a0 = np.ones(k) if s["a"] is None else s["a"]
    ga = nv.grad_a_closed_form(*args)
    ga_fd = nv.grad_central_differences(
        lambda A: nv.loss_closed_form(s["W"], s["W_star"], A.ravel(), s["a_star"], s["alpha"], s["U"]),
        a0[None, :], h=1e-4, order=4).ravel()
    assert _max_rel(ga_fd, ga, 1.0) <= ORACLE_GRAD_A_FD_RTOL


def test_oracle_monte_carlo():
    s = _state("mixed_signs")
    args = _oracle_args(s)
    ref = nv.loss_closed_form(*args)
    m, se = nv.loss_monte_carlo(*args, n_samples=MC_N_SAMPLES, seed=1)
    assert abs(m - ref) <= MC_N_SE * se
    g, gse = nv.grad_monte_carlo(*args, n_samples=MC_N_SAMPLES, seed=2)
    assert np.all(np.abs(g - nv.grad_closed_form(*args)) <= MC_N_SE * gse)


# ------------------------------------------------------------------------------------------------
# 2. Library vs oracle: loss and gradient
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", STATE_NAMES)
def test_loss_matches_oracle(ds, name):
    s = _state(name)
    m = _model(ds, s)
    L = m.loss(s["W"])
    assert isinstance(L, float)
    ref = nv.loss_closed_form(*_oracle_args(s))
    S, _ = _scales(s)
    assert abs(L - ref) <= LOSS_RTOL * abs(ref) + LOSS_ATOL * S * S, (L, ref)


@pytest.mark.parametrize("name", STATE_NAMES)
def test_grad_matches_oracle(ds, name):
    s = _state(name)
    m = _model(ds, s)
    G = m.grad(s["W"])
    assert G.shape == s["W"].shape
    ref = nv.grad_closed_form(*_oracle_args(s))
    assert _max_rel(G, ref, _scales(s)[1]) <= GRAD_RTOL


@pytest.mark.parametrize("name", NOT_TINY_NAMES)
def test_grad_matches_fd_of_library_loss(ds, name):
    s = _state(name)
    m = _model(ds, s)
    G = m.grad(s["W"])
    Gfd = _fd_grad_batched(m, s["W"], GRAD_FD_H)
    assert _max_rel(Gfd, G, _scales(s)[1]) <= GRAD_FD_RTOL


@pytest.mark.parametrize("name", ["generic", "mixed_signs", "residual_leaky", "near_collinear"])
def test_loss_and_grad_consistent(ds, name):
    s = _state(name)
    m = _model(ds, s)
    L, G = m.loss_and_grad(s["W"])
    assert L == m.loss(s["W"])
    np.testing.assert_array_equal(G, m.grad(s["W"]))


# ------------------------------------------------------------------------------------------------
# 3. Hessian
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", STATE_NAMES)
def test_hessian_symmetric_and_matches_oracle(ds, name):
    s = _state(name)
    m = _model(ds, s)
    H = m.hessian(s["W"])
    kd = s["W"].size
    assert H.shape == (kd, kd)
    scale = np.abs(H).max()
    assert np.abs(H - H.T).max() <= HESS_SYM_RTOL * scale
    ref = nv.hessian_closed_form(*_oracle_args(s))
    assert _max_rel(H, ref) <= HESS_RTOL


@pytest.mark.parametrize("name", SMOOTH_NAMES)
def test_hessian_matches_fd_of_library_grad(ds, name):
    s = _state(name)
    m = _model(ds, s)
    H = m.hessian(s["W"])
    Hfd = _fd_hessian_batched(m, s["W"], HESS_FD_H)
    assert _max_rel(Hfd, H) <= HESS_FD_RTOL


@pytest.mark.parametrize("name", KINK_NAMES)
def test_hessian_at_collinear_and_antiparallel_pairs(ds, name):
    """Rows 0 and 1 are collinear (theta = 0) or antiparallel (theta = pi): the pair block is the
    closed-form limit a_0 a_1 [(1+alpha^2) h2 + 2 alpha h2(w, -v)] with h2 = I/2 at 0 and 0 at pi;
    finite differences are only O(h) accurate there (docs/math.md section 2)."""
    s = _state(name)
    m = _model(ds, s)
    W = s["W"]
    d = W.shape[1]
    alpha = s["alpha"]
    a = np.ones(W.shape[0]) if s["a"] is None else s["a"]
    H = m.hessian(W)
    if W[1] @ W[0] > 0:
        limit = a[0] * a[1] * (1.0 + alpha ** 2) * 0.5 * np.eye(d)
    else:
        limit = a[0] * a[1] * 2.0 * alpha * 0.5 * np.eye(d)
    assert np.abs(H[0:d, d:2 * d] - limit).max() <= HESS_LIMIT_ATOL
    assert np.abs(H[d:2 * d, 0:d] - limit).max() <= HESS_LIMIT_ATOL
    errs = [np.abs(_fd_hessian_batched(m, W, h) - H).max() for h in HESS_KINK_H]
    assert errs[0] <= HESS_KINK_C * HESS_KINK_H[0] * np.abs(H).max(), errs
    assert errs[1] <= HESS_KINK_SHRINK * errs[0], errs


# ------------------------------------------------------------------------------------------------
# 4. Hessian-vector products
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["generic", "k2_ks4", "mixed_signs", "residual_leaky", "collinear",
                                  "near_antiparallel", "alpha1"])
def test_hvp_equals_hessian_times_vector(ds, name):
    s = _state(name)
    m = _model(ds, s)
    W = s["W"]
    rng = np.random.default_rng(5)
    V = rng.standard_normal(W.shape)
    H = m.hessian(W)
    Hv = m.hvp(W, V)
    assert Hv.shape == W.shape
    ref = (H @ V.ravel()).reshape(W.shape)
    assert np.linalg.norm(Hv - ref) <= HVP_RTOL * np.linalg.norm(H) * np.linalg.norm(V)
    # batched
    Wb = np.stack([W, W + 0.1 * rng.standard_normal(W.shape)])
    Vb = rng.standard_normal(Wb.shape)
    Hb = m.hessian(Wb)
    Hvb = m.hvp(Wb, Vb)
    for i in range(2):
        r = (Hb[i] @ Vb[i].ravel()).reshape(W.shape)
        assert np.linalg.norm(Hvb[i] - r) <= HVP_RTOL * np.linalg.norm(Hb[i]) * np.linalg.norm(Vb[i])


# ------------------------------------------------------------------------------------------------
# 5. Invariance under permutations of student rows
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["generic", "mixed_signs", "k3_ks2", "zero_top_weights",
                                  "collinear_leaky_mixed", "residual_leaky"])
def test_permutation_invariance(ds, name):
    """Relabelling the student's rows (with a relabelled alike) is the same network: the loss is
    unchanged and grad / Hessian are permuted, for every permutation of the 3 rows."""
    s = _state(name)
    W = s["W"]
    k, d = W.shape
    a = np.ones(k) if s["a"] is None else s["a"]
    m = _model(ds, s)
    L, G, H = m.loss(W), m.grad(W), m.hessian(W)
    U = s["U"]
    for perm in itertools.permutations(range(k)):
        perm = np.array(perm)
        if U is not None:
            # the residual is fixed per row and the teacher carries it too, so permute the
            # effective rows v = w + u (a = 1 here): W' = (W + U)[perm] - U, same model
            assert np.all(a == a[perm])
            Wp = (W + U)[perm] - U
            mp = m
        else:
            Wp = W[perm]
            mp = ds.TeacherStudent(s["W_star"], k=k, alpha=s["alpha"], a=a[perm], a_star=s["a_star"])
        Lp, Gp, Hp = mp.loss(Wp), mp.grad(Wp), mp.hessian(Wp)
        P = np.kron(np.eye(k)[perm], np.eye(d))
        assert abs(Lp - L) <= PERM_RTOL * abs(L)
        assert _max_rel(Gp, G[perm], _scales(s)[1]) <= PERM_RTOL
        assert _max_rel(Hp, P @ H @ P.T) <= PERM_RTOL


# ------------------------------------------------------------------------------------------------
# 6. Batches and backends
# ------------------------------------------------------------------------------------------------

def _batch(s, n=7, seed=11):
    rng = np.random.default_rng(seed)
    return s["W"][None] + 0.3 * rng.standard_normal((n,) + s["W"].shape)


@pytest.mark.parametrize("name", ["mixed_signs", "residual_leaky"])
def test_batch_equals_single_state(ds, name):
    s = _state(name)
    m = _model(ds, s)
    Wb = _batch(s)
    n = Wb.shape[0]
    L, G, H = m.loss(Wb), m.grad(Wb), m.hessian(Wb)
    ga = m.grad_a(Wb)
    assert L.shape == (n,) and G.shape == Wb.shape and H.shape == (n, Wb[0].size, Wb[0].size)
    assert ga.shape == (n, Wb.shape[1])
    LG_L, LG_G = m.loss_and_grad(Wb)
    np.testing.assert_array_equal(LG_L, L)
    np.testing.assert_array_equal(LG_G, G)
    for i in range(n):
        assert L[i] == m.loss(Wb[i])
        np.testing.assert_array_equal(G[i], m.grad(Wb[i]))
        np.testing.assert_array_equal(H[i], m.hessian(Wb[i]))
        np.testing.assert_array_equal(ga[i], m.grad_a(Wb[i]))


@pytest.mark.parametrize("name", ["mixed_signs", "collinear"])
def test_cpu_backend_equals_parallel_bitwise(ds, name):
    s = _state(name)
    m = _model(ds, s)
    Wb = _batch(s, n=9, seed=3)
    np.testing.assert_array_equal(m.loss(Wb, backend="cpu"), m.loss(Wb, backend="parallel"))
    np.testing.assert_array_equal(m.grad(Wb, backend="cpu"), m.grad(Wb, backend="parallel"))
    np.testing.assert_array_equal(m.hessian(Wb, backend="cpu"), m.hessian(Wb, backend="parallel"))
    np.testing.assert_array_equal(m.grad_a(Wb, backend="cpu"), m.grad_a(Wb, backend="parallel"))
    V = np.ones_like(Wb)
    np.testing.assert_array_equal(m.hvp(Wb, V, backend="cpu"), m.hvp(Wb, V, backend="parallel"))
    assert m.loss(Wb[0], backend="cpu") == m.loss(Wb[0])


def _wide_state(seed=5, k=7, ks=4, d=6, zero_teacher=False):
    """k != k*, wider than the catalogue's states, with a nearly parallel student pair and a student
    row nearly antiparallel to a teacher row (both take the atan2 form); optionally a zero teacher
    row (the model refuses one, the kernel must give it no weight)."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((k, d))
    W_star = rng.standard_normal((ks, d))
    W[1] = 1.7 * W[0] + 1e-9 * rng.standard_normal(d)
    W[2] = -0.8 * W_star[0] + 1e-10 * rng.standard_normal(d)
    if zero_teacher:
        W_star[-1] = 0.0
    return W, W_star, rng.standard_normal(k), rng.standard_normal(ks)


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_wide_state_matches_oracle(ds, alpha):
    W, W_star, a, a_star = _wide_state()
    m = ds.TeacherStudent(W_star, k=W.shape[0], alpha=alpha, a=a, a_star=a_star)
    s = dict(W=W, W_star=W_star, a=a, a_star=a_star, U=None)
    ref = nv.loss_closed_form(W, W_star, a, a_star, alpha)
    S, gscale = _scales(s)
    assert abs(m.loss(W) - ref) <= LOSS_RTOL * abs(ref) + LOSS_ATOL * S * S
    assert _max_rel(m.grad(W), nv.grad_closed_form(W, W_star, a, a_star, alpha), gscale) <= GRAD_RTOL


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_equal_rows_get_bitwise_equal_gradients(ds, alpha):
    """Two equal student rows with equal top weights are exchanged by a symmetry of the loss: their
    gradients agree bitwise, so a flow started on that subspace stays on it exactly."""
    rng = np.random.default_rng(8)
    W = rng.standard_normal((5, 4))
    W[3] = W[1]
    m = ds.TeacherStudent(rng.standard_normal((3, 4)), k=5, alpha=alpha)
    G = m.grad(W)
    np.testing.assert_array_equal(G[3], G[1])


def test_loss_grad_reads_no_stale_scratch(ds):
    """The scratch buffer's contents on entry (NaN here) never reach the result, with and without
    the gradient, at k > k*, k < k* and k = k* = 1."""
    from dynsys.systems.teacher_student import loss_grad, work_size

    for k, ks, d in ((7, 4, 6), (2, 5, 3), (1, 1, 2)):
        W, W_star, a, a_star = _wide_state(seed=k, k=k, ks=ks, d=d, zero_teacher=True) if k > 2 else (
            np.random.default_rng(k).standard_normal((k, d)), np.eye(ks, d), np.ones(k), np.ones(ks))
        tn = np.linalg.norm(W_star, axis=1)
        out = []
        for fill, want in ((0.0, True), (np.nan, True), (np.nan, False)):
            G = np.full((k, d), fill)
            work = np.full(work_size(k, ks, d), fill)
            L, st = loss_grad(W, W_star, tn, a, a_star, 0.1, 0.0, 1e-12, want, G, work)
            assert st == 0
            out.append((L, G))
        assert out[0][0] == out[1][0] == out[2][0]
        np.testing.assert_array_equal(out[0][1], out[1][1])


def test_zero_teacher_row_adds_nothing(ds):
    """A zero teacher row (refused by the model, reachable through the kernel) has no weight."""
    from dynsys.systems.teacher_student import loss_grad, work_size

    W, W_star, a, a_star = _wide_state(zero_teacher=True)
    k, d = W.shape
    res = []
    for T, s in ((W_star, a_star), (W_star[:-1], a_star[:-1])):
        G = np.empty((k, d))
        L, st = loss_grad(W, T, np.linalg.norm(T, axis=1), a, s, 0.2, 0.0, 1e-12, True, G,
                          np.empty(work_size(k, T.shape[0], d)))
        assert st == 0
        res.append((L, G))
    assert abs(res[0][0] - res[1][0]) <= 1e-14 * abs(res[1][0])
    assert _max_rel(res[0][1], res[1][1]) <= 1e-14


def test_return_status_ok(ds):
    s = _state("generic")
    m = _model(ds, s)
    Wb = _batch(s, n=4)
    L, st = m.loss(Wb, return_status=True)
    assert st.dtype == np.int8 and st.shape == (4,) and np.all(st == 0)
    np.testing.assert_array_equal(L, m.loss(Wb))
    L1, st1 = m.loss(s["W"], return_status=True)
    assert int(st1) == 0 and L1 == m.loss(s["W"])


# ------------------------------------------------------------------------------------------------
# 7. grad_a
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["generic", "k3_ks2", "k2_ks4", "alpha1", "mixed_signs",
                                  "residual_leaky", "collinear", "near_antiparallel", "at_teacher"])
def test_grad_a_matches_oracle(ds, name):
    s = _state(name)
    m = _model(ds, s)
    ga = m.grad_a(s["W"])
    ref = nv.grad_a_closed_form(*_oracle_args(s))
    assert ga.shape == (s["W"].shape[0],)
    S, _ = _scales(s)
    assert _max_rel(ga, ref, S * S) <= GRAD_A_RTOL


# ------------------------------------------------------------------------------------------------
# 8. Monte Carlo
# ------------------------------------------------------------------------------------------------

def test_monte_carlo_gaussian_matches_closed_form(ds):
    s = _state("mixed_signs")
    m = _model(ds, s)
    r = ds.monte_carlo(m, s["W"], MC_N_SAMPLES, sampler="gaussian", seed=3)
    assert r.n_samples == MC_N_SAMPLES
    ref = nv.loss_closed_form(*_oracle_args(s))
    assert r.loss_se > 0 and abs(r.loss - ref) <= MC_N_SE * r.loss_se
    gref = nv.grad_closed_form(*_oracle_args(s))
    assert r.grad.shape == s["W"].shape and r.grad_se.shape == s["W"].shape
    assert np.all(r.grad_se > 0)
    assert np.all(np.abs(r.grad - gref) <= MC_N_SE * r.grad_se)


def test_monte_carlo_uniform_and_callable(ds):
    s = _state("k3_ks2")
    m = _model(ds, s)
    r = ds.monte_carlo(m, s["W"], 50_000, sampler="uniform", seed=0)
    assert np.isfinite(r.loss) and r.loss_se > 0
    assert np.all(np.isfinite(r.grad)) and np.all(r.grad_se > 0)
    # against the oracle's own uniform estimate (independent streams)
    ref, ref_se = nv.loss_monte_carlo(*_oracle_args(s), n_samples=50_000, seed=99, sampler="uniform")
    assert abs(r.loss - ref) <= MC_N_SE * math.hypot(r.loss_se, ref_se)

    calls = []

    def gauss(rng, n, d):
        calls.append((n, d))
        return rng.standard_normal((n, d))

    rc = ds.monte_carlo(m, s["W"], 100_000, sampler=gauss, seed=4)
    assert calls and all(dd == s["W"].shape[1] for _, dd in calls)
    assert sum(nn for nn, _ in calls) >= 100_000
    exact = nv.loss_closed_form(*_oracle_args(s))
    assert abs(rc.loss - exact) <= MC_N_SE * rc.loss_se
    assert np.all(np.abs(rc.grad - nv.grad_closed_form(*_oracle_args(s))) <= MC_N_SE * rc.grad_se)


# ------------------------------------------------------------------------------------------------
# 9. Singular states
# ------------------------------------------------------------------------------------------------

def _singular_setup(ds, residual=False):
    s = _state("residual" if residual else "mixed_signs")
    m = _model(ds, s)
    W = s["W"].copy()
    if residual:
        W[2] = -s["U"][2]            # w_2 + u_2 = 0
    else:
        W[2] = 0.0
    return s, m, W


@pytest.mark.parametrize("residual", [False, True])
def test_singular_single_state_raises_naming_row(ds, residual):
    s, m, W = _singular_setup(ds, residual)
    for f in (m.loss, m.grad, m.hessian, m.grad_a, m.loss_and_grad):
        with pytest.raises(ValueError, match=r"\b2\b"):
            f(W)
    with pytest.raises(ValueError, match=r"\b2\b"):
        m.hvp(W, np.ones_like(W))


@pytest.mark.parametrize("residual", [False, True])
def test_singular_in_batch(ds, residual):
    s, m, W = _singular_setup(ds, residual)
    Wb = _batch(s, n=7)
    Wb[5] = W
    with pytest.raises(ValueError, match=r"\b5\b"):
        m.loss(Wb)
    with pytest.raises(ValueError, match=r"\b5\b"):
        m.grad(Wb)
    ok = np.arange(7) != 5
    L, st = m.loss(Wb, return_status=True)
    assert st.dtype == np.int8 and st[5] == 3 and np.all(st[ok] == 0)
    assert L[5] == 0.0
    np.testing.assert_array_equal(L[ok], m.loss(Wb[ok]))
    G, st = m.grad(Wb, return_status=True)
    assert st[5] == 3 and np.all(G[5] == 0.0)
    np.testing.assert_array_equal(G[ok], m.grad(Wb[ok]))
    H, st = m.hessian(Wb, return_status=True)
    assert st[5] == 3 and np.all(H[5] == 0.0)
    np.testing.assert_array_equal(H[ok], m.hessian(Wb[ok]))
    L1, st1 = m.loss(W, return_status=True)
    assert int(st1) == 3 and L1 == 0.0


@pytest.mark.parametrize("residual", [False, True])
def test_alpha_one_zero_row_is_fine(ds, residual):
    s = _state("residual" if residual else "mixed_signs")
    W = s["W"].copy()
    W[2] = -s["U"][2] if residual else 0.0
    m = ds.TeacherStudent(s["W_star"], k=3, alpha=1.0, a=s["a"], a_star=s["a_star"], residual=s["U"])
    args = (W, s["W_star"], s["a"], s["a_star"], s["U"])
    lin = nv.linear_loss(*args)
    assert abs(m.loss(W) - lin) <= LINEAR_RTOL * max(lin, 1.0)
    assert _max_rel(m.grad(W), nv.linear_grad(*args), 1.0) <= LINEAR_RTOL
    assert _max_rel(m.hessian(W), nv.linear_hessian(*args)) <= LINEAR_RTOL
    assert _max_rel(m.grad_a(W), nv.grad_a_closed_form(W, s["W_star"], s["a"], s["a_star"], 1.0, s["U"]),
                    1.0) <= GRAD_A_RTOL
    L, st = m.loss(W, return_status=True)
    assert int(st) == 0


# ------------------------------------------------------------------------------------------------
# 10. Bad input
# ------------------------------------------------------------------------------------------------

def _ws(k=3, d=4, seed=0):
    return np.random.default_rng(seed).standard_normal((k, d))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_inputs(ds, bad):
    Ws = _ws()
    Ws_bad = Ws.copy()
    Ws_bad[1, 2] = bad
    with pytest.raises(ValueError, match="W_star"):
        ds.TeacherStudent(Ws_bad)
    m = ds.TeacherStudent(Ws)
    W = _ws(seed=1)
    W[0, 1] = bad
    for f in (m.loss, m.grad, m.hessian):
        with pytest.raises(ValueError, match="W"):
            f(W)
    Wb = np.stack([_ws(seed=2), W, _ws(seed=3)])
    with pytest.raises(ValueError, match="W"):
        m.loss(Wb)


def test_nonfinite_in_batch_with_status(ds):
    """return_status=True: a state holding NaN / Inf gets status 4 (NONFINITE), zeroed values, and the
    other states are unaffected."""
    s = _state("mixed_signs")
    m = _model(ds, s)
    Wb = _batch(s, n=5)
    Wb[1, 0, 0] = np.nan
    Wb[3, 2, 1] = np.inf
    ok = np.array([True, False, True, False, True])
    L, st = m.loss(Wb, return_status=True)
    assert st.dtype == np.int8 and list(st) == [0, 4, 0, 4, 0]
    assert np.all(L[~ok] == 0.0)
    np.testing.assert_array_equal(L[ok], m.loss(Wb[ok]))
    G, st = m.grad(Wb, return_status=True)
    assert list(st) == [0, 4, 0, 4, 0] and np.all(G[~ok] == 0.0)
    np.testing.assert_array_equal(G[ok], m.grad(Wb[ok]))
    with pytest.raises(ValueError, match=r"W\[1\]"):
        m.loss(Wb)


def test_default_width_is_k_star(ds):
    Ws = _ws(k=2, d=4)
    m = ds.TeacherStudent(Ws)
    W = _ws(k=2, d=4, seed=5)
    assert m.loss(W) == ds.TeacherStudent(Ws, k=2).loss(W)
    with pytest.raises(ValueError, match="W"):
        m.loss(_ws(k=3, d=4))


def test_bad_shapes(ds):
    Ws = _ws()
    m = ds.TeacherStudent(Ws)
    with pytest.raises(ValueError, match="W"):
        m.loss(np.ones(4))                        # 1-D
    with pytest.raises(ValueError, match="W"):
        m.loss(np.ones((2, 2, 3, 4)))             # 4-D
    with pytest.raises(ValueError, match="W"):
        m.loss(np.ones((3, 5)))                   # d mismatch
    with pytest.raises(ValueError, match="W"):
        m.grad(np.ones((2, 3, 5)))                # d mismatch, batch
    with pytest.raises(ValueError, match="W_star"):
        ds.TeacherStudent(np.ones(4))             # 1-D teacher
    with pytest.raises(ValueError, match="W_star"):
        ds.TeacherStudent(np.ones((2, 3, 4)))     # 3-D teacher


def test_empty_arrays(ds):
    with pytest.raises(ValueError, match="W_star"):
        ds.TeacherStudent(np.ones((0, 4)))
    with pytest.raises(ValueError, match="W_star"):
        ds.TeacherStudent(np.ones((3, 0)))
    m = ds.TeacherStudent(_ws())
    with pytest.raises(ValueError, match="W"):
        m.loss(np.ones((0, 4)))                   # k = 0
    with pytest.raises(ValueError, match="W"):
        m.loss(np.ones((0, 3, 4)))                # n = 0


def test_dtypes(ds):
    Ws = _ws()
    m = ds.TeacherStudent(Ws)
    Wi = np.array([[1, 2, 0, -1], [0, 1, 1, 2], [3, -1, 0, 1]])
    assert m.loss(Wi) == m.loss(Wi.astype(float))           # integers: converted to float64
    np.testing.assert_array_equal(m.grad(Wi), m.grad(Wi.astype(float)))
    mi = ds.TeacherStudent(Wi)
    assert mi.loss(Ws) == ds.TeacherStudent(Wi.astype(float)).loss(Ws)
    with pytest.raises(TypeError, match="W"):
        m.loss(Ws.astype(complex))
    with pytest.raises(TypeError, match="W_star"):
        ds.TeacherStudent(Ws.astype(complex))


@pytest.mark.parametrize("alpha", [-0.1, 1.5, "a", float("nan"), float("inf")])
def test_bad_alpha(ds, alpha):
    with pytest.raises((ValueError, TypeError), match="alpha"):
        ds.TeacherStudent(_ws(), alpha=alpha)


def test_bad_top_weights(ds):
    Ws = _ws()
    with pytest.raises(ValueError, match=r"\ba\b"):
        ds.TeacherStudent(Ws, k=3, a=np.ones(2))
    with pytest.raises(ValueError, match="a_star"):
        ds.TeacherStudent(Ws, a_star=np.ones(4))
    with pytest.raises(ValueError, match=r"\ba\b"):
        ds.TeacherStudent(Ws, k=3, a=np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="a_star"):
        ds.TeacherStudent(Ws, a_star=np.array([1.0, np.inf, 1.0]))
    m = ds.TeacherStudent(Ws, k=3, a=np.ones(3))
    with pytest.raises(ValueError, match="W"):
        m.loss(_ws(k=2))                          # W's k does not match a


def test_bad_residual(ds):
    with pytest.raises(ValueError, match="residual"):
        ds.TeacherStudent(_ws(k=2, d=3), k=3, residual=np.eye(3))        # k != k_star
    with pytest.raises(ValueError, match="residual"):
        ds.TeacherStudent(_ws(k=3, d=3), residual=np.ones((3, 4)))       # wrong shape
    with pytest.raises(ValueError, match="residual"):
        ds.TeacherStudent(_ws(k=3, d=3), residual=np.full((3, 3), np.nan))


def test_bad_backend(ds):
    m = ds.TeacherStudent(_ws())
    W = _ws(seed=1)
    with pytest.raises(ValueError, match="backend"):
        m.loss(W, backend="gpu")
    with pytest.raises(ValueError, match="backend"):
        m.grad(W, backend=None)


def test_cuda_backend_without_gpu(ds):
    try:
        from numba import cuda
        have_gpu = cuda.is_available()
    except Exception:
        have_gpu = False
    if have_gpu:
        pytest.skip("a GPU is present: this test is for machines without one")
    m = ds.TeacherStudent(_ws())
    with pytest.raises((ValueError, RuntimeError), match=r"(?i)cuda|gpu"):
        m.loss(_ws(seed=1), backend="cuda")


def test_hvp_bad_vector(ds):
    m = ds.TeacherStudent(_ws())
    W = _ws(seed=1)
    with pytest.raises(ValueError, match=r"\bV\b"):
        m.hvp(W, np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"\bV\b"):
        m.hvp(W, np.ones(12 + 1))
    with pytest.raises(ValueError, match=r"\bV\b"):
        m.hvp(np.stack([W, W]), np.ones((3, 3, 4)))
    V = np.ones((3, 4))
    V[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"\bV\b"):
        m.hvp(W, V)


# ------------------------------------------------------------------------------------------------
# 11. alpha = 1: the linear model
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["alpha1", "mixed_signs", "k2_ks4", "residual", "collinear"])
def test_alpha_one_is_linear(ds, name):
    s = _state(name)
    W, Ws, U = s["W"], s["W_star"], s["U"]
    m = ds.TeacherStudent(Ws, k=W.shape[0], alpha=1.0, a=s["a"], a_star=s["a_star"], residual=U)
    args = (W, Ws, s["a"], s["a_star"], U)
    lin = nv.linear_loss(*args)
    S, _ = _scales(s)
    assert abs(m.loss(W) - lin) <= LINEAR_RTOL * max(lin, S * S)
    assert _max_rel(m.grad(W), nv.linear_grad(*args), _scales(s)[1]) <= LINEAR_RTOL
    assert _max_rel(m.hessian(W), nv.linear_hessian(*args)) <= LINEAR_RTOL
