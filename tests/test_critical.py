"""Critical points: batched Newton, classification, deduplication up to symmetry, toy systems.

Oracles: ``tests/naive_critical.py`` (a plain NumPy Newton, index/nullity from a dense Hessian, the
tangent vectors of the symmetry families, brute-force permutation matching) and ``tests/naive.py``
(closed-form gradient and Hessian). Known answers come from mathematics: the toys' critical points,
the symmetric saddle of docs/math.md section 3 (index (K-1)(d-1), nullity K-1), the teacher itself
(a global minimum, matched row by row), Theorem 2's nullity bound, quadratic convergence of Newton
(order 2), and Safran & Shamir (2018) for spurious minima (slow test).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import naive as nv
import naive_critical as nc

# ------------------------------------------------------------------------------------------------
# Tolerances
# ------------------------------------------------------------------------------------------------
ROOT_ATOL = 1e-10          # distance of a converged Newton root from the exact root (well conditioned)
GTOL_REPORTED = 1e-10      # every reported critical point has row-max gradient norm at most this
HESS_SYM_ATOL = 1e-13      # |H - H^T| relative to max |H|
ORDER_MIN = 1.8            # observed order of convergence near a nondegenerate root (2 in theory)
EIG_MATCH_RTOL = 1e-8      # Lanczos vs dense eigenvalues, relative to max |lambda|
SPECTRUM_RTOL = 1e-9       # spectra of symmetric images, relative to max |lambda|


@pytest.fixture(scope="module")
def ds():
    import dynsys

    return dynsys


@pytest.fixture(scope="module")
def crit():
    import dynsys.critical

    return dynsys.critical


@pytest.fixture(scope="module")
def toys():
    from dynsys.systems import toys

    return toys


def x_s(K):
    """docs/math.md section 3: the symmetric saddle's coordinate on the diagonal."""
    return (math.sqrt(K - 1) - math.acos(1.0 / math.sqrt(K)) + math.pi) / (math.pi * K)


def symmetric_saddle(K, d):
    W_star = np.eye(K, d)
    return W_star, np.tile(x_s(K) * W_star.sum(axis=0), (K, 1))


def order_of_convergence(errors):
    """Estimates log(e_{n+1}/e_n) / log(e_n/e_{n-1}) over consecutive triples above roundoff."""
    e = [x for x in errors if x > 1e-13]
    return [math.log(e[i + 1] / e[i]) / math.log(e[i] / e[i - 1]) for i in range(1, len(e) - 1)]


# ------------------------------------------------------------------------------------------------
# Toy systems
# ------------------------------------------------------------------------------------------------

def test_toys_gradient_and_hessian_match_finite_differences(toys):
    rng = np.random.default_rng(0)
    for toy in (toys.DoubleWell(), toys.QuadraticSaddle(), toys.RingOfMinima()):
        for x in rng.uniform(-1.5, 1.5, (4, 2)):
            g = toy.grad(x)
            h = 1e-6
            fd = np.array([(toy.loss(x + h * e) - toy.loss(x - h * e)) / (2 * h) for e in np.eye(2)])
            np.testing.assert_allclose(g, fd, atol=1e-7)
            H = toy.hessian(x)
            fdH = np.array([(toy.grad(x + h * e) - toy.grad(x - h * e)) / (2 * h) for e in np.eye(2)]).T
            np.testing.assert_allclose(H, fdH, atol=1e-6)
            assert np.array_equal(H, H.T)


def test_toys_newton_finds_known_roots_with_known_indices(crit, toys):
    rng = np.random.default_rng(1)
    for toy in (toys.DoubleWell(), toys.QuadraticSaddle(), toys.RingOfMinima()):
        for root, index, nullity in toy.critical_points:
            seeds = root + 0.05 * rng.standard_normal((5, 2))
            res = crit.refine(toy, seeds)
            assert np.all(res.status == 0)
            for x in res.W:
                if toy.code == toys.RING_OF_MINIMA and index == 0:
                    assert abs(np.linalg.norm(x) - 1.0) <= ROOT_ATOL  # somewhere on the circle
                else:
                    np.testing.assert_allclose(x, root, atol=ROOT_ATOL)
                cp = crit.classify(toy, x, refine=False)
                assert (cp.morse_index, cp.nullity) == (index, nullity)
                assert cp.nullity == cp.nullity_expected
                assert cp.kind == ("saddle" if index > 0 else "global_minimum")


