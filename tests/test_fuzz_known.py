"""The failures a fuzz of 18,000 calls found, each pinned: a status or an error naming the argument.

No call here may return NaN/Inf flagged as fine, hang, or raise an internal exception type.
"""

import numpy as np
import pytest

import dynsys as ds
from dynsys import config

R = np.random.default_rng(1).normal(size=(3, 3))
I = np.eye(3)


@pytest.fixture(scope="module")
def m():
    return ds.TeacherStudent(I)


# ----------------------------------------------------------------- silent non-finite results
def test_sgd_nonfinite_population_loss_is_not_converged():
    r = ds.sgd(ds.TeacherStudent(1e12 * I), R, n_samples=64, epochs=2)
    assert r.status != ds.Status.CONVERGED or np.all(np.isfinite(r.pop_loss))
    assert r.status == ds.Status.NONFINITE


def test_loss_overflow_is_nonfinite_status():
    model = ds.TeacherStudent(I, alpha=1.0)
    loss, st = model.loss(1e155 * R, return_status=True)
    assert st == ds.Status.NONFINITE and np.isfinite(loss)
    with pytest.raises(ValueError, match="too large or too small"):
        model.loss(1e155 * R)
    (lb, gb), sb = model.loss_and_grad(np.stack([R, 1e155 * R]), return_status=True)
    assert list(sb) == [0, ds.Status.NONFINITE] and np.isfinite(lb).all() and np.isfinite(gb).all()


def test_monte_carlo_overflow_raises_naming_W(m):
    with pytest.raises(ValueError, match=r"^W .*too large"):
        ds.monte_carlo(m, 1e150 * R, 2000)


def test_hessian_with_tiny_row_is_finite_or_flagged():
    model = ds.TeacherStudent(1e-150 * I)
    for norm0 in (1.7e-160, 2e-162):
        W = 1e-150 * R.copy()
        W[0] *= norm0 / np.linalg.norm(W[0])
        H, st = model.hessian(W, return_status=True)
        assert np.isfinite(H).all()
        assert st != 0 or np.isfinite(H).all()


def test_reduced_field_out_of_range_raises():
    with pytest.raises(ValueError, match=r"\(x, y\).*REDUCED_MAX_NORM"):
        ds.ReducedDynamics(2).field(1e155, 0.0)
    fx, fy = ds.ReducedDynamics(2).field(1e100, 0.0)
    assert np.isfinite(fx) and np.isfinite(fy)


def test_L12_tiny_t_raises_instead_of_nan():
    with pytest.raises(ValueError, match="t = 1e-300 is too small"):
        ds.L12(1e-300, 1e-300)
    assert np.isfinite(ds.L12(1e-3, 5e-4))
    with pytest.raises(ValueError, match="raise dps"):
        ds.L12(1e-20, 5e-21, dps=30)


@pytest.mark.parametrize("scale", [1e155, 1e-170, 1e-155])
def test_teacher_scale_out_of_range_refused(scale):
    with pytest.raises(ValueError, match="W_star .*TEACHER_NORM_RANGE"):
        ds.TeacherStudent(scale * I)


def test_teacher_scale_in_range_has_finite_energy():
    lo, hi = config.TEACHER_NORM_RANGE
    for s in (lo, hi):
        e = ds.TeacherStudent(s * I).teacher_energy
        assert np.isfinite(e) and e > 0.0


# ----------------------------------------------------------------- exception types
def test_flow_huge_t1_and_max_steps_are_value_errors(m):
    with pytest.raises(ValueError, match="t1 / step"):
        ds.flow(m, R, t1=1e300)
    with pytest.raises(ValueError, match="max_steps must be at most"):
        ds.flow(m, R, max_steps=2**63)
    with pytest.raises(ValueError, match="t1 / step"):
        ds.flow(m, R, step=5e-324, t1=1.0)


def test_flow_denormal_step_ends_with_a_status(m):
    r = ds.flow(m, R, step=5e-324, max_steps=10)
    assert int(r.status) == ds.Status.MAX_STEPS


def test_flow_save_float_is_type_error(m):
    with pytest.raises(TypeError, match="save"):
        ds.flow(m, R, save=1.5)


def test_classify_lanczos_zero_hessian_direction():
    model = ds.TeacherStudent(I, a=np.zeros(3))
    cp = ds.classify(model, R, eig_method="lanczos")
    assert np.isfinite(cp.eigvals).all()


def test_reduced_integrate_nan_t_eval():
    with pytest.raises(ValueError, match="t_eval"):
        ds.ReducedDynamics(2).integrate(0.5, 0.1, 5.0, t_eval=[np.nan])
    with pytest.raises(ValueError, match="t_eval"):
        ds.ReducedDynamics(2).integrate(0.5, 0.1, 5.0, t_eval=[6.0])


