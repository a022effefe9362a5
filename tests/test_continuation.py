"""Continuation (dynsys.continuation): toys with known bifurcations, the model's K = 2 families and
branches over the leaky slope, statuses and bad input."""

import math

import numpy as np
import pytest

import dynsys
from dynsys import families
from dynsys.continuation import Family, continuation
from dynsys.results import Branch, Status
from dynsys.systems.base import PointSystem
from dynsys.theory.k2_saddles import k2_equal_norm_threshold, k2_saddle_families

import naive_continuation as naive


class _Toy(PointSystem):
    """A parametrised toy in the plane: ``f(x; p)`` with gradient and Hessian below."""

    state_shape = (2,)

    def __init__(self, p):
        object.__setattr__(self, "p", float(p))

    def __setattr__(self, name, value):
        raise AttributeError("immutable")


class SCurve(_Toy):
    """grad = (x0^3 - x0 + p, x1): folds at p = +-2 / (3 sqrt 3)."""

    def value(self, x):
        return x[0] ** 4 / 4 - x[0] ** 2 / 2 + self.p * x[0] + x[1] ** 2 / 2

    def gradient(self, x):
        return np.array([x[0] ** 3 - x[0] + self.p, x[1]])

    def hessian_at(self, x):
        return np.array([[3 * x[0] ** 2 - 1, 0.0], [0.0, 1.0]])


class SaddleNode(_Toy):
    """The saddle-node normal form grad = (x0^2 - p, x1): a fold at p = 0."""

    def value(self, x):
        return x[0] ** 3 / 3 - self.p * x[0] + x[1] ** 2 / 2

    def gradient(self, x):
        return np.array([x[0] ** 2 - self.p, x[1]])

    def hessian_at(self, x):
        return np.array([[2 * x[0], 0.0], [0.0, 1.0]])


class Pitchfork(_Toy):
    """Z2 pitchfork: grad = (x0^3 - p x0, x1); branches x0 = +-sqrt(p) from x = 0 at p = 0."""

    def value(self, x):
        return x[0] ** 4 / 4 - self.p * x[0] ** 2 / 2 + x[1] ** 2 / 2

    def gradient(self, x):
        return np.array([x[0] ** 3 - self.p * x[0], x[1]])

    def hessian_at(self, x):
        return np.array([[3 * x[0] ** 2 - self.p, 0.0], [0.0, 1.0]])


class Transcritical(_Toy):
    """grad = (x0^2 - p x0, x1): x = 0 and x0 = p exchange stability at p = 0."""

    def value(self, x):
        return x[0] ** 3 / 3 - self.p * x[0] ** 2 / 2 + x[1] ** 2 / 2

    def gradient(self, x):
        return np.array([x[0] ** 2 - self.p * x[0], x[1]])

    def hessian_at(self, x):
        return np.array([[2 * x[0] - self.p, 0.0], [0.0, 1.0]])


class ThroughOrigin(_Toy):
    """grad = (x0 - p, x1): the branch x0 = p runs into the singular ball |x| <= 1e-3 at p = 0."""

    singular_tol = 1e-3

    def value(self, x):
        return (x[0] - self.p) ** 2 / 2 + x[1] ** 2 / 2

    def gradient(self, x):
        return np.array([x[0] - self.p, x[1]])

    def hessian_at(self, x):
        return np.eye(2)


FOLD = 2.0 / (3.0 * math.sqrt(3.0))


def test_s_curve_passes_both_folds_and_lands_on_p_end():
    x0 = -1.5
    b = continuation(SCurve, [x0, 0.0], x0 - x0 ** 3, -2.0)
    assert isinstance(b, Branch) and b.status == Status.CONVERGED
    assert b.p[-1] == -2.0
    assert abs(b.W[-1, 0] ** 3 - b.W[-1, 0] - 2.0) < 1e-10
    folds = b.events_of("fold")
    assert [round(e.p, 9) for e in folds] == [round(-FOLD, 9), round(FOLD, 9)]
    assert all(abs(e.p - s * FOLD) < 1e-8 for e, s in zip(folds, (-1, 1)))
    assert [(e.index_before, e.index_after) for e in folds] == [(0, 1), (1, 0)]
    assert np.all(b.grad_norm <= b.gtol)
    # index from inertia agrees with the sign of 3 x0^2 - 1 at every point
    assert np.array_equal(b.morse_index, (3 * b.W[:, 0] ** 2 - 1 < 0).astype(int))
    # tangent p-component changes sign exactly twice
    assert np.sum(np.diff(np.sign(b.tangent_p)) != 0) == 2


