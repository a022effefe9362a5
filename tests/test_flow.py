"""dynsys.flow: integrators against oracles and exact solutions, stopping statuses, saving, plateau
time, determinism across threads and chunks, interrupts and input validation.

Oracles: ``tests/naive_flow.py`` (Python loops of gd / Euler / RK4 / Dormand-Prince with the tableau
written as fractions, the plateau-time definition, closed forms of the linear model) and
``tests/naive.py`` (the closed-form gradient). Exact solutions: the linear model (alpha = 1) is a
quadratic, ``dr/dt = -|a|^2 r`` for ``r = sum_j a_j w_j - sum_k a*_k w*_k``; K = 1 converges to the
teacher from inside the ball ``|w0 - w*| < |w*|`` (Tian (ICML 2017), Theorem 5); near a saddle with unstable
eigenvalue ``mu`` a start at distance eps stays ``log(1/eps) / mu`` longer.

All batches are tiny and every test uses float64 with the same argument types, so the two integrator
kernels compile once each.
"""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dynsys as ds
import naive as nv
import naive_flow as nf
from dynsys import config
from dynsys.flow import _flow, flow
from dynsys.results import FlowResult, Status

# ------------------------------------------------------------------------------------------------
# Tolerances
# ------------------------------------------------------------------------------------------------

#: kernel vs the Python-loop oracles after a few steps (same formulas, different summation order)
ORACLE_ATOL = 1e-13
#: gd on the quadratic vs its closed form after up to 50 steps
CLOSED_FORM_ATOL = 1e-13
#: fitted convergence order vs the method's order
ORDER_BAND = {"euler": (1.0, 0.15), "rk4": (4.0, 0.3), "dopri5": (5.0, 0.5)}
#: dopri5's continuous extension (4th order) at rtol 1e-10 vs the exact linear flow
DENSE_ATOL = 1e-8
#: plateau time near a saddle: measured extra time / (log(eps1/eps2) / mu)
PLATEAU_RTOL = 0.02


def _kwargs(**over):
    """Every argument of the private ``_flow`` (tests that need ``adaptive=False``)."""
    kw = dict(method="dopri5", step=0.05, t1=None, rtol=1e-8, atol=1e-10, gtol=1e-9, norm="row_max",
              max_steps=10**6, save=None, backend="parallel", chunk_size=None, progress=False,
              throw=False, polish=False, plateau_gtol=None)
    kw.update(over)
    return kw


@pytest.fixture(scope="module")
def generic():
    """A model with every feature (leaky slope, top weights, residual) and a start (k=3, d=4)."""
    rng = np.random.default_rng(20261124)
    W_star = rng.normal(size=(3, 4))
    U = 0.3 * rng.normal(size=(3, 4))
    a, a_star = np.array([1.0, 0.5, 2.0]), np.array([1.0, 1.2, 0.7])
    m = ds.TeacherStudent(W_star, alpha=0.1, a=a, a_star=a_star, residual=U)
    grad = lambda W: nv.grad_closed_form(W, W_star, a, a_star, 0.1, U)  # noqa: E731
    W0 = rng.normal(size=(3, 4))
    return m, grad, W0


@pytest.fixture(scope="module")
def linear():
    """The linear model (alpha = 1, a quadratic loss) with its exact flow."""
    rng = np.random.default_rng(7)
    W_star = rng.normal(size=(3, 4))
    a, a_star = np.array([1.0, 0.5, 1.5]), np.array([1.0, 1.0, 0.7])
    m = ds.TeacherStudent(W_star, alpha=1.0, a=a, a_star=a_star)
    W0 = rng.normal(size=(3, 4))
    return m, W_star, a, a_star, W0


@pytest.fixture(scope="module")
def relu2():
    """ReLU K = 2, d = 2, W* = I, its symmetric saddle (docs/math.md section 3) and unstable direction."""
    m = ds.TeacherStudent(np.eye(2))
    x_s = (1.0 - math.acos(1.0 / math.sqrt(2.0)) + math.pi) / (2.0 * math.pi)
    S = np.full((2, 2), x_s)
    lam, vec = np.linalg.eigh(m.hessian(S))
    return m, S, -lam[0], vec[:, 0].reshape(2, 2)


