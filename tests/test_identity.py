"""Paper 002 (identity mapping, PReLU): f_A and the convexity margin against slow NumPy oracles, the
two-phase verdict on hand-made curves, the per-epoch SGD states, the classifier's gradient against
finite differences and a NumPy backpropagation, zero initialisation with and without the identity
mapping, diverging rates, IDX files. (That the residual model equals the offset model and that SGD
approaches the population flow is tested in test_systems.py and test_sgd.py.)"""

from __future__ import annotations

import gzip
import importlib
import math

import numpy as np
import pytest

import naive_identity as ni

D = 5


@pytest.fixture(scope="module")
def ds():
    import dynsys

    return dynsys


@pytest.fixture(scope="module")
def tp():
    from dynsys import twophase

    return twophase


def _model(ds, gamma=0.3, alpha=0.25, identity=True, seed=1):
    rng = np.random.default_rng(seed)
    Ws = rng.normal(size=(D, D))
    Ws *= gamma / np.linalg.norm(Ws, axis=1, keepdims=True)
    return ds.TeacherStudent(Ws, alpha=alpha, residual=np.eye(D) if identity else None)


# ------------------------------------------------------------------------------ f_A and the margin
@pytest.mark.parametrize("identity", [True, False])
@pytest.mark.parametrize("reading", ["corrected", "printed"])
def test_aux_function_matches_naive(ds, tp, identity, reading):
    m = _model(ds, identity=identity)
    W = np.random.default_rng(2).normal(size=(3, D, D)) * 0.4
    got = tp.aux_function(m, W, reading=reading)
    U = np.eye(D) if identity else None
    want = [ni.f_A(w, m.W_star, U, printed=reading == "printed") for w in W]
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    # the corrected reading vanishes at W = W*, the printed one does not (with the identity mapping)
    at_teacher = tp.aux_function(m, m.W_star, reading=reading)
    assert (abs(at_teacher) < 1e-14) == (reading == "corrected" or not identity)


@pytest.mark.parametrize("alpha,identity", [(0.25, True), (0.0, True), (0.25, False)])
def test_margin_matches_naive(ds, tp, alpha, identity):
    m = _model(ds, alpha=alpha, identity=identity)
    W = np.random.default_rng(3).normal(size=(2, D, D)) * 0.3
    got = tp.convexity_margin(m, W)
    U = np.eye(D) if identity else None
    want = [ni.margin(w, m.W_star, alpha, U) for w in W]
    np.testing.assert_allclose(got, want, rtol=1e-7)
    assert tp.convexity_margin(m, m.W_star) == math.inf


def test_margin_near_teacher_is_a_rayleigh_quotient_of_the_hessian(ds, tp):
    m = _model(ds)
    E = np.random.default_rng(4).normal(size=(D, D))
    E /= np.linalg.norm(E)
    H = m.hessian(m.W_star)
    e = E.ravel()
    assert tp.convexity_margin(m, m.W_star + 1e-6 * E) == pytest.approx(e @ H @ e, rel=1e-4)


