"""Figure of a traced manifold of critical points (:class:`dynsys.results.manifold.Manifold`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib import ticker
import numpy as np

_COLOR_BY = ("loss", "index")


def _coordinates(m, coords):
    """``(x, y, xlabel, ylabel)``: the sampled points projected on two coordinates."""
    P = m.W.reshape(m.n_points, -1)
    if coords == "pca":
        C = P - P.mean(axis=0)
        if m.n_points < 2:
            return C[:, 0], C[:, 0] * 0.0, "principal direction 1", "principal direction 2"
        _, s, Vt = np.linalg.svd(C, full_matrices=False)
        Vt = np.vstack([Vt, np.zeros((2, P.shape[1]))])
        return C @ Vt[0], C @ Vt[1], "principal direction 1", "principal direction 2"
    if not (isinstance(coords, (tuple, list)) and len(coords) == 2):
        raise ValueError(f"coords must be 'pca' or a pair of state indices (e.g. ((0, 0), (1, 0)) for "
                         f"W[0, 0] and W[1, 0]); got {coords!r}")
    shape = m.W.shape[1:]
    cols, labels = [], []
    for c in coords:
        idx = tuple(np.atleast_1d(c).tolist())
        try:
            flat = int(np.ravel_multi_index(idx, shape))
        except (ValueError, TypeError):
            raise ValueError(f"coords entry {c!r} is not an index into a state of shape {shape}") from None
        cols.append(P[:, flat])
        labels.append(("W[" + ", ".join(map(str, idx)) + "]") if len(shape) > 1 else f"x[{idx[0]}]")
    return cols[0], cols[1], labels[0], labels[1]


def manifold(m, ax=None, *, coords="pca", color="loss"):
    """A traced manifold projected on two coordinates, coloured by loss or Morse index.

    Each sampled point is a dot; a thin line joins it to the point it was stepped from (the edges of
    the sampling tree, so a curve reads as a curve); the start is a star.

    Parameters
    ----------
    m : Manifold
    ax : matplotlib Axes, optional
        Where to draw; by default a new 5 x 4 inch figure with constrained layout.
    coords : "pca" or a pair of state indices
        The two leading principal directions of the sampled points, or two entries of the state
        (``((0, 0), (1, 0))`` for ``W[0, 0]`` and ``W[1, 0]``; ``(0, 1)`` for a vector state).
    color : {"loss", "index"}
        Colour by the loss minus the start's loss (constant up to roundoff on a true manifold), or by
        Morse index (one colour per index, with a legend).

    Returns
    -------
    matplotlib Axes
    """
    if color not in _COLOR_BY:
        raise ValueError(f"color must be one of {_COLOR_BY}; got {color!r}")
    x, y, xl, yl = _coordinates(m, coords)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    for i, p in enumerate(m.parent):
        if p >= 0:
            ax.plot([x[p], x[i]], [y[p], y[i]], color="0.75", lw=0.6, zorder=1)
    if color == "loss":
        dl = m.loss - m.loss[0]
        sc = ax.scatter(x, y, c=dl, s=12, cmap="viridis", zorder=2)
        # explicit exponents on the ticks: a shared "1e-16" multiplier would sit on the title
        cb = ax.figure.colorbar(sc, ax=ax, format=ticker.FormatStrFormatter("%.1e"))
        cb.set_label("loss - loss at start")
    else:
        cmap = plt.get_cmap("tab10")
        for n, idx in enumerate(np.unique(m.morse_index)):
            sel = m.morse_index == idx
            ax.scatter(x[sel], y[sel], s=12, color=cmap(n % 10), label=f"Morse index {idx}", zorder=2)
    ax.scatter([x[0]], [y[0]], marker="*", s=140, color="tab:red", edgecolor="k", zorder=3, label="start")
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(f"{m.n_points} critical points, dimension {m.dim_sampled} (symmetry: {m.dim_expected}), "
                 f"loss {m.loss[0]:.6g}", fontsize=9)
    ax.legend(loc="best", fontsize=8)
    if coords == "pca":
        ax.set_aspect("equal", adjustable="datalim")
    return ax


__all__ = ["manifold"]
