"""Ready-made one-parameter families of the teacher-student model, for :func:`dynsys.continuation`.

Each function takes a base :class:`~dynsys.TeacherStudent` and returns a :class:`dynsys.Family`
``p -> model``: the leaky slope, a scale of the top weights, the angle between two teacher rows, a
teacher row's norm, the residual ``U = s I``, a straight path between two teachers. Where the
gradient is quadratic in p (leaky slope, top weights) the central difference of d grad / d p is exact
up to rounding and the family says so; the others use a central difference.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _validate as v
from .continuation.family import Family
from .model import TeacherStudent

#: The leaky slope stops short of 1: the linear network makes every critical point degenerate.
ALPHA_MAX = 0.95


def _model(model):
    if not isinstance(model, TeacherStudent):
        raise TypeError(f"model must be a dynsys.TeacherStudent; got {type(model).__name__}")
    return model


def leaky_slope(model, *, hi=ALPHA_MAX) -> Family:
    """``alpha -> model.replace(alpha=alpha)`` on ``[0, hi]`` (paper ``002``'s PReLU slope)."""
    model = _model(model)
    hi = v.real_scalar(hi, "hi", lo=0.0, hi=1.0, lo_open=True)
    return Family(lambda p: model.replace(alpha=p), domain=(0.0, hi), name="alpha", quadratic=True)


def top_weight_scale(model, rows=None) -> Family:
    """``s -> model`` with the top weights ``a_j`` of ``rows`` (default all) scaled by s.

    A row whose weight crosses 0 drops out of the loss there: its Hessian block vanishes.
    """
    model = _model(model)
    a0 = np.array(model.a)
    idx = np.arange(model.k) if rows is None else np.atleast_1d(np.asarray(rows))
    if idx.size == 0 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= model.k:
        raise ValueError(f"rows must be row indices in [0, {model.k}); got {rows!r}")

    def of_p(s):
        a = a0.copy()
        a[idx] = s * a0[idx]
        return model.replace(a=a)

    return Family(of_p, name="s (top weights)", quadratic=True)


def teacher_angle(model, rows=(0, 1)) -> Family:
    """``theta -> model`` with teacher row ``rows[1]`` turned in the plane of ``rows`` to angle theta
    from ``rows[0]`` (its norm kept); theta in ``(0, pi]`` (the K = 2 families of docs/math.md
    section 4)."""
    model = _model(model)
    idx = np.asarray(rows) if isinstance(rows, (tuple, list, np.ndarray)) else np.asarray(None)
    if idx.shape != (2,) or idx.dtype.kind not in "iu":
        raise ValueError(f"rows must be two different teacher rows in [0, {model.k_star}); got {rows!r}")
    i, j = (int(r) for r in idx)
    Ws = np.array(model.W_star)
    if not (0 <= i < model.k_star and 0 <= j < model.k_star and i != j):
        raise ValueError(f"rows must be two different teacher rows in [0, {model.k_star}); got {rows!r}")
    u = Ws[i] / np.linalg.norm(Ws[i])
    w = Ws[j] - (Ws[j] @ u) * u
    if np.linalg.norm(w) <= 1e-12 * np.linalg.norm(Ws[j]):
        raise ValueError("the two teacher rows are parallel: their plane (the rotation plane) is undefined")
    e = w / np.linalg.norm(w)
    nj = float(np.linalg.norm(Ws[j]))

    def of_p(theta):
        W = Ws.copy()
        W[j] = nj * (math.cos(theta) * u + math.sin(theta) * e)
        return model.replace(W_star=W)

    return Family(of_p, domain=(1e-9, math.pi), name="teacher angle")


def teacher_norm(model, row=1) -> Family:
    """``r -> model`` with teacher row ``row`` rescaled to norm r > 0 (direction kept)."""
    model = _model(model)
    if isinstance(row, (bool, np.bool_)) or not isinstance(row, numbers.Integral):
        raise TypeError(f"row must be a teacher row in [0, {model.k_star}) (an integer); got {row!r}")
    row = int(row)
    if not 0 <= row < model.k_star:
        raise ValueError(f"row must be a teacher row in [0, {model.k_star}); got {row}")
    Ws = np.array(model.W_star)
    u = Ws[row] / np.linalg.norm(Ws[row])

    def of_p(r):
        W = Ws.copy()
        W[row] = r * u
        return model.replace(W_star=W)

    return Family(of_p, domain=(1e-9, math.inf), name=f"teacher norm {row}")


def residual_scale(model) -> Family:
    """``s -> model`` with residual ``U = s I`` (s = 0 the plain model, s = 1 paper ``002``'s identity
    mapping); needs k = k_star = d."""
    model = _model(model)
    if not model.k == model.k_star == model.d:
        raise ValueError(f"the residual U = s I needs k = k_star = d; got k={model.k}, "
                         f"k_star={model.k_star}, d={model.d}")
    eye = np.eye(model.d)
    return Family(lambda s: model.replace(residual=s * eye), domain=(0.0, math.inf), name="s (residual)")


def teacher_path(model, W_star_end) -> Family:
    """``t -> model`` with teacher ``(1 - t) W*_0 + t W*_1`` on ``[0, 1]``."""
    model = _model(model)
    W1 = v.finite(v.real_array(W_star_end, "W_star_end"), "W_star_end")
    W0 = np.array(model.W_star)
    if W1.shape != W0.shape:
        raise ValueError(f"W_star_end must have the teacher's shape {W0.shape}; got {W1.shape}")
    return Family(lambda t: model.replace(W_star=(1.0 - t) * W0 + t * W1), domain=(0.0, 1.0),
                  name="t (teacher path)")


__all__ = ["ALPHA_MAX", "leaky_slope", "residual_scale", "teacher_angle", "teacher_norm", "teacher_path",
           "top_weight_scale"]
