"""Two-parameter following of a fold or branch point: the curve in (p, q) where the index changes.

Unknowns ``(x, p, q, mu)``; equations::

    grad L_{p,q}(x) + N mu = 0      (n)  the critical point, N the branch's own null space
    N^T (x - x_anchor) = 0          (m)  phase conditions
    lambda_c(x, p, q) = 0           (1)  the crossing eigenvalue
    arclength in (x, p, q)          (1)

``lambda_c = v^T H v`` for the unit crossing eigenvector v (tracked from point to point by overlap),
whose derivatives need no third-derivative code: ``d lambda_c / dx = D^3 L[v, v, .]``, the second
difference of the gradient along v, and ``d lambda_c / dp = v^T (d H / d p) v``, the difference of
``v . d grad/dp`` along v (docs/continuation.md).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._codes import CONVERGED, MAX_STEPS, STALLED
from ..critical.shared import grad_hess, resolve_gtol, row_max
from ..results.branch import Event, EventCurve
from ..results.status import Status
from .corrector import _solve

MAX_ITER = 15


class _Pq:
    """``(p, q) -> system`` with cached systems and the gradient derivatives in p and q."""

    def __init__(self, of_pq, shape):
        self.of_pq = of_pq
        self.shape = shape
        self._cache = {}

    def system(self, p, q):
        key = (p, q)
        s = self._cache.get(key)
        if s is None:
            if len(self._cache) > 64:
                self._cache.clear()
            s = self._cache[key] = self.of_pq(p, q)
        return s

    def grad(self, x, p, q):
        g, _, st = grad_hess(self.system(p, q), x.reshape(self.shape), want_H=False)
        return None if st else g.reshape(-1)

    def grad_hess(self, x, p, q):
        g, H, st = grad_hess(self.system(p, q), x.reshape(self.shape))
        return (None, None) if st else (g.reshape(-1), H)

    def dgrad(self, x, p, q, which):
        h = 1e-6 * max(1.0, abs(p if which == 0 else q))
        a = self.grad(x, p + h, q) if which == 0 else self.grad(x, p, q + h)
        b = self.grad(x, p - h, q) if which == 0 else self.grad(x, p, q - h)
        return None if a is None or b is None else (a - b) / (2 * h)


def _crossing(H, N, v_prev):
    """The unit eigenvector of H outside span(N) that overlaps ``v_prev`` most, and its eigenvalue.

    ``Q H Q`` (Q the projector off span(N)) has eigenvalue 0 on span(N): at the event the crossing
    eigenvalue is 0 too, and an eigensolver returns any mix of the two. Lifting span(N) to an
    eigenvalue beyond H's whole spectrum (``+ s N N^T``) keeps the crossing vector apart."""
    P = H
    if N.shape[1]:
        Q = np.eye(H.shape[0]) - N @ N.T
        s = 2.0 * (1.0 + float(np.linalg.norm(H)))
        P = Q @ H @ Q + s * (N @ N.T)
    lam, V = np.linalg.eigh(P)
    i = int(np.argmax(np.abs(V.T @ v_prev)))
    vec = V[:, i] * (1.0 if V[:, i] @ v_prev >= 0 else -1.0)
    return float(lam[i]), vec


def _residual(ev, x, p, q, N, x_a, vc):
    g, H = ev.grad_hess(x, p, q)
    if g is None:
        return None
    lam, vc = _crossing(H, N, vc)
    return g, H, lam, vc