def test_saddle_node_fold_against_naive_oracle():
    b = continuation(SaddleNode, [1.0, 0.0], 1.0, 0.5, step=0.05, step_max=0.05, max_points=200)
    assert b.status == Status.CONVERGED and b.p[-1] == 0.5 and abs(b.W[-1, 0] - math.sqrt(0.5)) < 1e-10
    b = continuation(SaddleNode, [-1.0, 0.0], 1.0, 0.5, step=0.05, step_max=0.05, max_points=40)
    assert b.status == Status.MAX_STEPS or b.status == Status.CONVERGED
    ref = naive.arclength(lambda x, p: np.array([x[0] ** 2 - p, x[1]]),
                          lambda x, p: np.array([[2 * x[0], 0.0], [0.0, 1.0]]),
                          lambda x, p: np.array([-1.0, 0.0]), [-1.0, 0.0], 1.0, 0.05, 80, -1.0)
    # every point of the dynsys branch lies on the oracle's curve x0^2 = p (both signs)
    assert np.allclose(b.W[:, 0] ** 2, b.p, atol=1e-10)
    assert all(abs(x[0] ** 2 - p) < 1e-10 for p, x, _ in ref)


def test_saddle_node_fold_passed_through():
    # start on x0 = +1 at p = 1 heading to p = 4: the branch first goes up (no fold)
    b = continuation(SaddleNode, [1.0, 0.0], 1.0, 4.0)
    assert b.status == Status.CONVERGED and not b.events
    b = continuation(SaddleNode, [-1.0, 0.0], 1.0, 0.25, max_points=400)
    assert b.status == Status.CONVERGED and b.p[-1] == 0.25
    folds = b.events_of("fold")
    if folds:  # the branch x0 = -sqrt(p) reaches p = 0.25 before any fold
        pytest.fail("no fold expected before p = 0.25 on x0 = -sqrt(p)")
    b = continuation(SaddleNode, [-1.0, 0.0], 1.0, -0.5, max_points=400)
    # p_end = -0.5 is never reached: the branch turns at the fold p = 0 and climbs x0 = +sqrt(p)
    assert b.status == Status.MAX_STEPS
    (fold,) = b.events_of("fold")
    assert abs(fold.p) < 1e-8 and (fold.index_before, fold.index_after) == (1, 0)
    assert abs(fold.W[0]) < 1e-4 and fold.nullity == 1


def test_pitchfork_is_a_symmetric_branch_point():
    b = continuation(Pitchfork, [0.0, 0.0], -1.0, 1.0)
    assert b.status == Status.CONVERGED and b.p[-1] == 1.0
    (e,) = b.events
    assert e.kind == "symmetric_branch_point" and e.symmetric
    assert abs(e.p) < 1e-8 and (e.index_before, e.index_after) == (0, 1)
    assert abs(abs(e.vectors[0, 0]) - 1.0) < 1e-8  # crossing direction x0
    # the two conjugate branches x0 = +-sqrt(p): follow each from p = 1 back to 0.25
    for s in (1.0, -1.0):
        c = continuation(Pitchfork, [s, 0.0], 1.0, 0.25)
        assert c.status == Status.CONVERGED and abs(c.W[-1, 0] - 0.5 * s) < 1e-10
        assert np.all(c.morse_index == 0)


def test_transcritical_is_a_plain_branch_point():
    b = continuation(Transcritical, [0.0, 0.0], -1.0, 1.0)
    (e,) = b.events
    assert e.kind == "branch_point" and not e.symmetric and abs(e.p) < 1e-8


def test_branch_reaches_the_singular_set():
    b = continuation(ThroughOrigin, [1.0, 0.0], 1.0, -1.0)
    assert b.status == Status.SINGULAR and 0.0 < b.p[-1] < 0.01


def test_interrupt_returns_partial_branch():
    calls = []

    def of_p(p):
        calls.append(p)
        if len(calls) > 60:
            raise KeyboardInterrupt
        return SCurve(p)

    b = continuation(of_p, [-1.5, 0.0], 1.5 ** 3 - 1.5, -2.0)
    assert b.status == Status.INTERRUPTED and 1 <= len(b) and np.all(b.grad_norm <= b.gtol)


