"""Slow oracles for certificates: the closed-form gradient and Hessian (MATH.md section 2) in ball
arithmetic (python-flint ``arb``), and sampled Lipschitz ratios of the Hessian.

Imports nothing from dynsys. ``arb`` balls contain the exact value of every operation, so the
enclosures below hold the exact gradient and Hessian of the population loss at the float64 point
given (its entries are converted exactly).
"""

from __future__ import annotations

import numpy as np
from flint import arb, ctx

from naive import hessian_closed_form

PREC = 200


def _vec(x):
    return [arb(float(t)) for t in x]


def _dot(u, v):
    s = arb(0)
    for a, b in zip(u, v):
        s += a * b
    return s


def _norm(u):
    return _dot(u, u).sqrt()


def _theta(u, v):
    """Angle between u and v by the half-angle atan2 form (exact in ball arithmetic over [0, pi])."""
    nu, nv = _norm(u), _norm(v)
    uu = [x / nu for x in u]
    vv = [x / nv for x in v]
    dm = _norm([a - b for a, b in zip(uu, vv)])
    dp = _norm([a + b for a, b in zip(uu, vv)])
    return 2 * arb.atan2(dm, dp), uu, vv, nu, nv


def _g1(w, v):
    """grad_u kappa(w, v) = ((pi - theta) v + |v| sin(theta) w / |w|) / (2 pi)."""
    th, uu, _, _, nv = _theta(w, v)
    pi = arb.pi()
    return [((pi - th) * b + nv * th.sin() * a) / (2 * pi) for a, b in zip(uu, v)]


def grad_arb(W, W_star, a=None, a_star=None, alpha=0.0, prec=PREC):
    """Ball enclosure of the exact gradient, a (k, d) nested list of ``arb``."""
    ctx.prec = prec
    W = np.asarray(W, float)
    T = np.asarray(W_star, float)
    k, d = W.shape
    a = np.ones(k) if a is None else np.asarray(a, float)
    a_s = np.ones(T.shape[0]) if a_star is None else np.asarray(a_star, float)
    rows = [_vec(w) for w in W]
    trows = [_vec(t) for t in T]
    al = arb(float(alpha))
    c1, c2 = 1 + al * al, 2 * al
    out = []
    for j in range(k):
        g = [arb(float(a[j] ** 2)) * c1 * x / 2 for x in rows[j]]
        for partners, wts, sign in ((rows, a, 1), (trows, a_s, -1)):
            for i, v in enumerate(partners):
                if partners is rows and i == j:
                    continue
                p = _g1(rows[j], v)
                q = _g1(rows[j], [-x for x in v]) if alpha != 0.0 else [arb(0)] * d
                f = arb(float(sign * a[j] * wts[i]))
                g = [gi + f * (c1 * pi_ - c2 * qi) for gi, pi_, qi in zip(g, p, q)]
        out.append(g)
    return out


def _h12(w, v):
    """(h1, h2) blocks in ball arithmetic (docs/field.md's form); needs sin(theta) bounded away from 0."""
    th, uu, vv, nw, nv = _theta(w, v)
    pi = arb.pi()
    s, c = th.sin(), th.cos()
    p = [b - c * a for a, b in zip(uu, vv)]
    d = len(w)
    h1 = [[nv / nw * (s * ((1 if r == q else 0) - uu[r] * uu[q]) + p[r] * p[q] / s) / (2 * pi)
           for q in range(d)] for r in range(d)]
    h2 = [[((pi - th) * (1 if r == q else 0) + s * c * uu[r] * uu[q] - c / s * p[r] * p[q]
            + s * (p[r] * uu[q] + uu[r] * p[q])) / (2 * pi) for q in range(d)] for r in range(d)]
    return h1, h2


def hessian_arb(W, W_star, prec=PREC):
    """Ball enclosure of the exact Hessian (all top weights 1, ReLU), a (k d, k d) nested list; every pair
    of rows must be at an angle bounded away from 0 and pi."""
    ctx.prec = prec
    W = np.asarray(W, float)
    k, d = W.shape
    rows = [_vec(w) for w in W]
    trows = [_vec(t) for t in np.asarray(W_star, float)]
    n = k * d
    H = [[arb(0) for _ in range(n)] for _ in range(n)]
    for j in range(k):
        for r in range(d):
            H[j * d + r][j * d + r] += arb(1) / 2
        for partners, sign in ((rows, 1), (trows, -1)):
            for i, v in enumerate(partners):
                if partners is rows and i == j:
                    continue
                h1, h2 = _h12(rows[j], v)
                for r in range(d):
                    for q in range(d):
                        H[j * d + r][j * d + q] += sign * h1[r][q]
                        if partners is rows:
                            H[j * d + r][i * d + q] += h2[r][q]
    return H


def _norm_up(balls):
    """Upper bound of the Euclidean norm of a list of balls: each ``|t|`` bounded above, summed in
    float64 and enlarged by far more than the float rounding of the sum."""
    ups = np.array([float(abs(t).upper()) for t in balls])
    return float(np.sqrt(np.sum(ups * ups))) * (1 + 1e-12)


def distance_upper(X_float, X_arb):
    """Upper bound of the Euclidean (Frobenius) distance between a float array and a ball array."""
    flat = [t for row in X_arb for t in row]
    return _norm_up([arb(float(x)) - y for x, y in zip(np.ravel(X_float), flat)])


def norm_upper(X_arb):
    """Upper bound of the Euclidean norm of a ball array (the exact gradient's norm)."""
    return _norm_up([t for row in X_arb for t in row])


def lipschitz_ratios(W, W_star, rho, n_pairs, rng, hessian=hessian_closed_form):
    """``|H(X) - H(Y)|_2 / |X - Y|`` for random pairs in the ball ``B(W, rho)``: each pair is a point
    at a random radius in the ball and a second one a random short step away (both kept inside)."""
    W = np.asarray(W, float)
    out = []
    for _ in range(n_pairs):
        D = rng.standard_normal(W.shape)
        X = W + D / np.linalg.norm(D) * rho * rng.uniform() ** (1 / W.size)
        E = rng.standard_normal(W.shape)
        step = rho * 10.0 ** rng.uniform(-6, -1)
        Y = X + E / np.linalg.norm(E) * step
        if np.linalg.norm(Y - W) > rho:
            Y = W + (Y - W) / np.linalg.norm(Y - W) * rho
        dx = np.linalg.norm(X - Y)
        if dx == 0:
            continue
        out.append(np.linalg.norm(hessian(X, W_star) - hessian(Y, W_star), 2) / dx)
    return np.array(out)
