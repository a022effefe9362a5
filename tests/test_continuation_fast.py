"""The compiled continuation step: the same branches as the general path, its Bunch-Kaufman inertia
against numpy's eigvalsh, and which path runs when."""

import numpy as np
import pytest

import dynsys
from dynsys import backends, families
from dynsys.continuation import continuation
from dynsys.kernels import ldl
from dynsys.theory.k2_saddles import k2_equal_norm_threshold, k2_saddle_families

from naive_bunch_kaufman import bunch_kaufman
from test_continuation import SCurve


# ------------------------------------------------------------------ Bunch-Kaufman inertia
def _symmetric(rng, n, kind):
    """A random symmetric matrix: full rank, low rank (exactly singular), or with a cluster of
    eigenvalues at zero and near zero (1e-13 relative)."""
    if kind == 0:
        A = rng.standard_normal((n, n))
        return A + A.T
    if kind == 1:
        r = int(rng.integers(0, n))
        B = rng.standard_normal((n, r))
        return B @ np.diag(rng.choice([-1.0, 1.0], r)) @ B.T
    lam = rng.standard_normal(n)
    lam[: n // 3] = 0.0
    lam[n // 3: n // 2] *= 1e-13
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    S = Q @ np.diag(lam) @ Q.T
    return 0.5 * (S + S.T)


def test_bunch_kaufman_inertia_against_eigvalsh():
    rng = np.random.default_rng(3)
    for trial in range(240):
        n = int(rng.integers(1, 25))
        S = _symmetric(rng, n, trial % 3)
        w = np.linalg.eigvalsh(S)
        # a shift well away from every eigenvalue (the inertia is then exact in floating point)
        scale = max(1.0, float(np.max(np.abs(w))))
        for tau in (1e-6 * scale, -1e-6 * scale, 0.37 * scale):
            gap = np.min(np.abs(w + tau))
            if gap < 1e-9 * scale:
                continue
            neg, zero = backends.inertia(S, tau)
            assert zero == 0
            assert neg == int(np.sum(w + tau < 0.0)), (n, trial, tau)


def test_bunch_kaufman_pivots_and_solve():
    rng = np.random.default_rng(4)
    # 2x2 pivots are forced by a zero diagonal
    S = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    assert backends.inertia(S) == (int(np.sum(np.linalg.eigvalsh(S) < 0)), 0)
    assert backends.inertia(np.zeros((4, 4))) == (0, 4)
    for n in (1, 2, 7, 30):
        S = _symmetric(rng, n, 0)
        F = np.triu(S).copy()
        perm = np.empty(n, dtype=np.int64)
        blk = np.empty(n, dtype=np.int64)
        ldl.bk_factor(F, perm, blk, n)
        b = rng.standard_normal(n)
        x = b.copy()
        ldl.bk_solve(F, perm, blk, x, np.empty(n), n)
        assert np.linalg.norm(S @ x - b) <= 1e-10 * np.linalg.cond(S) * np.linalg.norm(b)


def _factor(S, lower=0.0):
    """The compiled factor of ``S`` with ``lower`` filling F's strict lower triangle (scratch to the
    factorisation: NaN there must not matter)."""
    n = S.shape[0]
    F = np.triu(S) + np.tril(np.full((n, n), lower), -1)
    perm = np.empty(n, dtype=np.int64)
    blk = np.empty(n, dtype=np.int64)
    nneg, nzero = ldl.bk_factor(F, perm, blk, n)
    return F, perm, blk, nneg, nzero


def _indefinite(rng, n):
    """Symmetric, indefinite, diagonal zero: most pivots are 2x2 blocks."""
    A = rng.standard_normal((n, n))
    S = A + A.T
    np.fill_diagonal(S, 0.0)
    return S


def test_bunch_kaufman_pivots_against_oracle():
    # the same pivot decisions as LAPACK dsytf2's rules applied right-looking in NumPy, over several
    # panels of the compiled factor (n > BK_PANEL) and at their edges
    rng = np.random.default_rng(11)
    for n in (1, 2, 3, 7, 8, 9, 17, 40, 100):
        A = rng.standard_normal((n, n))
        Z = A + A.T
        Z[n // 3: n // 2] = 0.0  # exactly zero rows and columns: zero pivots inside a panel
        Z[:, n // 3: n // 2] = 0.0
        for S in (A + A.T, A @ A.T + n * np.eye(n), _indefinite(rng, n), Z):
            F, perm, blk, nneg, nzero = _factor(S, lower=np.nan)
            P, B, nn, nz, L, D = bunch_kaufman(S)
            assert np.array_equal(perm, P) and np.array_equal(blk, B), n
            assert (nneg, nzero) == (nn, nz)
            w = np.linalg.eigvalsh(S)
            assert nneg == int(np.sum(w < -1e-9 * n)) and nzero == int(np.sum(np.abs(w) <= 1e-9 * n))
            # the factor in its documented layout
            Lk = np.eye(n)
            Dk = np.zeros((n, n))
            k = 0
            while k < n:
                e = k + blk[k]
                Dk[k:e, k:e] = np.triu(F[k:e, k:e]) + np.triu(F[k:e, k:e], 1).T
                Lk[e:, k:e] = F[k:e, e:].T
                k = e
            assert np.allclose(Lk, L, atol=1e-10) and np.allclose(Dk, D, atol=1e-10 * n)
            assert np.allclose(Lk @ Dk @ Lk.T, S[perm][:, perm], atol=1e-10 * n)


def test_bunch_kaufman_solve_many_against_numpy_and_solve():
    rng = np.random.default_rng(12)
    for n in (1, 2, 3, 7, 100):
        S = _indefinite(rng, n) if n > 1 else np.array([[-0.7]])
        F, perm, blk, _, nzero = _factor(S, lower=np.nan)
        assert nzero == 0 and (n == 1 or np.any(blk == 2))
        for q in (1, 5):
            B = rng.standard_normal((q, n))
            X = B.copy()
            ldl.bk_solve_many(F, perm, blk, X, np.empty((q, n)), n, q)
            X1 = B.copy()
            for a in range(q):
                ldl.bk_solve(F, perm, blk, X1[a], np.empty(n), n)
            assert np.allclose(X, X1, rtol=0.0, atol=1e-13 * np.max(np.abs(X1)))
            Xn = np.linalg.solve(S, B.T).T
            assert np.allclose(X, Xn, rtol=0.0, atol=1e-13 * np.linalg.cond(S) * np.max(np.abs(Xn)))


def test_spectrum_nearest_zero_against_eigh():
    rng = np.random.default_rng(5)
    n = 40
    lam = np.concatenate([[0.0, 0.0, -1e-3, 2e-3], rng.uniform(0.5, 3.0, n - 4) * rng.choice([-1, 1], n - 4)])
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    H = Q @ np.diag(lam) @ Q.T
    H = 0.5 * (H + H.T)
    index, nullity, tol, lam_max, mu, vecs, _, _ = backends.spectrum_near_zero(
        H, 1e-8, rng.standard_normal((n, 4)), np.ones(n) / np.sqrt(n), 12, 6)
    w = np.linalg.eigvalsh(H)
    assert index == int(np.sum(w < -tol)) and nullity == 2
    assert np.allclose(np.sort(mu), np.sort(w[np.argsort(np.abs(w))[:4]]), atol=1e-10)
    assert np.allclose(H @ vecs, vecs * mu, atol=1e-8)


# ------------------------------------------------------------------ the bordered system on the factor
def _bordered(A, b, N, c, cp):
    """The bordered matrix ``[[A, b, N], [N^T, 0, 0], [c^T, cp, 0]]`` written out (the oracle)."""
    n, m = N.shape
    J = np.zeros((n + m + 1, n + m + 1))
    J[:n, :n] = A
    J[:n, n] = b
    J[:n, n + 1:] = N
    J[n:n + m, :n] = N.T
    J[n + m, :n] = c
    J[n + m, n] = cp
    return J


@pytest.mark.parametrize("m", [0, 1, 3])
def test_chord_solve_is_the_bordered_solve(m):
    rng = np.random.default_rng(10 + m)
    n = 12
    for trial in range(20):
        H = _symmetric(rng, n, 0)
        tau = 1e-3
        N = np.linalg.qr(rng.standard_normal((n, m)))[0] if m else np.zeros((n, 0))
        b, c, cp = rng.standard_normal(n), rng.standard_normal(n), float(rng.standard_normal())
        r = rng.standard_normal(n + m + 1)
        *_, factor = backends.spectrum_near_zero(H - tau * np.eye(n), 1e-3 / max(1.0, np.abs(H).max()),
                                                 rng.standard_normal((n, 2)), np.ones(n), 30, 2)
        F, perm, blk = factor
        X = backends.chord_prepare(factor, b, N)
        out = backends.chord_solve(factor + (X,), N, c, cp, r)
        # the matrix the factor holds, recovered column by column from its solves
        cols = []
        for e in np.eye(n):
            z = e.copy()
            ldl.bk_solve(F, perm, blk, z, np.empty(n), n)
            cols.append(z)
        A = np.linalg.inv(np.array(cols).T)
        ref = np.linalg.solve(_bordered(A, b, N, c, cp), r)
        assert out is not None and np.allclose(out, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_chord_tangent_refines_to_the_exact_null_vector():
    rng = np.random.default_rng(21)
    n, m = 15, 1
    lam = np.concatenate([[0.0], rng.uniform(0.5, 2.0, n - 1) * rng.choice([-1.0, 1.0], n - 1)])
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    H = Q @ np.diag(lam) @ Q.T
    H = 0.5 * (H + H.T)
    N = Q[:, :1]  # the own null direction
    b = rng.standard_normal(n)
    trow = rng.standard_normal(n + 1)
    trow /= np.linalg.norm(trow)
    index, nullity, tol, lam_max, mu, vecs, top, factor = backends.spectrum_near_zero(
        H, 1e-7, rng.standard_normal((n, 3)), np.ones(n), 30, 4)
    X = backends.chord_prepare(factor, b, N)
    z = backends.chord_tangent(factor + (X,), H, b, N, trow, lam_max)
    ref = np.linalg.solve(_bordered(H, b, N, trow[:n], trow[n]), np.eye(n + m + 1)[-1])
    assert z is not None and np.allclose(z, ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max())
    # an eigenvalue of H at -tau makes the shifted factor useless: refused, not wrong
    Hs = Q @ np.diag(np.r_[0.0, -tol, lam[2:]]) @ Q.T
    Hs = 0.5 * (Hs + Hs.T)
    F, perm, blk = factor
    Fs = np.triu(Hs + tol * np.eye(n))
    ldl.bk_factor(Fs, perm, blk, n)
    Xs = backends.chord_prepare((Fs, perm, blk), b, N)
    z = backends.chord_tangent((Fs, perm, blk, Xs), Hs, b, N, trow, lam_max)
    ref = np.linalg.solve(_bordered(Hs, b, N, trow[:n], trow[n]), np.eye(n + m + 1)[-1])
    assert z is None or np.allclose(z, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_chord_branch_equals_newton_branch(monkeypatch):
    """The chord corrector converges to the points Newton finds (fixed steps: the same arclength
    equations), and carries a dense branch: one gradient per iteration, no Hessian."""
    import sys

    arc = sys.modules["dynsys.continuation.runs"]
    model = dynsys.TeacherStudent(np.eye(4))
    W0 = dynsys.critical.newton.refine(model, np.eye(4)[[1, 0, 2, 3]] * 0.9 + 0.05).W
    fam = families.leaky_slope(model)
    kw = dict(step=0.02, step_min=0.02, step_max=0.02)
    chord = {}
    orig = arc.FastRun._step

    def spy(self, *a, **k):
        out = orig(self, *a, **k)
        chord[len(chord)] = int(self.info[11])
        return out

    monkeypatch.setattr(arc.FastRun, "_step", spy)
    monkeypatch.setattr(arc, "ADVANCE_CAP", 0)      # every point through _step
    b1 = continuation(fam, W0, 0.0, 0.5, **kw)
    used = sum(chord.values()) / len(chord)
    monkeypatch.setattr(arc, "CONTINUATION_CHORD_ITER", 0)
    b0 = continuation(fam, W0, 0.0, 0.5, **kw)
    assert used > 0.9 and len(b1) == len(b0) and b1.status == b0.status
    assert np.max(np.abs(b1.W - b0.W)) <= 1e-9 and np.max(np.abs(b1.p - b0.p)) <= 1e-10
    assert np.array_equal(b1.morse_index, b0.morse_index)
    assert np.max(np.abs(b1.loss - b0.loss)) <= 1e-12


def _case(case):
    """Branches for the loop-against-points test: dense fixed steps over alpha, default steps, a
    symmetric branch point (equal teacher norms) and a fold (norms 1 and 5) over the teacher angle."""
    if case == "branch_point":
        f = k2_saddle_families(1.0, 1.0, 2.0)[0]
        return families.teacher_angle(dynsys.TeacherStudent(f.teacher(2))), f.W(0.3), 2.0, 2.6, {}
    if case == "fold":
        f = k2_saddle_families(1.0, 5.0, 3.0)[1]
        return families.teacher_angle(dynsys.TeacherStudent(f.teacher(2))), f.W(0.4), 3.0, 2.0, {}
    model = dynsys.TeacherStudent(np.eye(4))
    W0 = dynsys.critical.newton.refine(model, np.eye(4)[[1, 0, 2, 3]] * 0.9 + 0.05).W
    kw = {} if case == "default_steps" else dict(step=0.005, step_max=0.005)
    return families.leaky_slope(model), W0, 0.0, 0.9, kw


@pytest.mark.parametrize("case", ["alpha", "default_steps", "branch_point", "fold"])
def test_compiled_loop_equals_point_by_point(monkeypatch, case):
    """The compiled loop over plain points (kernels.arclength.advance) gives the branch the Python
    loop gives one kernel call per point: the same points, steps and events, to rounding (both run
    the same kernel; only the predictor's sums are compiled apart, and a rounding difference in the
    predictor moves the converged point within the corrector's tolerance)."""
    import sys

    arc = sys.modules["dynsys.continuation.runs"]
    fam, W0, p0, p1, kw = _case(case)
    loop = continuation(fam, W0, p0, p1, **kw)
    monkeypatch.setattr(arc, "ADVANCE_CAP", 0)
    each = continuation(fam, W0, p0, p1, **kw)
    assert loop.status == each.status and len(loop) == len(each) and len(loop) > 10
    assert np.max(np.abs(loop.p - each.p)) <= 1e-10 and np.max(np.abs(loop.s - each.s)) <= 1e-10
    assert np.max(np.abs(loop.W - each.W)) <= 1e-10
    assert np.array_equal(loop.morse_index, each.morse_index) and np.array_equal(loop.nullity, each.nullity)
    assert np.allclose(loop.eigvals, each.eigvals, rtol=0, atol=1e-10, equal_nan=True)
    # (the tangent just past a branch point is conditioned by the crossing eigenvalue: 3e-10 seen)
    assert np.max(np.abs(loop.tangent_p - each.tangent_p)) <= 1e-8
    assert [(e.kind, e.position) for e in loop.events] == [(e.kind, e.position) for e in each.events]
    assert all(abs(e.p - f.p) <= 1e-10 for e, f in zip(loop.events, each.events))


def test_interrupt_between_compiled_runs(monkeypatch):
    """Ctrl-C during a compiled run (Python raises it when the call returns): the branch so far,
    every run before it kept, status INTERRUPTED."""
    import sys

    arc = sys.modules["dynsys.continuation.runs"]
    fam, W0, p0, p1, kw = _case("alpha")
    orig = arc.FastRun.advance
    calls = []

    def advance(self, trace, *a):
        calls.append(len(trace))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return orig(self, trace, *a)

    monkeypatch.setattr(arc.FastRun, "advance", advance)
    b = continuation(fam, W0, p0, p1, **kw)
    assert b.status == dynsys.Status.INTERRUPTED and len(b) == calls[-1] > 2 * arc.ADVANCE_CAP
    assert np.all(b.grad_norm <= b.gtol) and np.all(np.diff(b.p) > 0)


# ------------------------------------------------------------------ compiled path = general path
def _same(bf, bg):
    assert bf.path == "compiled" and bg.path == "general"
    assert bf.status == bg.status and len(bf) == len(bg)
    assert np.max(np.abs(bf.p - bg.p)) <= 1e-10
    assert np.max(np.abs(bf.W - bg.W)) <= 1e-10
    assert np.array_equal(bf.morse_index, bg.morse_index) and np.array_equal(bf.nullity, bg.nullity)
    assert np.max(np.abs(bf.loss - bg.loss)) <= 1e-10
    assert [(e.kind, e.index_before, e.index_after) for e in bf.events] == \
           [(e.kind, e.index_before, e.index_after) for e in bg.events]
    for e, f in zip(bf.events, bg.events):
        assert abs(e.p - f.p) <= 1e-10 and np.max(np.abs(e.W - f.W)) <= 1e-8


def _both(fam, W0, p0, p_end, **kw):
    return (continuation(fam, W0, p0, p_end, path="compiled", **kw),
            continuation(fam, W0, p0, p_end, path="general", **kw))


def test_compiled_equals_general_over_alpha():
    K = d = 3
    model = dynsys.TeacherStudent(np.eye(d))
    W0 = dynsys.critical.newton.refine(model, np.full((K, d), 0.3)).W
    bf, bg = _both(families.leaky_slope(model), W0, 0.0, 0.9)
    _same(bf, bg)
    assert bf.own_nullity == K - 1 and np.all(bf.morse_index == (K - 1) * (d - 1))
    # the automatic choice is the compiled path
    assert continuation(families.leaky_slope(model), W0, 0.0, 0.5).path == "compiled"


def test_compiled_equals_general_over_teacher_angle_with_event():
    fam0 = k2_saddle_families(1.0, 1.0, 2.0)[0]
    model = dynsys.TeacherStudent(fam0.teacher(2))
    bf, bg = _both(families.teacher_angle(model), fam0.W(0.3), 2.0, 2.6)
    _same(bf, bg)
    (e,) = bf.events
    assert e.kind == "symmetric_branch_point" and abs(e.p - k2_equal_norm_threshold()) < 1e-8


def test_compiled_equals_general_over_top_weights():
    Ws = np.random.default_rng(1).standard_normal((3, 4))
    model = dynsys.TeacherStudent(Ws)
    bf, bg = _both(families.top_weight_scale(model, rows=[0]), Ws, 1.0, 0.6)
    _same(bf, bg)
    # a_0 w_0 is what the loss sees (positive homogeneity of the ReLU): row 0 grows as 1 / s
    assert np.allclose(bf.W[-1, 0] * 0.6, Ws[0], atol=1e-9)


def test_path_choice_and_refusals():
    model = dynsys.TeacherStudent(np.eye(2))
    # a toy and a family with its own derivative run the general path; "compiled" refuses them
    assert continuation(SCurve, [-1.5, 0.0], 1.5 ** 3 - 1.5, 0.0).path == "general"
    with pytest.raises(ValueError, match="path='compiled' needs"):
        continuation(SCurve, [-1.5, 0.0], 1.5 ** 3 - 1.5, 0.0, path="compiled")
    with pytest.raises(ValueError, match="path must be"):
        continuation(families.leaky_slope(model), np.eye(2), 0.0, 0.5, path="fast")
    # a plain callable that is no form the kernel knows (exp in p): general path
    fam = dynsys.Family(lambda p: model.replace(a=np.array([np.exp(p), 1.0])), domain=(-1.0, 1.0))
    assert continuation(fam, np.eye(2), 0.0, 0.3).path == "general"
    # a plain callable that is one (affine in p): compiled
    assert continuation(lambda a: model.replace(alpha=a), np.eye(2), 0.1, 0.3).path == "compiled"
