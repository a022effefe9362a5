"""Label on entry: labels identical to full runs, the balls' certificate, the kernel's entry test
against a direct distance computation, saddles never cut short, store identity, bad input."""

import itertools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dynsys as ds
from dynsys import backends
from dynsys._codes import ENTERED, MAX_STEPS, NORM_ROW_MAX
from dynsys.basins import plan_basins
from dynsys.basins.entry import EntryArrays, certify, frozen, teacher_minima
from dynsys.flow_plan import frozen_arrays, readonly
from dynsys.systems.teacher_student import work_size


def _slice(m, n):
    return ds.teacher_slice(m, [1, 0, 2, 3], shape=(n, n))


def test_labels_identical_and_steps_saved():
    m = ds.TeacherStudent(np.eye(4))
    S = _slice(m, 12)
    r0 = ds.basins(m, S, backend="cpu", entry=False)
    r1 = ds.basins(m, S, backend="cpu", entry=True)
    assert np.array_equal(r0.labels, r1.labels)
    ent = r1.status == ENTERED
    assert ent.any() and np.array_equal(ent, r1.entered) and not r0.entered.any()
    # an entered run stopped early; every other run is the full run, bitwise
    assert np.all(r1.steps[ent] < r0.steps[ent])
    assert np.array_equal(r1.steps[~ent], r0.steps[~ent])
    assert np.array_equal(r1.status[~ent], r0.status[~ent])
    assert np.array_equal(r1.loss[~ent], r0.loss[~ent], equal_nan=True)
    # runs that end at a saddle (label -4, the slice's diagonal) are never cut short: same steps, and
    # long runs (the diagonal's two equal rows get bitwise equal gradients and stay equal, so these
    # runs approach the saddle directly, in 1200-3300 steps here)
    sad = r0.labels == -4
    assert sad.any() and not np.any(ent & (r0.labels < 0))
    assert np.array_equal(r1.steps[sad], r0.steps[sad]) and np.all(r0.steps[sad] > 1000)
    assert r0.fractions == r1.fractions


def test_ball_certificate_by_sampling():
    """Independent check of the contraction: gd maps random points of each teacher permutation's ball
    closer to its centre by at least the factor q (the model's gradient, no bound code)."""
    m = ds.TeacherStudent(np.eye(4))
    b = certify(m, 0.1)
    assert b.n_perm == 24 and b.radii.size == 0 and b.perm_radius > 0 and b.perm_q < 1
    C = teacher_minima(m)
    rng = np.random.default_rng(0)
    for i in (0, 7, 23):
        c, r = C[i], b.perm_radius
        for _ in range(20):
            x = rng.standard_normal(c.shape)
            x = c + x / np.linalg.norm(x) * r * rng.uniform(0.2, 1.0)
            y = x - 0.1 * m.grad(x, backend="cpu")
            assert np.linalg.norm(y - c) <= b.perm_q * np.linalg.norm(x - c) * (1 + 1e-9)


def _one_step(m, W0, eb):
    """One kernel call with max_steps = 1: a start inside a ball is ENTERED at step 0 with the centre as
    its state; any other start takes one gd step and stops with MAX_STEPS."""
    n, k, d = W0.shape
    fa = frozen_arrays(m.arrays)
    W = np.empty((n, k, d))
    steps = np.zeros(n, dtype=np.int64)
    status = np.empty(n, dtype=np.int8)
    backends.flow_gd_entry("cpu", readonly(np.ascontiguousarray(W0)), fa, frozen(eb), 0.1, 1e-12, NORM_ROW_MAX,
                           1, 1e6, W, steps, status, work_size(k, k, d), np.zeros(1, np.int8), np.zeros(n, np.int8))
    return W, steps, status