# ------------------------------------------------------------------------------ verdicts
def test_two_phase_verdict_cases(tp):
    from dynsys import _codes as c

    fa = np.array([[3, 2, 1, 0.5, 0.4], [3, 2, 2.5, 0.5, 0.4], [3, 2, 1, 0.5, 0.4], [3, 2, 1, 0.5, 0.4],
                   [3, 2, 1, 0.5, 0.4]], float)
    mg = np.array([[-1, 0.5, 2, 2, 2], [-1, 0.5, 2, 2, 2], [-1, 0.5, 2, 2, 2], [2, 2, 2, 2, 0.5],
                   [2, 2, 2, 2, 2]], float)
    dist = np.array([[5, 4, 3, 2, 1], [5, 4, 3, 2, 1], [5, 4, 3, 3.5, 1], [5, 4, 3, 2, 1], [5, 4, 3, 2, 1]], float)
    entry, verdict = tp.two_phase_verdict(fa, mg, dist, 1.0, failed=[0, 0, 0, 0, 1])
    np.testing.assert_array_equal(entry, [2, 2, 2, -1, 0])
    np.testing.assert_array_equal(verdict, [c.TWO_PHASE_HELD, c.TWO_PHASE_FA_ROSE, c.TWO_PHASE_DIST_ROSE,
                                            c.TWO_PHASE_NOT_ENTERED, c.TWO_PHASE_RUN_FAILED])
    # f_A rising only after the entry does not matter
    fa2 = np.array([[3, 2, 1, 5, 6]], float)
    assert tp.two_phase_verdict(fa2, mg[:1], dist[:1], 1.0)[1][0] == c.TWO_PHASE_HELD
    with pytest.raises(ValueError, match="delta"):
        tp.two_phase_verdict(fa, mg, dist, -1.0)
    # at rounding-level distances the margin is noise: such records count as inside
    noisy = np.array([[2, 2, 2, -0.3, 0.2]], float)
    tiny = np.array([[5, 4, 1e-3, 1e-12, 1e-13]], float)
    assert tp.two_phase_verdict(fa[:1], noisy, tiny, 1.0)[1][0] == c.TWO_PHASE_HELD
    assert tp.two_phase_verdict(fa[:1], noisy, tiny, 1.0, dist_floor=0.0)[1][0] == c.TWO_PHASE_NOT_ENTERED


def test_gd_trace_small_teacher(ds, tp):
    m = _model(ds, gamma=0.1)
    W0 = np.stack([tp.draw_start(D, 0.1, seed=5, repeat=r) for r in range(3)])
    tr = tp.gd_trace(m, W0, step=0.2, n_steps=200, delta=0.0, chunk=2)
    assert tr.record_steps.tolist() == list(range(201))
    assert tr.held.all() and np.all(tr.status == 0)
    np.testing.assert_allclose(tr.f_A[1, 7], ni.f_A(_gd(m, W0[1], 0.2, 7), m.W_star, np.eye(D)), rtol=1e-10)
    assert np.all(np.diff(tr.dist, axis=1) <= 0)


def _gd(m, W, step, n):
    for _ in range(n):
        W = W - step * m.grad(W)
    return W


def test_sgd_states_replay_one_run(ds, tp):
    m = _model(ds, gamma=0.2)
    W0 = np.stack([tp.draw_start(D, 0.2, seed=6, repeat=r) for r in range(2)])
    res, Ws = tp.sgd_states(m, W0, step=0.05, epochs=3, n_samples=64, batch_size=4, seed=9)
    np.testing.assert_array_equal(Ws[:, -1], res.W)
    np.testing.assert_array_equal(Ws[:, 0], W0)
    # the replayed epoch states are the states of the single 3-epoch run: its recorded distances agree
    np.testing.assert_allclose(np.linalg.norm((Ws - m.W_star).reshape(2, 4, -1), axis=2), res.dist_raw,
                               rtol=1e-13)


# ------------------------------------------------------------------------------ classifier
@pytest.fixture(scope="module")
def cls():
    from dynsys import classifier
    from dynsys.classifier import kernel

    return classifier, kernel


def _params(rng, Din, C=10, scale=0.5):
    return (rng.normal(size=(Din, Din)) * scale, rng.normal(size=Din) * 0.1, rng.uniform(0.05, 0.5, Din),
            rng.normal(size=(C, Din)) * scale, rng.normal(size=C) * 0.1)


