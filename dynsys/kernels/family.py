"""A teacher-student family p -> model as the compiled continuation sees it (CPU, Numba).

A family ``p -> TeacherStudent`` enters as coefficient arrays: every kernel array (residual, teacher
rows, top weights, leaky slope) is ``sum_b phi_b(p) C_b`` with the basis ``phi = (1, p, p^2, cos p,
sin p)``; the teacher norms, the constant term and the singular tolerance are derived from them as
the model derives them.

The family enters the kernels as one tuple ``fam = (cU, cT, ca, cas, calpha, singular_rtol,
quadratic, lo, hi, k, d, nwork)``: the coefficient arrays (see :func:`arrays_at`), the model's
singular tolerance factor, whether the gradient is quadratic in p (the stencil's width), the domain,
the state shape and the gradient's scratch length. :func:`grad` and :func:`hess` evaluate the model at a state from those arrays; :func:`dgrad_dp` is the
family's difference stencil in p.
"""

import math

import numpy as np
from numba import njit

from .._codes import SINGULAR
from ..systems import teacher_student as ts
from ..systems.base import FieldArrays
from .network import rows

_JIT = dict(cache=True, fastmath={"reassoc", "contract"})


@njit(inline="always", **_JIT)
def _phi(p, b):
    if b == 0:
        return 1.0
    if b == 1:
        return p
    if b == 2:
        return p * p
    if b == 3:
        return math.cos(p)
    return math.sin(p)


@njit(**_JIT)
def _combine(C, p):
    """``sum_b phi_b(p) C[b]`` over the basis functions with a nonzero coefficient array."""
    out = np.zeros(C.shape[1:])
    flat = out.reshape(-1)
    for b in range(C.shape[0]):
        Cb = C[b].reshape(-1)
        nz = False
        for i in range(Cb.size):
            if Cb[i] != 0.0:
                nz = True
                break
        if nz:
            f = _phi(p, b)
            for i in range(Cb.size):
                flat[i] += f * Cb[i]
    return out


@njit(**_JIT)
def arrays_at(p, cU, cT, ca, cas, calpha, singular_rtol, with_const=True):
    """The :class:`~dynsys.systems.base.FieldArrays` of the family at ``p``: ``cU`` (B, k, d) or
    (B, 0, 0) without a residual, ``cT`` (B, k*, d), ``ca`` (B, k), ``cas`` (B, k*), ``calpha`` (B,).
    ``with_const=False`` leaves the loss's constant term at 0: the gradient and Hessian do not see
    it, and its k*^2 teacher angles would cost half as much as the gradient at k = k* = 10."""
    U = _combine(cU, p)
    T = _combine(cT, p)
    a = _combine(ca, p)
    a_star = _combine(cas, p)
    alpha = 0.0
    for b in range(calpha.size):
        if calpha[b] != 0.0:
            alpha += _phi(p, b) * calpha[b]
    tn = np.empty(T.shape[0])
    tmax = 0.0
    for r in range(T.shape[0]):
        s = 0.0
        for l in range(T.shape[1]):
            s += T[r, l] * T[r, l]
        tn[r] = math.sqrt(s)
        tmax = max(tmax, tn[r])
    const = ts.teacher_energy(T, tn, a_star, alpha) if with_const else 0.0
    tol = singular_rtol * (tmax if tmax > 0.0 else 1.0)
    return FieldArrays(U, T, tn, a, a_star, alpha, const, tol)


@njit(**_JIT)
def grad(x, fa, k, d, V, G, work):
    X = x.reshape((k, d))
    Vb = rows(X, fa.U, V)
    return ts.loss_grad(Vb, fa.T, fa.tn, fa.a, fa.a_star, fa.alpha, fa.const, fa.tol, True, G, work)


@njit(**_JIT)
def hess(x, fa, k, d, V, H, S, nrm):
    X = x.reshape((k, d))
    Vb = rows(X, fa.U, V)
    return ts.hessian(Vb, fa.T, fa.tn, fa.a, fa.a_star, fa.alpha, fa.tol, H, S, nrm)


@njit(**_JIT)
def _stencil_h(p, quadratic, lo, hi):
    h = 1e-3 * max(1.0, abs(p)) if quadratic else 1e-6 * max(1.0, abs(p))
    return min(h, 0.5 * (hi - lo))


@njit(**_JIT)
def dgrad_dp(x, p, fam, b, V, G, work):
    """``d grad / d p`` at (x, p) into ``b`` by the stencil of
    :meth:`dynsys.continuation.Family.stencil`; returns the status."""
    cU, cT, ca, cas, cal, srt, quadratic, lo, hi, k, d, nwork = fam
    h = _stencil_h(p, quadratic, lo, hi)
    b[:] = 0.0
    if lo <= p - h and p + h <= hi:
        ps = (p - h, p + h, 0.0)
        ws = (-0.5 / h, 0.5 / h, 0.0)
        m = 2
    else:
        s = 1.0 if p - h < lo else -1.0
        ps = (p, p + s * h, p + 2 * s * h)
        ws = (-1.5 * s / h, 2.0 * s / h, -0.5 * s / h)
        m = 3
    for i in range(m):
        fa = arrays_at(ps[i], cU, cT, ca, cas, cal, srt, False)
        _, st = grad(x, fa, k, d, V, G, work)
        if st:
            return SINGULAR
        w = ws[i]
        Gf = G.reshape(-1)
        for j in range(b.size):
            b[j] += w * Gf[j]
    return 0
