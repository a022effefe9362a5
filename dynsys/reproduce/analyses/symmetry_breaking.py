"""Spontaneous symmetry breaking at K = 3 (paper ``000`` Sec 6, Fig 6; the measurement is beyond it).

A symmetric start (every student row ``0.3 (1, 1, 1)``, on the diagonal of the reduced plane, which
flows to the symmetric saddle) plus a tiny perturbation: each run ends at one of the 3! = 6 row
permutations of the teacher ``W* = I_3``. The perturbation's law is invariant under permuting rows and
coordinates, so the six should be equally likely; a chi-squared test of equality at the 1% level on
random perturbations, and a basin map over a 2D slice of perturbations (each point coloured by the
permutation it reaches, the same colour per permutation as in every dynsys figure).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import chisquare

import dynsys as ds

NAME = "symmetry_breaking"
GROUPS = ("000",)
TITLE = "Symmetry breaking at K = 3: which teacher permutation tiny perturbations reach"
QUICK_SECONDS = 20
FULL_SECONDS = 120

_K = 3
_C = 0.3
_EPS = 1e-6


def _labels(W, W_star):
    """Index (in dynsys.plotting's permutation order) of the permutation each end state matches, or -1."""
    from itertools import permutations
    perms = list(permutations(range(_K)))
    out = np.full(len(W), -1)
    for i, w in enumerate(W):
        C = np.sum((w[:, None, :] - W_star[None, :, :]) ** 2, axis=-1)
        r, c = linear_sum_assignment(C)
        if np.sqrt(C[r, c].sum()) < 1e-3:
            out[i] = perms.index(tuple(int(x) for x in c))
    return out


def _run(m, W0):
    r = ds.flow(m, W0, method="gd", step=0.1, gtol=1e-9, max_steps=200_000, progress=False)
    return _labels(r.W, m.W_star), r.steps


def compute(quick: bool) -> dict:
    rng = np.random.default_rng(3)
    m = ds.TeacherStudent(np.eye(_K))
    sym = np.full((_K, _K), _C)
    n = 600 if quick else 6000
    lab, steps = _run(m, sym + _EPS * rng.normal(size=(n, _K, _K)))
    g = 41 if quick else 151
    U, V = rng.normal(size=(2, _K, _K))
    U /= np.linalg.norm(U)
    V -= np.sum(U * V) * U
    V /= np.linalg.norm(V)
    a = np.linspace(-1, 1, g)
    A, B = np.meshgrid(a, a, indexing="ij")
    W0 = sym + _EPS * (A[..., None, None] * U + B[..., None, None] * V)
    grid_lab, _ = _run(m, W0.reshape(-1, _K, _K))
    return {"labels": lab, "steps": steps, "grid_a": a, "grid_labels": grid_lab.reshape(g, g),
            "meta": {"model": "teacher W* = I_3, d = 3, ReLU", "start": f"every row {_C} (1, 1, 1)",
                     "perturbation": f"entries N(0, {_EPS}^2) (random); the map: {_EPS} (a U + b V), U, V orthonormal",
                     "runs": n, "map": [g, g], "method": "gd step 0.1, gtol 1e-9", "seed": 3}}


def figures(data, out):
    from matplotlib.colors import ListedColormap

    from dynsys.plotting import layout as L
    perms = L.permutations(_K)
    fig, ax = L.panels(1, 2, panel=(3.9, 3.3))
    ax = ax[0]
    cols = [L.OTHER_COLOR] + [L.permutation_color(i) for i in range(len(perms))]
    a = data["grid_a"]
    ax[0].pcolormesh(a, a, data["grid_labels"].T + 1, cmap=ListedColormap(cols), vmin=-0.5, vmax=len(perms) + 0.5,
                     shading="auto")
    ax[0].set_xlabel("a (perturbation along U, units of 1e-6)")
    ax[0].set_ylabel("b (along V, units of 1e-6)")
    ax[0].set_title("basin map of the symmetric start", fontsize=9)
    L.letter(ax[0], "(a)")
    lab = data["labels"]
    counts = np.array([np.sum(lab == i) for i in range(len(perms))])
    ax[1].bar(range(len(perms)), counts, color=[L.permutation_color(i) for i in range(len(perms))])
    ax[1].axhline(len(lab) / len(perms), color="k", ls=":", lw=1, label="equal share")
    ax[1].set_xticks(range(len(perms)), ["".join(str(p + 1) for p in q) for q in perms])
    ax[1].set_xlabel("teacher rows matched by student rows 1, 2, 3")
    ax[1].set_ylabel("runs")
    p = chisquare(counts).pvalue
    ax[1].set_title(f"{len(lab)} random perturbations, chi-squared p = {p:.2f}", fontsize=8, loc="right")
    ax[1].legend(fontsize=8, loc="lower right")
    L.letter(ax[1], "(b)")
    return L.save(fig, out, NAME)


def claims(data):
    lab = data["labels"]
    counts = np.array([np.sum(lab == i) for i in range(6)])
    res = chisquare(counts)
    n_other = int(np.sum(lab < 0))
    g = data["grid_labels"]
    centre = int(g[g.shape[0] // 2, g.shape[1] // 2])
    shares = ", ".join(f"{c / len(lab):.3f}" for c in counts)
    return [{"paper": "000", "where": "Sec 6, Fig 6 (spontaneous symmetry breaking; the test is beyond the paper)",
             "says": "a symmetric start sticks at the saddle; infinitesimal perturbations break the symmetry and "
                     "reach W* or one of its permutations",
             "measured": f"{len(lab)} runs from 0.3 (1,1,1) rows + N(0, 1e-12) noise: {len(lab) - n_other} reach a "
                         f"teacher permutation ({n_other} do not); shares of the 6 permutations {shares}; chi-squared "
                         f"test of equality {res.statistic:.2f} on 5 degrees of freedom, p = {res.pvalue:.3f}; "
                         f"the exactly "
                         f"symmetric start (centre of the basin map) "
                         + ("stays at the saddle" if centre < 0 else "reaches a permutation"),
             "verdict": "reproduced" if n_other == 0 and res.pvalue > 0.01 and centre < 0 else "not reproduced",
             "reason": "equality is not rejected at the 1% level (the perturbation's law is invariant under the "
                       "permutations, so equal shares are the prediction)"}]