# ------------------------------------------------------------------------------------------------
# Kernels against the oracles
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["gd", "euler", "rk4", "dopri5"])
def test_steps_match_python_oracle(generic, method):
    m, grad, W0 = generic
    n = 7
    r = _flow(m, W0, adaptive=False, **_kwargs(method=method, step=0.05, max_steps=n, gtol=1e-14))
    ref = {"gd": lambda: nf.gd(grad, W0, 0.05, n)[-1], "euler": lambda: nf.euler(grad, W0, 0.05, n)[-1],
           "rk4": lambda: nf.rk4(grad, W0, 0.05, n), "dopri5": lambda: nf.dp5_fixed(grad, W0, 0.05, n)}
    assert r.status == Status.MAX_STEPS and r.steps == n
    np.testing.assert_allclose(r.W, ref[method](), rtol=0, atol=ORACLE_ATOL)
    np.testing.assert_allclose(r.t, n * 0.05, rtol=1e-15)
    # the reported loss and gradient norm are those of the final state
    assert r.loss == pytest.approx(m.loss(r.W), rel=1e-13)
    assert r.grad_norm == pytest.approx(nf.row_max_norm(m.grad(r.W)), rel=1e-13)


def test_dense_output_matches_continuous_extension(generic):
    """Fixed-step dopri5 with save times inside steps: Hairer's contd5 formula from the oracle."""
    m, grad, W0 = generic
    h = 0.05
    times = np.array([0.0, 0.01, 0.06, 0.0875, 0.15])
    r = _flow(m, W0, adaptive=False, **_kwargs(step=h, t1=0.15, gtol=1e-14, save=times))
    for i, t in enumerate(times):
        j = max(0, math.ceil(t / h - 1e-9) - 1)       # the step [j h, (j + 1) h] holding t
        Wj = nf.dp5_fixed(grad, W0, h, j)
        W1, _, ks = nf.dp5_step(grad, Wj, h)
        ref = Wj if t == 0.0 else nf.dp5_dense(Wj, W1, ks, h, (t - j * h) / h)
        np.testing.assert_allclose(r.Ws[i], ref, rtol=0, atol=ORACLE_ATOL)
    np.testing.assert_array_equal(r.ts, times)


# ------------------------------------------------------------------------------------------------
# Convergence order: slope of log(error) against log(step)
# ------------------------------------------------------------------------------------------------

def _order(hs, errs):
    return float(np.polyfit(np.log(hs), np.log(errs), 1)[0])


def test_order_on_linear_flow(linear):
    m, W_star, a, a_star, W0 = linear
    exact = nf.linear_flow_exact(W0, W_star, a, a_star, 1.0)
    steps = {"euler": 2.0 ** -np.arange(7, 11), "rk4": 2.0 ** -np.arange(3, 7),
             "dopri5": 2.0 ** -np.arange(4, 8)}
    for method, hs in steps.items():
        errs = []
        for h in hs:
            r = _flow(m, W0, adaptive=False, **_kwargs(method=method, step=h, t1=1.0, gtol=1e-300))
            assert r.status == Status.T1_REACHED and r.t == 1.0
            errs.append(np.abs(r.W - exact).max())
        p, band = ORDER_BAND[method]
        assert abs(_order(hs, errs) - p) < band, (method, errs)


def test_order_on_teacher_student_flow():
    """Same slopes on the nonlinear field (leaky, top weights), against SciPy's DOP853 at rtol 1e-13
    on the oracle's gradient (the trajectory stays away from collinear rows, where the field is
    only C^1)."""
    rng = np.random.default_rng(20261124)
    W_star, W0 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    a, a_star = np.array([1.0, 0.8]), np.array([1.0, 1.2])
    m = ds.TeacherStudent(W_star, alpha=0.1, a=a, a_star=a_star)
    t1 = 1.0
    sol = solve_ivp(lambda t, y: -nv.grad_closed_form(y.reshape(2, 3), W_star, a, a_star, 0.1).ravel(),
                    (0.0, t1), W0.ravel(), method="DOP853", rtol=1e-13, atol=1e-13)
    exact = sol.y[:, -1].reshape(2, 3)
    steps = {"euler": 2.0 ** -np.arange(7, 11), "rk4": 2.0 ** -np.arange(2, 6),
             "dopri5": 2.0 ** -np.arange(1, 5)}
    for method, hs in steps.items():
        errs = []
        for h in hs:
            r = _flow(m, W0, adaptive=False, **_kwargs(method=method, step=h, t1=t1, gtol=1e-300))
            errs.append(np.abs(r.W - exact).max())
        p, band = ORDER_BAND[method]
        assert abs(_order(hs, errs) - p) < band, (method, errs)