def test_ring_seed_with_singular_hessian_stalls_at_once(crit, toys):
    ring = toys.RingOfMinima()
    x0 = np.array([ring.singular_radius, 0.0])
    # the Hessian there is singular along the gradient: H g = 0 (see the module docstring)
    assert abs(ring.hessian(x0) @ ring.grad(x0)).max() < 1e-14
    res = crit.refine(ring, x0, max_steps=10**6)
    assert res.status.name == "STALLED"
    assert res.steps == 0 and res.residual > 1.0
    cp = crit.classify(ring, x0)
    assert cp.kind == "not_critical" and cp.status.name == "STALLED"


def test_newton_quadratic_convergence_double_well(crit, toys):
    """Newton on grad f = (4x^3 - 4x, 2y) from (1.1, 0.05): e_{n+1} / e_n^2 -> F''/(2F') = 24/16."""
    dw = toys.DoubleWell()
    x0 = np.array([1.1, 0.05])
    errs = []
    for n in range(8):
        r = crit.refine(dw, x0, max_steps=n, chord_steps=0)
        errs.append(float(np.max(np.abs(r.W - [1.0, 0.0]))))
        if r.status.name == "CONVERGED":
            break
    assert errs[-1] <= ROOT_ATOL
    ratios = [errs[i + 1] / errs[i] ** 2 for i in range(1, len(errs) - 1) if errs[i + 1] > 1e-14]
    assert ratios and all(abs(q - 1.5) <= 0.5 for q in ratios), ratios
    assert all(p >= ORDER_MIN for p in order_of_convergence(errs[1:]))


def test_newton_quadratic_convergence_teacher(crit, ds):
    m = ds.TeacherStudent(np.eye(3))
    rng = np.random.default_rng(2)
    W0 = np.eye(3) + 0.03 * rng.standard_normal((3, 3))
    errs = []
    for n in range(10):
        r = crit.refine(m, W0, max_steps=n, chord_steps=0)
        errs.append(float(np.max(np.abs(r.W - np.eye(3)))))
        if r.status.name == "CONVERGED":
            break
    assert errs[-1] <= ROOT_ATOL
    orders = order_of_convergence(errs)
    assert orders and min(orders) >= ORDER_MIN, (errs, orders)


def test_newton_matches_reference_implementation(crit, ds):
    """Endpoints of the kernel's Newton and a plain NumPy Newton on the closed-form oracles agree."""
    W_star = np.array([[1.0, 0.2, 0.0], [0.1, 1.0, 0.3]])
    m = ds.TeacherStudent(W_star)
    rng = np.random.default_rng(3)
    for _ in range(3):
        W0 = W_star + 0.05 * rng.standard_normal(W_star.shape)
        ref, hist = nc.newton_reference(lambda W: nv.grad_closed_form(W, W_star),
                                        lambda W: nv.hessian_closed_form(W, W_star), W0)
        r = crit.refine(m, W0)
        assert r.status.name == "CONVERGED" and hist[-1] <= 1e-12
        np.testing.assert_allclose(r.W, ref, atol=ROOT_ATOL)


# ------------------------------------------------------------------------------------------------
# Classification of known points
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("K,d", [(2, 2), (3, 3), (5, 5), (10, 10), (3, 5), (5, 7)])
def test_symmetric_saddle_index_and_nullity(crit, ds, K, d):
    """docs/math.md section 3: index (K-1)(d-1), nullity K-1 (mass moves between the K coincident rows)."""
    W_star, W = symmetric_saddle(K, d)
    m = ds.TeacherStudent(W_star)
    for refine in (False, True):
        cp = crit.classify(m, W, refine=refine)
        assert cp.kind == "saddle"
        assert cp.morse_index == (K - 1) * (d - 1)
        assert cp.nullity == K - 1
        assert cp.nullity_expected == K - 1
        assert cp.grad_norm <= 1e-14
        if refine:
            assert cp.refined and np.max(np.abs(cp.W - W)) <= 1e-14  # an exact critical point: no drift
    # the null directions are the mass-exchange tangents (naive oracle)
    T = nc.symmetry_tangents(W, W_star)
    assert nc.tangent_rank(T) == K - 1
    H = m.hessian(W)
    assert np.max(np.abs(T @ H)) <= 1e-12 * np.max(np.abs(H))