@pytest.mark.parametrize("identity", [False, True])
def test_classifier_gradient(cls, identity):
    _, k = cls
    rng = np.random.default_rng(11)
    P = _params(rng, D)
    X = rng.normal(size=(7, D))
    y = rng.integers(0, 10, 7)
    idx = np.arange(7)
    G = [np.empty_like(p) for p in P]
    scratch = [np.empty(D), np.empty(D), np.empty(10), np.empty(10)]
    loss, _ = k.loss_grad(*P, identity, X, y, idx, *G, *scratch)
    assert loss == pytest.approx(ni.classifier_loss(*P, X, y, identity), rel=1e-13)
    for g, want in zip(G, ni.classifier_grad(*P, X, y, identity)):
        np.testing.assert_allclose(g, want, rtol=1e-11, atol=1e-13)
    # central differences of the NumPy loss, every parameter
    h = 1e-6
    for pi, p in enumerate(P):
        fd = np.empty_like(p)
        for j in np.ndindex(p.shape):
            Pp = [q.copy() for q in P]
            Pm = [q.copy() for q in P]
            Pp[pi][j] += h
            Pm[pi][j] -= h
            fd[j] = (ni.classifier_loss(*Pp, X, y, identity) - ni.classifier_loss(*Pm, X, y, identity)) / (2 * h)
        np.testing.assert_allclose(G[pi], fd, rtol=1e-6, atol=1e-8)


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from dynsys.classifier import digits_split

    return digits_split()


def test_zero_init_needs_the_identity_mapping(cls, digits):
    classifier, _ = cls
    Xtr, ytr, Xte, yte = digits
    no = classifier.train_classifier(Xtr, ytr, Xte, yte, init="zero", identity=False, epochs=2, repeats=2)
    yes = classifier.train_classifier(Xtr, ytr, Xte, yte, init="zero", identity=True, epochs=2, repeats=2)
    # without it: hidden weights and read-out stay exactly zero (every hidden unit dead and identical)
    assert np.all(no.W == 0) and np.all(no.V == 0) and np.all(no.b == 0)
    majority = 1 - np.bincount(yte).max() / yte.size
    # from the first epoch on it answers one class (the read-out bias learns the prior): the error of a
    # constant answer, within the spread of the digits classes' frequencies (0.0978 to 0.1022)
    assert np.all(np.abs(no.test_error[:, 1:] - majority) < 0.01)
    assert np.all(no.status == 0)
    # with it the hidden units differ (h = PReLU(x + W x) != 0) and the network learns
    assert np.all(yes.test_error[:, -1] < 0.3) and np.all(yes.status == 0)
    assert np.all(yes.test_error[:, -1] < 0.5 * majority)
    assert all(np.ptp(W, axis=0).max() > 0 for W in yes.W)


def test_classifier_seeding_and_divergence(cls, digits):
    classifier, _ = cls
    Xtr, ytr, Xte, yte = (a[:200] for a in digits)
    a = classifier.train_classifier(Xtr, ytr, Xte, yte, epochs=1, repeats=2, seed=4)
    b = classifier.train_classifier(Xtr, ytr, Xte, yte, epochs=1, repeats=1, seed=4)
    np.testing.assert_array_equal(a.W[0], b.W[0])
    np.testing.assert_array_equal(a.test_error[0], b.test_error[0])
    bad = classifier.train_classifier(Xtr, ytr, Xte, yte, step=1e4, epochs=3, repeats=2)
    from dynsys import Status

    assert np.all(bad.status == Status.DIVERGED)
    assert np.all(np.isfinite(bad.test_error[:, 0]))
    assert "DIVERGED" in repr(bad)
    with pytest.raises(ValueError, match="step"):
        classifier.train_classifier(Xtr, ytr, Xte, yte, step=-1.0)
    with pytest.raises(ValueError, match="y_train"):
        classifier.train_classifier(Xtr, ytr + 10, Xte, yte)


# ------------------------------------------------------------------------------ IDX files
def _idx(path, arr, code=0x08):
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    path.write_bytes(header + arr.astype(">u1").tobytes())
    return path


def test_idx_reads_and_refuses(cls, tmp_path):
    classifier, _ = cls
    imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = _idx(tmp_path / "imgs-idx3-ubyte", imgs)
    np.testing.assert_array_equal(classifier.load_idx(p), imgs)
    gz = tmp_path / "imgs-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    np.testing.assert_array_equal(classifier.load_idx(gz), imgs)
    short = tmp_path / "short"
    short.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(classifier.IDXFileError, match="short.*truncated"):
        classifier.load_idx(short)
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    with pytest.raises(classifier.IDXFileError, match="picture.png.*not an IDX"):
        classifier.load_idx(png)
    odd = tmp_path / "odd"
    odd.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(classifier.IDXFileError, match="odd.*type code"):
        classifier.load_idx(odd)
    with pytest.raises(classifier.IDXFileError, match="no such file"):
        classifier.load_idx(tmp_path / "missing")
    labels = _idx(tmp_path / "labels", np.array([1, 2, 3], dtype=np.uint8))
    with pytest.raises(classifier.IDXFileError, match="labels"):
        classifier.load_mnist(p, labels, p, labels)


