"""Chunks of a basin map on dask workers (``basins(..., executor=client)``): the generic runner of
:mod:`dynsys.dask_chunks` with :func:`dynsys.basins.run_basin_chunk`. Labels come from packaging,
so they are the local run's."""

from __future__ import annotations

from .. import dask_chunks
from .run import run_basin_chunk


def run_chunks(client, plan, todo, store, progress):
    """Run the chunks ``todo`` on ``client``'s workers; returns ``(chunks, interrupted)`` (chunks
    empty when a store holds them)."""
    return dask_chunks.run_chunks(client, run_basin_chunk, plan, todo, store, progress, "basins", "cell")


__all__ = ["run_chunks"]
