"""Census of minima: Wilson intervals, reproducible starts, classes up to symmetry, the sweep.

What is asserted is what must hold whatever the landscape does: counts add up to the runs, intervals
contain their fractions, every reported minimum is refined (gradient norm <= 1e-10) and has index 0,
global classes have zero loss, classes are distinct, the same seed gives the same census. The one
claim about the landscape itself (Safran and Shamir 2018: spurious minima of W* = I_k from k = 6 on) is
in the slow test.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

import dynsys as ds
from dynsys.critical.census import (LABEL_SADDLE, LABEL_UNCONVERGED, census, census_sweep, random_starts,
                                    wilson_interval)
from dynsys.critical.census_counts import canonical_rows, distinct_states
from dynsys.results import Census, CensusSweep

#: Every reported minimum (docs/math.md section 4: gradient norm <= 1e-10 after refinement).
GRAD_MAX = 1e-10
#: Global minima: loss <= LOSS_RTOL * teacher energy (docs/math.md section 4 default).
LOSS_RTOL = 1e-10
#: Wilson interval against scipy with the exact quantile, and with the rounded default z.
WILSON_RTOL_EXACT = 1e-12
WILSON_ATOL_DEFAULT_Z = 1e-8


# ------------------------------------------------------------------------------------------------
# Wilson interval
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("count,n", [(0, 1), (1, 1), (0, 10), (1, 200), (5, 50), (50, 50), (333, 1000),
                                     (999, 1000), (17, 31)])
def test_wilson_matches_scipy(count, n):
    ci = stats.binomtest(count, n).proportion_ci(confidence_level=0.95, method="wilson")
    z = float(stats.norm.ppf(0.975))
    lo, hi = wilson_interval(count, n, z=z)
    assert lo == pytest.approx(float(ci.low), rel=WILSON_RTOL_EXACT, abs=1e-15)
    assert hi == pytest.approx(float(ci.high), rel=WILSON_RTOL_EXACT, abs=1e-15)
    lo, hi = wilson_interval(count, n)
    assert lo == pytest.approx(float(ci.low), abs=WILSON_ATOL_DEFAULT_Z)
    assert hi == pytest.approx(float(ci.high), abs=WILSON_ATOL_DEFAULT_Z)
    assert 0.0 <= lo <= count / n <= hi <= 1.0


def test_wilson_textbook_value():
    # Wilson (1927) / Newcombe (1998, Stat. Med. 17, 857, Table I): 81 of 263 -> 0.2553 to 0.3662.
    lo, hi = wilson_interval(81, 263)
    assert lo == pytest.approx(0.2553, abs=5e-5)
    assert hi == pytest.approx(0.3662, abs=5e-5)


def test_wilson_validation():
    with pytest.raises(ValueError, match="count"):
        wilson_interval(5, 4)
    with pytest.raises(ValueError, match="n"):
        wilson_interval(0, 0)
    with pytest.raises(TypeError, match="count"):
        wilson_interval(1.5, 4)


# ------------------------------------------------------------------------------------------------
# Starts and grouping helpers
# ------------------------------------------------------------------------------------------------

def test_random_starts_reproducible_and_prefix_stable():
    a = random_starts(3, 4, 10, seed=7)
    b = random_starts(3, 4, 25, seed=7)
    np.testing.assert_array_equal(a, b[:10])
    np.testing.assert_array_equal(a[4], np.random.default_rng([7, 4]).normal(0, 0.5, (3, 4)))
    assert not np.array_equal(a, random_starts(3, 4, 10, seed=8))
    # Entries N(0, 1/d), and "xavier_uniform" with the same variance: a loose statistical check.
    x = random_starts(4, 16, 2000, seed=1)
    u = random_starts(4, 16, 2000, init="xavier_uniform", seed=1)
    assert x.var() == pytest.approx(1 / 16, rel=0.02)
    assert u.var() == pytest.approx(1 / 16, rel=0.02)
    assert np.abs(u).max() <= math.sqrt(3 / 16)


def test_distinct_and_canonical_rows():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 4))
    P = np.eye(3)[[2, 0, 1]]
    Q = np.eye(4)[[1, 3, 0, 2]]
    copies = np.stack([W, W + 1e-12, P @ W, P @ W @ Q.T, W @ Q.T, P @ W - 1e-12])
    assert distinct_states(copies, 1e-6) == 4
    canon = np.stack([canonical_rows(c, np.ones(3), 1e-6) for c in copies])
    # Row relabelling is a symmetry of the function: W and P W are one function, W Q^T another.
    assert distinct_states(canon, 1e-6) == 2
    assert distinct_states(np.zeros((0, 3, 4)), 1e-6) == 0


# ------------------------------------------------------------------------------------------------
# Census
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_census():
    return census(ds.TeacherStudent(np.eye(3)), 40, seed=3)


def _check_invariants(c: Census, model):
    assert isinstance(c, Census)
    assert sum(cl.count for cl in c.classes) + c.n_saddle + c.n_unconverged + c.n_failed == c.n_runs
    assert c.labels.shape == (c.n_runs,)
    for i, cl in enumerate(c.classes):
        assert cl.count == int(np.sum(c.labels == i)) > 0
        assert cl.fraction == cl.count / c.n_runs
        assert cl.interval[0] <= cl.fraction <= cl.interval[1]
        assert cl.grad_norm <= GRAD_MAX
        assert cl.lambda_min >= -1e-7 * abs(cl.lambda_max)      # index 0
        assert 1 <= cl.n_functions <= cl.multiplicity <= cl.count
        assert cl.W.shape == (model.k, model.d)
        assert c.labels[cl.first_run] == i
        if cl.kind == "global_minimum":
            assert cl.loss <= LOSS_RTOL * model.teacher_energy
            assert cl.n_functions == 1
        else:
            assert cl.loss > LOSS_RTOL * model.teacher_energy
    assert [cl.loss for cl in c.classes] == sorted(cl.loss for cl in c.classes)
    assert sum(1 for cl in c.classes if cl.kind == "global_minimum") <= 1
    # Distinct classes: different losses, or (isolated minima) different spectra.
    for i in range(len(c.classes)):
        for j in range(i):
            a, b = c.classes[i], c.classes[j]
            assert a.kind != b.kind or abs(a.loss - b.loss) > 1e-9 or abs(a.lambda_min - b.lambda_min) > 1e-9
    n_sp = sum(cl.count for cl in c.classes if cl.kind == "spurious_minimum")
    assert c.spurious_fraction == n_sp / c.n_runs == c.n_spurious / c.n_runs
    assert c.spurious_interval == wilson_interval(n_sp, c.n_runs)
    assert c.spurious_interval[0] <= c.spurious_fraction <= c.spurious_interval[1]
    ok = c.labels >= 0
    assert np.all(c.grad_norm[ok] <= GRAD_MAX)
    assert np.all(np.isfinite(c.loss[ok | (c.labels == LABEL_SADDLE)]))


def test_census_invariants(small_census):
    m = ds.TeacherStudent(np.eye(3))
    c = small_census
    _check_invariants(c, m)
    assert (c.k, c.k_star, c.d, c.n_runs, c.seed, c.init) == (3, 3, 3, 40, 3, "xavier")
    assert c.step == 0.1 and c.gtol == 1e-9 and c.norm == "row_max"
    # k = 3: no spurious minimum is known, and at least one run reaches the teacher.
    assert c.classes[0].kind == "global_minimum"
    # Global minima of W* = I are the permutation matrices: the representative is one.
    P = np.abs(np.round(c.classes[0].W))
    np.testing.assert_allclose(c.classes[0].W, P, atol=1e-8)
    np.testing.assert_array_equal(P.sum(0), 1)
    np.testing.assert_array_equal(P.sum(1), 1)
    assert c.classes[0].multiplicity <= math.factorial(3)
    assert "global_minimum" in c.table() and "spurious" in c.table()


def test_census_deterministic_and_init_array(small_census):
    m = ds.TeacherStudent(np.eye(3))
    again = census(m, 40, seed=3, chunk_size=7)
    np.testing.assert_array_equal(again.labels, small_census.labels)
    np.testing.assert_array_equal(again.steps, small_census.steps)
    np.testing.assert_array_equal(again.loss, small_census.loss)
    one_thread = census(m, 40, seed=3, backend="cpu")
    np.testing.assert_array_equal(one_thread.labels, small_census.labels)
    np.testing.assert_array_equal(one_thread.loss, small_census.loss)
    W0 = random_starts(3, 3, 40, seed=3)
    given = census(m, init=W0)
    np.testing.assert_array_equal(given.labels, small_census.labels)
    assert given.init == "array" and given.seed is None


def test_census_unconverged_and_gtol_rule():
    m = ds.TeacherStudent(np.eye(2))
    c = census(m, 6, max_steps=3)
    assert c.n_unconverged == 6 and np.all(c.labels == LABEL_UNCONVERGED) and c.classes == ()
    assert c.spurious_fraction == 0.0 and c.spurious_interval[0] == 0.0
    # Safran-Shamir's rule is 2 pi tighter: gradient descent runs longer, the classes do not change.
    loose = census(m, 6, seed=1)
    tight = census(m, 6, seed=1, gtol=1e-9 / (2 * math.pi))
    assert np.all(tight.steps >= loose.steps) and np.any(tight.steps > loose.steps)
    np.testing.assert_array_equal(tight.labels, loose.labels)


def test_census_validation():
    m = ds.TeacherStudent(np.eye(2))
    with pytest.raises(ValueError, match="init"):
        census(m, 3, init="he")
    with pytest.raises(ValueError, match="init"):
        census(m, init=np.zeros((3, 2, 3)))
    with pytest.raises(ValueError, match="n_runs"):
        census(m, 4, init=np.ones((3, 2, 2)))
    with pytest.raises(TypeError, match="n_runs"):
        census(m)
    with pytest.raises(ValueError, match="n_runs"):
        census(m, 0)
    with pytest.raises(ValueError, match="step"):
        census(m, 2, step=-0.1)
    with pytest.raises(TypeError, match="model"):
        census(np.eye(2), 2)
    with pytest.raises(ValueError, match="ks"):
        census_sweep([], 3)
    with pytest.raises(ValueError, match="k_extra"):
        census_sweep([2], 3, k_extra=-1)


class _Counter:
    def __init__(self):
        self.n = 0
        self.closed = 0

    def update(self, n):
        self.n += n

    def close(self):
        self.closed += 1


def test_census_sweep_table_progress():
    bar = _Counter()
    s = census_sweep([2, 3], 8, seed=0, progress=bar)
    assert isinstance(s, CensusSweep)
    assert s.ks == (2, 3) and s.k_extra == 0 and len(s.censuses) == 2
    assert bar.n == 16 and bar.closed == 1          # one bar over the whole sweep
    for k, c in zip(s.ks, s.censuses):
        assert (c.k, c.d, c.n_runs) == (k, k, 8)
        _check_invariants(c, ds.TeacherStudent(np.eye(k)))
    assert s.spurious_intervals.shape == (2, 2)
    lines = s.table().splitlines()
    assert len(lines) == 4 and lines[2].split()[:2] == ["2", "8"]


def test_over_parameterised_sweep():
    s = census_sweep([2], 10, k_extra=1, seed=0)
    c = s.censuses[0]
    assert (c.k, c.k_star, c.d) == (3, 2, 2)
    _check_invariants(c, ds.TeacherStudent(np.eye(2), k=3))


def test_import_does_not_pull_matplotlib():
    code = "import sys, dynsys, dynsys.critical.census; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_spurious_minima_appear_from_k6():
    """Safran and Shamir (2018): for W* = I_k gradient descent from Xavier starts ends at spurious
    minima from k = 6 on, more often as k grows. Assert only that some run for k in 6..8 does, and
    that each spurious class is a refined, nondegenerate (lambda_min > 0) minimum."""
    s = census_sweep([6, 7, 8], 300, seed=0)
    spurious = [cl for c in s.censuses for cl in c.spurious_classes]
    assert spurious
    for c in s.censuses:
        _check_invariants(c, ds.TeacherStudent(np.eye(c.k)))
    for cl in spurious:
        assert cl.lambda_min > 0 and cl.nullity == 0 and cl.grad_norm <= GRAD_MAX
    assert s.spurious_fractions[-1] > 0
