"""Figures of paper 002's experiments (identity mapping, PReLU): stage 4, the two-phase claim, digits.

Each function draws from the data dict of its analysis (``dynsys.reproduce.analyses.identity_*``),
never recomputes, and writes a PNG and a PDF into ``out``; it returns their paths. Runs that diverged
carry NaN after their last step: bands skip them and the legend counts them.
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

#: Paper-scale population loss below which the closed form is rounding at stage 4's sizes (d = 10,
#: |W + U|_F about 3): measured values at W = W* scatter within +-7e-15.
POP_LOSS_ROUNDING = 1e-14


def _save(fig, out: pathlib.Path, stem: str) -> list[pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=130)
    plt.close(fig)
    return paths


def _band(ax, x, Y, label, color, ls="-", log=True):
    """Median over rows with the min-max band; rows with any NaN are left out and counted."""
    Y = np.asarray(Y, float)
    good = np.all(np.isfinite(Y), axis=1)
    if log:
        Y = np.maximum(Y, 1e-16)
    n_bad = int((~good).sum())
    lab = label + (f" ({n_bad} diverged, not drawn)" if n_bad else "")
    if not good.any():
        ax.plot([], [], color=color, ls=ls, label=lab)
        return
    Yg = Y[good]
    ax.plot(x, np.median(Yg, axis=0), color=color, ls=ls, label=lab)
    if Yg.shape[0] > 1:
        ax.fill_between(x, Yg.min(0), Yg.max(0), color=color, alpha=0.18, lw=0)


def stage4_figure(data: dict, out: pathlib.Path) -> list[pathlib.Path]:
    """Paper 002 Fig 4 (a)-(e) and the divergence scan: SGD (median, min-max over repeats) and the
    population gd from the same starts (dashed)."""
    m = data["meta"]
    x = data["epochs"]
    lab = m["settings"]
    fig, axs = plt.subplots(2, 4, figsize=(19, 8.5), layout="constrained")
    c_sgd, c_gd, c_alt = "C0", "C3", "C2"
    panels = [(axs[0, 0], 0, "(a) loss, identity mapping + bound"),
              (axs[0, 1], 1, "(b) loss, no identity mapping (bound)"),
              (axs[0, 2], 2, "(c) loss, identity mapping, no bound")]
    for ax, s, title in panels:
        _band(ax, x, data["train_loss"][s], "SGD training loss", c_sgd)
        _band(ax, x, data["pop_loss"][s], "SGD population loss", c_alt)
        _band(ax, x, data["gd_pop_loss"][s], "population gd", c_gd, ls="--")
        if np.nanmin(data["gd_pop_loss"][s]) < POP_LOSS_ROUNDING:
            # the closed-form loss is a difference of O(|W + U|^2) terms: below this it is rounding
            ax.axhspan(1e-16, POP_LOSS_ROUNDING, color="0.85", lw=0, zorder=0,
                       label="rounding of the population loss (any loss below 1e-16 drawn at 1e-16)")
        ax.set(title=title, xlabel="epoch", ylabel="loss (paper's: mean squared error)", yscale="log")
        ax.legend(fontsize=8)
    ax = axs[1, 0]
    for s, col in ((0, c_sgd), (2, c_alt)):
        _band(ax, x, data["dist_raw"][s], f"SGD, {lab[s]}", col)
        _band(ax, x, data["gd_dist_raw"][s], f"population gd, {lab[s]}", col, ls="--")
    ax.set(title="(d) |W - W*|_F, identity mapping", xlabel="epoch", ylabel="|W - W*|_F", yscale="log")
    ax.legend(fontsize=8)
    for ax, s, tag in ((axs[1, 1], 1, "(e)"), (axs[1, 2], 3, "(e')")):
        _band(ax, x, data["dist_raw"][s], "SGD, raw", c_sgd)
        _band(ax, x, data["dist"][s], "SGD, matched up to row permutation", c_sgd, ls=":")
        _band(ax, x, data["gd_dist_raw"][s], "population gd, raw", c_gd, ls="--")
        _band(ax, x, data["gd_dist"][s], "population gd, matched", c_gd, ls=":")
        ax.set(title=f"{tag} |W - W*|_F, {lab[s]}", xlabel="epoch", ylabel="|W - W*|_F", yscale="log")
        ax.legend(fontsize=8)
    for ax in axs[:, :3].ravel():
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))     # whole epochs
    R = m["repeats"]
    n_runs = R * len(lab)
    ax = axs[0, 3]
    ax.plot(data["scan_batches"], data["scan_batch_diverged"].sum(0) / n_runs, "o-")
    ax.set(xscale="log", xlabel="batch size", ylabel="fraction of runs diverged", ylim=(-0.05, 1.05),
           title=f"(f) step {m['step_dynsys']:g} (the printed rate), by batch size")
    ax.set_xticks(data["scan_batches"], [f"{b:g}" for b in data["scan_batches"]])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax = axs[1, 3]
    ax.plot(data["scan_steps"], data["scan_step_diverged"].sum(0) / n_runs, "s-", color="C1")
    ax.set(xscale="log", xlabel="step on dynsys's loss (paper's rate = step / 2)",
           ylabel="fraction of runs diverged", ylim=(-0.05, 1.05), title="(g) batch 1, by step")
    # the scanned steps as ticks: log-axis minor labels of a short decade overlap
    ax.set_xticks(data["scan_steps"], [f"{s:g}" for s in data["scan_steps"]])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    fig.suptitle(f"Paper 002 stage 4: d={m['d']}, alpha={m['alpha']}, {m['n_samples']} samples, rate "
                 f"{m['rate_paper']} (step {m['step_dynsys']:g}), batch {m['chosen_batch']} (printed batch 1 "
                 f"diverges), {m['epochs']} epochs, {R} repeats; median and min-max", fontsize=10)
    return _save(fig, out, "identity_stage4")


def two_phase_figure(data: dict, out: pathlib.Path) -> list[pathlib.Path]:
    """Paper 002's two-phase claim: f_A and the margin along one population-gd run per gamma, the
    fraction of runs in which the two phases occur against gamma (gd and SGD, 95% Wilson intervals),
    and the fraction over the (gamma, alpha) grid."""
    from dynsys._codes import TWO_PHASE_HELD
    from dynsys.critical import wilson_interval

    m = data["meta"]
    g = data["gammas"]
    fig, axs = plt.subplots(1, 4, figsize=(20, 5.6), layout="constrained")
    steps = data["ex_gd_steps"]
    cols = plt.cm.viridis(np.linspace(0, 0.9, len(g)))
    ax = axs[0]
    for i, c in enumerate(cols):
        ax.plot(steps, data["ex_gd_f_A"][i], color=c, label=f"gamma {g[i]:g}")
        ax.plot(steps, data["ex_gd_f_A_printed"][i], color=c, ls=":")
    ax.set(xscale="symlog", xlabel="gd step", ylabel="f_A", xlim=(0, steps[-1]),
           title="(a) f_A: corrected (solid), printed (dotted)")
    # legends below the axes (here and in (b), (c)): inside they hide the start of the curves
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    ax = axs[1]
    for i, c in enumerate(cols):
        ax.plot(steps, data["ex_gd_margin"][i] / data["ex_gd_delta"][i], color=c, label=f"gamma {g[i]:g}")
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="margin = delta")
    ax.set(xscale="symlog", yscale="symlog", xlabel="gd step", ylabel="margin / delta", xlim=(0, steps[-1]),
           title="(b) one-point convexity margin / delta")
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    ax = axs[2]
    for kind, mk, lab in (("gd", "o-", "gd"), ("sgd", "s--", "SGD"), ("gdstd", "^-", "gd, standard start"),
                          ("gdzero", "v-", "gd, zero start")):
        if f"{kind}_verdict" not in data:
            continue
        V = data[f"{kind}_verdict"]
        n = V.shape[1]
        c = (V == TWO_PHASE_HELD).sum(1)
        f = c / n
        ci = np.array([wilson_interval(int(x), n) for x in c])
        line = ax.errorbar(g, f, yerr=[f - ci[:, 0], ci[:, 1] - f], fmt=mk, capsize=3, label=f"{lab}: held ({n} runs)")
        ax.plot(g, np.mean(data[f"{kind}_entry_step"] == 0, axis=1), mk[0] + ":", alpha=0.5, mfc="none",
                color=line[0].get_color(), label=f"{lab}: inside at the start")
    ax.set(xscale="log", xlabel="norm bound gamma (|w*_i| = gamma, |w0_i| <= gamma)", ylim=(-0.05, 1.05),
           ylabel="fraction of runs", title="(c) two phases as claimed, against gamma")
    ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    ax = axs[3]
    H = data["grid_held"]
    im = ax.imshow(H, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(data["grid_alpha"])), [f"{a:g}" for a in data["grid_alpha"]])
    ax.set_yticks(range(len(data["grid_gamma"])), [f"{a:g}" for a in data["grid_gamma"]])
    for i in range(H.shape[0]):
        for j in range(H.shape[1]):
            ax.text(j, i, f"{H[i, j]:.2f}", ha="center", va="center", color="w" if H[i, j] < 0.6 else "k", fontsize=8)
    ax.set(xlabel="PReLU slope alpha", ylabel="gamma", title=f"(d) population gd: fraction held ({m['runs_grid']} runs/cell)")
    fig.colorbar(im, ax=ax, label="fraction held")
    fig.suptitle(f"Paper 002 two-phase claim: d={m['d']}, identity mapping, alpha={m['alpha']} (a-c; (a), (b): one gd run per gamma), step "
                 f"{m['step_dynsys']:g} (paper's rate {m['rate_paper']:g}), {m['n_steps']} steps, SGD batch "
                 f"{m['batch']}; delta = half the smallest Hessian eigenvalue at W*", fontsize=10)
    return _save(fig, out, "identity_two_phase")


def digits_figure(data: dict, out: pathlib.Path) -> list[pathlib.Path]:
    """Paper 002 Fig 3 (a)-(c): test error per epoch (median, min-max over repeats), with the paper's
    final MNIST numbers and the majority-class error marked."""
    m = data["meta"]
    x = data["epochs"]
    label = dict(zip(m["config_keys"], m["configs"]))
    paper = dict(relu=0.01768, prelu=0.01742, prelu_id=0.01646, zero=0.8865, zero_id=0.0165)
    fig, axs = plt.subplots(1, 3, figsize=(16, 4.8), layout="constrained")
    stages = (("(a) stage 1: ReLU vs PReLU", ("relu", "prelu")),
              ("(b) stage 2: PReLU with / without identity mapping", ("prelu", "prelu_id")),
              ("(c) stage 3: zero initialisation", ("zero", "zero_id")))
    for ax, (title, keys) in zip(axs, stages):
        for key, col in zip(keys, ("C0", "C1")):
            _band(ax, x, data[f"{key}_test_error"], label[key], col)
            ax.axhline(paper[key], color=col, ls=":", lw=1, label=f"paper (MNIST): {paper[key]:g}")
        if keys[0] == "zero":
            ax.axhline(m["majority_error"], color="k", ls="--", lw=0.8,
                       label=f"majority-class error {m['majority_error']:.4f}")
        ax.set(title=title, xlabel="epoch", ylabel="test error rate", yscale="log")
        ax.legend(fontsize=8)
    src = "digits (8x8), stratified 75/25 split" if "digits" in m["data"] else m["data"]
    fig.suptitle(f"Paper 002 stages 1-3 on {src}: hidden width {m['hidden']}, {m['optimizer']}, "
                 f"{m['repeats']} repeats (median, min-max); dotted: the paper's final MNIST errors", fontsize=10)
    return _save(fig, out, "identity_digits")
