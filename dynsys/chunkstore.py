"""Chunks of a long job on disk: a Zarr (major version 3) store that a killed job resumes.

A basin map (:mod:`dynsys.basins.store`) and a census (:mod:`dynsys.critical.census_store`) keep
their chunks in stores of this one layout (a folder):

* ``zarr.json`` with the attribute ``identity``: everything a chunk's outcome depends on (model,
  arguments, chunk size, dynsys version; the plan's ``identity()``), with a ``format`` naming the
  kind of job. A store is never mixed: another identity is refused (:class:`StoreMismatch`);
* one array per per-item outcome, chunked along the items exactly as the job's chunks, so two
  writers never share a Zarr chunk;
* ``done/<chunk>.json``: one completion marker per chunk (its range and timings), written
  atomically (a temporary file renamed) only after the chunk's arrays are written. A chunk without
  its marker is not done, whatever its arrays hold; there is no shared mask that many workers write.

A plan given to a store has ``identity()`` (a JSON-able dict with ``"format"``), ``n`` (items),
``chunk_size`` and ``chunks()`` (the ``(lo, hi)`` ranges), and is a frozen dataclass with a
``chunk_size`` field (an existing store keeps its own chunk size). docs/trust.md describes what a
kill can and cannot cost.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import secrets
from pathlib import Path

import numpy as np

from . import progress as _progress

_MARKERS = "done"


def _publish(tmp, marker):
    """Make a written marker visible in one step (rename: a reader sees none or all of it)."""
    os.replace(tmp, marker)


class StoreMismatch(ValueError):
    """A store written for another model, arguments, chunk layout or dynsys version."""


class StoreWriteError(OSError):
    """A chunk could not be written (read-only or full store); completed chunks are intact."""


def model_identity(model) -> dict:
    """A model as its class and constructor arguments (arrays as nested lists), JSON-able."""
    cls = type(model)
    args = {}
    try:
        params = inspect.signature(cls).parameters
    except ValueError:  # no Python-level constructor (a toy): its class is all of it
        params = {}
    for name, p in params.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or not hasattr(model, name):
            continue
        x = getattr(model, name)
        args[name] = np.asarray(x).tolist() if isinstance(x, np.ndarray) else x
    return {"class": f"{cls.__module__}.{cls.__name__}", "args": args}


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


class ChunkStore:
    """An open store for one plan: :meth:`open`, :meth:`missing`, :meth:`write_arrays`, :meth:`read_arrays`.

    A kind of job subclasses it, naming itself (``WHAT``: "basin", "census"; its store is
    "a WHAT store") and its arrays (:meth:`spec`). Picklable (by path and plan), so a dask worker
    writes to the same store.
    """

    WHAT = "chunked"

    def __init__(self, path, plan):
        self.path = Path(path)
        self.plan = plan

    def __reduce__(self):
        return (type(self), (str(self.path), self.plan))

    @staticmethod
    def spec(plan) -> dict:
        """The arrays: name -> (dtype, fill value, per-item shape)."""
        raise NotImplementedError

    @classmethod
    def open(cls, path, plan):
        """Create the store at ``path`` for ``plan``, or open it when it exists and matches.

        An existing store keeps its chunk size (the returned ``.plan`` has it). Raises
        :class:`StoreMismatch` for a store of another plan and ``ValueError`` for a folder that is
        not a store of this kind.
        """
        import zarr

        try:
            path = Path(os.fspath(path))
        except TypeError:
            raise TypeError(f"store must be a path (str or os.PathLike) of a folder; got "
                            f"{type(path).__name__}") from None
        if not path.name:        # "", ".", "/": no folder of its own (the store is renamed into place)
            raise ValueError(f"store must name a folder of its own (e.g. 'map.zarr'); got {str(path)!r}")
        ident = _canon(plan.identity())
        what = f"{cls.WHAT} store"
        if (path / "zarr.json").exists():
            try:
                g = zarr.open_group(str(path), mode="r")
                old = dict(g.attrs).get("identity")
            except Exception as exc:  # zarr raises many types for a damaged or foreign store
                raise ValueError(f"{path}: not a readable {what} ({type(exc).__name__}: {exc})") from exc
            if not isinstance(old, dict) or old.get("format") != ident["format"]:
                raise ValueError(f"{path} is a Zarr store but not a dynsys {what}; pass another path")
            new = dict(ident, chunk_size=old.get("chunk_size"))
            bad = _diff(old, new)
            if bad:
                raise StoreMismatch(
                    f"{path} holds a {cls.WHAT} store of another plan (differs in: {', '.join(bad)}; "
                    f"stored dynsys {old.get('dynsys_version')}, this is {ident['dynsys_version']}). A "
                    f"store is never mixed: pass a new path, or the arguments it was written with.")
            return cls(path, dataclasses.replace(plan, chunk_size=int(old["chunk_size"])))
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ValueError(f"{path} exists and is not a {what} (no zarr.json); pass a new or empty folder")
        # built beside the path and renamed into place: a job killed while creating its store leaves
        # no half-made store at the path (only a hidden temporary folder beside it)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            g = zarr.open_group(str(tmp), mode="w")
            n, c = plan.n, plan.chunk_size
            for name, (dt, fill, shp) in cls.spec(plan).items():
                g.create_array(name, shape=(n,) + shp, chunks=(c,) + shp, dtype=dt, fill_value=fill)
            (tmp / _MARKERS).mkdir()
            g.attrs["identity"] = ident
            os.replace(tmp, path)  # onto a missing or empty folder
        except OSError as exc:
            raise StoreWriteError(f"cannot create the {what} {path}: {exc}") from exc
        return cls(path, plan)

    def _marker(self, lo) -> Path:
        return self.path / _MARKERS / f"{lo // self.plan.chunk_size:08d}.json"

    def markers(self) -> list:
        """The completed chunks' markers (dicts with ``lo``, ``hi`` and the chunk's timings), in order."""
        out = []
        for p in sorted((self.path / _MARKERS).glob("*.json")):
            try:
                m = json.loads(p.read_text())
                m["lo"], m["hi"] = int(m["lo"]), int(m["hi"])
            except (ValueError, KeyError, TypeError, OSError):  # a marker cut short: the chunk is not done
                continue
            out.append(m)
        return out

    def done(self) -> list:
        """Ranges ``(lo, hi)`` of the completed chunks (those with a marker), in order."""
        return [(m["lo"], m["hi"]) for m in self.markers()]

    def missing(self) -> list:
        """Ranges of the plan's chunks that are not completed, in order."""
        done = set(self.done())
        return [r for r in self.plan.chunks() if r not in done]

    def write_arrays(self, lo, hi, data, meta):
        """Write the arrays ``data`` (name -> rows ``lo:hi``) of a complete chunk, then its marker
        holding ``meta`` (so a kill leaves no marker of half a chunk)."""
        import zarr

        if (lo, hi) not in set(self.plan.chunks()):
            raise ValueError(f"chunk {lo}:{hi} is not a chunk of this store (chunk size {self.plan.chunk_size})")
        s = slice(lo, hi)
        try:
            g = zarr.open_group(str(self.path), mode="r+")
            for name in self.spec(self.plan):
                g[name][s] = data[name]
            marker = self._marker(lo)
            tmp = marker.with_name(f".{marker.name}.{secrets.token_hex(4)}.tmp")
            tmp.write_text(json.dumps(dict(meta, lo=lo, hi=hi)))
            _publish(tmp, marker)
        except OSError as exc:
            n_done = len(self.done())
            raise StoreWriteError(
                f"cannot write chunk {lo}:{hi} to the {self.WHAT} store {self.path} ({exc}); the "
                f"{n_done} completed chunks in it are intact. Make it writable or free space, then call "
                f"again to resume.") from exc

    def read_arrays(self):
        """``(arrays, markers)``: every array in full (name -> ndarray) and the completed chunks'
        markers; only the rows of marked chunks are meaningful."""
        import zarr

        g = zarr.open_group(str(self.path), mode="r")
        return {name: g[name][:] for name in self.spec(self.plan)}, self.markers()


