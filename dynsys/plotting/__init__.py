"""Figures of dynsys results (matplotlib is imported here only, never by ``import dynsys``).

Each function takes a result (never recomputes it) and an optional matplotlib Axes, and returns the
Axes it drew on. Without an Axes it makes a figure with constrained layout, so labels are not cut.
"""

from .bifurcation import bifurcation_diagram, event_curve
from .census import census_sweep
from .landscape import disconnectivity
from .manifold import manifold

__all__ = ["bifurcation_diagram", "census_sweep", "disconnectivity", "event_curve", "manifold"]