def test_adaptive_dopri5_error_follows_tolerance(linear):
    """With error control, the global error at t1 shrinks with rtol and stays near it; the
    continuous extension at intermediate times is as good."""
    m, W_star, a, a_star, W0 = linear
    times = np.linspace(0.0, 2.0, 9)
    errs = []
    for rtol in (1e-6, 1e-8, 1e-10):
        r = flow(m, W0, method="dopri5", step=0.01, t1=2.0, rtol=rtol, atol=rtol * 1e-2,
                 gtol=1e-300, save=times)
        assert r.status == Status.T1_REACHED and r.t == 2.0
        err = max(np.abs(r.Ws[i] - nf.linear_flow_exact(W0, W_star, a, a_star, t)).max()
                  for i, t in enumerate(times))
        assert err < 100 * rtol
        errs.append(err)
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < DENSE_ATOL


# ------------------------------------------------------------------------------------------------
# gd on a quadratic: the closed form
# ------------------------------------------------------------------------------------------------

def test_gd_on_quadratic_matches_closed_form(linear):
    m, W_star, a, a_star, W0 = linear
    eta = 0.1
    s = float(a @ a)
    r = flow(m, W0, method="gd", step=eta, gtol=1e-9, save=1)
    n = r.steps
    for i in range(0, min(n, 50) + 1):
        np.testing.assert_allclose(r.Ws[i], nf.linear_gd_exact(W0, W_star, a, a_star, eta, i),
                                   rtol=0, atol=CLOSED_FORM_ATOL)
        assert r.ts[i] == pytest.approx(i * eta, rel=1e-15)
    # the residual contracts by |1 - eta |a|^2| per step; gd stops at the first n with
    # max_j |a_j| |r_n| < gtol
    r0 = np.linalg.norm(nf.linear_residual(W0, W_star, a, a_star))
    q = abs(1.0 - eta * s)
    n_exact = math.ceil(math.log(1e-9 / (np.abs(a).max() * r0)) / math.log(q))
    assert r.status == Status.CONVERGED and abs(n - n_exact) <= 1
    assert np.isnan(r.ts[n + 1:]).all() and np.array_equal(r.Ws[n], r.W)


def test_gd_large_step_diverges_honestly(linear):
    """Above 2 / lambda_max = 2 / |a|^2 the map is unstable: reported, not rescued."""
    m, W_star, a, a_star, W0 = linear
    s = float(a @ a)
    r = flow(m, W0, method="gd", step=2.2 / s)
    assert r.status == Status.DIVERGED
    # |r_n| grows like 1.2^n from |r0| until the state passes 1e6 (1 + |W*|)
    assert r.steps < 200 and np.abs(r.W).max() > 1e5
    r_stable = flow(m, W0, method="gd", step=1.8 / s)
    assert r_stable.status == Status.CONVERGED


# ------------------------------------------------------------------------------------------------
# One status per stopping cause
# ------------------------------------------------------------------------------------------------

def test_status_converged_max_steps_t1(generic):
    m, _, W0 = generic
    W0b = np.stack([W0, W0, W0])
    r = flow(m, W0b[:1], method="rk4", step=0.05, gtol=1e-6)
    assert r.status[0] == Status.CONVERGED and r.grad_norm[0] < 1e-6
    r = flow(m, W0b[:1], method="gd", step=0.05, max_steps=3)
    assert r.status[0] == Status.MAX_STEPS and r.steps[0] == 3
    r = flow(m, W0b[:1], method="euler", step=0.03, t1=0.1)
    # euler lands on t1 with a shortened fourth step; gd takes whole steps past it
    assert r.status[0] == Status.T1_REACHED and r.t[0] == 0.1 and r.steps[0] == 4
    r = flow(m, W0b[:1], method="gd", step=0.03, t1=0.1)
    assert r.status[0] == Status.T1_REACHED and r.steps[0] == 4 and r.t[0] == pytest.approx(0.12)
    r = flow(m, W0b[:1], method="dopri5", step=0.03, t1=0.1)
    assert r.status[0] == Status.T1_REACHED and r.t[0] == 0.1


