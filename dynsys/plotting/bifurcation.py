"""Figures of continuation results: the bifurcation diagram of branches
(:class:`dynsys.results.Branch`) and two-parameter event curves (:class:`dynsys.results.EventCurve`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

#: Line styles by Morse index (index 0 solid: minima), cycling beyond.
_STYLES = ("-", "--", ":", "-.")
#: Event markers and short labels by kind.
_MARKS = {"fold": ("o", "LP"), "branch_point": ("s", "BP"), "symmetric_branch_point": ("D", "SBP"),
          "nonsmooth": ("x", "NS"), "nullity_change": ("^", "NC")}


def _y_of(branch, y):
    if callable(y):
        return np.array([float(y(W)) for W in branch.W]), "custom"
    if y == "loss":
        return branch.loss, "loss"
    if y == "norm":
        return np.linalg.norm(branch.W.reshape(len(branch), -1), axis=1), "|W| (Frobenius)"
    raise ValueError(f"y must be 'loss', 'norm' or a callable W -> float; got {y!r}")


def bifurcation_diagram(branches, y="loss", ax=None, *, ylabel=None, label_events=True):
    """Branches in the (p, y) plane, line style and colour by Morse index, events marked and labelled.

    Parameters
    ----------
    branches : Branch or sequence of Branch
    y : {"loss", "norm"} or callable
        What to plot against p: the loss, the norm of the state, or ``y(W) -> float``.
    ax : matplotlib Axes, optional
        Where to draw; by default a new 6 x 4 inch figure with constrained layout.
    ylabel : str, optional
    label_events : bool
        Write each event's short kind (LP fold, BP branch point, SBP symmetric branch point, NS
        non-smooth, NC nullity change) and p next to its marker.

    Returns
    -------
    matplotlib Axes
    """
    if not isinstance(branches, (list, tuple)):
        branches = [branches]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    seen_idx, seen_kind, labels = set(), set(), []
    name = "p"
    for b in branches:
        yv, yname = _y_of(b, y)
        name = b.parameter
        idx = np.asarray(b.morse_index)
        # one line per run of equal index, joined at the change so the curve stays connected
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        for s, e in zip(starts, np.r_[starts[1:], len(idx)]):
            i = int(idx[s])
            sl = slice(s, min(e + 1, len(idx)))
            ax.plot(b.p[sl], yv[sl], _STYLES[i % len(_STYLES)], color=colors[i % len(colors)],
                    label=f"index {i}" if i not in seen_idx else None)
            seen_idx.add(i)
        for ev in b.events:
            mk, short = _MARKS[ev.kind]
            yy = float(_y_of_point(b, y, ev))
            ax.plot([ev.p], [yy], mk, color="k", mfc="none", ms=7,
                    label=ev.kind.replace("_", " ") if ev.kind not in seen_kind else None)
            seen_kind.add(ev.kind)
            if label_events:
                labels.append((f"{short} {ev.p:.6g}", ev.p, yy))
    # each label towards the middle of the axes from its point, so that none leaves the frame
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for text, px, py in labels:
        right, top = px > 0.5 * (x0 + x1), py > 0.5 * (y0 + y1)
        ax.annotate(text, (px, py), textcoords="offset points", xytext=(-5 if right else 5, -5 if top else 5),
                    ha="right" if right else "left", va="top" if top else "bottom", fontsize=8)
    ax.set_xlabel(name)
    ax.set_ylabel(ylabel or yname)
    ax.legend(fontsize=8)
    return ax


def _y_of_point(branch, y, ev):
    if callable(y):
        return y(ev.W)
    if y == "loss":
        return ev.loss
    return float(np.linalg.norm(ev.W))


def event_curve(curves, ax=None):
    """Two-parameter event curves in the (q, p) plane (the second parameter across).

    Parameters
    ----------
    curves : EventCurve or sequence of EventCurve
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    if not isinstance(curves, (list, tuple)):
        curves = [curves]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    for c in curves:
        ax.plot(c.q, c.p, "-", label=f"{c.kind.replace('_', ' ')}")
    ax.set_xlabel(curves[0].names[1])
    ax.set_ylabel(curves[0].names[0])
    ax.legend(fontsize=8)
    return ax