def test_bad_input():
    with pytest.raises(ValueError, match="p0 and p_end"):
        continuation(SCurve, [1.0, 0.0], 0.0, 0.0)
    with pytest.raises(ValueError, match="step_min <= step <= step_max"):
        continuation(SCurve, [1.0, 0.0], 0.0, 1.0, step=0.5, step_max=0.1)
    with pytest.raises(ValueError, match="not a critical point"):
        continuation(SCurve, [0.3, 0.0], 0.0, 1.0)
    b = continuation(SCurve, [1.1, 0.0], 0.0, 0.1, refine=True)
    assert b.status == Status.CONVERGED and abs(b.W[0, 0] - 1.0) < 1e-10
    with pytest.raises(TypeError, match="system of the protocol"):
        continuation(lambda p: 3.0, [1.0, 0.0], 0.0, 1.0)
    model = dynsys.TeacherStudent(np.eye(2))
    shapes = Family(lambda p: model if p < 0.5 else dynsys.TeacherStudent(np.eye(3)), domain=(0, 1))
    with pytest.raises(ValueError, match="state shape"):
        continuation(shapes, np.eye(2), 0.0, 0.9)
    with pytest.raises(ValueError, match="domain"):
        continuation(families.leaky_slope(model), np.eye(2), 0.0, 0.99)
    with pytest.raises(TypeError, match="Family or a callable"):
        continuation(3, np.eye(2), 0.0, 0.5)
    # a start where the family's scale overflows: refused naming p0, on either path
    for path in ("general", None):
        with pytest.raises(ValueError, match="at p0 = 1e.300 is not finite"):
            continuation(families.top_weight_scale(model), np.eye(2), 1e300, 1.0, path=path)


def test_save_load_roundtrip(tmp_path):
    b = continuation(SCurve, [-1.5, 0.0], 1.5 ** 3 - 1.5, -2.0)
    path = b.save(tmp_path / "branch")
    c = Branch.load(path)
    assert np.array_equal(c.p, b.p) and c.status == b.status and len(c.events) == 2
    assert c.events[0].kind == "fold" and c.events[0].p == b.events[0].p
    assert "fold at p" in b.summary()


