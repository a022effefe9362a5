"""Figures of basin maps (:class:`dynsys.BasinResult`): the map of a slice, fractions against a parameter.

Colours are fixed by what an attractor is, not by its label number, so two maps of one model use one
colour for one attractor: a global minimum by the rank of its permutation (or assignment) of teacher
rows, any other minimum by its symmetry class, reserved labels by their meaning.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from .layout import PERM_COLORS

#: Colours of the reserved labels -1 .. -5.
RESERVED = {-1: ("diverged", "#000000"), -2: ("not converged", "#7f7f7f"), -3: ("singular", "#ff00ff"),
            -4: ("saddle", "#d9d9d9"), -5: ("not computed", "#ffffff")}
# one colour per teacher permutation, the same as in every other figure
_GLOBAL = PERM_COLORS
_OTHER = plt.get_cmap("Dark2").colors


def _rank(assign) -> int:
    """Lexicographic rank of a permutation among all permutations (its Lehmer code), or of an
    assignment among all tuples of its length (base k)."""
    a = [int(x) for x in assign]
    k = len(a)
    if sorted(a) == list(range(k)):
        r = 0
        for i, x in enumerate(a):
            r = r * (k - i) + sum(1 for y in a[i + 1:] if y < x)
        return r
    return sum(x * k ** (k - 1 - i) for i, x in enumerate(a))


def attractor_colours(result) -> dict:
    """``{label: colour}`` for every attractor of ``result`` (fixed by identity, distinct in the map)."""
    out, used = {}, set()
    for a in result.attractors:
        if a.kind == "global_minimum" and a.assignment is not None:
            pal, i = _GLOBAL, _rank(a.assignment)
        elif a.kind == "global_minimum":
            pal, i = _GLOBAL, a.label
        else:
            pal, i = _OTHER, a.class_id - 1
        c = pal[i % len(pal)]
        for step in range(len(pal)):  # a collision of two fixed colours in one map: the next free one
            c = pal[(i + step) % len(pal)]
            if c not in used:
                break
        used.add(c)
        out[a.label] = c
    return out


def _describe(a) -> str:
    if a.permutation is not None:
        return f"teacher perm {tuple(int(p) for p in a.permutation)}"
    if a.assignment is not None:
        return f"teacher split {tuple(int(p) for p in a.assignment)}"
    name = a.kind.replace("_", " ")
    return f"{name} {a.label} (class {a.class_id}, loss {a.loss:.3g})"


def _grid(result):
    from ..basins.samplers import Grid

    d = dict(result.sampler)
    if d.pop("sampler", None) != "Grid":
        raise ValueError("basin_map needs a map of a Grid sampler (a slice); this result is a sample of "
                         f"{result.sampler.get('sampler')!r}: plot its fractions instead")
    return Grid(np.array(d["origin"]), np.array(d["u"]), np.array(d["v"]), tuple(d["s"]), tuple(d["t"]),
                tuple(d["shape"]), d["name"])


def _in_slice(grid, W):
    """Slice coordinates of the states ``W`` (m, state) that lie in the slice's plane and extent."""
    if len(W) == 0:
        return np.zeros((0, 2))
    W = np.asarray(W, dtype=float)
    st = grid.coords(W)
    back = grid.origin[None] + st[:, :1, None] * grid.u[None] + st[:, 1:, None] * grid.v[None] \
        if grid.origin.ndim == 2 else grid.origin[None] + st[:, :1] * grid.u[None] + st[:, 1:] * grid.v[None]
    resid = np.max(np.abs(back - W).reshape(len(W), -1), axis=1)
    scale = 1.0 + np.max(np.abs(W).reshape(len(W), -1), axis=1)
    (s0, s1), (t0, t1) = grid.s, grid.t
    ok = (resid <= 1e-6 * scale) & (st[:, 0] >= s0) & (st[:, 0] <= s1) & (st[:, 1] >= t0) & (st[:, 1] <= t1)
    return st[ok]