def test_status_diverged_nonfinite_singular(linear):
    m, W_star, a, a_star, W0 = linear
    s = float(a @ a)
    # the huge step overflows the state to inf in one step: NONFINITE, not DIVERGED
    r = flow(m, W0 + 10.0, method="gd", step=1e308)
    assert r.status == Status.NONFINITE and r.steps == 1 and np.isnan(r.loss)
    r = flow(m, W0, method="gd", step=3.0 / s)
    assert r.status == Status.DIVERGED
    # K = 1 ReLU from w0 = -w*: the gradient there is w/2 (theta = pi), so step 2 lands on w = 0
    m1 = ds.TeacherStudent(np.array([[1.0, 0.0]]))
    r = flow(m1, np.array([[-1.0, 0.0]]), method="gd", step=2.0)
    assert r.status == Status.SINGULAR and r.steps == 1 and np.isnan(r.loss)
    assert np.abs(r.W).max() <= m1.singular_tol
    # rk4 with step 4: its second stage w (1 - h/4) is the zero row; the step is not taken and the
    # last good state is reported with its loss
    r = flow(m1, np.array([[-1.0, 0.0]]), method="rk4", step=4.0)
    assert r.status == Status.SINGULAR and r.steps == 0 and np.isfinite(r.loss)
    np.testing.assert_array_equal(r.W, [[-1.0, 0.0]])
    # a singular start is a status, not an error; the rest of the batch runs on
    W0b = np.stack([np.array([[0.0, 0.0]]), np.array([[0.5, 0.1]])])
    r = flow(m1, W0b, method="dopri5", gtol=1e-8)
    assert r.status.tolist() == [Status.SINGULAR, Status.CONVERGED] and r.steps[0] == 0


class _InterruptAfter:
    """A progress reporter that raises KeyboardInterrupt after ``n`` updates (a user's Ctrl-C)."""

    def __init__(self, n):
        self.n = n
        self.updates = []
        self.closed = False

    def update(self, k):
        self.updates.append(k)
        if len(self.updates) >= self.n:
            raise KeyboardInterrupt

    def close(self):
        self.closed = True


def test_status_interrupted_returns_partial_result(generic):
    m, _, W0 = generic
    rng = np.random.default_rng(3)
    W0b = W0 + 0.1 * rng.normal(size=(5, 3, 4))
    bar = _InterruptAfter(1)
    r = flow(m, W0b, method="gd", gtol=1e-6, chunk_size=2, progress=bar, save=10)
    assert bar.closed and bar.updates == [2]
    assert r.status[:2].tolist() == [Status.CONVERGED] * 2
    assert (r.status[2:] == Status.INTERRUPTED).all()
    np.testing.assert_array_equal(r.W[2:], W0b[2:])
    assert (r.steps[2:] == 0).all() and np.isnan(r.Ws[2:]).all()
    assert r.status_counts() == {"CONVERGED": 2, "INTERRUPTED": 3}
    with pytest.raises(KeyboardInterrupt):
        flow(m, W0b, method="gd", gtol=1e-6, chunk_size=2, progress=_InterruptAfter(1), throw=True)


def test_progress_bar_reports_to_stderr(generic, capsys):
    m, _, W0 = generic
    r = flow(m, np.stack([W0] * 4), method="gd", gtol=1e-6, chunk_size=2, progress=True)
    assert (r.status == Status.CONVERGED).all()
    assert "flow (gd)" in capsys.readouterr().err