def _jacobian(ev, x, p, q, g, H, vc, N, c):
    n, m = x.size, N.shape[1]
    eps = 1e-4 * max(1.0, float(np.max(np.abs(x))))
    gp, gm = ev.grad(x + eps * vc, p, q), ev.grad(x - eps * vc, p, q)
    bp, bq = ev.dgrad(x, p, q, 0), ev.dgrad(x, p, q, 1)
    if gp is None or gm is None or bp is None or bq is None:
        return None
    dlam_dx = (gp + gm - 2 * g) / eps ** 2
    dlam = []
    for which in (0, 1):
        a = ev.dgrad(x + eps * vc, p, q, which)
        b = ev.dgrad(x - eps * vc, p, q, which)
        if a is None or b is None:
            return None
        dlam.append(float(vc @ (a - b)) / (2 * eps))
    J = np.zeros((n + m + 2, n + m + 2))
    J[:n, :n] = H
    J[:n, n] = bp
    J[:n, n + 1] = bq
    J[:n, n + 2:] = N
    J[n:n + m, :n] = N.T
    J[n + m, :n] = dlam_dx
    J[n + m, n] = dlam[0]
    J[n + m, n + 1] = dlam[1]
    J[n + m + 1, :n + 2] = c
    return J


def follow_event(of_pq, event: Event, q0, q_end, *, own_nullity=0, step=0.01, step_min=1e-6,
                 step_max=0.1, max_points=2000, gtol=None, names=("p", "q")) -> EventCurve:
    """Follow a fold or branch point of a branch through a second parameter q.

    Parameters
    ----------
    of_pq : callable
        ``(p, q) -> system``: the two-parameter family (``of_pq(p, q0)`` is the family the event was
        found in).
    event : Event
        A ``"fold"``, ``"branch_point"`` or ``"symmetric_branch_point"`` of a :class:`Branch`
        computed at ``q = q0``.
    q0, q_end : float
        Start and target of the second parameter.
    own_nullity : int
        The branch's own nullity (``branch.own_nullity``): its null directions are bordered out.
    step, step_min, step_max, max_points, gtol :
        As for :func:`dynsys.continuation`, in (state, p, q).
    names : (str, str)
        Names of p and q.

    Returns
    -------
    EventCurve
        The points ``(p, q, W)`` where the crossing eigenvalue vanishes, CONVERGED when the last is at
        ``q_end``.
    """
    if not isinstance(event, Event) or event.kind not in ("fold", "branch_point", "symmetric_branch_point"):
        raise ValueError(f"event must be a fold or branch point of a Branch; got {getattr(event, 'kind', event)!r}")
    q0 = v.real_scalar(q0, "q0")
    q_end = v.real_scalar(q_end, "q_end")
    if q0 == q_end:
        raise ValueError(f"q0 and q_end are both {q0!r}; give an end different from the start")
    step = v.real_scalar(step, "step", lo=0.0, lo_open=True)
    step_min = v.real_scalar(step_min, "step_min", lo=0.0, lo_open=True)
    step_max = v.real_scalar(step_max, "step_max", lo=0.0, lo_open=True)
    if not step_min <= step <= step_max:
        raise ValueError(f"the steps must satisfy step_min <= step <= step_max; got {step_min}, {step}, {step_max}")
    max_points = v.positive_int(max_points, "max_points", minimum=2)
    own = v.positive_int(own_nullity, "own_nullity", minimum=0)
    shape = event.W.shape
    ev = _Pq(of_pq, shape)
    gtol = resolve_gtol(ev.system(event.p, q0), gtol)
    x = event.W.reshape(-1).astype(float)
    n = x.size
    g, H = ev.grad_hess(x, event.p, q0)
    if g is None:
        raise ValueError("the event's point is singular in the two-parameter family at q0")
    vc = np.asarray(event.vectors[0], dtype=float)
    # the own null space: the smallest eigenvectors less the crossing one
    lam, V = np.linalg.eigh(H)
    cand = V[:, np.argsort(np.abs(lam))[:own + 1]]
    cand = cand - np.outer(vc, vc @ cand)
    N = np.linalg.svd(cand, full_matrices=False)[0][:, :own] if own else np.zeros((n, 0))
    xtol = 1e-11 * max(1.0, float(np.max(np.abs(x))))

    def correct(x, p, q, vc, c, rhs, x_a):
        res_prev = np.inf
        for it in range(MAX_ITER + 1):
            r = _residual(ev, x, p, q, N, x_a, vc)
            if r is None:
                return None
            g, H, lamc, vc = r
            y = np.concatenate([x, [p, q]])
            F = np.concatenate([g, N.T @ (x - x_a), [lamc, c @ y - rhs]])
            scale_l = 1e-9 * max(1.0, float(np.max(np.abs(np.diag(H)))))
            if row_max(g.reshape(shape)) <= gtol and abs(lamc) <= scale_l and np.max(np.abs(F[n:n + N.shape[1]]),
                                                                                   initial=0.0) <= xtol \
                    and abs(F[-1]) <= xtol:
                return x, p, q, vc, it
            res = float(np.max(np.abs(F)))
            if it == MAX_ITER or (it >= 4 and res > 0.9 * res_prev):
                return None
            res_prev = res
            J = _jacobian(ev, x, p, q, g, H, vc, N, c)
            if J is None:
                return None
            dz = _solve(J, -F)
            x, p, q = x + dz[:n], p + float(dz[n]), q + float(dz[n + 1])
        return None

    def tangent(x, p, q, vc, c):
        g, H = ev.grad_hess(x, p, q)
        J = _jacobian(ev, x, p, q, g, H, vc, N, c)
        e = np.zeros(J.shape[0])
        e[-1] = 1.0
        t = _solve(J, e)[:n + 2]
        return t / np.linalg.norm(t)

    # polish at q0 (the event is located to p_tol, not exactly)
    c = np.zeros(n + 2)
    c[n + 1] = 1.0
    out = correct(x, event.p, q0, vc, c, q0, x)
    if out is None:
        raise ValueError("could not refine the event to a point where the crossing eigenvalue vanishes")
    x, p, q, vc, _ = out
    t = tangent(x, p, q, vc, c)
    if t[n + 1] * (q_end - q0) < 0:
        t = -t
    P, Q, Ws = [p], [q], [x.reshape(shape).copy()]
    status, message = MAX_STEPS, f"max_points = {max_points} reached"
    ds = step
    while len(P) < max_points:
        y = np.concatenate([x, [p, q]])
        yp = y + ds * t
        out = correct(yp[:n], yp[n], yp[n + 1], vc, t, float(t @ y) + ds, x)
        if out is None:
            ds *= 0.5
            if ds < step_min:
                status = STALLED
                message = f"the step fell below step_min at ({names[0]}, {names[1]}) = ({p:.6g}, {q:.6g})"
                break
            continue
        xn, pn, qn, vn, it = out
        if (qn - q_end) * (q - q_end) <= 0:
            c = np.zeros(n + 2)
            c[n + 1] = 1.0
            f = (q_end - q) / (qn - q) if qn != q else 1.0
            fin = correct(x + f * (xn - x), p + f * (pn - p), q_end, vn, c, q_end, x)
            if fin is not None:
                x, p, q, vc, _ = fin
                P.append(p)
                Q.append(q_end)
                Ws.append(x.reshape(shape).copy())
                status, message = CONVERGED, f"reached {names[1]} = {q_end:g}"
                break
            ds *= 0.5
            continue
        tn = tangent(xn, pn, qn, vn, t)
        if tn @ t < 0:
            tn = -tn
        x, p, q, vc, t = xn, pn, qn, vn, tn
        P.append(p)
        Q.append(q)
        Ws.append(x.reshape(shape).copy())
        ds = min(step_max, ds * 1.5) if it <= 3 else ds
    loss = np.array([float(ev.system(a, b).loss(W, backend="cpu")) for a, b, W in zip(P, Q, Ws)])
    return EventCurve(p=np.array(P), q=np.array(Q), W=np.stack(Ws), loss=loss, kind=event.kind,
                      status=Status(status), names=tuple(names), q0=float(q0), q_end=float(q_end),
                      message=message)
