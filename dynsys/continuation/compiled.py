"""When the compiled continuation step applies, and the family as the kernel reads it.

The compiled step (:mod:`dynsys.kernels.arclength`) needs the model's kernel arrays at any p without
calling Python: a teacher-student family whose residual, teacher rows, top weights and leaky slope are
each constant, affine, quadratic, or ``c0 + c1 cos p + c2 sin p`` in p (every family of
:mod:`dynsys.families`, and plain callables such as ``lambda a: model.replace(alpha=a)``). The family is
sampled at a few points around the requested range; each array's simplest fitting form is kept if it
reproduces the samples to rounding, and the kernel's arrays (with the teacher norms, constant term and
singular tolerance it derives) are checked against the models' own at every sample. Anything else (a
toy, another system, a family with its own ``dgrad_dp``, a family outside these forms) runs the general
path.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import backends
from .._codes import SYSTEM_TEACHER_STUDENT
from ..config import SINGULAR_RTOL
from ..critical.shared import kernel_view
from .family import EXACT_CENTRAL

#: Basis subsets tried per array, simplest first: (1), (1, p), (1, p, p^2), (1, cos p, sin p).
FORMS = ((0,), (0, 1), (0, 1, 2), (0, 3, 4))
#: Samples of the family, and the relative agreement a fitted form must reach at every one.
N_SAMPLES = 9
FIT_RTOL = 1e-13


#: Plans kept for the last few (family, range) pairs: the branches of one call share their family.
_CACHE_SIZE = 4
_cache = {}


class Plan(NamedTuple):
    """The family as the compiled step reads it (``fam``, see :mod:`dynsys.kernels.arclength`)."""

    fam: tuple


def _basis(p):
    return np.array([1.0, p, p * p, math.cos(p), math.sin(p)])


def _fit(P, Y):
    """Coefficients (5, ...) of the simplest form that reproduces samples ``Y`` (N, ...) at ``P``
    (N,), or None."""
    shape = Y.shape[1:]
    F = Y.reshape(len(P), -1)
    C = np.zeros((5, F.shape[1]))
    if F.shape[1] == 0 or np.all(F == F[0]):
        C[0] = F[0] if F.shape[1] else C[0]
        return C.reshape((5,) + shape)
    Phi = np.stack([_basis(p) for p in P])
    scale = max(1.0, float(np.max(np.abs(F))))
    for form in FORMS[1:]:
        A = Phi[:, form]
        coef = np.linalg.lstsq(A, F, rcond=None)[0]
        # rounding-level coefficients set to zero: alpha = p gives alpha = 0 exactly at p = 0
        coef[np.abs(coef) <= FIT_RTOL * scale] = 0.0
        if np.max(np.abs(A @ coef - F)) <= FIT_RTOL * scale:
            C[list(form)] = coef
            return C.reshape((5,) + shape)
    return None


def _views(fam, p0, p_end):
    """Samples and the kernel views of the family there: over the range and as far again on either
    side inside the domain; only over the range where the family refuses the wider one (a plain
    callable knows no domain)."""
    lo, hi = fam.domain
    a, b = min(p0, p_end), max(p0, p_end)
    span = b - a
    for P in (np.linspace(max(lo, a - span), min(hi, b + span), N_SAMPLES), np.linspace(a, b, N_SAMPLES)):
        try:
            return P, [kernel_view(fam(p)) for p in P]
        except (ValueError, TypeError):
            continue
    return None, None


def plan(fam, shape, p0, p_end):
    """The :class:`Plan` of ``fam`` (a :class:`~dynsys.continuation.Family`) for a branch from p0 to
    p_end, or None when the compiled step does not apply."""
    if fam.analytic or len(shape) != 2:
        return None
    P, views = _views(fam, p0, p_end)
    if P is None or any(vw is None or vw.code != SYSTEM_TEACHER_STUDENT for vw in views):
        return None
    A = [vw.arrays for vw in views]
    if len({tuple(x.shape for x in (a.U, a.T, a.a, a.a_star)) for a in A}) != 1:
        return None
    coefs = []
    for name in ("U", "T", "a", "a_star"):
        C = _fit(P, np.stack([getattr(a, name) for a in A]))
        if C is None:
            return None
        coefs.append(np.ascontiguousarray(C))
    cal = _fit(P, np.array([a.alpha for a in A]))
    if cal is None:
        return None
    lo, hi = fam.domain
    k, d = shape
    kfam = (coefs[0], coefs[1], coefs[2], coefs[3], np.ascontiguousarray(cal), float(SINGULAR_RTOL),
            fam.derivative == EXACT_CENTRAL, float(lo), float(hi), int(k), int(d), int(views[0].nwork))
    for p, a in zip(P, A):
        b = backends.family_arrays(float(p), kfam)
        for x, y in zip(b, a):
            if not np.allclose(x, y, rtol=1e-12, atol=1e-300 if np.ndim(y) == 0 else 1e-14):
                return None
    return Plan(kfam)


def cached_plan(fam, shape, p0, p_end):
    """:func:`plan`, kept for the last few families (the family itself is held, so its id stays its
    own while the entry lives)."""
    key = (id(fam), tuple(shape), float(p0), float(p_end))
    hit = _cache.get(key)
    if hit is not None and hit[0] is fam:
        return hit[1]
    out = plan(fam, shape, p0, p_end)
    if len(_cache) >= _CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    _cache[key] = (fam, out)
    return out
