"""Spurious minima of the orthonormal teacher (beyond the papers: Safran and Shamir, ICML 2018).

For ``W* = I_k`` (d = k, student width k) and k = 6..20, gradient descent from Xavier starts ends at a
spurious local minimum in a fraction of runs that Safran and Shamir tabulate (their Table 1). dynsys's
:func:`dynsys.census_sweep` refines and classifies every endpoint (``docs/math.md`` section 4) and gives
95% Wilson intervals; the table sets them beside the published percentages.
"""

from __future__ import annotations

import numpy as np

import dynsys as ds

NAME = "ss18_census"
GROUPS = ("000",)
TITLE = "Spurious-minimum census of W* = I_k, k = 6..20, beside Safran and Shamir (2018)"
QUICK_SECONDS = 120
FULL_SECONDS = 6000

#: Safran and Shamir (2018), Table 1: % of runs ending at a spurious minimum, k = n = 6..20.
PUBLISHED = {6: 0.3, 7: 5.5, 8: 12.6, 9: 21.8, 10: 34.6, 11: 45.5, 12: 58.5, 13: 73.0, 14: 73.6, 15: 80.3,
             16: 85.1, 17: 89.7, 18: 90.0, 19: 93.4, 20: 94.9}


#: Sizes: (teacher widths, runs per k); tests shrink the quick one.
SIZES = {"quick": (tuple(range(6, 21, 2)), 40), "full": (tuple(range(6, 21)), 1000)}


def compute(quick: bool) -> dict:
    ks, n = SIZES["quick" if quick else "full"]
    sw = ds.census_sweep(ks, n, seed=0)
    return {"k": np.array(ks), "n_runs": n, "spurious": sw.spurious_fractions,
            "interval": np.asarray(sw.spurious_intervals),
            "n_saddle": np.array([c.n_saddle for c in sw.censuses]),
            "n_unconverged": np.array([c.n_unconverged for c in sw.censuses]),
            "n_classes": np.array([len(c.spurious_classes) for c in sw.censuses]),
            "published": np.array([PUBLISHED[k] for k in ks]),
            "meta": {"model": "teacher W* = I_k, d = k, student width k, ReLU, all top weights 1",
                     "protocol": "dynsys.census_sweep defaults: Xavier starts, gradient descent step 0.1, "
                                 "stop at row-max gradient norm 1e-9, endpoints Newton-refined and classified",
                     "runs_per_k": n, "seed": 0}}


def figures(data, out):
    from dynsys.plotting import layout as L
    fig, ax = L.panels(1, 1, panel=(5.0, 3.4))
    ax = ax[0, 0]
    k, f, iv = data["k"], 100 * data["spurious"], 100 * data["interval"]
    ax.errorbar(k, f, yerr=np.abs(np.stack([f - iv[:, 0], iv[:, 1] - f])), fmt="o-", capsize=3,
                label=f"dynsys, {data['n_runs']} runs per k (95% Wilson)")
    ks = np.array(sorted(PUBLISHED))
    ax.plot(ks, [PUBLISHED[x] for x in ks], "s--", mfc="none", color="C3", label="Safran and Shamir 2018")
    ax.set_xlabel("k (teacher I_k, student width k)")
    ax.set_ylabel("runs ending at a spurious minimum (%)")
    ax.set_xticks(ks)
    ax.legend(fontsize=8)
    return L.save(fig, out, NAME)


def claims(data):
    k, f, iv, pub = data["k"], data["spurious"], data["interval"], data["published"] / 100
    inside = (pub >= iv[:, 0]) & (pub <= iv[:, 1])
    frac = inside.mean()
    table = ", ".join(f"k={a}: {100 * b:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}] vs {100 * p:.1f}"
                      for a, b, (lo, hi), p in zip(k, f, iv, pub))
    return [{"paper": "SS18", "where": "Table 1 (Safran and Shamir, ICML 2018)",
             "says": "for W* = I_k, k = 6..20, gradient descent from Xavier starts ends at a spurious minimum in "
                     "0.3, 5.5, 12.6, 21.8, 34.6, 45.5, 58.5, 73.0, 73.6, 80.3, 85.1, 89.7, 90.0, 93.4, 94.9 % of runs",
             "measured": f"{table} ({int(inside.sum())} of {len(k)} published values inside the 95% interval; "
                         f"{int(data['n_unconverged'].sum())} unconverged, {int(data['n_saddle'].sum())} at saddles)",
             "verdict": "reproduced" if frac >= 0.8 else ("partly" if frac >= 0.5 else "not reproduced"),
             "reason": f"{data['n_runs']} runs per k; dynsys stops at a row-max gradient norm of 1e-9 (2 pi looser "
                       "than their per-neuron rule, the classes do not change) and refines each endpoint by Newton"}]