def _axis_names(grid):
    if grid.name == "reduced_plane":
        return "x  (w_j = x w*_j + y sum_{l != j} w*_l)", "y"
    if grid.name.startswith("teacher_slice"):
        return "s  (W = s W* + t P W*)", f"t  (P = {grid.name[len('teacher_slice'):]})"
    return "s  (W = origin + s u + t v)", "t"


def basin_map(result, ax=None, *, boundaries=True, markers=True, legend=True, title=None):
    """The basin map of a slice: one fixed colour per attractor (see :func:`attractor_colours`),
    reserved labels in grey shades, boundaries between basins, minima (stars) and the saddles that
    cells ended at (crosses) where they lie in the slice.

    Parameters
    ----------
    result : BasinResult
        A map of a :class:`dynsys.basins.Grid` (``reduced_plane``, ``teacher_slice``, ...).
    ax : matplotlib Axes, optional
        Where to draw; by default a new 7 x 5 inch figure with constrained layout.
    boundaries, markers, legend : bool
        Draw the basin boundaries, the minima and saddle markers, the legend (outside, right).
    title : str, optional
        Default: the slice's name, cells and attractor count.

    Returns
    -------
    matplotlib Axes
    """
    grid = _grid(result)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    L = result.label_map
    colours = attractor_colours(result)
    values = sorted(set(np.unique(L).tolist()))
    cmap = ListedColormap([colours[v] if v >= 0 else RESERVED[v][1] for v in values])
    idx = np.searchsorted(values, L)
    (s0, s1), (t0, t1) = grid.s, grid.t
    ax.imshow(idx, origin="lower", extent=(s0, s1, t0, t1), cmap=cmap, vmin=-0.5, vmax=len(values) - 0.5,
              interpolation="nearest", aspect="auto")
    if boundaries:
        ds_, dt_ = (s1 - s0) / L.shape[1], (t1 - t0) / L.shape[0]
        segs = []
        for i, j in zip(*np.nonzero(L[:, 1:] != L[:, :-1])):
            x = s0 + (j + 1) * ds_
            segs.append([(x, t0 + i * dt_), (x, t0 + (i + 1) * dt_)])
        for i, j in zip(*np.nonzero(L[1:, :] != L[:-1, :])):
            y = t0 + (i + 1) * dt_
            segs.append([(s0 + j * ds_, y), (s0 + (j + 1) * ds_, y)])
        if segs:
            ax.add_collection(LineCollection(segs, colors="k", linewidths=0.6))
    handles = []
    if markers:
        for a in result.attractors:
            st = _in_slice(grid, [a.W])
            if len(st):
                ax.plot(st[:, 0], st[:, 1], marker="*", ms=14, mfc="w", mec="k", mew=1.0,
                        ls="none", zorder=5)
        st = _in_slice(grid, result.saddle_points)
        if len(st):
            ax.plot(st[:, 0], st[:, 1], marker="X", ms=8, color="w", mec="k", mew=0.8, ls="none", zorder=5)
            handles.append(plt.Line2D([], [], marker="X", ms=8, color="w", mec="k", ls="none",
                                      label="saddle reached"))
        handles.append(plt.Line2D([], [], marker="*", ms=12, color="w", mec="k", ls="none", label="minimum"))
    if legend:
        fr = result.fractions
        for v in values:
            if v >= 0:
                a = result.attractors[v]
                handles.insert(0, Patch(color=colours[v], label=f"{_describe(a)}: {100 * fr[v]:.1f}%"))
            else:
                pct = "" if v == -5 else f": {100 * fr[v]:.1f}%"
                handles.insert(0, Patch(facecolor=RESERVED[v][1], edgecolor="k", lw=0.5,
                                        label=f"{RESERVED[v][0]}{pct}"))
        ax.legend(handles=handles[::-1], loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8,
                  frameon=False)
    xl, yl = _axis_names(grid)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_xlim(s0, s1)
    ax.set_ylim(t0, t1)
    k = f"k = {result.k}, d = {result.d}, " if result.k else ""
    ax.set_title(title or f"{grid.name}: {k}{L.shape[0]} x {L.shape[1]} cells, {result.method} "
                          f"step {result.step:g}", fontsize=9)
    return ax


