"""Paper 002, stage 4 (its Fig 4 (a)-(e)): SGD with and without the identity mapping and the norm bound.

The printed setting (d = 10, 5000 Gaussian samples, learning rate 0.1 on the paper's loss = step 0.2 on
dynsys's, 10 epochs, 5 repeats) is run as printed at batch size 1, then the nearest setting that trains
(the smallest batch size at the printed rate with no diverged run), with the exact population gd from
the same starts, same step and same number of steps beside it. docs/identity.md states every choice.
"""

from __future__ import annotations

import pathlib

import numpy as np
from scipy.optimize import linear_sum_assignment

from dynsys import PAPER_002_LOSS_FACTOR, TeacherStudent
from dynsys._codes import OK
from dynsys.twophase import draw_start, draw_teacher, gd_states, run_sgd

NAME = "identity_stage4"
GROUPS = ("002",)
TITLE = "Paper 002 stage 4: SGD with/without identity mapping and norm bound, with the population gd"

D = 10
ALPHA = 0.25
N_SAMPLES = 5000
RATE_002 = 0.1
STEP = PAPER_002_LOSS_FACTOR * RATE_002
ROW_BOUND = 0.1
FRO_UNBOUNDED = 1.0
START_RADIUS = 0.1
SEED = 2002
#: (label, identity mapping, norm bound)
SETTINGS = (("identity, bound", True, True), ("no identity, bound", False, True),
            ("identity, no bound", True, False), ("no identity, no bound", False, False))


def _model(identity, bound, repeat):
    W_star = (draw_teacher(D, gamma=ROW_BOUND, seed=SEED, repeat=repeat) if bound
              else draw_teacher(D, fro=FRO_UNBOUNDED, seed=SEED, repeat=repeat))
    return TeacherStudent(W_star, alpha=ALPHA, residual=np.eye(D) if identity else None)


def _runs(repeats, fn):
    """``fn(model, W0, repeat)`` for every setting and repeat -> list (settings) of lists (repeats)."""
    out = []
    for _, ident, bound in SETTINGS:
        out.append([fn(_model(ident, bound, r), draw_start(D, START_RADIUS, seed=SEED, repeat=r)[None], r)
                    for r in range(repeats)])
    return out


def _sgd(model, W0, r, *, batch, step, epochs):
    return run_sgd(model, W0, step=step, batch_size=batch, epochs=epochs, n_samples=N_SAMPLES, seed=SEED,
                   run_ids=[r])


def _matched(model, Ws):
    """``min_P |(W + U) - P (W* + U)|_F`` per state (Ws (n, k, d)); NaN for a NaN state."""
    U = 0.0 if model.residual is None else model.residual
    T = model.W_star + U
    out = np.full(Ws.shape[0], np.nan)
    for i, W in enumerate(Ws):
        if np.all(np.isfinite(W)):
            C = (((W + U)[:, None, :] - T[None, :, :]) ** 2).sum(-1)
            rr, cc = linear_sum_assignment(C)
            out[i] = np.sqrt(C[rr, cc].sum())
    return out