def test_kernel_entry_test_matches_direct_distance():
    """Teacher permutations (matched row by row), keyed and direct explicit balls against a direct
    distance to every centre; the entered state is the centre."""
    m = ds.TeacherStudent(np.eye(3) + 0.1)
    T = np.asarray(m.W_star)
    rng = np.random.default_rng(1)
    perms = [T[list(p)] for p in itertools.permutations(range(3))]
    # explicit balls: two near teacher permutations with a distinct matching (keyed), one far (direct)
    C = np.array([perms[1] + 0.01, perms[4] - 0.02, 0.5 * T + 0.3])
    R = np.array([0.05, 0.03, 0.2])
    z = np.ones((3, 3)) / 3.0
    eb = EntryArrays(T=T, perm_r2=0.004 ** 2, C=C, r2=R ** 2, keys=np.array([0], dtype=np.int64),
                     key_ball=np.array([0], dtype=np.int64), direct=np.array([2], dtype=np.int64),
                     z=z, proj=np.array([float((C[2] * z).sum())]), rd=0.2 * (1 + 1e-6), g2max=np.inf, every=1)
    key1 = sum(int(np.argmin(np.linalg.norm(C[1][j] - T, axis=1))) * 3 ** j for j in range(3))
    eb = eb._replace(keys=np.sort(np.array([key1, 10**9], dtype=np.int64)))
    eb = eb._replace(key_ball=np.array([1, 0], dtype=np.int64)[np.argsort([key1, 10**9])])
    # (ball 0 is listed under a key no state has: it is never tested, so never entered)
    centres = np.concatenate([np.array(perms), C])
    radii = np.concatenate([np.full(6, 0.004), R])
    testable = np.array([True] * 6 + [False, True, True])
    pick = rng.integers(0, 9, 400)
    u = rng.standard_normal((400, 3, 3))
    u /= np.linalg.norm(u.reshape(400, -1), axis=1)[:, None, None]
    frac = rng.choice([0.3, 0.9, 0.999, 1.001, 1.1, 2.0], 400)
    W0 = centres[pick] + u * (frac * radii[pick])[:, None, None]
    W, steps, status = _one_step(m, W0, eb)
    dist = np.linalg.norm((W0[:, None] - centres[None]).reshape(400, 9, -1), axis=2)
    inside = (dist < radii[None, :] * (1 - 1e-9)) & testable[None, :]
    want = inside.any(axis=1)
    assert np.array_equal(status == ENTERED, want) and want.any() and (~want).any()
    assert np.all(status[~want] == MAX_STEPS) and np.all(steps[want] == 0) and np.all(steps[~want] == 1)
    which = np.argmax(inside, axis=1)
    assert np.allclose(W[want], centres[which[want]], rtol=0, atol=1e-15)


def test_kernel_many_direct_balls():
    """500 balls away from the teacher rows (tested through the sorted projections): the kernel's
    verdict equals a direct distance to every centre."""
    from dynsys.basins.entry import _kernel_arrays
    m = ds.TeacherStudent(np.eye(3))
    T = np.asarray(m.W_star)
    rng = np.random.default_rng(4)
    C = rng.uniform(-0.3, 0.3, (500, 3, 3))
    R = rng.uniform(0.005, 0.02, 500)
    eb = _kernel_arrays(m, 0.1, T, np.zeros((3, 3)), C, R, 0.0, 1)._replace(g2max=np.inf)
    assert eb.direct.size == 500 and np.all(np.diff(eb.proj) >= 0)
    pick = rng.integers(0, 500, 600)
    u = rng.standard_normal((600, 3, 3))
    u /= np.linalg.norm(u.reshape(600, -1), axis=1)[:, None, None]
    W0 = C[pick] + u * (rng.choice([0.5, 0.99, 1.01, 3.0], 600) * R[pick])[:, None, None]
    W, steps, status = _one_step(m, W0, eb)
    dist = np.linalg.norm((W0[:, None] - C[None]).reshape(600, 500, -1), axis=2)
    inside = dist < R[None, :] * (1 - 1e-9)
    want = inside.any(axis=1)
    assert np.array_equal(status == ENTERED, want) and want.any() and (~want).any()
    assert all(any(np.array_equal(W[i], C[b]) for b in np.flatnonzero(inside[i])) for i in np.flatnonzero(want))


def test_explicit_balls_from_attractors():
    """Unequal top weights (no row symmetry): balls come one per attractor of a pilot map (keyed by
    their matching); labels equal the full runs'."""
    m = ds.TeacherStudent(np.eye(3), a=[1.0, 1.0, 1.5], a_star=[1.0, 1.0, 1.5])
    S = ds.Xavier(60, seed=3)
    r0 = ds.basins(m, S, backend="cpu", entry=False)
    b = certify(m, 0.1, r0)
    assert b.n_perm == 0 and b.radii.size >= 1 and b.kernel.keys.size >= 1
    r1 = ds.basins(m, S, backend="cpu", entry=True, attractors=r0)
    assert np.array_equal(r0.labels, r1.labels) and r1.entered.any()


