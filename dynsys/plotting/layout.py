"""Shared figure helpers: panel grids with the papers' layouts, panel letters, one colour per teacher
permutation, and saving as PNG and PDF together."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib import colormaps

#: One colour per teacher permutation (index in :func:`permutation_index`'s order); the same
#: everywhere (basin maps included), so a permutation has one colour in every figure. tab20 without
#: its two greys, which mark runs that reached no permutation.
PERM_COLORS = tuple(c for i, c in enumerate(colormaps["tab20"].colors) if i not in (14, 15))
#: Colour of runs that reached no teacher permutation (a spurious minimum, a saddle, unconverged).
OTHER_COLOR = (0.55, 0.55, 0.55)


def permutations(k):
    """The permutations of ``range(k)`` in lexicographic order (identity first), as tuples."""
    return list(itertools.permutations(range(k)))


def permutation_index(perm) -> int:
    """Position of ``perm`` among :func:`permutations` of its length (its colour's index)."""
    perm = tuple(int(p) for p in perm)
    return permutations(len(perm)).index(perm)


def permutation_color(index):
    """The colour of permutation number ``index`` (negative: :data:`OTHER_COLOR`)."""
    return OTHER_COLOR if index < 0 else PERM_COLORS[int(index) % len(PERM_COLORS)]


def panels(nrows, ncols, *, panel=(3.4, 2.8), **kwargs):
    """A figure of ``nrows x ncols`` panels of ``panel`` inches each, constrained layout.

    Returns
    -------
    fig, axes (2-D array of Axes)
    """
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows),
                             layout="constrained", squeeze=False, **kwargs)
    return fig, axes


def letter(ax, text):
    """Put a panel letter such as ``"(a)"`` at the top left, outside the axes."""
    ax.set_title(text, loc="left", fontsize=10, fontweight="bold")


def close_all():
    """Close every open figure (after an analysis has drawn, so figures do not pile up)."""
    plt.close("all")


def save(fig, out, name) -> list:
    """Save ``fig`` as ``out/NAME.png`` (150 dpi) and ``out/NAME.pdf``, close it, return both paths."""
    out = Path(out)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths
