"""Phase portraits of the reduced 2D dynamics (:class:`dynsys.ReducedDynamics`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

#: Marker per full-space Morse index 0, 1, 2, ... (larger indices reuse the last).
_MARKERS = ("o", "X", "s", "D", "^", "v", "P", "*")


def _index_marker(i):
    return _MARKERS[min(int(i), len(_MARKERS) - 1)] if i is not None else "o"


def phase_portrait(reduced, ax=None, *, xlim=(-0.6, 1.4), ylim=(-0.6, 1.4), n=41, fixed_points=(),
                   indices=None, trajectories=(), labels=None, density=1.2):
    """The reduced vector field with its fixed points and trajectories (paper ``000`` Fig 8).

    Streamlines of ``(dx/dt, dy/dt)`` coloured by the speed (log scale), fixed points marked by their
    Morse index as points of the full K x d space (a sink of the plane can be a saddle of the full
    space), and trajectories drawn over them.

    Parameters
    ----------
    reduced : ReducedDynamics
        The system; its field is evaluated on an ``n x n`` grid (the field is cheap; nothing else is
        computed here).
    ax : matplotlib Axes, optional
        Where to draw (default: a new 4.2 x 3.6 inch figure).
    xlim, ylim : (float, float)
        Plot window in x and y.
    n : int
        Grid points per axis for the field (the singular origin is skipped).
    fixed_points : sequence of ReducedFixedPoint or of (x, y)
        Points to mark.
    indices : sequence of int, optional
        Full-space Morse index of each fixed point (the legend says "index i"); without it the points
        are marked by their reduced kind when they have one.
    trajectories : sequence of ReducedTrajectory or of (x, y) array pairs
        Paths to draw, each with a dot at its start.
    labels : sequence of str, optional
        Legend labels of the trajectories.
    density : float
        Streamline density (matplotlib ``streamplot``).

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6), layout="constrained")
    xs = np.linspace(*xlim, n)
    ys = np.linspace(*ylim, n)
    X, Y = np.meshgrid(xs, ys)
    r = np.hypot(X, np.sqrt(reduced.K - 1) * Y)
    tiny = r < 1e-9 * max(1.0, float(np.max(r)))
    Xs = np.where(tiny, 1e-6, X)           # keep the grid off the singular origin
    U, V = reduced.field(Xs, Y)
    U = np.where(tiny, np.nan, U)
    V = np.where(tiny, np.nan, V)
    speed = np.hypot(U, V)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(np.where(speed > 0, speed, np.nan))
    # Speeds near fixed points go to 0: colour the bulk (2nd to 100th percentile), clip the rest.
    lo = np.nanpercentile(logs, 2)
    strm = ax.streamplot(xs, ys, U, V, color=np.clip(logs, lo, None), cmap="viridis", density=density,
                         linewidth=0.7, arrowsize=0.8)
    cb = ax.figure.colorbar(strm.lines, ax=ax, shrink=0.85)
    cb.set_label("log10 speed |(dx/dt, dy/dt)|", fontsize=8)
    seen = set()
    for i, fp in enumerate(fixed_points):
        x, y = (fp.x, fp.y) if hasattr(fp, "x") else fp
        idx = None if indices is None else int(indices[i])
        if idx is not None:
            lab = "sink (index 0)" if idx == 0 else f"saddle, index {idx}"
        else:
            lab = getattr(fp, "kind", "fixed point")
        ax.plot(x, y, _index_marker(idx), ms=8, mfc="white" if idx else "black", mec="black", mew=1.4,
                zorder=5, label=None if lab in seen else lab)
        if idx:
            ax.annotate(str(idx), (x, y), xytext=(5, 5), textcoords="offset points", fontsize=8,
                        fontweight="bold", zorder=6)
        seen.add(lab)
    for i, tr in enumerate(trajectories):
        x, y = (tr.x, tr.y) if hasattr(tr, "x") else tr
        lab = None if labels is None else labels[i]
        line, = ax.plot(x, y, lw=1.8, zorder=4, label=lab)
        ax.plot(x[0], y[0], ".", color=line.get_color(), ms=8, zorder=4)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("x (weight along own teacher row)")
    ax.set_ylabel("y (weight along each other row)")
    ax.set_title(f"reduced field, K = {reduced.K}", fontsize=9)
    if seen or labels is not None:
        ax.legend(fontsize=7, loc="upper right", framealpha=0.85)
    return ax