def test_saddle_between_bad_model_and_spring(m):
    with pytest.raises(TypeError, match="model"):
        ds.saddle_between(None, I, I[[1, 0, 2]])
    with pytest.raises(ValueError, match="spring"):
        ds.saddle_between(m, I, I[[1, 0, 2]], spring=1e300)


def test_fixed_points_negative_max_iter():
    with pytest.raises(ValueError, match="max_iter"):
        ds.ReducedDynamics(3).fixed_points(max_iter=-1)


# ----------------------------------------------------------------- hangs and memory
def test_reduced_integrate_huge_t1_stops_at_max_steps():
    r = ds.ReducedDynamics(3).integrate(0.5, 0.1, 1e300, max_steps=2000)
    assert r.status == ds.Status.MAX_STEPS
    assert np.isfinite(r.x).all() and np.isfinite(r.y).all()
    assert config.REDUCED_MAX_STEPS <= 10**6


def test_sgd_record_memory_guard():
    with pytest.raises(ValueError, match="record_every.*epochs"):
        ds.sgd(ds.TeacherStudent(I), R, n_samples=1, epochs=10**9)


def test_model_size_guard():
    with pytest.raises(ValueError, match="k \\* d must be at most"):
        ds.TeacherStudent(I, k=10**9)


def test_found_by_fuzz_newton_max_steps_and_empty_t_eval(m):
    with pytest.raises(ValueError, match="max_steps must be at most"):
        ds.classify(m, I, max_steps=2**63)
    with pytest.raises(ValueError, match="max_steps must be at most"):
        ds.find_critical_points(m, R[None], max_steps=2**63)
    with pytest.raises(ValueError, match="t_eval"):
        ds.ReducedDynamics(2).integrate(0.5, 0.1, 5.0, t_eval=[])


def test_found_by_fuzz_unbounded_sizes(m):
    with pytest.raises(ValueError, match="n_images must be at most"):
        ds.saddle_between(m, I, I[[1, 0, 2]], n_images=2**63)
    with pytest.raises(ValueError, match="n_grid must be at most"):
        ds.k2_saddle_families(1.0, 1.0, 1.0, n_grid=10**9)
    with pytest.raises(ValueError, match="dps must be at most"):
        ds.L12(1.0, 0.5, dps=10**9)
    with pytest.raises(ValueError, match="N must be at most"):
        ds.conjecture1_scan(10**6)


