"""A census in fixed chunks: kept in a resumable store (``census(store=)``) or run on dask workers
(``census(executor=)``).

Without either, :func:`dynsys.census` sizes its chunks by time; a store needs the same chunks in
every session, so here the chunks have a fixed size (:func:`default_chunk_size`, kept by the store).
A run's outcome depends on the plan and its index only (docs/engine.md), so the chunk size changes
nothing in the result, and a resumed census is bitwise an unbroken one.

The store (:mod:`dynsys.chunkstore`) keeps each run's outcome before grouping: the reserved label,
loss, gradient norm, smallest eigenvalue and steps, and for runs that ended at a minimum what
grouping needs (kind, nullity, refined state, Hessian spectrum). Classes are formed when the census
is packaged, from every run at once. ``class_rtol`` and ``point_rtol`` act only there, so they are
not part of a store's identity: one store can be packaged with other grouping tolerances.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import types

import numpy as np

from .. import _validate as v
from .. import dask_chunks
from .._codes import LABEL_NOT_COMPUTED
from .._version import __version__
from ..chunkstore import ChunkStore, model_identity, run_local
from .census import MINIMUM_KINDS, CensusChunk, CensusPlan, run_census_chunk
from .census_counts import Member

#: Chunks of about this share of the runs by default (a kill loses at most one chunk per worker).
CHUNK_SHARE = 0.01
#: Bounds of the default chunk size: chunks of 16 runs made a k = 4 census about 30% slower (load
#: imbalance, a Zarr write of tens of ms each), 64 were as fast as chunks sized by time; large ones
#: lose more to a kill.
CHUNK_MIN, CHUNK_MAX = 64, 4096
#: Format of a census store's identity (a store written under another format is refused).
FORMAT_VERSION = 1


def default_chunk_size(n: int) -> int:
    """About ``CHUNK_SHARE`` of ``n`` runs, within ``[CHUNK_MIN, CHUNK_MAX]`` (and at most ``n``)."""
    return max(1, min(n, max(CHUNK_MIN, min(CHUNK_MAX, math.ceil(CHUNK_SHARE * n)))))


@dataclasses.dataclass(frozen=True, eq=False)
class CensusJob:
    """A :class:`dynsys.critical.census.CensusPlan` cut into chunks of ``chunk_size`` runs (picklable)."""

    plan: CensusPlan
    chunk_size: int

    @property
    def n(self) -> int:
        return self.plan.n_runs

    def chunks(self):
        """The ``(lo, hi)`` ranges of the chunks, in order."""
        return [(lo, min(self.n, lo + self.chunk_size)) for lo in range(0, self.n, self.chunk_size)]

    def identity(self) -> dict:
        """Everything a run's outcome depends on, JSON-able (a store compares it before resuming)."""
        p = self.plan
        starts = None
        if p.starts is not None:
            starts = hashlib.sha256(np.ascontiguousarray(p.starts, dtype="<f8").tobytes()).hexdigest()
        return {"format": "dynsys-census", "format_version": FORMAT_VERSION, "dynsys_version": __version__,
                "model": model_identity(p.model), "init": p.init, "seed": p.seed, "starts_sha256": starts,
                "gd": {"step": p.step, "gtol": p.gtol, "norm": p.norm, "max_steps": p.max_steps},
                # cpu and parallel give the same bits; the CUDA gradient descent does not
                "device": "cuda" if p.backend == "cuda" else "cpu", "refine": p.refine,
                "n": self.n, "chunk_size": self.chunk_size, "state_shape": list(p.model.state_shape)}


def run_job_chunk(job: CensusJob, lo: int, hi: int, **kw) -> CensusChunk:
    """:func:`dynsys.critical.census.run_census_chunk` of the job's plan (a dask task)."""
    return run_census_chunk(job.plan, lo, hi, **kw)


def complete(chunk: CensusChunk) -> bool:
    """Whether every run of ``chunk`` finished (Ctrl-C leaves runs ``LABEL_NOT_COMPUTED``)."""
    return not bool(np.any(chunk.labels == LABEL_NOT_COMPUTED))