def test_throw_names_first_bad_trajectory(linear):
    m, W_star, a, a_star, W0 = linear
    W0b = np.stack([W0, W0, W0])
    with pytest.raises(ValueError, match=r"trajectory 0 .*MAX_STEPS.*max_steps"):
        flow(m, W0b, method="gd", max_steps=2, throw=True)
    r = flow(m, W0b, method="gd", t1=0.2, throw=True)  # T1_REACHED is a requested stop
    assert (r.status == Status.T1_REACHED).all()


# ------------------------------------------------------------------------------------------------
# Paper claims and plateau time
# ------------------------------------------------------------------------------------------------

def test_k1_flow_reaches_teacher_from_theorem5_ball():
    """Tian (ICML 2017) Thm 5: from |w0 - w*| < |w*| the flow reaches w*, and V = |w - w*|^2 / 2 decreases."""
    rng = np.random.default_rng(5)
    d = 5
    w_star = rng.normal(size=(1, d))
    m = ds.TeacherStudent(w_star)
    u = rng.normal(size=(8, 1, d))
    u /= np.linalg.norm(u, axis=2, keepdims=True)
    radius = np.linalg.norm(w_star) * np.linspace(0.1, 0.99, 8)[:, None, None]
    W0 = w_star + radius * u
    r = flow(m, W0, method="dopri5", gtol=1e-8, save=1, max_steps=2000)
    assert (r.status == Status.CONVERGED).all()
    assert np.abs(r.W - w_star).max() < 1e-6
    V = 0.5 * np.nansum((r.Ws - w_star) ** 2, axis=(2, 3))
    for b in range(8):
        Vb = V[b, : np.count_nonzero(np.isfinite(r.ts[b]))]
        assert (np.diff(Vb) < 1e-15).all()


def test_plateau_time_near_saddle_grows_like_log_eps(relu2):
    """Starting eps from the symmetric saddle along its unstable eigenvector, the gradient norm grows
    like mu eps e^{mu t}: the plateau lasts log(eps1/eps2)/mu longer for eps2 than for eps1."""
    m, S, mu, v = relu2
    W0 = np.stack([S + eps * v for eps in (1e-3, 1e-5)])
    for method in ("rk4", "dopri5"):
        r = flow(m, W0, method=method, step=0.01, rtol=1e-10, atol=1e-12, gtol=1e-8,
                 plateau_gtol=1e-2)
        assert (r.status == Status.CONVERGED).all()
        extra = (r.plateau_time[1] - r.plateau_time[0]) / (math.log(100.0) / mu)
        assert abs(extra - 1.0) < PLATEAU_RTOL


def test_plateau_time_matches_definition(relu2):
    """gd from near the saddle: the kernel's O(1) bookkeeping equals the definition applied to the
    saved path; the final approach is not counted; a path with monotone gradient has none."""
    m, S, mu, v = relu2
    step = 0.05
    r = flow(m, S + 1e-4 * v, method="gd", step=step, gtol=1e-8, plateau_gtol=1e-2, save=1)
    path = r.Ws[: r.steps + 1]
    g = [nf.row_max_norm(G) for G in m.grad(path)]
    ref = nf.plateau_time(g, [step] * r.steps, 1e-2)
    assert r.plateau_time == pytest.approx(ref, rel=1e-12) and ref > 5.0
    low_total = step * sum(x < 1e-2 for x in g[:-1])
    assert r.plateau_time < low_total  # the final approach was left out
    lin = ds.TeacherStudent(np.eye(2), alpha=1.0)
    assert flow(lin, S, method="gd", gtol=1e-10, plateau_gtol=1e-2).plateau_time == 0.0


# ------------------------------------------------------------------------------------------------
# dopri5's floor and polish
# ------------------------------------------------------------------------------------------------

