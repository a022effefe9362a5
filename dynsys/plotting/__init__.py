"""Figures of dynsys results (matplotlib is imported here only, never by ``import dynsys``).

Each function takes a result (never recomputes it) and an optional matplotlib Axes, and returns the
Axes it drew on. Without an Axes it makes a figure with constrained layout, so labels are not cut.
:mod:`.layout` holds the shared pieces of the reproduction figures (panel grids, panel letters, one
colour per teacher permutation, PNG + PDF saving).
"""

from .census import census_sweep
from .layout import PERM_COLORS, permutation_color, permutation_index
from .phase import phase_portrait

__all__ = ["census_sweep", "phase_portrait", "PERM_COLORS", "permutation_color", "permutation_index"]
