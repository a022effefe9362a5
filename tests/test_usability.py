"""What a new user meets first: readable statuses and tables, one name for the step, errors in the
input's own shape, a refused zero teacher row, the teacher matching of every classified point."""

from __future__ import annotations

import numpy as np
import pytest

import dynsys as ds
from dynsys import results
from dynsys.config import PARALLEL_ATOL

import naive_match


# ------------------------------------------------------------------ statuses and tables
def test_status_prints_by_name():
    s = ds.Status.T1_REACHED
    assert str(s) == "Status.T1_REACHED" and f"{s}" == "Status.T1_REACHED" and "%s" % s == str(s)
    assert f"{s:>20}".strip() == "Status.T1_REACHED"
    assert f"{s:d}" == "5" and int(s) == 5 and s == 5          # still an integer code
    assert str(ds.Label.SADDLE) == "Label.SADDLE"


def _census_with_one_class():
    cls = results.CensusClass(kind="spurious_minimum", count=3, fraction=0.3, interval=(0.1, 0.6),
                              loss=0.01, lambda_min=1e-3, lambda_max=2.0, grad_norm=1e-12,
                              multiplicity=2, n_functions=1, nullity=0, W=np.eye(2), first_run=4)
    z = np.zeros(10)
    return results.Census(classes=(cls,), labels=np.zeros(10, np.int64), n_runs=10, n_saddle=0,
                          n_unconverged=7, n_failed=0, spurious_fraction=0.3, spurious_interval=(0.1, 0.6),
                          global_fraction=0.0, global_interval=(0.0, 0.3), loss=z, grad_norm=z,
                          lambda_min=z, steps=np.zeros(10, np.int64), k=2, k_star=2, d=2, step=0.1,
                          gtol=1e-9, norm="row_max", max_steps=100, seed=0, init="xavier")


def test_census_table_headers_are_attribute_names():
    c = _census_with_one_class()
    header = next(line for line in c.table().splitlines() if line.split()[0] == "class").split()
    for name in ("kind", "count", "loss", "lambda_min", "grad_norm", "nullity", "multiplicity", "n_functions"):
        assert name in header and hasattr(c.classes[0], name), name
    assert "copies" not in c.table() and "funcs" not in c.table()
    sweep = results.CensusSweep(ks=(2,), k_extra=0, censuses=(c,))
    header = sweep.table().splitlines()[1].split()
    for name in ("k", "n_runs", "n_saddle", "n_unconverged", "n_failed", "wall_time"):
        assert name in header and hasattr(c, name), name
    row = sweep.table().splitlines()[2].split()
    assert row[:2] == ["2", "10"] and "7" in row


def test_every_result_type_has_a_summary():
    for name, cls in results.io._TYPES.items():
        assert callable(getattr(cls, "summary", None)), name
    c = _census_with_one_class()
    assert c.summary() == c.table() and c.classes[0].summary().startswith("CensusClass:")


# ------------------------------------------------------------------ one name for the step
def test_sgd_and_flow_share_the_name_step():
    m = ds.TeacherStudent(np.eye(2))
    W0 = np.random.default_rng(0).normal(scale=0.5, size=(2, 2))
    r = ds.sgd(m, W0, n_samples=8, batch_size=4, step=0.05, epochs=1, seed=1)
    assert r.step == 0.05 and "step 0.05" in repr(r)
    with pytest.raises(TypeError, match="lr"):
        ds.sgd(m, W0, n_samples=8, lr=0.05)
    with pytest.raises(ValueError, match="step must be > 0"):
        ds.sgd(m, W0, n_samples=8, step=0.0)


# ------------------------------------------------------------------ checks
def test_classify_names_the_bad_entry_in_the_inputs_shape():
    m = ds.TeacherStudent(np.eye(3))
    W = np.eye(3)
    W[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"W\[1, 2\] = nan") as exc:
        ds.classify(m, W)
    assert "W[0, 1, 2]" not in str(exc.value)
    with pytest.raises(ValueError, match=r"seeds\[0, 1, 2\] = nan"):
        ds.find_critical_points(m, W[None])


@pytest.mark.parametrize("residual", [False, True])
def test_teacher_with_a_zero_row_is_refused(residual):
    W_star = np.eye(3)
    U = np.eye(3) if residual else None
    W_star[1] = -U[1] if residual else 0.0
    with pytest.raises(ValueError, match="row 1 of W_star \\+ residual is zero" if residual
                       else r"W_star\[1\] is zero"):
        ds.TeacherStudent(W_star, residual=U)
    with pytest.raises(ValueError, match="is zero"):
        ds.TeacherStudent(np.zeros((2, 3)))
    ds.TeacherStudent(np.eye(3) + 1e-6)  # small but nonzero rows are fine


# ------------------------------------------------------------------ teacher matching
@pytest.mark.parametrize("k, k_star", [(3, 3), (4, 3), (2, 3)])
def test_every_point_gets_its_teacher_matching(k, k_star):
    rng = np.random.default_rng(k * 10 + k_star)
    W_star = rng.normal(size=(k_star, 4))
    m = ds.TeacherStudent(W_star, k=k)
    for trial in range(3):
        W = rng.normal(size=(k, 4))
        W[0] = 2.0 * W_star[trial % k_star]        # one student row along a teacher row
        cp = ds.classify(m, W, refine=False)
        C = naive_match.cosines(W, W_star)
        match = naive_match.best_match(C, W, PARALLEL_ATOL)
        assert np.array_equal(cp.match, match)
        assert np.allclose(cp.match_cosine, C[np.arange(k), match], rtol=0, atol=1e-14)
        assert cp.match_cosine[0] == pytest.approx(1.0, abs=1e-14) and cp.match[0] == trial % k_star
        assert np.array_equal(cp.unmatched_teacher, naive_match.unmatched(C, W, PARALLEL_ATOL))
        assert trial % k_star not in cp.unmatched_teacher
        assert f"row 0 -> teacher {trial % k_star} (cos 1.0000)" in cp.summary()


def test_global_minimum_matching_agrees_with_its_permutation():
    m = ds.TeacherStudent(np.eye(3))
    cp = ds.classify(m, np.eye(3)[[2, 0, 1]])
    assert cp.kind == "global_minimum"
    assert np.array_equal(cp.match, cp.permutation) and np.array_equal(cp.match, [2, 0, 1])
    assert np.allclose(cp.match_cosine, 1.0) and cp.unmatched_teacher.size == 0


def test_matching_of_a_saddle_and_of_a_singular_point():
    m = ds.TeacherStudent(np.eye(2), k=2)
    rd = ds.ReducedDynamics(2)
    xs = rd.saddle()
    W = np.full((2, 2), xs)                          # the symmetric saddle: both rows on the diagonal
    cp = ds.classify(m, W)
    assert cp.kind == "saddle" and cp.permutation is None
    assert np.allclose(cp.match_cosine, np.sqrt(0.5)) and sorted(cp.match) == [0, 1]
    assert list(cp.unmatched_teacher) == [0, 1]      # no teacher unit learnt
    sing = ds.classify(m, np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert sing.kind == "singular" and list(sing.match) == [0, -1] and np.isnan(sing.match_cosine[1])
    assert list(sing.unmatched_teacher) == [1]


def test_toy_system_has_no_matching():
    from dynsys.systems import toys

    cp = ds.classify(toys.DoubleWell(), np.array([0.9, 0.1]))
    assert cp.match is None and cp.unmatched_teacher is None and "teacher" not in cp.summary()