def test_hessian_bound_bounds_the_spectrum(generic):
    """polish's step 1/B is stable only if B >= lambda_max: check against the exact Hessian on
    random states, near-collinear rows and small rows, for ReLU, leaky, top weights and a residual."""
    from dynsys.kernels.integrators import hessian_bound

    rng = np.random.default_rng(13)
    m_gen = generic[0]
    models = [ds.TeacherStudent(np.eye(3)), ds.TeacherStudent(rng.normal(size=(2, 3)), k=3),
              m_gen, ds.TeacherStudent(np.eye(3), alpha=1.0)]
    for m in models:
        arr = m.arrays
        U = arr.U if arr.U.shape[0] else 0.0
        for trial in range(20):
            W = rng.normal(size=(m.k, m.d))
            if trial % 4 == 1:
                W[1] = W[0] * (1.0 + 1e-3) + 1e-6 * rng.normal(size=m.d)
            if trial % 4 == 2:
                W[0] *= 1e-2
            B = hessian_bound(W + U, arr.T, arr.tn, arr.a, arr.a_star, arr.alpha, np.empty(m.k))
            lam = np.abs(np.linalg.eigvalsh(m.hessian(W))).max()
            assert lam <= B * (1.0 + 1e-12)


def test_dopri5_floor_warning_and_polish(relu2):
    m, S, mu, v = relu2
    W0 = np.stack([S + 1e-2 * v, S - 1e-2 * v, 0.3 * np.eye(2) + 0.1])
    with pytest.warns(RuntimeWarning, match="polish=True"):
        flow(m, W0, method="dopri5", gtol=1e-12, max_steps=2000, polish=False)
    for polish in (True, None):                    # None: on for dopri5 (the default)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = flow(m, W0, method="dopri5", gtol=1e-12, polish=polish)
        assert (r.status == Status.CONVERGED).all() and (r.grad_norm < 1e-12).all()
        assert (r.n_polish > 0).all() and (r.n_polish < r.steps).all()
    assert flow(m, W0, method="rk4", gtol=1e-6).n_polish is None  # None is off for the others


# ------------------------------------------------------------------------------------------------
# Saving
# ------------------------------------------------------------------------------------------------

def test_save_every_and_at_times(generic):
    m, grad, W0 = generic
    r = flow(m, W0, method="rk4", step=0.05, gtol=1e-6, save=7)
    n = r.steps
    k = n // 7 + 1 + (n % 7 != 0)
    assert np.isfinite(r.ts[:k]).all() and np.isnan(r.ts[k:]).all()
    np.testing.assert_allclose(r.ts[: k - 1], 0.05 * 7 * np.arange(k - 1), rtol=1e-15)
    assert r.ts[k - 1] == r.t and np.array_equal(r.Ws[k - 1], r.W)
    np.testing.assert_array_equal(r.Ws[0], W0)
    # given times, fixed step: the nearest step's state and time
    r2 = flow(m, W0, method="rk4", step=0.05, gtol=1e-6, save=np.array([0.0, 0.26, 0.34, 1e9]))
    np.testing.assert_allclose(r2.ts[:3], [0.0, 0.25, 0.35], rtol=1e-15)
    assert np.isnan(r2.ts[3]) and np.isnan(r2.Ws[3]).all()  # never reached: it converged first
    r3 = flow(m, W0, method="rk4", step=0.05, max_steps=5)  # 0.26 is nearest to step 5
    np.testing.assert_array_equal(r2.Ws[1], r3.W)


def test_save_memory_limit(generic, monkeypatch):
    m, _, W0 = generic
    monkeypatch.setattr(config, "FLOW_SAVE_MAX_BYTES", 10_000)
    with pytest.raises(ValueError, match="save=1 needs .*FLOW_SAVE_MAX_BYTES"):
        flow(m, W0, method="gd", max_steps=1000, save=1)
    r = flow(m, W0, method="gd", max_steps=1000, save=200)  # 7 saves fit
    assert r.Ws.shape == (7, 3, 4)


# ------------------------------------------------------------------------------------------------
# Determinism, backends, result shape
# ------------------------------------------------------------------------------------------------

def _fields(r):
    return [r.W, r.loss, r.grad_norm, r.steps, r.t, r.status, r.plateau_time, r.ts, r.Ws]


