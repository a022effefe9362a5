"""A basin map's chunks on disk: a Zarr (major version 3) store that a killed job resumes.

The layout, markers and refusal of another plan are those of every chunked store
(:mod:`dynsys.chunkstore`). A basin store's identity is the plan's
(:meth:`dynsys.basins.BasinPlan.identity`: model, sampler, flow, tolerances, chunk size, dynsys
version) and its arrays are the cell outcomes: ``status``, ``steps``, ``outcome``, ``assign``,
``loss``, ``grad_norm``, ``lambda_min`` and ``W`` (the refined endpoint of cells that reached a
minimum, NaN elsewhere).

Labels are not stored per cell: they are assigned from all cells when the result is packaged, so a
resumed store gives exactly the labels of an unbroken run.
"""

from __future__ import annotations

import numpy as np

from ..chunkstore import ChunkStore, StoreMismatch, StoreWriteError
from .labels import Ends


class BasinStore(ChunkStore):
    """An open basin store for one plan: :meth:`open`, :meth:`missing`, :meth:`write`, :meth:`read_chunks`."""

    WHAT = "basin"

    @staticmethod
    def spec(plan) -> dict:
        shape = tuple(plan.model.state_shape)
        rows = shape[0] if len(shape) > 1 else 1
        return {"status": ("i1", 6, ()), "steps": ("i8", 0, ()), "outcome": ("i1", -5, ()),
                "assign": ("i2", -1, (rows,)), "loss": ("f8", np.nan, ()), "grad_norm": ("f8", np.nan, ()),
                "lambda_min": ("f8", np.nan, ()), "W": ("f8", np.nan, shape)}

    def write(self, chunk):
        """Write a complete chunk's arrays, then its marker (so a kill leaves no marker of half a chunk)."""
        if not chunk.complete:
            raise ValueError(f"chunk {chunk.lo}:{chunk.hi} was interrupted; only complete chunks are stored")
        e = chunk.ends
        data = {"status": chunk.status, "steps": chunk.steps, "outcome": e.outcome, "assign": e.assign,
                "loss": e.loss, "grad_norm": e.grad_norm, "lambda_min": e.lambda_min, "W": e.W}
        self.write_arrays(chunk.lo, chunk.hi, data,
                          {"flow_time": chunk.flow_time, "classify_time": chunk.classify_time})

    def read_chunks(self) -> list:
        """The completed chunks as :class:`dynsys.basins.BasinChunk` objects."""
        from .run import BasinChunk

        arrs, markers = self.read_arrays()
        out = []
        for m in markers:
            s = slice(m["lo"], m["hi"])
            ends = Ends(outcome=arrs["outcome"][s], assign=arrs["assign"][s], loss=arrs["loss"][s],
                        grad_norm=arrs["grad_norm"][s], lambda_min=arrs["lambda_min"][s], W=arrs["W"][s])
            out.append(BasinChunk(lo=m["lo"], hi=m["hi"], status=arrs["status"][s], steps=arrs["steps"][s],
                                  ends=ends, flow_time=float(m["flow_time"]),
                                  classify_time=float(m["classify_time"])))
        return out


__all__ = ["BasinStore", "StoreMismatch", "StoreWriteError"]