# ----------------------------------------------------------------- interrupts (SIGINT to a subprocess)
def _sigint_after_start(code, wait_s=1.5):
    """Run ``code`` in a fresh interpreter; SIGINT ``wait_s`` after it prints "go"; (seconds to exit,
    output)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.Popen([sys.executable, "-u", "-c", "import numpy as np, dynsys as ds\n" + code],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                         # a parent started in the background may ignore SIGINT; a child inherits that
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stdout.readline().strip() == "go"
    time.sleep(wait_s)
    t = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=30)
    finally:
        p.kill()
    return time.monotonic() - t, out


def test_sgd_ctrl_c_returns_interrupted_runs_and_exits():
    dt, out = _sigint_after_start(
        "m = ds.TeacherStudent(np.eye(3)); W = np.random.default_rng(0).normal(size=(8, 3, 3))\n"
        "ds.sgd(m, W, n_samples=64, epochs=1)\nprint('go', flush=True)\n"
        "r = ds.sgd(m, W, n_samples=100000, epochs=1000)\nprint(sorted(set(r.status.tolist())))")
    assert dt < 10.0, out
    assert f"[{int(ds.Status.INTERRUPTED)}]" in out, out


def test_find_critical_points_answers_sigint():
    dt, out = _sigint_after_start(
        "m = ds.TeacherStudent(np.eye(3)); S = np.random.default_rng(0).normal(size=(200000, 3, 3))\n"
        "ds.find_critical_points(m, S[:2])\nprint('go', flush=True)\nds.find_critical_points(m, S)")
    assert dt < 10.0, out


@pytest.mark.slow
def test_census_sweep_stops_on_ctrl_c():
    dt, out = _sigint_after_start(
        "ds.census_sweep([2], 4, progress=False)\nprint('go', flush=True)\n"
        "s = ds.census_sweep([3, 4], 30000, progress=False)\nprint('ks', s.ks)", wait_s=4.0)
    assert dt < 20.0 and "ks (3,)" in out, out


def test_found_by_fuzz_census_and_manifold_sizes(m):
    for call in (lambda: ds.census(m, 2**63), lambda: ds.census_sweep([2], 2**63)):
        with pytest.raises(ValueError, match="n_runs must be at most .*CENSUS_MAX_RUNS"):
            call()
    with pytest.raises(ValueError, match="max_points must be at most"):
        ds.trace_manifold(ds.TeacherStudent(I, alpha=1.0), I, max_points=10**9)


def test_flow_memory_guard_before_allocating():
    from dynsys.flow_plan import _check_memory
    with pytest.raises(ValueError, match="W0 holds .* trajectories .* available memory"):
        _check_memory(3 * 10**12, 3, 3)
    _check_memory(1000, 3, 3)


def test_found_by_fuzz_monte_carlo_sample_count(m):
    with pytest.raises(ValueError, match="n_samples must be at most"):
        ds.monte_carlo(m, R, 2**63)
    with pytest.raises(ValueError, match="n_samples must be at most"):
        ds.monte_carlo_gating(I[0], R[0], 2**63)


def test_found_by_fuzz_reduced_grid_and_save_every(m):
    with pytest.raises(ValueError, match="n_radial \\* n_angular"):
        ds.ReducedDynamics(3).fixed_points(n_radial=10**9)
    with pytest.raises(ValueError, match="save must be at most"):
        ds.flow(m, R, save=2**63)


# ----------------------------------------------------------------- found by the fuzz of the rest of the API
def test_two_phase_trace_refuses_bad_starts_before_indexing(m):
    for W0 in (None, np.ones(4), np.ones((0, 3, 3))):
        with pytest.raises((TypeError, ValueError), match="W0"):
            ds.gd_trace(m, W0, step=0.1, n_steps=5, delta=0.01)
        with pytest.raises((TypeError, ValueError), match="W0"):
            ds.sgd_trace(m, W0, step=0.1, epochs=2, delta=0.01, n_samples=8)


def test_two_phase_trace_validates_chunk_and_delta(m):
    with pytest.raises(ValueError, match="chunk must be"):
        ds.gd_trace(m, R, step=0.1, n_steps=5, delta=0.01, chunk=-5)
    with pytest.raises(ValueError, match="delta must be"):
        ds.gd_trace(m, R, step=0.1, n_steps=5, delta=[0.1, 0.2])
    with pytest.raises(ValueError, match="delta must be finite"):
        ds.gd_trace(m, R, step=0.1, n_steps=5, delta=np.nan)
    t = ds.gd_trace(m, np.stack([R, R]), step=0.1, n_steps=5, delta=[0.0, 0.1])
    assert list(t.delta) == [0.0, 0.1]


def test_two_phase_trace_record_memory_guard(m):
    with pytest.raises(ValueError, match="n_steps / every .*FLOW_SAVE_MAX_BYTES"):
        ds.gd_trace(m, R, step=0.1, n_steps=10**9, delta=0.01)
    with pytest.raises(ValueError, match="epochs = .*FLOW_SAVE_MAX_BYTES"):
        ds.sgd_trace(m, R, step=0.1, epochs=10**9, delta=0.01, n_samples=8)


def test_basins_entry_of_another_type_is_type_error(m):
    for entry in (0, 0.0, "fro"):
        with pytest.raises(TypeError, match="entry must be True, False or None"):
            ds.basins(m, ds.Xavier(2), entry=entry)


def test_basin_slices_refuse_a_non_model_and_name_their_ranges(m):
    for model in (I, [1.0], 0.5):
        with pytest.raises(TypeError, match="model must be a dynsys.TeacherStudent"):
            ds.teacher_slice(model, [1, 0, 2])
        with pytest.raises(TypeError, match="model must be a dynsys.TeacherStudent"):
            ds.reduced_plane(model)
    with pytest.raises(TypeError, match="x must be a pair"):
        ds.reduced_plane(m, x=0.5)
    with pytest.raises(TypeError, match="shape must be a pair"):
        ds.teacher_slice(m, [1, 0, 2], shape=3)
    with pytest.raises(ValueError, match="perm must be a permutation"):
        ds.teacher_slice(m, [1.0, 0.0, 2.0])


def test_basin_map_cell_count_capped(m):
    for sampler in (ds.Xavier(2**62), ds.TeacherNoise(2**63)):
        with pytest.raises(ValueError, match="BASINS_MAX_CELLS"):
            ds.basins(m, sampler)


def test_train_classifier_sizes_refused():
    X, y = np.random.default_rng(4).normal(size=(12, 4)), np.arange(12) % 10
    with pytest.raises(ValueError, match="CLASSIFIER_MAX_BYTES"):
        ds.train_classifier(X, y, X, y, repeats=10**9, epochs=1)
    with pytest.raises(ValueError, match="batch_size must be at most"):
        ds.train_classifier(X, y, X, y, batch_size=2**64, epochs=1, repeats=1)


def test_sgd_trace_refuses_a_singular_start(m):
    W0 = 1e-12 * R           # every row below singular_tol: SGD would move on, record 0 would be NaN
    with pytest.raises(ValueError, match=r"W0\[0\] is singular"):
        ds.sgd_trace(m, W0, step=0.05, epochs=2, delta=0.01, n_samples=16)


def test_continuation_checks_p0_and_W0_before_evaluating_the_family(m):
    fam = ds.families.leaky_slope(m)
    for p0, exc in (("bogus", TypeError), (None, TypeError), (-0.001, ValueError), (np.inf, ValueError)):
        with pytest.raises(exc, match="p0"):
            ds.continuation(fam, I, p0, 0.3)
    with pytest.raises(TypeError, match="W0"):
        ds.continuation(fam, [[1, 2], [3]], 0.0, 0.3)


def test_two_phase_verdict_names_its_arrays():
    a = np.array([[3.0, 2.0, 1.0]])
    for kw, name in (({"f_A": "bogus"}, "f_A"), ({"dist": np.full((1, 3), "x")}, "dist"),
                     ({"delta": "bogus"}, "delta"), ({"failed": "bogus"}, "failed"),
                     ({"dist_floor": -1.0}, "dist_floor")):
        args = {"f_A": a, "margin": a, "dist": a, "delta": 0.1, **kw}
        with pytest.raises((TypeError, ValueError), match=name):
            ds.two_phase_verdict(**args)


def test_reduced_plane_range_of_wrong_length_names_it(m):
    for y in ((-1.0,), "bogus"):
        with pytest.raises(ValueError, match="y must be a pair"):
            ds.reduced_plane(m, y=y)


def test_teacher_families_refuse_rows_that_are_not_integers(m):
    for rows in (None, True, (1,), (0.0, 1.0)):
        with pytest.raises(ValueError, match="rows must be two different teacher rows"):
            ds.families.teacher_angle(m, rows=rows)
    for row in (1.5, None, "bogus"):
        with pytest.raises(TypeError, match="row must be a teacher row"):
            ds.families.teacher_norm(m, row=row)


def test_train_classifier_ragged_labels_named():
    X = np.random.default_rng(4).normal(size=(2, 4))
    with pytest.raises(ValueError, match="y_train must hold"):
        ds.train_classifier(X, [[1, 2], [3]], X, [0, 1], epochs=1, repeats=1)


def test_reduced_plane_reversed_range_names_it(m):
    with pytest.raises(ValueError, match="y must be a range"):
        ds.reduced_plane(m, y=(0.1, 0.0))


def test_sgd_training_set_memory_guard(m):
    for n in (10**9, 2**31):     # 10**9 ran for minutes, 2**31 raised MemoryError inside the kernel
        with pytest.raises(ValueError, match="n_samples = .*SGD_DATA_MAX_BYTES"):
            ds.sgd(m, R, n_samples=n, epochs=1)


def test_default_gtol_that_underflows_is_refused(m):
    # top weights scaled by 5e-324: grad_scale underflows, the default gtol was 0 (ZeroDivisionError)
    fam = ds.families.top_weight_scale(m)
    with pytest.raises(ValueError, match="default gtol .* pass gtol explicitly"):
        ds.continuation(fam, I, 5e-324, 1.2, max_points=8, path="general")


def test_store_without_a_folder_name_is_refused(m):
    for store in ("", "."):
        with pytest.raises(ValueError, match="store must name a folder"):
            ds.basins(m, ds.Xavier(2), store=store, max_steps=10)


def test_certify_empty_batch_named(m):
    with pytest.raises(ValueError, match="point_or_set holds no points"):
        ds.certify(m, np.ones((0, 3, 3)))


def test_gd_trace_every_beyond_int64_named(m):
    with pytest.raises(ValueError, match="every must be at most"):
        ds.gd_trace(m, R, step=0.1, n_steps=5, delta=0.01, every=2**63)


def test_switching_names_a_branch_or_event_of_the_wrong_type():
    # switch_branch read branch.W of whatever it was given (AttributeError on a string)
    from dynsys.continuation import isotropy, switch_branch
    from dynsys.theory.k2_saddles import k2_saddle_families

    fam0 = k2_saddle_families(1.0, 1.0, 2.0)[0]
    family = ds.families.teacher_angle(ds.TeacherStudent(fam0.teacher(2)))
    branch = ds.continuation(family, fam0.W(0.3), 2.0, 2.6)
    for call in (lambda b, e: switch_branch(family, b, e, 2.6), lambda b, e: isotropy(family, b, e)):
        with pytest.raises(TypeError, match="branch must be the Branch"):
            call("x", branch.events[0])
        with pytest.raises(TypeError, match="event must be an Event"):
            call(branch, np.ones((2, 2)))
