"""A basin map's chunks on disk: a Zarr (major version 3) store that a killed job resumes.

Layout of the store (a folder):

* ``zarr.json`` with the attribute ``identity``: the plan's identity (model, sampler, flow,
  tolerances, chunk size, dynsys version; :meth:`dynsys.basins.BasinPlan.identity`);
* one array per cell outcome, chunked along the cells exactly as the plan's chunks, so two writers
  never share a Zarr chunk: ``status``, ``steps``, ``outcome``, ``assign``, ``loss``, ``grad_norm``,
  ``lambda_min`` and ``W`` (the refined endpoint of cells that reached a minimum, NaN elsewhere);
* ``done/<chunk>.json``: one completion marker per chunk (its range and timings), written
  atomically (a temporary file renamed) only after the chunk's arrays are written. A chunk without
  its marker is not done, whatever its arrays hold; there is no shared mask that many workers write.

Labels are not stored per cell: they are assigned from all cells when the result is packaged, so a
resumed store gives exactly the labels of an unbroken run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from pathlib import Path

import numpy as np

from .labels import Ends

#: The arrays of a store: name -> (dtype, fill value, per-cell shape from the plan).
_ARRAYS = ("status", "steps", "outcome", "assign", "loss", "grad_norm", "lambda_min", "W")
_MARKERS = "done"


def _publish(tmp, marker):
    """Make a written marker visible in one step (rename: a reader sees none or all of it)."""
    os.replace(tmp, marker)


class StoreMismatch(ValueError):
    """A store written for another model, sampler, flow, tolerances or dynsys version."""


class StoreWriteError(OSError):
    """A chunk could not be written (read-only or full store); completed chunks are intact."""


def _spec(plan):
    shape = tuple(plan.model.state_shape)
    rows = shape[0] if len(shape) > 1 else 1
    return {"status": ("i1", 6, ()), "steps": ("i8", 0, ()), "outcome": ("i1", -5, ()),
            "assign": ("i2", -1, (rows,)), "loss": ("f8", np.nan, ()), "grad_norm": ("f8", np.nan, ()),
            "lambda_min": ("f8", np.nan, ()), "W": ("f8", np.nan, shape)}


def _diff(a, b, prefix=""):
    """Keys where two identity dicts differ (dotted paths)."""
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, "<missing>"), b.get(key, "<missing>")
        if isinstance(x, dict) and isinstance(y, dict):
            out += _diff(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key}")
    return out


def _canon(x):
    """``x`` as JSON would give it back (tuples -> lists), for comparisons with a stored identity."""
    return json.loads(json.dumps(x))


class BasinStore:
    """An open basin store for one plan: :meth:`open`, :meth:`missing`, :meth:`write`, :meth:`read_chunks`.

    Picklable (by path and plan), so a dask worker writes to the same store.
    """

    def __init__(self, path, plan):
        self.path = Path(path)
        self.plan = plan

    def __reduce__(self):
        return (BasinStore, (str(self.path), self.plan))

    @classmethod
    def open(cls, path, plan) -> "BasinStore":
        """Create the store at ``path`` for ``plan``, or open it when it exists and matches.

        An existing store keeps its chunk size (the returned ``.plan`` has it). Raises
        :class:`StoreMismatch` for a store of another plan and ``ValueError`` for a folder that is
        not a basin store.
        """
        import zarr

        path = Path(os.fspath(path))
        ident = _canon(plan.identity())
        if (path / "zarr.json").exists():
            try:
                g = zarr.open_group(str(path), mode="r")
                old = dict(g.attrs).get("identity")
            except Exception as exc:  # zarr raises many types for a damaged or foreign store
                raise ValueError(f"{path}: not a readable basin store ({type(exc).__name__}: {exc})") from exc
            if not isinstance(old, dict) or old.get("format") != "dynsys-basins":
                raise ValueError(f"{path} is a Zarr store but not a dynsys basin store; pass another path")
            new = dict(ident, chunk_size=old.get("chunk_size"))
            bad = _diff(old, new)
            if bad:
                raise StoreMismatch(
                    f"{path} holds a basin map of another plan (differs in: {', '.join(bad)}; stored "
                    f"dynsys {old.get('dynsys_version')}, this is {ident['dynsys_version']}). A store is "
                    f"never mixed: pass a new path, or the arguments it was written with.")
            return cls(path, dataclasses.replace(plan, chunk_size=int(old["chunk_size"])))
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ValueError(f"{path} exists and is not a basin store (no zarr.json); pass a new or empty "
                             f"folder")
        try:
            g = zarr.open_group(str(path), mode="w")
            n, c = plan.n, plan.chunk_size
            for name, (dt, fill, shp) in _spec(plan).items():
                g.create_array(name, shape=(n,) + shp, chunks=(c,) + shp, dtype=dt, fill_value=fill)
            (path / _MARKERS).mkdir()
            g.attrs["identity"] = ident
        except OSError as exc:
            raise StoreWriteError(f"cannot create the basin store {path}: {exc}") from exc
        return cls(path, plan)

    def _marker(self, lo) -> Path:
        return self.path / _MARKERS / f"{lo // self.plan.chunk_size:08d}.json"

    def done(self) -> list:
        """Ranges ``(lo, hi)`` of the completed chunks (those with a marker), in order."""
        out = []
        for p in sorted((self.path / _MARKERS).glob("*.json")):
            try:
                m = json.loads(p.read_text())
                out.append((int(m["lo"]), int(m["hi"])))
            except (ValueError, KeyError, OSError):  # a marker cut short: the chunk is not done
                continue
        return out

    def missing(self) -> list:
        """Ranges of the plan's chunks that are not completed, in order."""
        done = set(self.done())
        return [r for r in self.plan.chunks() if r not in done]

    def write(self, chunk):
        """Write a complete chunk's arrays, then its marker (so a kill leaves no marker of half a chunk)."""
        import zarr

        if not chunk.complete:
            raise ValueError(f"chunk {chunk.lo}:{chunk.hi} was interrupted; only complete chunks are stored")
        if (chunk.lo, chunk.hi) not in set(self.plan.chunks()):
            raise ValueError(f"chunk {chunk.lo}:{chunk.hi} is not a chunk of this store (chunk size "
                             f"{self.plan.chunk_size})")
        e = chunk.ends
        data = {"status": chunk.status, "steps": chunk.steps, "outcome": e.outcome, "assign": e.assign,
                "loss": e.loss, "grad_norm": e.grad_norm, "lambda_min": e.lambda_min, "W": e.W}
        s = slice(chunk.lo, chunk.hi)
        try:
            g = zarr.open_group(str(self.path), mode="r+")
            for name in _ARRAYS:
                g[name][s] = data[name]
            marker = self._marker(chunk.lo)
            tmp = marker.with_name(f".{marker.name}.{secrets.token_hex(4)}.tmp")
            tmp.write_text(json.dumps({"lo": chunk.lo, "hi": chunk.hi, "flow_time": chunk.flow_time,
                                       "classify_time": chunk.classify_time}))
            _publish(tmp, marker)
        except OSError as exc:
            n_done = len(self.done())
            raise StoreWriteError(
                f"cannot write chunk {chunk.lo}:{chunk.hi} to the basin store {self.path} ({exc}); the "
                f"{n_done} completed chunks in it are intact. Make it writable or free space, then call "
                f"again to resume.") from exc

    def read_chunks(self) -> list:
        """The completed chunks as :class:`dynsys.basins.BasinChunk` objects."""
        import zarr

        from .run import BasinChunk

        g = zarr.open_group(str(self.path), mode="r")
        arrs = {name: g[name][:] for name in _ARRAYS}
        out = []
        for lo, hi in self.done():
            m = json.loads(self._marker(lo).read_text())
            s = slice(lo, hi)
            ends = Ends(outcome=arrs["outcome"][s], assign=arrs["assign"][s], loss=arrs["loss"][s],
                        grad_norm=arrs["grad_norm"][s], lambda_min=arrs["lambda_min"][s], W=arrs["W"][s])
            out.append(BasinChunk(lo=lo, hi=hi, status=arrs["status"][s], steps=arrs["steps"][s], ends=ends,
                                  flow_time=float(m["flow_time"]), classify_time=float(m["classify_time"])))
        return out


__all__ = ["BasinStore", "StoreMismatch", "StoreWriteError"]
