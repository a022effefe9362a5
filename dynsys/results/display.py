"""Short printed forms of results: values in a few characters, arrays by shape and range, never whole.

Status arrays (integer fields named ``status``) print as counts by :class:`Status` name, enums by name.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from .status import Status, status_counts

_CODES = frozenset(int(s) for s in Status)

#: Arrays with at most this many elements print their values; larger ones their shape and range.
SMALL = 4


def _num(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.4g}"


def counts(status) -> str:
    """``"CONVERGED 998, MAX_STEPS 2"``: statuses by name, most frequent first."""
    c = status_counts(np.atleast_1d(np.asarray(status)))
    return ", ".join(f"{k} {n}" for k, n in sorted(c.items(), key=lambda kv: -kv[1])) or "none"


def array(a: np.ndarray, name: str = "") -> str:
    """Shape and dtype, then the values (small arrays), status counts, or min / median / max."""
    head = f"{a.shape} {a.dtype}"
    if a.size == 0:
        return head
    if name.endswith("status") and a.dtype.kind in "iu":
        return f"{head}: {counts(a)}"
    if a.dtype.kind == "b":
        return f"{head}: {int(np.count_nonzero(a))} True"
    if a.dtype.kind not in "iuf":
        return head
    if a.size <= SMALL:
        return f"{head}: [{', '.join(_num(x) for x in a.ravel())}]"
    finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a.ravel()
    nan = a.size - finite.size
    if finite.size == 0:
        return f"{head}: all non-finite"
    rng = f"min {_num(finite.min())}, median {_num(np.median(finite))}, max {_num(finite.max())}"
    return f"{head}: {rng}" + (f", {nan} non-finite" if nan else "")


def brief(x, name: str = "") -> str:
    """A value in a few characters: numbers to 4 digits, enums by name, arrays and results shortened."""
    if x is None or isinstance(x, (bool, np.bool_)):
        return str(x)
    if isinstance(x, enum.Enum):
        return x.name
    if isinstance(x, str):
        return repr(x)
    if name.endswith("status") and isinstance(x, (int, np.integer)) and int(x) in _CODES:
        return Status(int(x)).name  # a status kept as a plain int prints by name too
    if isinstance(x, (int, float, np.number)):
        return _num(x)
    if isinstance(x, np.ndarray):
        return array(x, name)
    if dataclasses.is_dataclass(x):
        return repr(x)
    if isinstance(x, (tuple, list)):
        if len(x) and all(dataclasses.is_dataclass(v) for v in x):
            return f"{len(x)} x {type(x[0]).__name__}"
        if len(x) <= SMALL:
            inner = ", ".join(brief(v) for v in x)
            return f"({inner})" if isinstance(x, tuple) else f"[{inner}]"
        return f"{type(x).__name__} of {len(x)}"
    return f"{type(x).__name__}"


def field_lines(obj, skip=()) -> str:
    """One indented line per dataclass field of ``obj``: ``name  value``."""
    names = [f.name for f in dataclasses.fields(obj) if f.name not in skip]
    width = max((len(n) for n in names), default=0)
    return "\n".join(f"  {n:<{width}}  {brief(getattr(obj, n), n)}" for n in names)
