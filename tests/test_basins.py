"""Basin maps: samplers, labels, fractions, invariance (chunks, threads, teacher order), results."""

import math

import numba
import numpy as np
import pytest

import dynsys as ds
from dynsys.basins import (Ball, Gaussian, Grid, Spheres, TeacherNoise, Xavier, basins, plan_basins,
                           reduced_plane, run_basin_chunk, teacher_slice)
from dynsys.critical import random_starts
from dynsys.systems.toys import DoubleWell, QuadraticSaddle

import naive_basins

E0, E1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])


def _plane(s, t, shape):
    return Grid(np.zeros(2), E0, E1, s, t, shape)


@pytest.fixture(scope="module")
def m4():
    return ds.TeacherStudent(np.eye(4))


@pytest.fixture(scope="module")
def slice4(m4):
    return teacher_slice(m4, [1, 0, 2, 3], shape=(12, 12))


@pytest.fixture(scope="module")
def map4(m4, slice4):
    return basins(m4, slice4)


# ------------------------------------------------------------------------------------ samplers
@pytest.mark.parametrize("make", [
    lambda m: Xavier(23, seed=3), lambda m: Xavier(23, seed=3, uniform=True),
    lambda m: Gaussian(23, std=0.3, seed=1, mean=0.1), lambda m: Ball(23, radius=2.0, seed=2),
    lambda m: TeacherNoise(23, scale=0.5, noise=0.2, seed=4), lambda m: Spheres(23, radius=0.7, seed=5),
    lambda m: teacher_slice(m, [2, 0, 1, 3], shape=(4, 6)), lambda m: reduced_plane(m, shape=(5, 4))])
def test_samplers_are_chunkable(m4, make):
    s = make(m4)
    whole = s.points(m4)
    assert whole.shape == (s.n, 4, 4)
    parts = np.concatenate([s.points(m4, lo, min(s.n, lo + 7)) for lo in range(0, s.n, 7)])
    assert np.array_equal(whole, parts)
    assert np.array_equal(make(m4).points(m4, 3, 9), whole[3:9])  # a new sampler: the same points


def test_sampler_laws(m4):
    assert np.array_equal(Xavier(9, seed=7).points(m4), random_starts(4, 4, 9, seed=7))
    assert np.array_equal(Xavier(9, seed=7, uniform=True).points(m4),
                          random_starts(4, 4, 9, seed=7, init="xavier_uniform"))
    b = Ball(2000, radius=2.0).points(m4).reshape(2000, -1)
    r = np.linalg.norm(b, axis=1)
    assert r.max() <= 2.0 and abs(np.mean((r / 2.0) ** 16) - 0.5) < 0.05  # P(r^16 <= u) = u
    sp = Spheres(5, radius=0.7).points(m4)
    assert np.allclose(np.linalg.norm(sp, axis=2), 0.7)
    tn = TeacherNoise(3000, scale=0.5, noise=0.2).points(m4)
    assert abs(np.std(tn - 0.5 * np.eye(4)) - 0.2) < 0.01


def test_grid_cells_and_reduced_plane(m4):
    g = Grid(np.zeros(2), E0, E1, (-1.0, 1.0), (0.0, 2.0), (2, 4))
    P = g.points(DoubleWell())
    assert np.allclose(P[:4, 0], [-0.75, -0.25, 0.25, 0.75]) and np.allclose(P[:4, 1], 0.5)
    assert np.allclose(P[4:, 1], 1.5)
    rp = reduced_plane(m4, x=(0.0, 1.0), y=(0.0, 1.0), shape=(2, 2))
    W = rp.points(m4)[1]  # x = 0.75, y = 0.25
    assert np.allclose(W, 0.75 * np.eye(4) + 0.25 * (np.ones((4, 4)) - np.eye(4)))
    assert np.allclose(rp.coords(W), [0.75, 0.25])