def test_teacher_from_nearby_seeds_is_global_minimum(crit, ds):
    m = ds.TeacherStudent(np.eye(4))
    rng = np.random.default_rng(4)
    for _ in range(3):
        cp = crit.classify(m, np.eye(4) + 0.05 * rng.standard_normal((4, 4)))
        assert cp.kind == "global_minimum"
        assert cp.grad_norm <= 1e-12
        assert cp.grad_norm_before > cp.grad_norm and cp.refined
        assert list(cp.permutation) == [0, 1, 2, 3]
        assert cp.loss <= cp.loss_tol
        assert cp.morse_index == 0 and cp.nullity == 0 and cp.lambda_min > 0
        np.testing.assert_allclose(cp.W, np.eye(4), atol=ROOT_ATOL)


def test_permuted_teacher_gives_its_permutation(crit, ds):
    rng = np.random.default_rng(5)
    W_star = rng.standard_normal((4, 5))
    m = ds.TeacherStudent(W_star)
    perm = np.array([2, 0, 3, 1])
    cp = crit.classify(m, W_star[perm] + 1e-3 * rng.standard_normal((4, 5)))
    assert cp.kind == "global_minimum"
    assert np.array_equal(cp.permutation, perm)


def test_split_teacher_row_k3_kstar2(crit, ds):
    """k = 3 > k* = 2: one teacher row split between two parallel student rows (any split c)."""
    m = ds.TeacherStudent(np.eye(2, 3), k=3)
    W = np.array([[0.3, 0.0, 0.0], [0.7, 0.0, 0.0], [0.0, 1.0, 0.0]])
    cp = crit.classify(m, W)
    assert cp.kind == "global_minimum"
    assert list(cp.permutation) == [0, 0, 1]
    assert cp.nullity_expected == 1
    assert cp.nullity >= cp.nullity_expected
    np.testing.assert_allclose(cp.W, W, atol=1e-14)
    T = nc.symmetry_tangents(W, m.W_star)
    assert nc.tangent_rank(T) == 1
    H = m.hessian(W)
    assert np.max(np.abs(T @ H)) <= 1e-12
    # slightly off the family, Newton comes back to it (near where it started)
    rng = np.random.default_rng(6)
    cp2 = crit.classify(m, W + 1e-4 * rng.standard_normal(W.shape))
    assert cp2.kind == "global_minimum" and cp2.nullity_expected == 1
    assert np.max(np.abs(cp2.W - W)) <= 1e-3


def test_leaky_slope_teacher(crit, ds):
    m = ds.TeacherStudent(np.eye(3), alpha=0.1)
    rng = np.random.default_rng(7)
    perm = [1, 2, 0]
    cp = crit.classify(m, np.eye(3)[perm] + 0.03 * rng.standard_normal((3, 3)))
    assert cp.kind == "global_minimum" and cp.grad_norm <= 1e-12
    assert list(cp.permutation) == perm


def test_non_realisable_minima_are_minima_not_spurious(crit, ds):
    """a* = (1, -1) with a = (1, 1): no zero-loss point; index-0 points are 'minimum'."""
    m = ds.TeacherStudent(np.eye(2, 3), a_star=[1.0, -1.0])
    assert not m.realisable
    rng = np.random.default_rng(8)
    W = rng.standard_normal((6, 2, 3))
    for _ in range(2000):
        W -= 0.2 * m.grad(W)
    cs = crit.find_critical_points(m, W)
    assert len(cs) >= 1
    for p in cs:
        assert p.kind in ("minimum", "saddle", "degenerate")
        assert p.kind not in ("spurious_minimum", "global_minimum")
        assert p.loss > p.loss_tol
    assert any(p.kind == "minimum" for p in cs)
    # the minima found lie on one family (parallel rows): merged when asked
    merged = crit.find_critical_points(m, W, merge_parallel=True)
    assert len(merged) <= len(cs)
    assert sum(p.kind == "minimum" for p in merged) == 1


def test_random_point_without_refinement_is_not_critical(crit, ds):
    m = ds.TeacherStudent(np.eye(3))
    W = np.random.default_rng(9).standard_normal((3, 3))
    cp = crit.classify(m, W, refine=False)
    assert cp.kind == "not_critical"
    assert not cp.refined and cp.status.name == "MAX_STEPS"
    assert cp.grad_norm > cp.gtol and cp.grad_norm == cp.grad_norm_before
    np.testing.assert_array_equal(cp.W, W)