def test_entry_kernel_one_signature_and_cache_hit_in_new_process():
    """Teacher permutations, explicit balls, a residual and a pickled plan: one compiled signature,
    loaded from the cache by a second process."""
    ds.basins(ds.TeacherStudent(np.eye(2)), ds.Xavier(2, seed=0), max_steps=3, entry=True)  # fills the cache
    code = textwrap.dedent("""
        import json, pickle
        import numpy as np
        import dynsys as ds
        from dynsys.basins import plan_basins, run_basin_chunk
        from dynsys.kernels import gd_entry as ge
        a = ds.TeacherStudent(np.eye(2))
        b = ds.TeacherStudent(np.eye(2), residual=0.1 * np.ones((2, 2)))
        r = ds.basins(a, ds.Xavier(3, seed=0), max_steps=3, entry=True)
        ds.basins(b, ds.Xavier(3, seed=0), max_steps=3, entry=True, backend="cpu")
        ds.basins(a, ds.Xavier(3, seed=1), max_steps=3, entry=True, attractors=[ds.basins(a, np.eye(2)[None]).attractors[0]])
        p = pickle.loads(pickle.dumps(plan_basins(a, ds.Xavier(3, seed=0), max_steps=3, entry=True)))
        run_basin_chunk(p, 0, 3)
        st = ge._gd_entry_batch.stats
        print(json.dumps({"sigs": len(ge._gd_entry_batch.signatures),
                          "hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values())}))
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"sigs": 1, "hits": 1, "misses": 0}


def test_store_identity_includes_entry(tmp_path):
    m = ds.TeacherStudent(np.eye(4))
    S = _slice(m, 4)
    ds.basins(m, S, backend="cpu", store=tmp_path / "s.zarr", entry=False)
    from dynsys.basins.store import StoreMismatch
    with pytest.raises(StoreMismatch):
        ds.basins(m, S, backend="cpu", store=tmp_path / "s.zarr", entry=True)
    assert "entry" not in plan_basins(m, S, entry=False).identity()
    assert "entry" in plan_basins(m, S, entry=True).identity()


def test_bad_input():
    m = ds.TeacherStudent(np.eye(3))
    S = ds.Xavier(4, seed=0)
    from dynsys.systems import toys
    with pytest.raises(ValueError, match="entry=False"):
        ds.basins(toys.DoubleWell(), np.array([[0.9, 0.1]]), entry=True)
    with pytest.raises(TypeError, match="entry"):
        ds.basins(m, S, entry="yes")
    over = ds.TeacherStudent(np.eye(3), k=4)
    with pytest.warns(RuntimeWarning, match="full length"):
        p = plan_basins(over, ds.Xavier(4, seed=0), entry=True)
    assert p.entry.n_balls == 0
    # a step too large for any contraction: no ball certified, full runs, a warning
    with pytest.warns(RuntimeWarning, match="could not be certified"):
        p = plan_basins(m, S, step=10.0, entry=True)
    assert p.entry.n_balls == 0


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_flow_entry_labels_identical_and_saddles_not_cut(method):
    """rk4/dopri5 with the entry test at accepted steps: same labels as full runs; entered runs stop
    earlier; every other run (those ending at a saddle among them) is the full run, bitwise."""
    m = ds.TeacherStudent(np.eye(4))
    S = _slice(m, 10)
    r0 = ds.basins(m, S, method=method, backend="cpu", entry=False)
    r1 = ds.basins(m, S, method=method, backend="cpu", entry=True)
    assert np.array_equal(r0.labels, r1.labels)
    ent = r1.status == ENTERED
    assert ent.sum() > 0.5 * ent.size and not r0.entered.any()
    assert np.all(r1.steps[ent] < r0.steps[ent]) and r1.steps[ent].sum() < 0.5 * r0.steps[ent].sum()
    assert np.array_equal(r1.steps[~ent], r0.steps[~ent])
    assert np.array_equal(r1.status[~ent], r0.status[~ent])
    assert np.array_equal(r1.loss[~ent], r0.loss[~ent], equal_nan=True)
    sad = r0.labels == -4
    assert sad.any() and not np.any(ent & (r0.labels < 0))
    assert np.array_equal(r1.steps[sad], r0.steps[sad])


def test_flow_entry_xavier_k3_and_attractors():
    """A Xavier sample at k = d = 3 with rk4 and dopri5, also with explicit (numerical) attractor
    balls of a model without row symmetry: labels equal the full runs'."""
    m = ds.TeacherStudent(np.eye(3))
    S = ds.Xavier(150, seed=5)
    for method in ("rk4", "dopri5"):
        r0 = ds.basins(m, S, method=method, entry=False)
        r1 = ds.basins(m, S, method=method, entry=True)
        assert np.array_equal(r0.labels, r1.labels) and r1.entered.mean() > 0.9
    u = ds.TeacherStudent(np.eye(3), a=[1.0, 1.0, 1.5], a_star=[1.0, 1.0, 1.5])
    S = ds.Xavier(40, seed=3)
    r0 = ds.basins(u, S, method="dopri5", entry=False)
    b = certify(u, 0.1, r0, flow=True)
    assert b.flow and b.n_perm == 0 and b.radii.size >= 1 and np.all(np.isnan(b.q))
    r1 = ds.basins(u, S, method="dopri5", entry=True, attractors=r0)
    assert np.array_equal(r0.labels, r1.labels) and r1.entered.any()


def test_flow_ball_by_sampling():
    """Independent check of the flow argument: on the flow ball of each teacher permutation the exact
    flow points inwards, <grad L(x), x - c> > 0 (the model's gradient, no bound code), and the flow
    ball is at least the gd ball's size shrunk by the margin."""
    from dynsys.config import ENTRY_FLOW_MARGIN
    m = ds.TeacherStudent(np.eye(4))
    bf, bg = certify(m, 0.1, flow=True), certify(m, 0.1)
    assert bf.n_perm == 24 and bf.flow and not bg.flow
    assert bf.perm_radius >= (1 - ENTRY_FLOW_MARGIN) * bg.perm_radius * (1 - 1e-12)
    assert np.isinf(bf.kernel.g2max) and bf.identity()["flow"] and "flow" not in bg.identity()
    C = teacher_minima(m)
    rng = np.random.default_rng(2)
    for i in (0, 11, 23):
        c, r = C[i], bf.perm_radius / (1 - ENTRY_FLOW_MARGIN)
        for _ in range(20):
            x = rng.standard_normal(c.shape)
            x = c + x / np.linalg.norm(x) * r * rng.uniform(0.2, 1.0)
            assert np.sum(m.grad(x, backend="cpu") * (x - c)) > 0


def test_flow_entry_kernels_one_signature_and_cache_hit_in_new_process():
    """rk4 and dopri5 entry kernels: teacher permutations, explicit balls, a residual and a pickled
    plan give one compiled signature each, loaded from the cache by a second process."""
    for method in ("rk4", "dopri5"):  # fills the cache
        ds.basins(ds.TeacherStudent(np.eye(2)), ds.Xavier(2, seed=0), method=method, max_steps=3, entry=True)
    code = textwrap.dedent("""
        import json, pickle
        import numpy as np
        import dynsys as ds
        from dynsys.basins import plan_basins, run_basin_chunk
        from dynsys.kernels import ode_entry as oe
        a = ds.TeacherStudent(np.eye(2))
        b = ds.TeacherStudent(np.eye(2), residual=0.1 * np.ones((2, 2)))
        for meth in ("rk4", "dopri5"):
            ds.basins(a, ds.Xavier(3, seed=0), method=meth, max_steps=3, entry=True)
            ds.basins(b, ds.Xavier(3, seed=0), method=meth, max_steps=3, entry=True, backend="cpu")
            att = ds.basins(a, np.eye(2)[None], method=meth).attractors[0]
            ds.basins(a, ds.Xavier(3, seed=1), method=meth, max_steps=3, entry=True, attractors=[att])
            p = pickle.loads(pickle.dumps(plan_basins(a, ds.Xavier(3, seed=0), method=meth, max_steps=3,
                                                      entry=True)))
            run_basin_chunk(p, 0, 3)
        out = {}
        for f in (oe._fixed_entry_batch, oe._dopri5_entry_batch):
            st = f.stats
            out[f.__name__] = [len(f.signatures), sum(st.cache_hits.values()), sum(st.cache_misses.values())]
        print(json.dumps(out))
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"_fixed_entry_batch": [1, 1, 0], "_dopri5_entry_batch": [1, 1, 0]}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gd", "rk4", "dopri5"])
def test_labels_identical_10k(method):
    m = ds.TeacherStudent(np.eye(4))
    S = _slice(m, 100)
    r0 = ds.basins(m, S, method=method, entry=False)
    r1 = ds.basins(m, S, method=method, entry=True)
    assert np.array_equal(r0.labels, r1.labels)
    ent = r1.entered
    assert np.array_equal(r1.steps[~ent], r0.steps[~ent]) and not np.any(ent & (r0.labels < 0))