def run_local(run_chunk, todo, store, progress, what, unit, complete):
    """Run the chunks ``todo`` (``(lo, hi)`` pairs) here, with progress and Ctrl-C; write each complete
    one to ``store``. ``run_chunk(lo, hi, stop=, done=)`` computes a chunk; ``complete(chunk)`` says
    whether it finished (an interrupted chunk is kept in memory but never stored).
    Returns ``(chunks, interrupted)``."""
    bar = _progress.reporter(progress, sum(hi - lo for lo, hi in todo), what, unit)
    stop = np.zeros(1, dtype=np.int8)
    chunks = []
    interrupted = False
    try:
        for lo, hi in todo:
            done = np.zeros(hi - lo, dtype=np.int8)
            chunk, interrupted = _progress.watch(functools.partial(run_chunk, lo, hi, stop=stop, done=done), stop,
                                                 _progress.DoneCounter(bar, done))
            if chunk is not None:
                if store is not None and complete(chunk):
                    store.write(chunk)
                chunks.append(chunk)
            if interrupted:
                break
    except KeyboardInterrupt:  # Ctrl-C between two chunks: the chunks so far
        interrupted = True
    finally:
        bar.close()
    return chunks, interrupted


__all__ = ["ChunkStore", "StoreMismatch", "StoreWriteError", "model_identity", "run_local"]