def test_idx_truncated_or_wrong_type_names_the_file(cls, tmp_path):
    classifier, _ = cls
    imgs = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    p = _idx(tmp_path / "train-images-idx3-ubyte", imgs)
    labels = _idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 9, 4], dtype=np.uint8))
    np.testing.assert_array_equal(classifier.load_mnist(p, labels, p, labels)[1], [0, 9, 4])
    # a gzip stream cut short
    cut = tmp_path / "cut-idx3-ubyte.gz"
    cut.write_bytes(gzip.compress(p.read_bytes())[:-12])
    with pytest.raises(classifier.IDXFileError, match="cut-idx3-ubyte.gz.*cannot be read"):
        classifier.load_idx(cut)
    # a header cut inside its dimensions
    head = tmp_path / "head"
    head.write_bytes(p.read_bytes()[:9])
    with pytest.raises(classifier.IDXFileError, match="head.*truncated header"):
        classifier.load_idx(head)
    # one byte too many
    long = tmp_path / "long"
    long.write_bytes(p.read_bytes() + b"\0")
    with pytest.raises(classifier.IDXFileError, match="long.*longer than its header"):
        classifier.load_idx(long)
    # valid IDX files of the wrong kind for MNIST: float images, labels given as images, images as labels
    flt = tmp_path / "float-images"
    flt.write_bytes(bytes([0, 0, 0x0D, 3]) + b"".join(int(n).to_bytes(4, "big") for n in imgs.shape)
                    + imgs.astype(">f4").tobytes())
    assert classifier.load_idx(flt).dtype == np.float32
    with pytest.raises(classifier.IDXFileError, match="float-images.*expected images"):
        classifier.load_mnist(flt, labels, p, labels)
    with pytest.raises(classifier.IDXFileError, match="train-labels-idx1-ubyte.*expected images"):
        classifier.load_mnist(labels, labels, p, labels)
    with pytest.raises(classifier.IDXFileError, match="train-images-idx3-ubyte.*integer labels"):
        classifier.load_mnist(p, p, p, labels)
    bad_label = _idx(tmp_path / "label-ten", np.array([0, 10, 4], dtype=np.uint8))
    with pytest.raises(classifier.IDXFileError, match="label-ten.*labels 0..9"):
        classifier.load_mnist(p, labels, p, bad_label)


# ------------------------------------------------------------------------------ diverging rates
def test_diverging_rate_gives_a_status_and_no_nan_is_drawn(ds, tp):
    """Stage 4's printed setting (d = 10, identity, rows of norm 0.1, batch 1, step 0.2) diverges: the
    run stops with a status, its curves are finite up to the stop and NaN after, the two-phase verdict is
    'run failed', and a figure band leaves the run out and says so."""
    from dynsys import _codes as c
    from dynsys.plotting.identity import _band
    import matplotlib.pyplot as plt

    m = ds.TeacherStudent(tp.draw_teacher(10, gamma=0.1, seed=1), alpha=0.25, residual=np.eye(10))
    W0 = np.stack([tp.draw_start(10, 0.1, seed=1, repeat=r) for r in range(3)])
    res = tp.run_sgd(m, W0, step=0.2, batch_size=1, n_samples=500, epochs=2, seed=1, record_every=5)
    assert np.all(res.status == ds.Status.DIVERGED) and np.all(res.steps < 1000)
    for r in range(3):
        before = res.record_steps < res.steps[r]
        assert np.all(np.isfinite(res.pop_loss[r, before])) and np.all(np.isnan(res.pop_loss[r, ~before]))
    # the same step at batch 16 trains
    ok = tp.run_sgd(m, W0, step=0.2, batch_size=16, n_samples=500, epochs=2, seed=1)
    assert np.all(ok.status == 0) and np.all(ok.dist_raw[:, -1] < ok.dist_raw[:, 0])
    # population gd at a step far beyond 2 / lambda_max: a failed run, not a verdict on NaN curves
    tr = tp.gd_trace(m, W0[:1], step=50.0, n_steps=60, delta=0.01)
    assert tr.status[0] != 0 and tr.verdict[0] == c.TWO_PHASE_RUN_FAILED
    fig, ax = plt.subplots()
    per_epoch = tp.run_sgd(m, W0, step=0.2, batch_size=1, n_samples=500, epochs=2, seed=1)
    _band(ax, np.arange(3), np.vstack([ok.pop_loss, per_epoch.pop_loss]), "SGD", "C0")
    (line,) = ax.get_lines()
    assert np.all(np.isfinite(line.get_ydata())) and "(3 diverged, not drawn)" in line.get_label()
    assert np.all(np.isfinite(ax.collections[0].get_paths()[0].vertices))
    plt.close(fig)


