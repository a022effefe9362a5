"""Saving an analysis's data: ``NAME.npz`` (the arrays) beside ``NAME.json`` (the metadata).

The JSON holds the analysis name, title and groups, whether the run was quick, the dynsys version,
the wall time and the analysis's own ``meta`` (model, seeds, sizes). It is a separate, human-readable
file so that ``cat figures/NAME.json`` answers "what was run"; both are written to temporary names and
renamed into place, the arrays first, so a killed run leaves no JSON that describes missing arrays.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from .._version import __version__


class StaleDataError(ValueError):
    """Saved data that cannot be used: written by another dynsys version, or unreadable."""


def _check(data, name):
    if not isinstance(data, dict):
        raise TypeError(f"{name}.compute must return a dict; got {type(data).__name__}")
    meta = data.get("meta", {})
    try:
        json.dumps(meta)
    except TypeError as exc:
        raise TypeError(f"{name}.compute's 'meta' entry must be JSON-able: {exc}") from None
    arrays = {}
    for key, val in data.items():
        if key == "meta":
            continue
        arr = np.asarray(val)
        if arr.dtype == object:
            raise TypeError(f"{name}.compute returned {key!r} of dtype object; only NumPy arrays and "
                            f"scalars (numbers, bools, strings) can be saved")
        arrays[key] = arr
    return arrays, meta


def save_data(data, out, name, *, title="", groups=(), quick=False, wall_time=0.0) -> Path:
    """Write ``out/NAME.npz`` and ``out/NAME.json``; returns the JSON's path."""
    out = Path(out)
    arrays, meta = _check(data, name)
    npz, js = out / f"{name}.npz", out / f"{name}.json"
    tmp = out / f".{name}.{os.getpid()}.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, npz)
    info = {"analysis": name, "title": title, "groups": list(groups), "quick": bool(quick),
            "dynsys_version": __version__, "wall_time_s": round(float(wall_time), 3),
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "meta": meta}
    tmpj = out / f".{name}.{os.getpid()}.tmp.json"
    tmpj.write_text(json.dumps(info, indent=1) + "\n")
    os.replace(tmpj, js)
    return js


def read_info(out, name):
    """The metadata of ``out/NAME.json``, or None when there is none (or it is unreadable)."""
    js = Path(out) / f"{name}.json"
    try:
        return json.loads(js.read_text())
    except (OSError, ValueError):
        return None


def load_data(out, name) -> dict:
    """The data saved by :func:`save_data`: arrays, 0-d arrays as Python scalars, and ``meta``.

    Raises
    ------
    StaleDataError
        No data, unreadable data, or data written by another dynsys version (recompute it).
    """
    info = read_info(out, name)
    npz = Path(out) / f"{name}.npz"
    if info is None or not npz.exists():
        raise StaleDataError(f"no saved data for {name} in {out}")
    if info.get("dynsys_version") != __version__:
        raise StaleDataError(f"{npz} was written by dynsys {info.get('dynsys_version')}, this is "
                             f"{__version__}")
    try:
        with np.load(npz, allow_pickle=False) as z:
            data = {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}
    except (OSError, ValueError) as exc:
        raise StaleDataError(f"{npz} is unreadable ({exc})") from None
    data["meta"] = info.get("meta", {})
    return data