def test_lanczos_eigenvalues_match_dense(crit, ds):
    W_star, W = symmetric_saddle(3, 6)
    m = ds.TeacherStudent(W_star)
    for point in (W, W_star):
        dense = crit.classify(m, point, refine=False, eig_method="dense")
        lz = crit.classify(m, point, refine=False, eig_method="lanczos", n_eig=12)
        assert dense.eig_complete and not lz.eig_complete
        scale = np.max(np.abs(dense.eigvals))
        np.testing.assert_allclose(lz.eigvals[:12], dense.eigvals[:12], atol=EIG_MATCH_RTOL * scale)
        assert lz.eigvals[-1] == pytest.approx(dense.eigvals[-1], abs=EIG_MATCH_RTOL * scale)
        assert lz.kind == dense.kind and lz.nullity == dense.nullity
        assert lz.morse_index == min(dense.morse_index, 12)


# ------------------------------------------------------------------------------------------------
# Symmetry
# ------------------------------------------------------------------------------------------------

def test_hessian_symmetric_and_index_invariant_under_PWQ(crit, ds):
    """W* = I: W -> P W Q^T maps critical points to critical points with the same spectrum."""
    m = ds.TeacherStudent(np.eye(4))
    rng = np.random.default_rng(10)
    cs = crit.find_critical_points(m, rng.standard_normal((30, 4, 4)) / 2)
    assert len(cs) >= 3
    for p in list(cs)[:4]:
        H = m.hessian(p.W)
        assert np.max(np.abs(H - H.T)) <= HESS_SYM_ATOL * np.max(np.abs(H))
        for _ in range(2):
            P = np.eye(4)[rng.permutation(4)]
            Q = np.eye(4)[rng.permutation(4)]
            q = crit.classify(m, P @ p.W @ Q.T, refine=False)
            assert (q.kind, q.morse_index, q.nullity) == (p.kind, p.morse_index, p.nullity)
            scale = np.max(np.abs(p.eigvals))
            np.testing.assert_allclose(q.eigvals, p.eigvals, atol=SPECTRUM_RTOL * scale)
            assert crit.same_point(m, p.W, P @ p.W @ Q.T)


def test_dedup_merges_permuted_copies_and_counts_seeds(crit, ds):
    m = ds.TeacherStudent(np.eye(3))
    _, saddle = symmetric_saddle(3, 3)
    rng = np.random.default_rng(11)
    seeds = []
    for i in range(8):
        P = np.eye(3)[rng.permutation(3)]
        Q = np.eye(3)[rng.permutation(3)]
        base = np.eye(3) if i % 2 == 0 else saddle
        seeds.append(P @ base @ Q.T + 1e-7 * rng.standard_normal((3, 3)))
    seeds.append(np.zeros((3, 3)))  # a singular seed
    cs = crit.find_critical_points(m, np.array(seeds))
    assert len(cs) == 2
    assert [p.kind for p in cs] == ["global_minimum", "saddle"]
    assert list(cs.counts) == [4, 4]
    assert list(cs.seed_index) == [0, 1]
    assert list(cs.labels) == [0, 1, 0, 1, 0, 1, 0, 1, -1]
    assert cs.status[-1] == ds.Status.SINGULAR and math.isnan(cs.residual[-1])
    assert all(p.grad_norm <= GTOL_REPORTED for p in cs)
    assert "global_minimum" in cs.summary() and len(cs.points) == 2 and cs[1] is cs.points[1]


def test_same_point_agrees_with_bruteforce_permutations(crit, ds):
    """W* = I_3: invariants identify P W Q^T copies exactly like an enumeration of all 36 pairs."""
    m = ds.TeacherStudent(np.eye(3))
    rng = np.random.default_rng(12)
    cs = crit.find_critical_points(m, rng.standard_normal((40, 3, 3)) / 2)
    pts = [p.W for p in cs][:6]
    assert len(pts) >= 3
    imgs = [np.eye(3)[rng.permutation(3)] @ W @ np.eye(3)[rng.permutation(3)].T for W in pts]
    for i, A in enumerate(pts):
        for j, B in enumerate(imgs):
            assert crit.same_point(m, A, B) == nc.same_point_bruteforce(A, B, 1e-6) == (i == j)