# ------------------------------------------------------------------------------ analyses
@pytest.mark.slow
@pytest.mark.parametrize("name", ["identity_stage4", "identity_two_phase", "identity_digits"])
def test_analysis_quick(name, tmp_path):
    mod = importlib.import_module(f"dynsys.reproduce.analyses.{name}")
    assert mod.NAME == name and mod.GROUPS == ("002",) and mod.TITLE
    data = mod.compute(True)
    import json

    json.dumps(data["meta"])
    paths = mod.figures(data, tmp_path)
    assert all(p.exists() for p in paths)
    rows = mod.claims(data)
    assert rows and all(set(r) == {"paper", "where", "says", "measured", "verdict", "reason"} for r in rows)
    assert all(r["verdict"] in {"reproduced", "not reproduced", "partly", "pending"} for r in rows)


def test_results_save_and_load(ds, tp, cls, tmp_path):
    classifier, _ = cls
    m = _model(ds, gamma=0.1)
    tr = tp.gd_trace(m, tp.draw_start(D, 0.1, seed=1), step=0.2, n_steps=5, delta=0.01)
    back = ds.load(tr.save(tmp_path / "trace"))
    np.testing.assert_array_equal(back.margin, tr.margin)
    assert back.kind == "gd" and "held" in repr(back)
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 4)), rng.integers(0, 10, 30)
    r = classifier.train_classifier(X, y, X, y, epochs=1, repeats=1)
    back = ds.load(r.save(tmp_path / "cls"))
    np.testing.assert_array_equal(back.test_error, r.test_error)
    assert back.activation == "prelu" and back.learn_alpha


def test_reproduce_trains_on_mnist_files_when_given(tmp_path):
    """``dynsys reproduce --mnist DIR``: identity_digits trains on the IDX files there (here 40 tiny
    images), says so in its data, and is recomputed even where saved data exists; a DIR that is not a
    folder is refused naming --mnist."""
    from dynsys import cli
    from dynsys import reproduce as rp
    from dynsys.reproduce.analyses import identity_digits as mod

    rng = np.random.default_rng(0)
    mn = tmp_path / "mnist"
    mn.mkdir()
    imgs = rng.integers(0, 256, (40, 3, 3)).astype(np.uint8)
    labels = (np.arange(40) % 10).astype(np.uint8)
    for name, arr in zip(mod.MNIST_FILES, (imgs, labels, imgs, labels)):
        _idx(mn / name, arr, code=0x08)
    out = tmp_path / "out"
    assert cli.main(["reproduce", "--quick", "--only", "identity_digits", "--out", str(out),
                     "--mnist", str(mn)]) == 0
    meta = rp.load_data(out, "identity_digits")["meta"]
    assert meta["data"].startswith("MNIST IDX files") and meta["n_train"] == 40 and meta["input_dim"] == 9
    with pytest.raises(rp.ReproduceError, match="--mnist must be a folder"):
        rp.run(["identity_digits"], quick=True, out=out, mnist=tmp_path / "missing")