def compute(quick: bool) -> dict:
    repeats = 2 if quick else 5
    epochs = 3 if quick else 10
    scan_batches = np.array([1, 4, 16] if quick else [1, 2, 4, 8, 16, 32])
    scan_steps = np.array([0.2, 0.04, 0.02] if quick else [0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01])
    S = len(SETTINGS)

    printed = _runs(repeats, lambda m, W0, r: _sgd(m, W0, r, batch=1, step=STEP, epochs=epochs))
    printed_status = np.array([[int(x.status[0]) for x in row] for row in printed])
    printed_steps = np.array([[int(x.steps[0]) for x in row] for row in printed])

    def diverged(batch, step):
        res = _runs(repeats, lambda m, W0, r: _sgd(m, W0, r, batch=batch, step=step, epochs=epochs))
        return np.array([sum(int(x.status[0]) != OK for x in row) for row in res])

    scan_batch_div = np.stack([diverged(b, STEP) for b in scan_batches], axis=1)      # (S, nb)
    scan_step_div = np.stack([diverged(1, s) for s in scan_steps], axis=1)            # (S, ns)
    ok_b = np.flatnonzero(scan_batch_div.sum(0) == 0)
    batch = int(scan_batches[ok_b[0]]) if ok_b.size else int(scan_batches[-1])
    ok_s = np.flatnonzero(scan_step_div.sum(0) == 0)
    best_step_b1 = float(scan_steps[ok_s[0]]) if ok_s.size else float("nan")

    spe = -(-N_SAMPLES // batch)
    keys = ("train_loss", "pop_loss", "dist_raw", "dist", "gd_pop_loss", "gd_dist_raw", "gd_dist")
    cur = {k: np.full((S, repeats, epochs + 1), np.nan) for k in keys}
    status = np.zeros((S, repeats), np.int8)
    gd_status = np.zeros((S, repeats), np.int8)
    for s, (_, ident, bound) in enumerate(SETTINGS):
        for r in range(repeats):
            m = _model(ident, bound, r)
            W0 = draw_start(D, START_RADIUS, seed=SEED, repeat=r)
            res = _sgd(m, W0[None], r, batch=batch, step=STEP, epochs=epochs)
            status[s, r] = res.status[0]
            for k in ("train_loss", "pop_loss"):
                cur[k][s, r] = PAPER_002_LOSS_FACTOR * getattr(res, k)[0]
            cur["dist_raw"][s, r] = res.dist_raw[0]
            cur["dist"][s, r] = res.dist[0]
            _, Ws, gst = gd_states(m, W0, step=STEP, n_steps=epochs * spe, every=spe)
            gd_status[s, r] = gst[0]
            Ws = Ws[0]
            ok = np.all(np.isfinite(Ws), axis=(1, 2))
            cur["gd_pop_loss"][s, r, ok] = PAPER_002_LOSS_FACTOR * m.loss(Ws[ok])
            cur["gd_dist_raw"][s, r] = np.linalg.norm((Ws - m.W_star).reshape(len(Ws), -1), axis=1)
            cur["gd_dist"][s, r] = _matched(m, Ws)

    meta = dict(
        model="y(x, W) = sum_i sigma_alpha(<w_i + e_i, x>) (identity) or sum_i sigma_alpha(<w_i, x>); "
              "teacher of the same form; x ~ N(0, I_d)",
        d=D, k=D, alpha=ALPHA, alpha_learned=False, n_samples=N_SAMPLES, rate_paper=RATE_002, step_dynsys=STEP,
        loss_factor=PAPER_002_LOSS_FACTOR, epochs=epochs, repeats=repeats, seed=SEED,
        settings=[s[0] for s in SETTINGS],
        teacher=f"bound: rows of norm {ROW_BOUND} (Gaussian directions); no bound: Gaussian matrix scaled to "
                f"|W*|_F = {FRO_UNBOUNDED}; one teacher per repeat, shared by the four settings",
        start=f"rows with Gaussian directions and norms {START_RADIUS} * U(0, 1), one per repeat, the same "
              "for SGD and gd and for the four settings",
        printed_batch=1, chosen_batch=batch, chosen_by="smallest batch size at the printed rate with no "
        "diverged run in any setting", largest_batch1_step_that_trains=best_step_b1,
        scan_batches=scan_batches.tolist(), scan_steps=scan_steps.tolist(),
        data="a fixed training set per repeat, reshuffled every epoch; gd: the same step and number of steps "
             "on the exact population loss",
        loss_reported="the paper's loss (mean squared error without 1/2) = 2 x dynsys's",
        quick=bool(quick))
    return dict(meta=meta, printed_status=printed_status, printed_steps=printed_steps,
                scan_batches=scan_batches, scan_batch_diverged=scan_batch_div, scan_steps=scan_steps,
                scan_step_diverged=scan_step_div, epochs=np.arange(epochs + 1), status=status,
                gd_status=gd_status, **cur)


def figures(data: dict, out: pathlib.Path) -> list[pathlib.Path]:
    from dynsys.plotting.identity import stage4_figure
    return stage4_figure(data, pathlib.Path(out))


def _fmt(a):
    return "/".join(f"{x:.3g}" for x in np.atleast_1d(a))


def claims(data: dict) -> list[dict]:
    m = data["meta"]
    R = m["repeats"]
    div = data["printed_status"] != OK
    steps = data["printed_steps"][div]
    lab = m["settings"]
    fin = {k: np.nanmedian(data[k][:, :, -1], axis=1) for k in ("dist_raw", "dist", "gd_dist_raw", "train_loss")}
    where = "Sec 5.4, Fig 4"
    setting = (f"d={m['d']}, alpha={m['alpha']} (fixed), {m['n_samples']} samples, {m['epochs']} epochs, "
               f"{R} repeats")
    rows = [dict(
        paper="002", where=where,
        says="SGD at learning rate 0.1 (10 epochs, 5000 samples) converges to W* with identity mapping and bound",
        measured=(f"printed setting at batch 1 (step {m['step_dynsys']} on dynsys's loss): {int(div.sum())} of "
                  f"{div.size} runs diverge, after {int(steps.min()) if steps.size else 0}-"
                  f"{int(steps.max()) if steps.size else 0} steps; at batch {m['chosen_batch']} "
                  f"(nearest setting that trains) final |W - W*| = {fin['dist_raw'][0]:.3g} (median), "
                  f"population gd {fin['gd_dist_raw'][0]:.3g}; batch-1 runs train at step <= "
                  f"{m['largest_batch1_step_that_trains']} ({setting})"),
        verdict="partly",
        reason="the batch size is not printed; at batch 1 the printed rate exceeds the stability limit "
               "(about 2 / (|x|^2 sum_j sigma'_j^2)), at mini-batches it converges"),
        dict(
        paper="002", where=where,
        says="the identity mapping is crucial to SGD's convergence",
        measured=(f"batch {m['chosen_batch']}: final raw |W - W*| ({'/'.join(lab[:2])}) = "
                  f"{_fmt(fin['dist_raw'][:2])}, matched up to a permutation of the rows "
                  f"{_fmt(fin['dist'][:2])}; training loss {_fmt(fin['train_loss'][:2])} (medians; {setting})"),
        verdict="reproduced" if fin["dist"][1] > 1e3 * max(fin["dist_raw"][0], 1e-12) else "partly",
        reason=("without the identity mapping the student neither reaches W* (the paper's raw distance) nor a "
                "permutation of its rows within the epochs (the loss plateaus), while with it the distance "
                "falls geometrically; the population gd does the same, so it is not a finite-sample effect"
                if fin["dist"][1] > 1e3 * max(fin["dist_raw"][0], 1e-12) else
                "without the identity mapping the student learns a permutation of the teacher's rows; the raw "
                "distance (the paper's curve) stays large only because of the permutation")),
        dict(
        paper="002", where=where,
        says="the norm bound (|w*_i| = 0.1 against |W*|_F = 1) is crucial to SGD's convergence",
        measured=(f"batch {m['chosen_batch']}, identity: final |W - W*| with bound {fin['dist_raw'][0]:.3g}, "
                  f"without {fin['dist_raw'][2]:.3g}; no identity, matched: {fin['dist'][1]:.3g} / "
                  f"{fin['dist'][3]:.3g} (medians; {setting})"),
        verdict="not reproduced" if fin["dist_raw"][2] < 1e-3 else "partly",
        reason="at |W*|_F = 1 the identity-mapped student converges as well as with the bound; the bound "
               "matters only at larger teachers (see the two-phase analysis's gamma scan)"),
    ]
    return rows