@pytest.mark.parametrize("method", ["gd", "dopri5"])
def test_identical_for_threads_chunks_and_backends(relu2, method):
    m, S, mu, v = relu2
    rng = np.random.default_rng(11)
    W0 = rng.normal(0.0, 1.0 / math.sqrt(2.0), size=(7, 2, 2))
    W0[3] = S + 1e-3 * v
    kw = dict(method=method, gtol=1e-7, save=np.linspace(0.0, 5.0, 6), plateau_gtol=1e-2)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        r1 = flow(m, W0, chunk_size=3, **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        r2 = flow(m, W0, chunk_size=1000, **kw)
    finally:
        numba.set_num_threads(before)
    r3 = flow(m, W0, backend="cpu", chunk_size=1, **kw)
    for a, b, c in zip(_fields(r1), _fields(r2), _fields(r3)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    # each trajectory alone gives the same numbers as inside the batch
    r4 = flow(m, W0[3], **kw)
    np.testing.assert_array_equal(r4.W, r1.W[3])
    assert r4.plateau_time == r1.plateau_time[3] and r4.steps == r1.steps[3]


def test_single_state_result_is_scalar(generic):
    m, _, W0 = generic
    r = flow(m, W0, method="dopri5", gtol=1e-6)
    assert isinstance(r, FlowResult)
    assert r.W.shape == (3, 4) and isinstance(r.loss, float) and isinstance(r.steps, int)
    assert isinstance(r.status, Status) and r.status == Status.CONVERGED and r.converged
    assert isinstance(r.n_rejected, int) and isinstance(r.n_polish, int) and r.ts is None and r.Ws is None
    assert r.method == "dopri5" and r.step == 0.1 and r.norm == "row_max"
    assert r.status_counts() == {"CONVERGED": 1}
    with pytest.raises(Exception):
        r.W[0, 0] = 1.0  # results are read-only
    # "fro" reports the Frobenius norm of the final gradient
    rf = flow(m, W0, method="dopri5", gtol=1e-6, norm="fro")
    assert rf.grad_norm == pytest.approx(np.linalg.norm(m.grad(rf.W)), rel=1e-12) and rf.grad_norm < 1e-6


def test_cuda_backend_without_gpu_is_a_clear_error(generic):
    m, _, W0 = generic
    from numba import cuda

    if cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="backend='cuda'"):
        flow(m, W0, backend="cuda")


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(step=0.0), ValueError, "step"),
    (dict(step=-0.1), ValueError, "step"),
    (dict(step=float("nan")), ValueError, "step"),
    (dict(t1=0.0), ValueError, "t1"),
    (dict(rtol=0.0), ValueError, "rtol"),
    (dict(atol=-1e-10), ValueError, "atol"),
    (dict(gtol=0.0), ValueError, "gtol"),
    (dict(plateau_gtol=-1.0), ValueError, "plateau_gtol"),
    (dict(max_steps=0), ValueError, "max_steps"),
    (dict(max_steps=2.5), TypeError, "max_steps"),
    (dict(chunk_size=0), ValueError, "chunk_size"),
    (dict(method="rk45"), ValueError, "method"),
    (dict(norm="l2"), ValueError, "norm"),
    (dict(backend="gpu"), ValueError, "backend"),
    (dict(save=0), ValueError, "save"),
    (dict(save=True), TypeError, "save"),
    (dict(save=[0.0, 0.2, 0.1]), ValueError, "save"),
    (dict(save=[-1.0, 0.5]), ValueError, "save"),
    (dict(save=[0.5, 2.0], t1=1.0), ValueError, "save"),
    (dict(polish=True, method="gd"), ValueError, "polish"),
    (dict(throw=1), TypeError, "throw"),
    (dict(progress="yes"), TypeError, "progress"),
])
def test_bad_arguments_name_the_argument(generic, kwargs, exc, name):
    m, _, W0 = generic
    with pytest.raises(exc, match=name):
        flow(m, W0, **kwargs)


@pytest.mark.parametrize("W0, exc", [
    (np.zeros((3, 5)), ValueError),
    (np.zeros((2, 4)), ValueError),
    (np.zeros((0, 3, 4)), ValueError),
    (np.zeros((1, 1, 3, 4)), ValueError),
    (np.full((3, 4), np.nan), ValueError),
    (np.full((3, 4), 1j), TypeError),
])
def test_bad_initial_states_name_W0(generic, W0, exc):
    m, _, _ = generic
    with pytest.raises(exc, match="W0"):
        flow(m, W0)


def test_model_must_be_a_teacher_student():
    with pytest.raises(TypeError, match="model"):
        flow(np.eye(2), np.eye(2))
