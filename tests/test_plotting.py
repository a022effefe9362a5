"""dynsys.plotting: figures drawn from results (saved or fresh), matplotlib only inside dynsys.plotting."""

import pathlib
import re
import subprocess
import sys

import matplotlib
import numpy as np
import pytest

import dynsys as ds
from dynsys import results

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dynsys import plotting  # noqa: E402

ROOT = pathlib.Path(ds.__file__).parent


@pytest.fixture(scope="module")
def sweep():
    return ds.census_sweep([2, 3], 6, seed=1)


def _inside(fig, artist):
    """Whether the artist's drawn box lies within the figure (nothing clipped at the edge)."""
    renderer = fig.canvas.get_renderer()
    box = artist.get_window_extent(renderer)
    fb = fig.bbox
    return box.x0 >= fb.x0 and box.y0 >= fb.y0 and box.x1 <= fb.x1 and box.y1 <= fb.y1


def test_census_sweep_figure_fits(sweep, tmp_path):
    ax = plotting.census_sweep(sweep)
    fig = ax.figure
    out = tmp_path / "sweep.png"
    fig.savefig(out)
    assert out.exists() and out.stat().st_size > 1000
    assert ax.get_xlabel().startswith("k (teacher I_k; student width k + 0)")
    assert list(ax.get_xticks()) == [2, 3]
    for artist in (ax.xaxis.label, ax.yaxis.label, ax.title):
        assert _inside(fig, artist), artist.get_text()
    plt.close(fig)


def test_draws_from_a_saved_sweep_on_given_axes(sweep, tmp_path):
    loaded = results.CensusSweep.load(sweep.save(tmp_path / "sweep"))
    fig, axes = plt.subplots(1, 2)
    ax = plotting.census_sweep(loaded, ax=axes[1])
    assert ax is axes[1] and len(ax.lines) >= 1
    x, y = ax.lines[0].get_data()
    assert np.array_equal(x, [2, 3]) and np.array_equal(y, 100 * sweep.spurious_fractions)
    plt.close(fig)


def test_results_never_import_plotting():
    code = ("import sys, dynsys, dynsys.results, dynsys.critical.census, dynsys.reproduce, dynsys.cli; "
            "dynsys.reproduce.analyses(); "
            "print('matplotlib' in sys.modules, 'dynsys.plotting' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    for path in ROOT.rglob("*.py"):
        # dynsys.reproduce draws the papers' figures and the command line (a program, not the library)
        # draws `dynsys basins` maps: both import dynsys.plotting inside functions, never at import time.
        if {"plotting", "reproduce"} & set(path.relative_to(ROOT).parts) or path.name == "cli.py":
            continue
        imports = [ln for ln in path.read_text().splitlines()
                   if re.match(r"\s*(from|import)\s", ln)]
        assert not [ln for ln in imports if "matplotlib" in ln or "plotting" in ln], path
    assert not hasattr(results.CensusSweep, "plot")
