"""Figures of dynsys results (matplotlib is imported here only, never by ``import dynsys``).

Each function takes a result (never recomputes it) and an optional matplotlib Axes, and returns the
Axes it drew on. Without an Axes it makes a figure with constrained layout, so labels are not cut.
:mod:`.layout` holds the shared pieces of the reproduction figures (panel grids, panel letters, one
colour per teacher permutation, PNG + PDF saving).
"""

from .basins import basin_map
from .basins import fractions as basin_fractions
from .bifurcation import bifurcation_diagram, event_curve
from .census import census_sweep
from .landscape import disconnectivity
from .layout import PERM_COLORS, permutation_color, permutation_index
from .manifold import manifold
from .phase import phase_portrait

__all__ = ["PERM_COLORS", "basin_fractions", "basin_map", "bifurcation_diagram", "census_sweep", "disconnectivity",
           "event_curve", "manifold", "permutation_color", "permutation_index", "phase_portrait"]
