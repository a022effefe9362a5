"""Basin fractions per symmetry class of the orthonormal teacher, k = d = 6..10 (beyond the papers).

For ``W* = I_k`` (d = k, student width k, all top weights 1: the setting of Safran and Shamir 2018 and
of the ``ss18_census`` analysis) and Xavier starts, :func:`dynsys.basins` labels every start by the
attractor gradient descent reaches (docs/basins.md): a teacher permutation, a spurious minimum, or a
reserved label (-1 diverged, -2 not converged, -3 singular, -4 ended at a saddle). The fractions are
summed per symmetry class: class 0 is every global minimum (all teacher permutations), classes 1, 2,
... the spurious classes of that k by increasing loss (``docs/math.md`` section 4), each with its 95%
Wilson interval. The spurious total is set beside Safran and Shamir's Table 1.

The flow and classification are the census's (gradient descent, step 0.1, row-max gradient norm 1e-9,
Newton-refined endpoints, exact Hessians) and the starts are the census's Xavier starts of seed 0.
Each k is kept in a basin store under the output folder, so a stopped full run resumes where it was.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

import dynsys as ds
from dynsys._codes import LABEL_DIVERGED, LABEL_SADDLE, LABEL_SINGULAR, LABEL_UNCONVERGED
from dynsys.results.status import Label

from .ss18_census import PUBLISHED

NAME = "basin_fractions"
GROUPS = ("000",)
TITLE = "Basin fractions per symmetry class of W* = I_k, k = d = 6..10, from Xavier starts"
QUICK_SECONDS = 40
FULL_SECONDS = 1500

#: Sizes: (teacher widths, starts per k); tests shrink the quick one.
SIZES = {"quick": (tuple(range(6, 11)), 250), "full": (tuple(range(6, 11)), 10_000)}
#: Seed of the Xavier starts (the census's, so start i is the census's run i).
SEED = 0
#: The reserved labels counted (-5, not computed, never is: an interrupted run raises).
RESERVED = (LABEL_DIVERGED, LABEL_UNCONVERGED, LABEL_SINGULAR, LABEL_SADDLE)


def _store(out, k, n):
    return None if out is None else Path(out) / f"{NAME}_stores" / f"k{k}_n{n}.zarr"


def compute(quick: bool, out=None) -> dict:
    """Basin fractions for each k of ``SIZES``; ``out`` (the output folder) holds one store per k."""
    ks, n = SIZES["quick" if quick else "full"]
    results, walls = [], []
    for k in ks:
        t0 = time.perf_counter()
        store = _store(out, k, n)
        if store is not None:
            store.parent.mkdir(parents=True, exist_ok=True)
        r = ds.basins(ds.TeacherStudent(np.eye(k)), ds.Xavier(n, seed=SEED), store=store, progress=False)
        if r.interrupted:  # Ctrl-C: the store keeps the finished chunks; no partial data is saved
            raise KeyboardInterrupt(f"basin_fractions stopped at k = {k}; run again to resume from {store}")
        results.append(r)
        walls.append(time.perf_counter() - t0)
    C = max(len(r.class_counts) for r in results)
    count = np.zeros((len(ks), C), dtype=np.int64)
    bounds = np.full((len(ks), C, 2), np.nan)
    loss = np.full((len(ks), C), np.nan)
    n_labels = np.zeros((len(ks), C), dtype=np.int64)
    spurious = np.zeros((len(ks), C), dtype=bool)
    for i, r in enumerate(results):
        m = len(r.class_counts)
        count[i, :m] = r.class_counts
        bounds[i, :m] = r.class_interval_bounds
        for a in r.attractors:
            n_labels[i, a.class_id] += 1
            if np.isnan(loss[i, a.class_id]):
                loss[i, a.class_id] = a.loss
            spurious[i, a.class_id] = a.kind == "spurious_minimum"
    kinds = [r.kind_intervals["spurious_minimum"] for r in results]
    return {"k": np.array(ks), "n": np.array([r.n_done for r in results]),
            "class_count": count, "class_fraction": count / np.array([r.n_done for r in results])[:, None],
            "class_interval": bounds, "class_loss": loss, "class_labels": n_labels, "class_spurious": spurious,
            "reserved": np.array([[r.reserved_counts[-int(lab) - 1] for lab in RESERVED] for r in results]),
            "reserved_labels": np.array([int(lab) for lab in RESERVED]),
            "spurious": np.array([r.kind_fractions["spurious_minimum"] for r in results]),
            "spurious_interval": np.array(kinds),
            "mean_steps": np.array([float(np.mean(r.steps)) for r in results]),
            "wall": np.array(walls), "flow_time": np.array([r.flow_time for r in results]),
            "classify_time": np.array([r.classify_time for r in results]),
            "published": np.array([PUBLISHED[k] for k in ks]),
            "meta": {"model": "teacher W* = I_k, d = k, student width k, ReLU, all top weights 1",
                     "protocol": "dynsys.basins defaults (the census's): gradient descent step 0.1, stop at "
                                 "row-max gradient norm 1e-9, at most 10^6 steps, endpoints Newton-refined and "
                                 "classified by their exact Hessian",
                     "starts": f"dynsys.Xavier(n, seed={SEED}): entries N(0, 1/d), start i from "
                               f"default_rng([{SEED}, i]) (the census's starts)",
                     "starts_per_k": n, "ks": list(ks),
                     "classes": "class 0: global minima (all teacher permutations); classes 1, 2, ...: spurious "
                                "symmetry classes of that k by increasing loss",
                     "stores": None if out is None else str(Path(out) / f"{NAME}_stores")}}


def _series(data):
    """``{name: (fractions, intervals)}`` per class id (global, spurious 1, 2, ...) and reserved label,
    over k; zero where a class was not reached at that k."""
    f, iv = data["class_fraction"], data["class_interval"]
    out = {}
    for c in range(f.shape[1]):
        name = "global minima" if c == 0 else f"spurious class {c}"
        band = np.where(np.isnan(iv[:, c]), 0.0, iv[:, c])
        out[name] = (f[:, c], band)
    n = data["n"]
    for j, lab in enumerate(data["reserved_labels"]):
        cnt = data["reserved"][:, j]
        if cnt.any():
            out[Label(int(lab)).name.lower().replace("_", " ")] = (
                cnt / n, np.array([ds.wilson_interval(int(c), int(m)) for c, m in zip(cnt, n)]))
    return out


def figures(data, out):
    from dynsys.plotting import layout as L
    from dynsys.plotting.basins import fraction_bands

    fig, ax = L.panels(1, 3, panel=(4.0, 3.4))
    k = data["k"]
    series = _series(data)
    xl, yl = "k = d (teacher I_k)", "Xavier starts (%)"
    fraction_bands(k, {"global minima": series.pop("global minima")}, ax[0, 0], xlabel=xl, ylabel=yl,
                   legend=False)
    lo = float(np.nanmin(data["class_interval"][:, 0, 0]))
    ax[0, 0].set_ylim(max(0.0, 10 * math.floor(10 * lo) - 5), 100.5)
    ax[0, 0].set_title("global minima (all teacher permutations)", fontsize=9)
    fraction_bands(k, {"dynsys": (data["spurious"], data["spurious_interval"])}, ax[0, 1], xlabel=xl,
                   ylabel=yl, legend=False, colours_from=1)
    ax[0, 1].plot(k, data["published"], "s--", mfc="none", color="k", lw=0.8, label="Safran & Shamir 2018")
    ax[0, 1].set_title("all spurious minima", fontsize=9)
    ax[0, 1].legend(loc="upper left", fontsize=8, frameon=False)
    # classes span 0.01% to 30%: a log axis, and a class not reached at some k has no point there
    logs = {name: (np.where(f > 0, f, np.nan), np.where(f[:, None] > 0, iv, np.nan))
            for name, (f, iv) in series.items()}
    fraction_bands(k, logs, ax[0, 2], xlabel=xl, ylabel=yl, legend=False, colours_from=2)
    ax[0, 2].set_yscale("log")
    ax[0, 2].set_ylim(1e-3, 100)
    ax[0, 2].set_title("spurious classes (by increasing loss within each k)", fontsize=9)
    ax[0, 2].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    n = sorted(set(int(x) for x in data["n"]))
    fig.suptitle(f"Basin fractions of W* = I_k from {'/'.join(map(str, n))} Xavier starts per k "
                 "(95% Wilson bands)", fontsize=10)
    return L.save(fig, out, NAME)


def claims(data):
    k, f, iv, pub = data["k"], data["spurious"], data["spurious_interval"], data["published"] / 100
    inside = (pub >= iv[:, 0]) & (pub <= iv[:, 1])
    frac = inside.mean()
    table = ", ".join(f"k={a}: {100 * b:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}] vs {100 * p:.1f}"
                      for a, b, (lo, hi), p in zip(k, f, iv, pub))
    n_cls = (data["class_count"][:, 1:] > 0).sum(axis=1)
    res = data["reserved"].sum(axis=0)
    return [{"paper": "SS18", "where": "Table 1 (Safran and Shamir, ICML 2018), by basins",
             "says": "for W* = I_k, k = " + ", ".join(map(str, k)) + ", gradient descent from Xavier starts ends "
                     "at a spurious minimum in " + ", ".join(f"{p:g}" for p in data["published"]) + " % of runs",
             "measured": f"{table} ({int(inside.sum())} of {len(k)} published values inside the 95% interval"
                         + "".join(f"; outside at k = {int(a)}" for a in k[~inside]) + "; "
                         "spurious classes reached per k: " + ", ".join(map(str, n_cls)) +
                         f"; {int(res[0])} diverged, {int(res[1])} not converged, {int(res[2])} singular, "
                         f"{int(res[3])} at saddles)",
             "verdict": "reproduced" if frac >= 0.8 else ("partly" if frac >= 0.5 else "not reproduced"),
             "reason": f"dynsys.basins over {'/'.join(str(int(x)) for x in sorted(set(data['n'])))} starts per k; "
                       "verdict by interval overlap (a published value inside the 95% Wilson interval); "
                       "every endpoint Newton-refined and labelled by its exact Hessian; dynsys stops at a "
                       "row-max gradient norm of 1e-9 (2 pi looser than their per-neuron rule)"}]