def fraction_bands(x, series, ax=None, *, xlabel="k", ylabel="cells (%)", legend=True, colours_from=0):
    """Fractions against ``x`` as lines with 95% interval bands, one per named series.

    Parameters
    ----------
    x : sequence of float, shape (m,)
    series : dict
        ``{name: (fractions, intervals)}``, fractions of shape (m,) and intervals (m, 2), in [0, 1]; a
        series that is zero everywhere is left out.
    ax : matplotlib Axes, optional
        Default: a new 6.5 x 4 inch figure with constrained layout.
    xlabel, ylabel : str
    legend : bool
        A legend outside, right of the axes.
    colours_from : int
        Index of the first series' colour in the ``tab10`` cycle (to keep colours apart across panels).

    Returns
    -------
    matplotlib Axes
    """
    x = np.asarray(x, dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    colours = plt.get_cmap("tab10").colors
    for i, (name, (f, iv)) in enumerate(series.items()):
        f = np.asarray(f, dtype=float)
        if not np.any(f > 0):
            continue
        c = colours[(colours_from + i) % len(colours)]
        iv = np.asarray(iv, dtype=float)
        ax.plot(x, 100 * f, "o-", color=c, label=name, ms=4)
        ax.fill_between(x, 100 * iv[:, 0], 100 * iv[:, 1], color=c, alpha=0.2, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    if x.size and math.isclose(float(np.round(x).sum()), float(x.sum())):
        ax.set_xticks(x)
    return ax


def fractions(x, results, ax=None, *, by="kind", xlabel="k", title=None):
    """Basin fractions against ``x`` (k, or a parameter) with 95% Wilson bands.

    Parameters
    ----------
    x : sequence of float
        One value per result.
    results : sequence of BasinResult
    by : {"kind", "class", "label"}
        ``"kind"``: global minima, spurious minima, degenerate, saddle and not converged, summed.
        ``"class"``: one line per symmetry class id (0: global minima; others by increasing loss within
        each result), plus the reserved labels.
        ``"label"``: one line per attractor label; match labels across the results first by passing
        each map the previous one's attractors (``basins(..., attractors=prev)``).
    xlabel, title : str

    Returns
    -------
    matplotlib Axes
    """
    x = np.asarray(x, dtype=float)
    results = list(results)
    if len(results) != x.size or x.size == 0:
        raise ValueError(f"need one result per x value; got {x.size} values and {len(results)} results")
    if by not in ("kind", "class", "label"):
        raise ValueError(f"by must be 'kind', 'class' or 'label'; got {by!r}")
    series = {}
    if by == "kind":
        for name in ("global_minimum", "spurious_minimum", "minimum", "degenerate"):
            series[name.replace("_", " ")] = ([r.kind_fractions[name] for r in results],
                                              [r.kind_intervals[name] for r in results])
    elif by == "class":
        for c in range(max(len(r.class_counts) for r in results)):
            kind = next((r.class_kind(c) for r in results if c < len(r.class_counts) and r.class_counts[c]),
                        "minimum")
            series[f"class {c} ({kind.replace('_', ' ')})"] = (
                [r.class_fractions.get(c, 0.0) for r in results],
                [r.class_intervals.get(c, (0.0, 0.0)) for r in results])
    else:
        labs = sorted({a.label for r in results for a in r.attractors})
        for lab in labs:
            a = next(r.attractors[lab] for r in results if lab < len(r.attractors))
            f = [r.fractions.get(lab, 0.0) for r in results]
            iv = [r.intervals.get(lab, (0.0, 0.0)) for r in results]
            series[_describe(a)] = (f, iv)
    if by != "label":
        for lab in (-4, -2, -1):
            series[RESERVED[lab][0]] = ([r.fractions[lab] for r in results], [r.intervals[lab] for r in results])
    ax = fraction_bands(x, series, ax, xlabel=xlabel)
    n = sorted({r.n_done for r in results})
    ax.set_title(title or f"basin fractions, {'/'.join(map(str, n))} cells each, 95% Wilson bands",
                 fontsize=9)
    return ax


__all__ = ["RESERVED", "attractor_colours", "basin_map", "fraction_bands", "fractions"]