@pytest.mark.parametrize("bad, match", [
    (lambda m: Grid(np.zeros(2), E0, E1, (1, 0), (0, 1), (2, 2)), "lo < hi"),
    (lambda m: Grid(np.zeros(2), E0, 2 * E0, (0, 1), (0, 1), (2, 2)), "not parallel"),
    (lambda m: Grid(np.zeros(2), E0, E1, (0, 1), (0, 1), (0, 2)), "shape"),
    (lambda m: Grid(np.zeros(2), E0, E1, (0, np.inf), (0, 1), (2, 2)), "finite"),
    (lambda m: Grid(np.zeros(2), E0, np.zeros(3), (0, 1), (0, 1), (2, 2)), "one shape"),
    (lambda m: Xavier(0), "n"), (lambda m: Gaussian(5, std=0.0), "std"),
    (lambda m: Gaussian(5, seed=-1), "seed"), (lambda m: Ball(5, radius=-1.0), "radius"),
    (lambda m: Ball(5, radius=math.inf), "radius"), (lambda m: TeacherNoise(5, noise=-0.1), "noise"),
    (lambda m: teacher_slice(m, [0, 0, 1, 2]), "permutation"),
    (lambda m: reduced_plane(ds.TeacherStudent(2 * np.eye(3))), "orthonormal"),
    (lambda m: reduced_plane(ds.TeacherStudent(np.eye(3), k=4)), "k = k"),
])
def test_impossible_sampler_arguments(m4, bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bad(m4)


def test_sampler_for_another_model_and_range(m4):
    g = _plane((0, 1), (0, 1), (2, 2))
    with pytest.raises(ValueError, match="shape"):
        basins(m4, g)
    with pytest.raises(ValueError, match="lo < hi"):
        Xavier(5).points(m4, 3, 9)


# ------------------------------------------------------------------------------------- toys
def test_double_well_halves_and_oracle():
    g = _plane((-1.5, 1.5), (-1.0, 1.0), (6, 8))  # even, symmetric about the separatrix x0 = 0
    r = basins(DoubleWell(), g)
    assert len(r.attractors) == 2 and all(a.kind == "global_minimum" for a in r.attractors)
    fr = r.fractions
    assert fr[0] == fr[1] == 0.5 and math.isclose(sum(fr.values()), 1.0)
    side = naive_basins.double_well_basin(g.points(DoubleWell()))
    x_att = np.array([a.W[0] for a in r.attractors])
    assert np.array_equal(np.sign(np.round(x_att[r.labels], 6)).astype(int), side)
    lo, hi = r.intervals[0]
    assert lo < 0.5 < hi
    assert r.class_fractions == {0: 1.0}


def test_saddle_is_never_an_attractor():
    r = basins(QuadraticSaddle(), _plane((-1, 1), (-1, 1), (3, 4)), max_steps=3000)
    L = r.label_map
    assert np.all(L[1] == ds.Label.SADDLE) and np.all(L[[0, 2]] == ds.Label.DIVERGED)
    assert r.attractors == ()
    r = basins(DoubleWell(), _plane((-1.5, 1.5), (-1, 1), (4, 5)))  # the middle column is x0 = 0
    assert np.all(r.label_map[:, 2] == ds.Label.SADDLE)
    assert all(a.kind == "global_minimum" for a in r.attractors)


# ------------------------------------------------------------------------------------ the model
def test_teacher_slice_labels(map4, slice4, m4):
    r = map4
    perms = {tuple(int(x) for x in a.permutation) for a in r.attractors}
    assert perms == {(0, 1, 2, 3), (1, 0, 2, 3)}
    assert [tuple(a.permutation) for a in r.attractors] == sorted(perms)  # labels by rank
    assert r.attractors[0].count == r.attractors[1].count  # the slice is symmetric under s <-> t
    L = r.label_map
    assert np.all(np.diag(L) == ds.Label.SADDLE)  # s = t: two coincident rows, the symmetric saddle
    assert math.isclose(sum(r.fractions.values()), 1.0)
    # the teacher's own cell and the permuted teacher's cell
    s, t = slice4.s_centres, slice4.t_centres
    j, i = np.argmin(abs(s - 1.0)), np.argmin(abs(t - 0.0))
    assert tuple(r.attractors[L[i, j]].permutation) == (0, 1, 2, 3)
    b = r.boundary
    assert b.any() and not b.all()


def test_against_naive_oracle(map4, slice4, m4):
    P = slice4.points(m4)
    for cell in (13, 40):  # a saddle on the diagonal, a minimum (the oracle is slow)
        W, perm, index = naive_basins.teacher_student_end(P[cell], np.eye(4))
        lab = int(map4.labels[cell])
        if index > 0:
            assert lab == ds.Label.SADDLE
        else:
            assert perm is not None and tuple(map4.attractors[lab].permutation) == perm


def test_permuting_teacher_rows_permutes_labels():
    q = np.array([2, 0, 3, 1])
    m, mq = ds.TeacherStudent(np.eye(4)), ds.TeacherStudent(np.eye(4)[q])
    s = Xavier(60, seed=11)
    r, rq = basins(m, s), basins(mq, s)
    assert np.array_equal(r.labels < 0, rq.labels < 0)
    inv = np.argsort(q)
    for cell in np.flatnonzero(r.labels >= 0):
        p = r.attractors[r.labels[cell]].permutation
        pq = rq.attractors[rq.labels[cell]].permutation
        assert np.array_equal(pq, inv[p])


def test_fractions_sum_to_one_and_classes():
    m = ds.TeacherStudent(np.eye(6))
    r = basins(m, Xavier(80, seed=2))
    assert math.isclose(sum(r.fractions.values()), 1.0)
    assert math.isclose(sum(r.class_fractions.values()) + sum(v for k, v in r.fractions.items() if k < 0), 1.0)
    for a in r.attractors:
        assert a.kind in ("global_minimum", "spurious_minimum", "degenerate")
        assert (a.class_id == 0) == (a.kind == "global_minimum")
        if a.kind == "global_minimum":
            assert sorted(a.permutation.tolist()) == list(range(6))
        assert a.interval[0] <= a.fraction <= a.interval[1]
    assert np.all(np.isin(r.labels, np.arange(-4, len(r.attractors))))


def test_over_parameterised_assignment():
    m = ds.TeacherStudent(np.eye(2), k=3)
    r = basins(m, Xavier(20, seed=0), gtol=1e-6)  # split rows converge slowly: Newton finishes
    glob = [a for a in r.attractors if a.kind == "global_minimum"]
    assert glob
    for a in glob:
        assert a.assignment.shape == (3,) and set(a.assignment.tolist()) == {0, 1}
        assert a.permutation is None


def test_chunks_and_threads_do_not_change_anything(m4, slice4, map4):
    r7 = basins(m4, slice4, chunk_size=7)
    assert np.array_equal(r7.labels, map4.labels)
    assert np.array_equal(r7.loss, map4.loss, equal_nan=True)
    assert np.array_equal(r7.steps, map4.steps)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        r1 = basins(m4, slice4, chunk_size=50)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(r1.labels, map4.labels)
    assert np.array_equal(r1.loss, map4.loss, equal_nan=True)


def test_chunks_in_any_order(m4, slice4, map4):
    from dynsys.basins import package_basins
    plan = plan_basins(m4, slice4, chunk_size=30)
    chunks = [run_basin_chunk(plan, lo, hi) for lo, hi in plan.chunks()[::-1]]
    r = package_basins(plan, chunks)
    assert np.array_equal(r.labels, map4.labels)
    part = package_basins(plan, chunks[:2])
    assert part.interrupted and part.n_not_computed == plan.n - sum(c.hi - c.lo for c in chunks[:2])
    assert math.isclose(sum(part.fractions.values()), 1.0)


def test_known_attractors_keep_their_labels(m4, map4):
    other = teacher_slice(m4, [0, 1, 3, 2], shape=(6, 6))  # reaches the teacher and another permutation
    r = basins(m4, other, attractors=map4)
    assert r.attractors[:2] == r.attractors[:2]
    assert tuple(r.attractors[0].permutation) == (0, 1, 2, 3)
    assert tuple(r.attractors[1].permutation) == (1, 0, 2, 3) and r.attractors[1].count == 0
    assert tuple(r.attractors[2].permutation) == (0, 1, 3, 2)


def test_result_save_load_and_text(tmp_path, map4):
    p = map4.save(tmp_path / "b")
    r = ds.BasinResult.load(p)
    assert np.array_equal(r.labels, map4.labels)
    assert r.fractions == map4.fractions and r.intervals == map4.intervals
    assert np.array_equal(r.attractors[1].permutation, map4.attractors[1].permutation)
    assert "perm (1, 0, 2, 3)" in map4.table() and "saddle" in map4.table()
    sb, sbb = map4.entropy(box=3)
    assert 0.0 < sb <= sbb <= math.log(len(map4.attractors) + 5)
    assert "attractors" in repr(map4)


def test_bad_arguments(m4):
    with pytest.raises(TypeError, match="sampler"):
        plan_basins(m4, np.zeros((3, 4, 4)))
    with pytest.raises(TypeError, match="entry"):
        basins(m4, Xavier(3), entry=object())
    with pytest.raises(ValueError, match="method='gd'"):
        basins(DoubleWell(), _plane((0, 1), (0, 1), (2, 2)), method="rk4")
    with pytest.raises(ValueError, match="backend"):
        basins(m4, Xavier(3), backend="cuda")
    with pytest.raises(TypeError, match="unexpected"):
        basins(m4, Xavier(3), gtoll=1.0)
    with pytest.raises(ValueError, match="W0"):
        basins(m4, np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="step"):
        basins(m4, Xavier(3), step=-1.0)
    with pytest.raises(TypeError, match="Attractor"):
        basins(m4, Xavier(3), attractors=[1, 2])


def test_array_starts(m4):
    W0 = Xavier(10, seed=1).points(m4)
    r = basins(m4, W0)
    assert np.array_equal(r.labels, basins(m4, Xavier(10, seed=1)).labels)
    assert r.sampler["sampler"] == "array"


def test_agrees_with_the_census_run_by_run():
    # the census classifies each endpoint by dynsys.classify, one at a time: an independent path
    m = ds.TeacherStudent(np.eye(6))
    c = ds.census(m, 150, seed=0)
    r = basins(m, Xavier(150, seed=0), entry=False)  # full runs: the census runs every start to gtol
    kinds = np.array([r.attractors[lab].kind if lab >= 0 else lab for lab in r.labels], dtype=object)
    ckinds = np.array([c.classes[lab].kind if lab >= 0 else lab for lab in c.labels], dtype=object)
    assert np.array_equal(kinds, ckinds)
    assert np.array_equal(r.steps, c.steps)