def test_nullity_expected_matches_tangent_space_oracle(crit, ds):
    """Theorem 2 formula vs the rank of the symmetry tangents, including rotations (k* < d)."""
    rng = np.random.default_rng(13)
    m = ds.TeacherStudent(np.eye(2, 5), k=3)
    for _ in range(5):
        W = rng.standard_normal((3, 5))
        W[1] = 2.5 * W[0]  # one parallel pair
        expect = nc.tangent_rank(nc.symmetry_tangents(W, m.W_star))
        assert crit.nullity_expected(m, W) == expect
    # p = 3 rows outside span(W*) in m = 3 free dimensions: 3*3 - 6 = 3
    W = rng.standard_normal((3, 5))
    assert crit.nullity_expected(m, W) == 3 == nc.tangent_rank(nc.symmetry_tangents(W, m.W_star))


def test_critical_points_with_continuous_symmetry(crit, ds):
    """k* < d: at every critical point found, the Hessian annihilates the symmetry tangents and the
    measured nullity is at least what symmetry explains (Theorem 2)."""
    m = ds.TeacherStudent(np.eye(2, 4), k=3)
    rng = np.random.default_rng(14)
    cs = crit.find_critical_points(m, rng.standard_normal((40, 3, 4)))
    assert len(cs) >= 2
    for p in cs:
        assert p.grad_norm <= GTOL_REPORTED
        if min(p.row_norms) < 1e-6 * max(p.row_norms):
            continue  # a nearly dead row: next to the singular set, the Hessian blows up there
        T = nc.symmetry_tangents(p.W, m.W_star)
        assert nc.tangent_rank(T) == p.nullity_expected
        H = m.hessian(p.W)
        if len(T):
            assert np.max(np.abs(T @ H)) <= 1e-6 * np.max(np.abs(H)) * np.max(np.abs(T))
        assert p.nullity >= p.nullity_expected or p.kind == "saddle"


# ------------------------------------------------------------------------------------------------
# Batches, statuses, deflation
# ------------------------------------------------------------------------------------------------

def test_batch_is_deterministic_and_thread_independent(crit, ds):
    m = ds.TeacherStudent(np.eye(3))
    S = np.random.default_rng(15).standard_normal((24, 3, 3))
    a = crit.refine(m, S)
    b = crit.refine(m, S, backend="cpu")
    c = crit.refine(m, S[::-1])
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.W, c.W[::-1])


def test_singular_and_hopeless_seeds_get_statuses(crit, ds):
    m = ds.TeacherStudent(np.eye(3))
    S = np.random.default_rng(16).standard_normal((4, 3, 3))
    S[1, 2] = 0.0  # a zero row: the field is undefined
    r = crit.refine(m, S, max_steps=1)
    assert r.status[1] == ds.Status.SINGULAR and math.isnan(r.residual[1])
    assert set(r.status[[0, 2, 3]]) <= {ds.Status.CONVERGED, ds.Status.MAX_STEPS}
    assert np.all(r.steps <= 1)
    cp = crit.classify(m, S[1])
    assert cp.kind == "singular" and cp.status == ds.Status.SINGULAR and cp.morse_index == -1


def test_nonmonotone_search_finds_more_roots_from_random_seeds(crit, ds):
    # dynsys.config.NEWTON_NONMONOTONE: the monotone Armijo rule crawls along curved valleys of
    # |grad|^2 and gives up (STALLED); memory 2 reaches about twice as many roots here (88 against
    # 45 when written; 2.7x roots per second over 400 other seeds).
    k = 8
    m = ds.TeacherStudent(np.eye(k))
    S = np.random.default_rng(7).standard_normal((120, k, k)) / math.sqrt(k)
    mono = crit.refine(m, S, nonmonotone=0)
    nonmono = crit.refine(m, S)
    n_mono = int(np.sum(mono.status == ds.Status.CONVERGED))
    n_non = int(np.sum(nonmono.status == ds.Status.CONVERGED))
    assert n_non >= 1.5 * n_mono > 0
    for r in (mono, nonmono):
        ok = r.status == ds.Status.CONVERGED
        G = m.grad(r.W[ok])
        assert np.sqrt(np.max(np.sum(G * G, axis=-1), axis=-1)).max() <= r.gtol  # every one a root
        assert set(np.unique(r.status)) <= {ds.Status.CONVERGED, ds.Status.STALLED, ds.Status.MAX_STEPS}


def test_deflation_finds_more_roots_from_one_seed(crit, toys):
    dw = toys.DoubleWell()
    plain = crit.find_critical_points(dw, np.array([[0.9, 0.1]]))
    assert len(plain) == 1
    defl = crit.find_critical_points(dw, np.array([[0.9, 0.1]]), deflation=2)
    assert len(defl) >= 2
    found = {tuple(np.round(p.W, 8)) for p in defl}
    assert found <= {(1.0, 0.0), (-1.0, 0.0), (0.0, 0.0)}
    assert list(defl.labels) == [0] and np.all(defl.counts == 1)


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------

