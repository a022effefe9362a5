"""Label on entry: labels identical to full runs, the balls' certificate, store identity, bad input."""

import math
import warnings

import numpy as np
import pytest

import dynsys as ds
from dynsys._codes import ENTERED
from dynsys.basins import plan_basins
from dynsys.basins.entry import certify


def _slice(m, n):
    return ds.teacher_slice(m, [1, 0, 2, 3], shape=(n, n))


def test_labels_identical_and_steps_saved():
    m = ds.TeacherStudent(np.eye(4))
    S = _slice(m, 12)
    r0 = ds.basins(m, S, backend="cpu")
    r1 = ds.basins(m, S, backend="cpu", entry=True)
    assert np.array_equal(r0.labels, r1.labels)
    ent = r1.status == ENTERED
    assert ent.any() and np.array_equal(ent, r1.entered) and not r0.entered.any()
    # an entered run stopped early; every other run is the full run, bitwise
    assert np.all(r1.steps[ent] < r0.steps[ent])
    assert np.array_equal(r1.steps[~ent], r0.steps[~ent])
    assert np.array_equal(r1.status[~ent], r0.status[~ent])
    assert np.array_equal(r1.loss[~ent], r0.loss[~ent], equal_nan=True)
    # runs near the saddles (label -4) are never cut short
    assert not np.any(ent & (r0.labels < 0))
    assert r0.fractions == r1.fractions


def test_ball_certificate_by_sampling():
    """Independent check of the contraction: gd maps random points of each ball closer to its centre
    by at least the factor q (numerical gradient of the model, no bound code)."""
    m = ds.TeacherStudent(np.eye(4))
    b = certify(m, 0.1)
    assert b.radii.size == 24 and np.all(b.radii > 0) and np.all(b.q < 1)
    rng = np.random.default_rng(0)
    for i in (0, 7, 23):
        c, r = b.centres[i], b.radii[i]
        for _ in range(20):
            x = rng.standard_normal(c.shape)
            x = c + x / np.linalg.norm(x) * r * rng.uniform(0.2, 1.0)
            y = x - 0.1 * m.grad(x, backend="cpu")
            assert np.linalg.norm(y - c) <= b.q[i] * np.linalg.norm(x - c) * (1 + 1e-9)


def test_inside_matches_direct_distance():
    m = ds.TeacherStudent(np.eye(4))
    b = certify(m, 0.1)
    rng = np.random.default_rng(1)
    W = b.centres[rng.integers(0, 24, 200)] + rng.standard_normal((200, 4, 4)) * 0.0008
    got = b.inside(W)
    d = np.linalg.norm((W[:, None] - b.centres[None]).reshape(200, 24, -1), axis=2)
    want = np.where(np.any(d < b.radii * (1 - 1e-9), axis=1), np.argmin(d, axis=1), -1)
    assert np.array_equal(got, want) and (got >= 0).any() and (got < 0).any()


def test_store_identity_includes_entry(tmp_path):
    m = ds.TeacherStudent(np.eye(4))
    S = _slice(m, 4)
    ds.basins(m, S, backend="cpu", store=tmp_path / "s.zarr")
    from dynsys.basins.store import StoreMismatch
    with pytest.raises(StoreMismatch):
        ds.basins(m, S, backend="cpu", store=tmp_path / "s.zarr", entry=True)
    assert "entry" not in plan_basins(m, S).identity()
    assert "entry" in plan_basins(m, S, entry=True).identity()


def test_bad_input():
    m = ds.TeacherStudent(np.eye(3))
    S = ds.Xavier(4, seed=0)
    with pytest.raises(ValueError, match="method='gd'"):
        ds.basins(m, S, method="rk4", entry=True)
    with pytest.raises(NotImplementedError, match="entry"):
        ds.basins(m, S, entry="yes")
    over = ds.TeacherStudent(np.eye(3), k=4)
    with pytest.warns(RuntimeWarning, match="full length"):
        p = plan_basins(over, ds.Xavier(4, seed=0), entry=True)
    assert p.entry.radii.size == 0
    # a step too large for any contraction: no ball certified, full runs, a warning
    with pytest.warns(RuntimeWarning, match="could not be certified"):
        p = plan_basins(m, S, step=10.0, entry=True)
    assert p.entry.radii.size == 0


@pytest.mark.slow
def test_labels_identical_10k():
    m = ds.TeacherStudent(np.eye(4))
    S = _slice(m, 100)
    r0 = ds.basins(m, S)
    r1 = ds.basins(m, S, entry=True)
    assert np.array_equal(r0.labels, r1.labels)