class CensusStore(ChunkStore):
    """An open census store for one :class:`CensusJob`: :meth:`open`, :meth:`missing`,
    :meth:`write`, :meth:`read_chunks`."""

    WHAT = "census"

    @staticmethod
    def spec(job) -> dict:
        shape = tuple(job.plan.model.state_shape)
        p = int(np.prod(shape))
        return {"labels": ("i8", LABEL_NOT_COMPUTED, ()), "loss": ("f8", np.nan, ()),
                "grad_norm": ("f8", np.nan, ()), "lambda_min": ("f8", np.nan, ()), "steps": ("i8", 0, ()),
                # runs at a minimum: index of the kind in MINIMUM_KINDS (-1: not a minimum), ...
                "kind": ("i1", -1, ()), "nullity": ("i8", 0, ()), "W": ("f8", np.nan, shape),
                "n_eig": ("i8", 0, ()), "eig": ("f8", np.nan, (p,))}

    def write(self, chunk: CensusChunk):
        """Write a complete chunk's arrays, then its marker (so a kill leaves no marker of half a chunk)."""
        if not complete(chunk):
            raise ValueError(f"chunk {chunk.lo}:{chunk.hi} was interrupted; only complete chunks are stored")
        m = chunk.hi - chunk.lo
        spec = self.spec(self.plan)
        data = {"labels": chunk.labels, "loss": chunk.loss, "grad_norm": chunk.grad_norm,
                "lambda_min": chunk.lambda_min, "steps": chunk.steps}
        for name in ("kind", "nullity", "W", "n_eig", "eig"):
            dt, fill, shp = spec[name]
            data[name] = np.full((m,) + shp, fill, dtype=dt)
        for mb in chunk.members:
            r = mb.run - chunk.lo
            data["kind"][r] = MINIMUM_KINDS.index(mb.kind)
            data["nullity"][r] = mb.nullity
            data["W"][r] = mb.W
            data["n_eig"][r] = mb.eig.size
            data["eig"][r, :mb.eig.size] = mb.eig
        self.write_arrays(chunk.lo, chunk.hi, data,
                          {"flow_time": chunk.flow_time, "classify_time": chunk.classify_time})

    def read_chunks(self) -> list:
        """The completed chunks as :class:`dynsys.critical.census.CensusChunk` objects."""
        arrs, markers = self.read_arrays()
        out = []
        for mk in markers:
            lo, hi = mk["lo"], mk["hi"]
            members = []
            for r in range(lo, hi):
                if arrs["kind"][r] < 0:
                    continue
                # what Member reads of a classified point, as the store keeps it (bitwise)
                cp = types.SimpleNamespace(W=arrs["W"][r], loss=arrs["loss"][r], grad_norm=arrs["grad_norm"][r],
                                           eigvals=arrs["eig"][r, :arrs["n_eig"][r]],
                                           kind=MINIMUM_KINDS[arrs["kind"][r]], nullity=arrs["nullity"][r])
                members.append(Member(r, cp))
            s = slice(lo, hi)
            out.append(CensusChunk(lo=lo, hi=hi, labels=arrs["labels"][s], loss=arrs["loss"][s],
                                   grad_norm=arrs["grad_norm"][s], lambda_min=arrs["lambda_min"][s],
                                   steps=arrs["steps"][s], members=tuple(members),
                                   flow_time=float(mk["flow_time"]), classify_time=float(mk["classify_time"])))
        return out


def run_chunked(plan: CensusPlan, chunk_size, store, executor, progress):
    """The chunks of a census in fixed chunks: kept in ``store`` (a path; only its missing chunks
    are computed) and/or run on ``executor`` (a dask Client). Returns ``(chunks, interrupted)``."""
    if executor is not None:  # before a store is created for a call that cannot run
        dask_chunks.check_client(executor)
    chunk_size = default_chunk_size(plan.n_runs) if chunk_size is None else v.positive_int(chunk_size, "chunk_size")
    job = CensusJob(plan, min(chunk_size, plan.n_runs))
    st = None
    if store is not None:
        st = CensusStore.open(store, job)
        job = st.plan
    todo = job.chunks() if st is None else st.missing()
    if executor is not None:
        chunks, interrupted = dask_chunks.run_chunks(executor, run_job_chunk, job, todo, st, progress,
                                                     "census", "run")
    else:
        chunks, interrupted = _run_local(job, todo, st, progress)
    if st is not None:
        chunks = st.read_chunks() + [c for c in chunks if not complete(c)]
    return chunks, interrupted


def _run_local(job, todo, store, progress):
    """Run the chunks ``todo`` here with progress and Ctrl-C; write each complete one to ``store``."""
    return run_local(functools.partial(run_census_chunk, job.plan), todo, store, progress, "census", "run", complete)


__all__ = ["CensusJob", "CensusStore", "default_chunk_size", "run_chunked"]