def test_bad_input_errors_name_the_argument(crit, ds):
    m = ds.TeacherStudent(np.eye(3))
    W = np.eye(3)
    cases = [
        (lambda: crit.classify(m, W, eig_rtol=0.0), ValueError, "eig_rtol"),
        (lambda: crit.classify(m, W, eig_rtol=1.0), ValueError, "eig_rtol"),
        (lambda: crit.classify(m, W, loss_rtol=-1e-3), ValueError, "loss_rtol"),
        (lambda: crit.classify(m, W, gtol=0.0), ValueError, "gtol"),
        (lambda: crit.classify(m, W, gtol=float("nan")), ValueError, "gtol"),
        (lambda: crit.classify(m, W, refine="yes"), TypeError, "refine"),
        (lambda: crit.classify(m, W, eig_method="qr"), ValueError, "eig_method"),
        (lambda: crit.classify(m, np.eye(4)), ValueError, "W"),
        (lambda: crit.classify(m, np.ones((2, 3, 3))), ValueError, "W"),
        (lambda: crit.classify(m, np.full((3, 3), np.inf)), ValueError, "W"),
        (lambda: crit.classify("model", W), TypeError, "model"),
        (lambda: crit.refine(m, np.ones((2, 3, 4))), ValueError, "seeds"),
        (lambda: crit.refine(m, np.zeros((0, 3, 3))), ValueError, "seeds"),
        (lambda: crit.refine(m, [[[1.0, np.nan, 0.0]] * 3]), ValueError, "seeds"),
        (lambda: crit.refine(m, W, gtol=-1.0), ValueError, "gtol"),
        (lambda: crit.refine(m, W, max_steps=-1), ValueError, "max_steps"),
        (lambda: crit.refine(m, W, stall_factor=1.5), ValueError, "stall_factor"),
        (lambda: crit.refine(m, W, nonmonotone=-1), ValueError, "nonmonotone"),
        (lambda: crit.refine(m, W, nonmonotone=31, stall_window=30), ValueError, "nonmonotone"),
        (lambda: crit.refine(m, W, backend="cuda"), ValueError, "backend"),
        (lambda: crit.find_critical_points(m, W[None], method="bisection"), ValueError, "method"),
        (lambda: crit.find_critical_points(m, W[None], dedup_tol=0.0), ValueError, "dedup_tol"),
        (lambda: crit.find_critical_points(m, W[None], deflation=-1), ValueError, "deflation"),
        (lambda: crit.same_point(m, W, W, tol=0.0), ValueError, "tol"),
        (lambda: crit.nullity_expected(m, W, parallel_atol=0.0), ValueError, "parallel_atol"),
    ]
    for fn, exc, name in cases:
        with pytest.raises(exc, match=name):
            fn()


def test_results_are_frozen(crit, ds):
    m = ds.TeacherStudent(np.eye(2))
    cp = crit.classify(m, np.eye(2))
    with pytest.raises(Exception):
        cp.kind = "saddle"
    with pytest.raises(ValueError):
        cp.W[0, 0] = 3.0
    assert isinstance(cp.kind, str) and "global_minimum" in repr(cp)


# ------------------------------------------------------------------------------------------------
# Slow: a spurious minimum (Safran & Shamir 2018)
# ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_spurious_minimum_from_gradient_descent(crit, ds):
    """W* = I_8, k = 8: gradient descent from Xavier starts ends in a spurious local minimum in a few
    percent to tens of percent of runs (Safran & Shamir 2018, Table 1); classify it."""
    K = 8
    m = ds.TeacherStudent(np.eye(K))
    rng = np.random.default_rng(2018)
    W = rng.standard_normal((60, K, K)) / math.sqrt(K)
    for _ in range(4000):
        W -= 0.5 * m.grad(W)
    L = m.loss(W)
    bad = np.flatnonzero(L > 1e-6)
    assert bad.size >= 1
    cp = crit.classify(m, W[bad[0]])
    assert cp.kind == "spurious_minimum"
    assert cp.morse_index == 0 and cp.nullity == 0 == cp.nullity_expected
    assert cp.grad_norm <= GTOL_REPORTED
    assert cp.loss > cp.loss_tol
    assert 0.0 < cp.lambda_min < 0.1 * cp.lambda_max  # positive but small
