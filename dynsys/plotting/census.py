"""Figures of censuses (:class:`dynsys.results.CensusSweep`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def census_sweep(sweep, ax=None):
    """Spurious fraction (%) against k with 95% Wilson intervals, from a saved or fresh sweep.

    Parameters
    ----------
    sweep : CensusSweep
    ax : matplotlib Axes, optional
        Where to draw; by default a new 5 x 3.5 inch figure with constrained layout.

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    f = sweep.spurious_fractions
    iv = sweep.spurious_intervals
    ax.errorbar(sweep.ks, 100 * f, yerr=100 * np.abs(np.stack([f - iv[:, 0], iv[:, 1] - f])),
                fmt="o-", capsize=3)
    ax.set_xlabel(f"k (teacher I_k; student width k + {sweep.k_extra})")
    ax.set_ylabel("runs ending at a spurious minimum (%)")
    n = sorted({c.n_runs for c in sweep.censuses})
    ax.set_title(f"{'/'.join(map(str, n))} runs per k, 95% Wilson intervals", fontsize=9)
    ax.set_xticks(list(sweep.ks))
    return ax