# ------------------------------------------------------------------ the teacher-student model
def test_teacher_branch_over_alpha_stays_global_minimum():
    Ws = np.random.default_rng(0).standard_normal((3, 3))
    model = dynsys.TeacherStudent(Ws)
    b = continuation(families.leaky_slope(model), Ws, 0.0, 0.9)
    assert b.status == Status.CONVERGED and b.p[-1] == 0.9
    assert np.all(b.morse_index == 0) and np.all(b.nullity == 0) and not b.events
    assert np.max(np.abs(b.loss)) < 1e-12 and np.max(np.abs(b.W - Ws)) < 1e-9
    for i in (0, len(b) // 2, len(b) - 1):
        assert dynsys.classify(model.replace(alpha=b.p[i]), b.W[i]).kind == "global_minimum"


def test_symmetric_saddle_over_alpha_keeps_index_and_nullity():
    K = d = 3
    model = dynsys.TeacherStudent(np.eye(d))
    W0 = dynsys.critical.newton.refine(model, np.full((K, d), 0.3)).W
    b = continuation(families.leaky_slope(model), W0, 0.0, 0.9)
    assert b.status == Status.CONVERGED and b.own_nullity == K - 1
    assert np.all(b.morse_index == (K - 1) * (d - 1)) and np.all(b.nullity == K - 1)
    # the rows stay parallel (the start's split of mass between them is kept by the phase
    # conditions): the branch is the symmetric saddle at every alpha
    U = b.W / np.linalg.norm(b.W, axis=2, keepdims=True)
    assert np.max(np.ptp(U, axis=1)) < 1e-10


def test_equal_norm_bisector_symmetric_branch_point():
    fam0 = k2_saddle_families(1.0, 1.0, 2.0)[0]
    model = dynsys.TeacherStudent(fam0.teacher(2))
    b = continuation(families.teacher_angle(model), fam0.W(0.3), 2.0, 2.6)
    assert b.status == Status.CONVERGED and b.own_nullity == 1
    (e,) = b.events
    assert e.kind == "symmetric_branch_point" and (e.index_before, e.index_after) == (1, 2)
    assert abs(e.p - k2_equal_norm_threshold()) < 1e-8
    # past the branch point the bisector family of k2_saddle_families has index 2, as measured
    f = [f for f in k2_saddle_families(1.0, 1.0, 2.6) if abs(f.theta1 - 1.3) < 1e-9][0]
    assert f.index_in_plane == 2 and b.morse_index[-1] == 2
    # the rows stay on the bisector: theta1 = T / 2 all along
    ang = np.arctan2(b.W[:, 0, 1], b.W[:, 0, 0])
    assert np.allclose(ang, b.p / 2, atol=1e-9)


def test_unequal_norms_two_families_meet_in_a_fold():
    fams = k2_saddle_families(1.0, 5.0, 3.0)
    assert [round(f.theta1, 4) for f in fams][:2] == [0.0786, 0.2175]
    f = fams[1]
    model = dynsys.TeacherStudent(f.teacher(2))
    b = continuation(families.teacher_angle(model), f.W(0.4), 3.0, 2.0)
    fold = b.events_of("fold")[0]
    T_ref, t1_ref = naive.k2_fold(1.0, 5.0, 2.99, 0.15)
    assert abs(fold.p - T_ref) < 1e-8 and (fold.index_before, fold.index_after) == (2, 1)
    t1 = math.atan2(fold.W[0, 1], fold.W[0, 0])
    assert abs(t1 - t1_ref) < 1e-4
    # every point solves the theta1 equation (rows collinear at angle theta1 from w*_1), and after
    # the fold the branch climbs back along the smaller root: theta1 < the fold's on that side
    t1s = np.arctan2(b.W[:, 0, 1], b.W[:, 0, 0])
    # (away from T = pi, where theta1 -> 0 and the equation degenerates)
    away = b.p < 3.1
    assert np.max(np.abs(naive._f(t1s[away], 1.0, 5.0, b.p[away]))) < 1e-8
    assert np.all(b.grad_norm <= b.gtol)
    after = slice(fold.position, None)
    assert np.all(t1s[after] < t1_ref + 1e-6) and np.all(b.morse_index[after][b.p[after] < 3.1] == 1)


# ------------------------------------------------------------------ branch switching
class D3(_Toy):
    """D3 in its standard 2D representation: ``f = -p |x|^2 / 2 + Re(z^3) / 3 + |x|^4 / 4``.

    At p = 0 two eigenvalues cross at x = 0; the new branches lie on the three reflection axes
    (angles 0, 2 pi / 3, 4 pi / 3 on one side of p = 0, their opposites on the other), one up to
    symmetry on each side, each transcritical.
    """

    def value(self, x):
        r2 = x @ x
        return -self.p * r2 / 2 + (x[0] ** 3 - 3 * x[0] * x[1] ** 2) / 3 + r2 ** 2 / 4

    def gradient(self, x):
        r2 = x @ x
        return np.array([-self.p * x[0] + x[0] ** 2 - x[1] ** 2 + r2 * x[0],
                         -self.p * x[1] - 2 * x[0] * x[1] + r2 * x[1]])

    def hessian_at(self, x):
        r2 = x @ x
        return np.array([[-self.p + 2 * x[0] + r2 + 2 * x[0] ** 2, -2 * x[1] + 2 * x[0] * x[1]],
                         [-2 * x[1] + 2 * x[0] * x[1], -self.p - 2 * x[0] + r2 + 2 * x[1] ** 2]])

    def invariants(self, W, *, merge_parallel=False, parallel_atol=None):
        x = np.asarray(W, dtype=float)
        return np.array([self.value(x), x @ x, x[0] ** 3 - 3 * x[0] * x[1] ** 2])


def test_switch_at_pitchfork_gives_the_two_conjugate_branches():
    from dynsys.continuation.switching import switch_branch

    b = continuation(Pitchfork, [0.0, 0.0], -1.0, 1.0)
    new = switch_branch(Pitchfork, b, b.events[0], 1.0)
    assert len(new) == 2
    ends = sorted(float(c.W[-1, 0]) for c in new)
    assert all(c.status == Status.CONVERGED and np.all(c.morse_index == 0) for c in new)
    assert abs(ends[0] + 1.0) < 1e-10 and abs(ends[1] - 1.0) < 1e-10


def test_switch_at_d3_symmetric_branch_point():
    from dynsys.continuation.switching import switch_branch

    b = continuation(D3, [0.0, 0.0], -0.5, 0.5)
    (e,) = b.events
    assert e.kind == "symmetric_branch_point" and abs(e.p) < 1e-8
    assert (e.index_before, e.index_after) == (0, 2) and e.vectors.shape[0] == 2
    new = switch_branch(D3, b, e, 0.5, dp=1e-3)
    # one branch per side of p = 0 up to symmetry; each lies on a reflection axis
    sides = sorted(np.sign(c.p[0]) for c in new)
    assert sides == [-1.0, 1.0]
    for c in new:
        r = np.linalg.norm(c.W, axis=1)
        far = r > 1e-3  # the angle of a point near the origin is ill-determined
        ang = np.arctan2(c.W[far, 1], c.W[far, 0])
        k = np.round(ang / (np.pi / 3))
        assert far.sum() > 3 and np.max(np.abs(ang - k * np.pi / 3)) < 1e-6
        # transcritical: the radius grows linearly in |p| (|x| = |p| + O(p^2) on an axis)
        i = int(np.argmin(np.abs(np.abs(c.p) - 0.1)))
        assert abs(r[i] / abs(c.p[i]) - 1.0) < 0.2


def test_switch_at_the_bisector_gives_the_asymmetric_k2_families():
    from dynsys.continuation.switching import switch_branch

    fam0 = k2_saddle_families(1.0, 1.0, 2.0)[0]
    model = dynsys.TeacherStudent(fam0.teacher(2))
    F = families.teacher_angle(model)
    b = continuation(F, fam0.W(0.3), 2.0, 2.6)
    new = switch_branch(F, b, b.events[0], 2.6)
    assert len(new) == 2  # conjugate by the reflection that swaps the teacher rows
    ref = sorted(f.theta1 for f in k2_saddle_families(1.0, 1.0, 2.6) if abs(f.theta1 - 1.3) > 1e-6)
    got = sorted(float(np.arctan2(c.W[-1, 0, 1], c.W[-1, 0, 0])) for c in new)
    assert np.allclose(got, ref, atol=1e-9)
    assert all(c.status == Status.CONVERGED and np.all(c.morse_index == 1) for c in new)


def test_many_branches_from_a_batch_and_a_critical_set():
    d = 3
    model = dynsys.TeacherStudent(np.eye(d))
    sym = dynsys.critical.newton.refine(model, np.full((d, d), 0.3)).W
    out = continuation(families.leaky_slope(model), np.stack([np.eye(d), sym]), 0.0, 0.5)
    assert isinstance(out, tuple) and len(out) == 2
    assert np.all(out[0].morse_index == 0) and np.all(out[1].morse_index == (d - 1) ** 2)
    cs = dynsys.find_critical_points(model, np.stack([np.eye(d) + 0.01, sym + 1e-3]))
    saddles = continuation(families.leaky_slope(model), cs, 0.0, 0.5, kinds="saddle")
    assert len(saddles) == sum(p.kind == "saddle" for p in cs) >= 1
    assert all(b.status == Status.CONVERGED for b in saddles)
    with pytest.raises(ValueError, match="kinds"):
        continuation(families.leaky_slope(model), np.eye(d), 0.0, 0.5, kinds="saddle")


# ------------------------------------------------------------------ two parameters
class Cusp(_Toy):
    """grad = (x0^3 - q x0 + p, x1): folds at p = +-2 (q / 3)^(3/2), meeting in a cusp at q = 0."""

    def __init__(self, p, q=1.0):
        object.__setattr__(self, "p", float(p))
        object.__setattr__(self, "q", float(q))

    def value(self, x):
        return x[0] ** 4 / 4 - self.q * x[0] ** 2 / 2 + self.p * x[0] + x[1] ** 2 / 2

    def gradient(self, x):
        return np.array([x[0] ** 3 - self.q * x[0] + self.p, x[1]])

    def hessian_at(self, x):
        return np.array([[3 * x[0] ** 2 - self.q, 0.0], [0.0, 1.0]])


def test_fold_followed_in_a_second_parameter_cusp():
    from dynsys.continuation import follow_event

    b = continuation(lambda p: Cusp(p, 1.0), [-1.5, 0.0], 1.5 ** 3 - 1.5, -2.0)
    c = follow_event(Cusp, b.events[0], 1.0, 2.0)
    assert c.status == Status.CONVERGED and c.q[-1] == 2.0
    assert np.max(np.abs(np.abs(c.p) - 2 * (c.q / 3) ** 1.5)) < 1e-9
    assert np.max(np.abs(3 * c.W[:, 0] ** 2 - c.q)) < 1e-8


def test_k2_fold_curve_over_the_teacher_norm():
    from dynsys.continuation import follow_event

    f = k2_saddle_families(1.0, 5.0, 3.0)[1]
    FA = families.teacher_angle(dynsys.TeacherStudent(f.teacher(2)))
    b = continuation(FA, f.W(0.4), 3.0, 2.0)
    fold = b.events_of("fold")[0]
    c = follow_event(lambda T, n2: families.teacher_norm(FA(T), 1)(n2), fold, 5.0, 3.0, own_nullity=1)
    assert c.status == Status.CONVERGED and c.q[-1] == 3.0
    for i in range(0, len(c), 5):
        assert abs(c.p[i] - naive.k2_fold(1.0, c.q[i], c.p[i], 0.14)[0]) < 1e-9


# ------------------------------------------------------------------ figures
def test_bifurcation_diagram_and_event_curve_figures(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dynsys.continuation import follow_event, switch_branch
    from dynsys.plotting import bifurcation_diagram, event_curve

    b = continuation(Pitchfork, [0.0, 0.0], -1.0, 1.0)
    new = switch_branch(Pitchfork, b, b.events[0], 1.0)
    ax = bifurcation_diagram([b, *new], y=lambda W: W[0], ylabel="x0")
    fig = ax.figure
    fig.savefig(tmp_path / "bif.png")
    styles = {ln.get_linestyle() for ln in ax.lines if ln.get_label().startswith("index")}
    assert styles == {"-", "--"}  # index 0 solid, index 1 dashed
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("SBP") for t in texts)
    renderer = fig.canvas.get_renderer()
    for artist in (ax.xaxis.label, ax.yaxis.label, *ax.texts):
        box = artist.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    plt.close(fig)
    c = continuation(lambda p: Cusp(p, 1.0), [-1.5, 0.0], 1.5 ** 3 - 1.5, -2.0)
    curve = follow_event(Cusp, c.events[0], 1.0, 1.5)
    ax = event_curve(curve)
    x, y = ax.lines[0].get_data()
    assert np.array_equal(x, curve.q) and ax.get_xlabel() == "q"
    plt.close(ax.figure)


def test_p_end_at_the_domain_edge_is_reached():
    model = dynsys.TeacherStudent(np.eye(2))
    b = continuation(families.leaky_slope(model), np.eye(2), 0.5, 0.0)
    assert b.status == Status.CONVERGED and b.p[-1] == 0.0
    b = continuation(families.leaky_slope(model), np.eye(2), 0.0, families.ALPHA_MAX)
    assert b.status == Status.CONVERGED and b.p[-1] == families.ALPHA_MAX


class Kink(PointSystem):
    """Two rows pulled to (1, 0) and (1, max(p, 0)): parallel for p <= 0, not for p > 0."""

    state_shape = (2, 2)

    def __init__(self, p):
        object.__setattr__(self, "T", np.array([[1.0, 0.0], [1.0, max(float(p), 0.0)]]))

    def value(self, x):
        return 0.5 * float(np.sum((x - self.T) ** 2))

    def gradient(self, x):
        return x - self.T

    def hessian_at(self, x):
        return np.eye(4)


def test_nonsmooth_event_where_rows_stop_being_parallel(tmp_path):
    b = continuation(Kink, [[1.0, 0.0], [1.0, 0.0]], -0.5, 0.5)
    c = Branch.load(b.save(tmp_path / "kink"))
    assert c.events[0].groups_before == b.events[0].groups_before
    assert b.status == Status.CONVERGED
    (e,) = b.events
    assert e.kind == "nonsmooth" and e.groups_before == ((0, 1),) and e.groups_after == ()
    assert 0.0 < e.p <= b.p[e.position] and b.p[e.position - 1] <= 0.0 + 1e-4
