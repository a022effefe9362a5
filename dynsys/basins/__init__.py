"""Basins of attraction: label every initialisation by the attractor its flow reaches.

:func:`basins` flows every start of a sampler (:mod:`.samplers`), classifies every endpoint in one
batch per chunk and labels it: one label per teacher permutation realised (global minima), one per
point for other minima (with its symmetry class), reserved labels for the rest (:mod:`.labels`).
It runs as :func:`plan_basins` -> :func:`run_basin_chunk` -> :func:`package_basins` (:mod:`.run`),
chunks kept in a resumable Zarr store (:mod:`.store`) and run on dask workers (:mod:`.executor`);
:mod:`.config` runs a map from a TOML file (``dynsys basins CONFIG.toml``). docs/basins.md.
"""

from .run import BasinChunk, BasinPlan, basins, package_basins, plan_basins, run_basin_chunk
from .samplers import (Ball, Gaussian, Grid, Sampler, Spheres, TeacherNoise, Xavier, reduced_plane,
                       teacher_slice)

__all__ = ["Ball", "BasinChunk", "BasinPlan", "Gaussian", "Grid", "Sampler", "Spheres", "TeacherNoise",
           "Xavier", "basins", "package_basins", "plan_basins", "reduced_plane", "run_basin_chunk",
           "teacher_slice"]
