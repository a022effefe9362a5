"""Input checks shared by the public functions: each error names the argument and the fix."""

from __future__ import annotations

import numbers

import numpy as np


def real_array(x, name: str, *, dtype=np.float64, allow_float32: bool = False) -> np.ndarray:
    """``x`` as a C-contiguous real float array; ``TypeError`` for complex, bool, object or text.

    Integer input is converted to float64. float32 is kept only when ``allow_float32`` (CUDA).
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a real numeric array; got {type(x).__name__} ({exc})") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real; got complex dtype {arr.dtype}. Pass the real part "
                        f"explicitly if that is what you mean.")
    if kind not in "iuf":
        raise TypeError(f"{name} must be a real numeric array (float64); got dtype {arr.dtype}")
    if allow_float32 and arr.dtype == np.float32:
        return np.ascontiguousarray(arr)
    return np.ascontiguousarray(arr, dtype=dtype)


def finite(arr: np.ndarray, name: str) -> np.ndarray:
    """Raise ``ValueError`` naming the first non-finite entry of ``arr``."""
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite; {name}[{', '.join(map(str, idx))}] = {arr[idx]}")
    return arr


def real_scalar(x, name: str, *, lo=None, hi=None, lo_open=False) -> float:
    """A real number in ``[lo, hi]`` (or ``(lo, hi]`` with ``lo_open``); else a clear error."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {x!r} of type {type(x).__name__}")
    v = float(x)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite; got {v}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}"
                         f"{'' if hi is None else f' and <= {hi}'}; got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be <= {hi}; got {v}")
    return v


def positive_int(x, name: str, *, minimum: int = 1, maximum: int | None = None, why: str = "") -> int:
    """An integer in ``[minimum, maximum]``; ``why`` says where the maximum comes from."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {x!r}")
    if int(x) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {int(x)}")
    if maximum is not None and int(x) > maximum:
        raise ValueError(f"{name} must be at most {maximum}{f' ({why})' if why else ''}; got {int(x)}")
    return int(x)


def choice(x, name: str, options) -> str:
    if x not in options:
        raise ValueError(f"{name} must be one of {', '.join(repr(o) for o in options)}; got {x!r}")
    return x
