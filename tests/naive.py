"""Slow, independent reference implementations ("oracles") for the teacher-student field.

Everything here is written for clarity, not speed: Python loops over rows, one formula per line,
transcribed directly from docs/math.md sections 1-2 (and Tian, ICML 2017:
Theorem 1, Eqn 6-8). Nothing here imports ``dynsys``; only numpy, scipy, mpmath and math are used,
so that the library's fast kernels can be held against code that shares none of their logic.

Conventions (docs/math.md section 1):

* Student ``W`` (k, d) with rows ``w_j``; teacher ``W_star`` (k_star, d) with rows ``w*_k``.
* Top weights ``a`` (k) and ``a_star`` (k_star), ones by default, any sign.
* Leaky slope ``alpha`` in [0, 1]: ``sigma(z) = max(z, 0) + alpha * min(z, 0)``.
* Optional residual ``U`` (k, d), k == k_star: the network uses the rows ``w_j + u_j`` and the teacher
  the rows ``w*_k + u_k``.
* ``g(x; W) = sum_j a_j sigma(w_j . x)``; ``L(W) = 1/2 E_x[(g(x; W*) - g(x; W))^2]``, x ~ N(0, I_d).
* Hessians are (k*d, k*d), row-major in (row j, coordinate).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate

TWO_PI = 2.0 * math.pi


# --------------------------------------------------------------------------------------------------
# Setup helpers
# --------------------------------------------------------------------------------------------------

def _setup(W, W_star, a=None, a_star=None, U=None):
    """Return (V, V_star, a, a_star) as float64 arrays: the effective rows of student and teacher.

    With a residual ``U`` (docs/math.md section 1) the student's rows are ``w_j + u_j`` and the teacher's
    ``w*_k + u_k``; gradients with respect to ``w_j`` equal those with respect to ``v_j = w_j + u_j``.
    """
    W = np.array(W, dtype=float)
    W_star = np.array(W_star, dtype=float)
    k, d = W.shape
    k_star, d_star = W_star.shape
    if d != d_star:
        raise ValueError("W and W_star must have the same number of columns")
    a = np.ones(k) if a is None else np.array(a, dtype=float).reshape(k)
    a_star = np.ones(k_star) if a_star is None else np.array(a_star, dtype=float).reshape(k_star)
    if U is not None:
        U = np.array(U, dtype=float)
        if k != k_star or U.shape != (k, d):
            raise ValueError("residual U needs k == k_star and shape (k, d)")
        W = W + U
        W_star = W_star + U
    return W, W_star, a, a_star


def sigma(z, alpha=0.0):
    """Leaky ReLU ``sigma_alpha(z) = max(z, 0) + alpha * min(z, 0)`` (docs/math.md section 1)."""
    z = np.asarray(z, dtype=float)
    return np.maximum(z, 0.0) + alpha * np.minimum(z, 0.0)


def sigma_prime(z, alpha=0.0):
    """Derivative of ``sigma_alpha``: 1 where z > 0, alpha elsewhere (the convention at z = 0)."""
    z = np.asarray(z, dtype=float)
    return np.where(z > 0.0, 1.0, alpha)


def network(X, W, a=None, alpha=0.0):
    """``g(x; W) = sum_j a_j sigma_alpha(w_j . x)`` for each row x of X (n, d) -> (n,)."""
    W = np.asarray(W, dtype=float)
    a = np.ones(W.shape[0]) if a is None else np.asarray(a, dtype=float)
    return sigma(X @ W.T, alpha) @ a


# --------------------------------------------------------------------------------------------------
# Angles and kappa
# --------------------------------------------------------------------------------------------------

def angle_arccos(u, v):
    """``theta = arccos(clip(u.v / (|u||v|), -1, 1))``: the direct (naive) transcription.

    Loses half the digits near 0 and pi (docs/math.md section 2, "Angles").
    """
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    c = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
    return math.acos(min(1.0, max(-1.0, c)))


def angle_atan2(u, v):
    """``theta = 2 atan2(|u~ - v~|, |u~ + v~|)`` with unit vectors u~, v~ (docs/math.md section 2).

    Accurate to roundoff over the whole of [0, pi].
    """
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    ut = u / np.linalg.norm(u)
    vt = v / np.linalg.norm(v)
    return 2.0 * math.atan2(float(np.linalg.norm(ut - vt)), float(np.linalg.norm(ut + vt)))


def kappa(u, v):
    """``kappa(u, v) = E[relu(u.x) relu(v.x)] = |u||v| (sin t + (pi - t) cos t) / (2 pi)``.

    docs/math.md section 2 (first display); Tian (ICML 2017) Theorem 1 integrated. ``t`` by
    ``arccos`` of the clipped cosine. The limit ``kappa = 0`` is returned when u or v is zero.
    """
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    nu = float(np.linalg.norm(u))
    nv = float(np.linalg.norm(v))
    if nu == 0.0 or nv == 0.0:
        return 0.0
    c = float(np.dot(u, v)) / (nu * nv)
    c = min(1.0, max(-1.0, c))
    t = float(np.arccos(c))
    return nu * nv * (math.sin(t) + (math.pi - t) * math.cos(t)) / TWO_PI


def kappa_alpha(u, v, alpha):
    """``kappa_alpha(u, v) = E[sigma(u.x) sigma(v.x)] = (1 + alpha^2) kappa(u, v) - 2 alpha kappa(u, -v)``.

    docs/math.md section 2; alpha = 1 gives ``u.v``.
    """
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    return (1.0 + alpha * alpha) * kappa(u, v) - 2.0 * alpha * kappa(u, -v)


def g1(u, v, angle="arccos"):
    """``grad_u kappa(u, v) = ((pi - t) v + |v| sin(t) u/|u|) / (2 pi)`` (docs/math.md section 2).

    This is Theorem 1's ``E[F(e, v)] / N`` with ``e = u/|u|`` (Tian (ICML 2017), Eqn 5-6).
    """
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    nu = np.linalg.norm(u)
    nv = np.linalg.norm(v)
    t = angle_arccos(u, v) if angle == "arccos" else angle_atan2(u, v)
    return ((math.pi - t) * v + nv * math.sin(t) * u / nu) / TWO_PI


# --------------------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------------------

def loss_closed_form(W, W_star, a=None, a_star=None, alpha=0.0, U=None):
    """Population loss by the docs/math.md section 2 sum, a plain double loop over rows:

    ``L = 1/2 [sum_ij a_i a_j k(w_i, w_j) - 2 sum_ik a_i a*_k k(w_i, w*_k) + sum_kl a*_k a*_l k(w*_k, w*_l)]``
    with ``k = kappa_alpha``. (Tian (ICML 2017) Eqn 2 with the expectation done in closed form.)
    """
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    ss = 0.0
    for i in range(V.shape[0]):
        for j in range(V.shape[0]):
            ss += a[i] * a[j] * kappa_alpha(V[i], V[j], alpha)
    st = 0.0
    for i in range(V.shape[0]):
        for k in range(Vs.shape[0]):
            st += a[i] * a_s[k] * kappa_alpha(V[i], Vs[k], alpha)
    tt = 0.0
    for k in range(Vs.shape[0]):
        for l in range(Vs.shape[0]):
            tt += a_s[k] * a_s[l] * kappa_alpha(Vs[k], Vs[l], alpha)
    return 0.5 * (ss - 2.0 * st + tt)


def linear_loss(W, W_star, a=None, a_star=None, U=None):
    """alpha = 1 (docs/math.md section 1: the network is linear):
    ``L = 1/2 |sum_j a_j (w_j + u_j) - sum_k a*_k (w*_k + u_k)|^2``."""
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    r = a @ V - a_s @ Vs
    return 0.5 * float(r @ r)


def linear_grad(W, W_star, a=None, a_star=None, U=None):
    """alpha = 1: ``grad_{w_j} L = a_j (sum_i a_i v_i - sum_k a*_k v*_k)`` (gradient of :func:`linear_loss`)."""
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    r = a @ V - a_s @ Vs
    return np.outer(a, r)


def linear_hessian(W, W_star, a=None, a_star=None, U=None):
    """alpha = 1: block (j, i) of the Hessian is ``a_j a_i I`` (Hessian of :func:`linear_loss`)."""
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    return np.kron(np.outer(a, a), np.eye(V.shape[1]))


def _sampler(rng, sampler, n, d):
    if callable(sampler):
        return np.asarray(sampler(rng, n, d), dtype=float)
    if sampler == "gaussian":
        return rng.standard_normal((n, d))
    if sampler == "uniform":
        return rng.uniform(-0.5, 0.5, size=(n, d))
    raise ValueError(f"unknown sampler {sampler!r}")


def loss_monte_carlo(W, W_star, a=None, a_star=None, alpha=0.0, U=None, n_samples=200_000,
                     seed=0, sampler="gaussian", chunk=50_000):
    """Monte Carlo estimate of ``L = 1/2 E[(g(x; W*) - g(x; W))^2]`` (docs/math.md section 1 and 6).

    Draws x explicitly (``"gaussian"``: N(0, I_d); ``"uniform"``: uniform on [-1/2, 1/2]^d; or a callable
    ``sampler(rng, n, d)``). Returns ``(mean, standard_error)``.
    """
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    d = V.shape[1]
    rng = np.random.default_rng(seed)
    total = 0.0
    total_sq = 0.0
    done = 0
    while done < n_samples:
        n = min(chunk, n_samples - done)
        X = _sampler(rng, sampler, n, d)
        r = network(X, Vs, a_s, alpha) - network(X, V, a, alpha)
        f = 0.5 * r * r
        total += f.sum()
        total_sq += (f * f).sum()
        done += n
    mean = total / n_samples
    var = max(total_sq / n_samples - mean * mean, 0.0) * n_samples / max(n_samples - 1, 1)
    return mean, math.sqrt(var / n_samples)


def grad_monte_carlo(W, W_star, a=None, a_star=None, alpha=0.0, U=None, n_samples=200_000,
                     seed=0, sampler="gaussian", chunk=50_000):
    """Monte Carlo estimate of ``grad_{w_j} L``: the mean of the per-sample gradient
    ``-(g*(x) - g(x)) a_j sigma'(v_j . x) x`` (Tian (ICML 2017) Eqn 3 divided by N). Returns
    ``(mean (k, d), standard_error (k, d))``."""
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    k, d = V.shape
    rng = np.random.default_rng(seed)
    total = np.zeros((k, d))
    total_sq = np.zeros((k, d))
    done = 0
    while done < n_samples:
        n = min(chunk, n_samples - done)
        X = _sampler(rng, sampler, n, d)
        r = network(X, Vs, a_s, alpha) - network(X, V, a, alpha)          # (n,)
        D = sigma_prime(X @ V.T, alpha)                                     # (n, k)
        for j in range(k):
            gj = -(r * a[j] * D[:, j])[:, None] * X                         # (n, d)
            total[j] += gj.sum(axis=0)
            total_sq[j] += (gj * gj).sum(axis=0)
        done += n
    mean = total / n_samples
    var = np.maximum(total_sq / n_samples - mean * mean, 0.0) * n_samples / max(n_samples - 1, 1)
    return mean, np.sqrt(var / n_samples)


def loss_quadrature(W, W_star, a=None, a_star=None, alpha=0.0, U=None, rank_tol=1e-13, n_gauss=40):
    """The loss by direct numerical quadrature, for states whose rows span at most 2 dimensions.

    Let B (d, 2) be an orthonormal basis (SVD of the stacked student and teacher rows) of a plane
    containing every row. The integrand depends on x only through y = B^T x ~ N(0, I_2). In polar
    coordinates, since g is positively homogeneous of degree 1,

        L = 1/2 int_0^2pi int_0^inf f(u(phi))^2 r^2 r e^{-r^2/2} / (2 pi) dr dphi
          = 1/2 * (2 / (2 pi)) * int_0^2pi f(u(phi))^2 dphi,    (int_0^inf r^3 e^{-r^2/2} dr = 2)

    with f = g(.; W*) - g(.; W) and u(phi) = cos(phi) b1 + sin(phi) b2. The phi integral is split at
    every kink (where some row's dot product with u(phi) changes sign); on each piece the integrand
    is a trigonometric polynomial of degree 2, integrated by Gauss-Legendre (n_gauss nodes), exact to
    roundoff. Independent of the kappa closed form. Raises ValueError if the rows span more than 2
    dimensions.
    """
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    d = V.shape[1]
    rows = np.vstack([V, Vs])
    if d == 1:
        rows = np.hstack([rows, np.zeros((rows.shape[0], 1))])
        d = 2
    _, s, Vt = np.linalg.svd(rows, full_matrices=True)
    smax = s[0] if s.size else 0.0
    if s.size > 2 and s[2] > rank_tol * max(smax, 1e-300):
        raise ValueError(f"rows span more than 2 dimensions (singular values {s})")
    B = Vt[:2].T                          # (d, 2) orthonormal
    P = rows @ B                          # 2D coordinates of every row
    kS = V.shape[0]
    PS, PT = P[:kS], P[kS:]

    # kinks: p cos(phi) + q sin(phi) = rho cos(phi - beta) = 0 at phi = beta +- pi/2
    breaks = [0.0, TWO_PI]
    for p, q in P:
        if p == 0.0 and q == 0.0:
            continue
        beta = math.atan2(q, p)
        for phi in (beta + 0.5 * math.pi, beta - 0.5 * math.pi):
            breaks.append(phi % TWO_PI)
    breaks = np.unique(np.array(breaks))

    xg, wg = np.polynomial.legendre.leggauss(n_gauss)

    def f(phi):
        Y = np.stack([np.cos(phi), np.sin(phi)], axis=1)       # (m, 2)
        return sigma(Y @ PT.T, alpha) @ a_s - sigma(Y @ PS.T, alpha) @ a

    total = 0.0
    for lo, hi in zip(breaks[:-1], breaks[1:]):
        if hi <= lo:
            continue
        mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        phi = mid + half * xg
        total += half * float(wg @ (f(phi) ** 2))
    return 0.5 * total / math.pi


def loss_quadrature_scipy(W, W_star, a=None, a_star=None, alpha=0.0, U=None, rank_tol=1e-13):
    """As :func:`loss_quadrature`, but with ``scipy.integrate.quad`` between consecutive kinks."""
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    rows = np.vstack([V, Vs])
    if rows.shape[1] == 1:
        rows = np.hstack([rows, np.zeros((rows.shape[0], 1))])
    _, s, Vt = np.linalg.svd(rows, full_matrices=True)
    if s.size > 2 and s[2] > rank_tol * max(s[0], 1e-300):
        raise ValueError(f"rows span more than 2 dimensions (singular values {s})")
    P = rows @ Vt[:2].T
    kS = V.shape[0]
    PS, PT = P[:kS], P[kS:]
    breaks = [0.0, TWO_PI]
    for p, q in P:
        if p or q:
            beta = math.atan2(q, p)
            breaks += [(beta + 0.5 * math.pi) % TWO_PI, (beta - 0.5 * math.pi) % TWO_PI]
    breaks = np.unique(breaks)

    def f2(phi):
        y = np.array([math.cos(phi), math.sin(phi)])
        r = float(sigma(PT @ y, alpha) @ a_s - sigma(PS @ y, alpha) @ a)
        return r * r

    total = 0.0
    for lo, hi in zip(breaks[:-1], breaks[1:]):
        if hi > lo:
            total += integrate.quad(f2, lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)[0]
    return 0.5 * total / math.pi


# --------------------------------------------------------------------------------------------------
# Gradient
# --------------------------------------------------------------------------------------------------

def grad_closed_form(W, W_star, a=None, a_star=None, alpha=0.0, U=None):
    """``grad_{w_j} L`` by docs/math.md section 2 (the leaky / top-weight form), Python loops:

        grad_{w_j} L = a_j^2 (1+alpha^2) w_j / 2
                     + a_j sum_{i != j} a_i [(1+alpha^2) g1(w_j, w_i) - 2 alpha g1(w_j, -w_i)]
                     - a_j sum_k a*_k [(1+alpha^2) g1(w_j, w*_k) - 2 alpha g1(w_j, -w*_k)]

    with ``g1 = grad_u kappa`` (angles by arccos of clipped cosines). All a = 1, alpha = 0: Tian (ICML 2017)
    Eqn 8. Rows are those of W + U (and W* + U) with a residual.
    """
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    k, d = V.shape
    c = 1.0 + alpha * alpha
    G = np.zeros((k, d))
    for j in range(k):
        gj = a[j] * a[j] * c * V[j] / 2.0
        for i in range(k):
            if i == j or np.all(V[i] == 0.0):
                continue                      # a zero student row contributes nothing (g1(u, 0) = 0)
            gj = gj + a[j] * a[i] * (c * g1(V[j], V[i]) - 2.0 * alpha * g1(V[j], -V[i]))
        for kk in range(Vs.shape[0]):
            if np.all(Vs[kk] == 0.0):
                continue                      # a zero teacher row contributes nothing
            gj = gj - a[j] * a_s[kk] * (c * g1(V[j], Vs[kk]) - 2.0 * alpha * g1(V[j], -Vs[kk]))
        G[j] = gj
    return G


def grad_a_closed_form(W, W_star, a=None, a_star=None, alpha=0.0, U=None):
    """``dL/da_j = sum_i a_i kappa_alpha(v_j, v_i) - sum_k a*_k kappa_alpha(v_j, v*_k)``
    (differentiate the docs/math.md section 2 sum in a; v = rows of W (+ U), v* = rows of W* (+ U))."""
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    k = V.shape[0]
    out = np.zeros(k)
    for j in range(k):
        s = 0.0
        for i in range(k):
            s += a[i] * kappa_alpha(V[j], V[i], alpha)
        for kk in range(Vs.shape[0]):
            s -= a_s[kk] * kappa_alpha(V[j], Vs[kk], alpha)
        out[j] = s
    return out


def grad_central_differences(loss_fn, W, h=1e-5, order=2):
    """Central differences of a scalar function of W (k, d): returns (k, d).

    ``order=2``: (f(W + h e) - f(W - h e)) / (2h); ``order=4``: the 5-point stencil
    (-f(+2h) + 8 f(+h) - 8 f(-h) + f(-2h)) / (12 h).
    """
    W = np.array(W, dtype=float)
    G = np.zeros_like(W)
    for idx in np.ndindex(*W.shape):
        def f(t):
            Wt = W.copy()
            Wt[idx] += t
            return float(loss_fn(Wt))
        if order == 2:
            G[idx] = (f(h) - f(-h)) / (2.0 * h)
        elif order == 4:
            G[idx] = (-f(2 * h) + 8.0 * f(h) - 8.0 * f(-h) + f(-2 * h)) / (12.0 * h)
        else:
            raise ValueError("order must be 2 or 4")
    return G


def hessian_central_differences(grad_fn, W, h=1e-6, symmetrize=False, order=2):
    """Hessian (k*d, k*d), row-major in (row j, coordinate), by central differences of a gradient
    function ``grad_fn(W) -> (k, d)``: column c = (grad(W + h e_c) - grad(W - h e_c)) / (2h).
    Optionally symmetrised, (H + H^T) / 2."""
    W = np.array(W, dtype=float)
    n = W.size
    H = np.zeros((n, n))
    for c in range(n):
        E = np.zeros(n)
        E[c] = 1.0
        E = E.reshape(W.shape)
        if order == 2:
            col = (np.asarray(grad_fn(W + h * E)) - np.asarray(grad_fn(W - h * E))) / (2.0 * h)
        elif order == 4:
            col = (-np.asarray(grad_fn(W + 2 * h * E)) + 8.0 * np.asarray(grad_fn(W + h * E))
                   - 8.0 * np.asarray(grad_fn(W - h * E)) + np.asarray(grad_fn(W - 2 * h * E))) / (12.0 * h)
        else:
            raise ValueError("order must be 2 or 4")
        H[:, c] = col.ravel()
    if symmetrize:
        H = 0.5 * (H + H.T)
    return H


# --------------------------------------------------------------------------------------------------
# Hessian
# --------------------------------------------------------------------------------------------------

def _frame(w, v):
    """Return (w~, theta, s, c, n) for the pair (w, v) (docs/math.md section 2, Hessian paragraph).

    theta by the atan2 form (accurate near 0 and pi). n = (v~ - c w~)/s, the unit vector in the plane
    of w and v orthogonal to w~; when s = 0 (collinear / antiparallel) any unit vector orthogonal to w~
    (it is multiplied by s wherever it appears, so the choice does not matter).
    """
    nw = np.linalg.norm(w)
    nv = np.linalg.norm(v)
    wt = w / nw
    vt = v / nv
    t = 2.0 * math.atan2(float(np.linalg.norm(wt - vt)), float(np.linalg.norm(wt + vt)))
    s = math.sin(t)
    c = math.cos(t)
    r = vt - float(wt @ vt) * wt
    nr = float(np.linalg.norm(r))
    if nr > 0.0:
        n = r / nr
    elif w.size == 1:
        n = np.zeros_like(w)        # d = 1: no orthogonal direction; n only appears multiplied by s = 0
    else:
        e = np.zeros_like(w)
        e[int(np.argmin(np.abs(wt)))] = 1.0
        r = e - float(wt @ e) * wt
        n = r / np.linalg.norm(r)
    return wt, nw, nv, t, s, c, n


def h1(w, v):
    """``h1(w, v) = d/dw grad_u kappa(w, v) = |v| s / (2 pi |w|) (I - w~ w~^T + n n^T)``
    (docs/math.md section 2); -> 0 at theta = 0 and pi."""
    w = np.asarray(w, dtype=float)
    v = np.asarray(v, dtype=float)
    wt, nw, nv, t, s, c, n = _frame(w, v)
    I = np.eye(w.size)
    return nv * s / (TWO_PI * nw) * (I - np.outer(wt, wt) + np.outer(n, n))


def h2(w, v):
    """``h2(w, v) = d/dv grad_u kappa(w, v)
    = ((pi - t) I + s [c (w~ w~^T - n n^T) + s (n w~^T + w~ n^T)]) / (2 pi)``
    (docs/math.md section 2); -> I/2 at theta = 0 and -> 0 at theta = pi."""
    w = np.asarray(w, dtype=float)
    v = np.asarray(v, dtype=float)
    wt, nw, nv, t, s, c, n = _frame(w, v)
    I = np.eye(w.size)
    return ((math.pi - t) * I
            + s * (c * (np.outer(wt, wt) - np.outer(n, n)) + s * (np.outer(n, wt) + np.outer(wt, n)))) / TWO_PI


def hessian_closed_form(W, W_star, a=None, a_star=None, alpha=0.0, U=None):
    """Hessian (k*d, k*d) by docs/math.md section 2 (leaky / top-weight blocks), Python loops:

        H_jj = a_j^2 (1+alpha^2) I/2 + a_j sum_{i != j} a_i [(1+alpha^2) h1(w_j, w_i) - 2 alpha h1(w_j, -w_i)]
                                     - a_j sum_k a*_k [(1+alpha^2) h1(w_j, w*_k) - 2 alpha h1(w_j, -w*_k)]
        H_ji = a_j a_i [(1+alpha^2) h2(w_j, w_i) + 2 alpha h2(w_j, -w_i)]          (i != j)

    Block (j, i) is rows j*d:(j+1)*d, columns i*d:(i+1)*d. Angles by the atan2 form; limits h1 -> 0,
    h2 -> I/2 (theta = 0), h2 -> 0 (theta = pi) come out of the formulas with s = 0.
    """
    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    k, d = V.shape
    c = 1.0 + alpha * alpha
    I = np.eye(d)
    H = np.zeros((k * d, k * d))
    for j in range(k):
        Hjj = a[j] * a[j] * c * I / 2.0
        for i in range(k):
            if i == j:
                continue
            Hjj = Hjj + a[j] * a[i] * (c * h1(V[j], V[i]) - 2.0 * alpha * h1(V[j], -V[i]))
        for kk in range(Vs.shape[0]):
            if np.all(Vs[kk] == 0.0):
                continue
            Hjj = Hjj - a[j] * a_s[kk] * (c * h1(V[j], Vs[kk]) - 2.0 * alpha * h1(V[j], -Vs[kk]))
        H[j * d:(j + 1) * d, j * d:(j + 1) * d] = Hjj
        for i in range(k):
            if i == j:
                continue
            Hji = a[j] * a[i] * (c * h2(V[j], V[i]) + 2.0 * alpha * h2(V[j], -V[i]))
            H[j * d:(j + 1) * d, i * d:(i + 1) * d] = Hji
    return H


# --------------------------------------------------------------------------------------------------
# High precision (mpmath) loss, for spot checks of the float64 oracles
# --------------------------------------------------------------------------------------------------

def loss_mpmath(W, W_star, a=None, a_star=None, alpha=0.0, U=None, dps=40):
    """The docs/math.md section 2 loss sum evaluated in mpmath at ``dps`` digits (angles by atan2 of
    |u~ - v~| and |u~ + v~|). Returns a float."""
    import mpmath

    V, Vs, a, a_s = _setup(W, W_star, a, a_star, U)
    with mpmath.workdps(dps):
        def vec(x):
            return [mpmath.mpf(float(t)) for t in x]

        def norm(x):
            return mpmath.sqrt(mpmath.fsum(t * t for t in x))

        def kap(u, v):
            nu, nv = norm(u), norm(v)
            if nu == 0 or nv == 0:
                return mpmath.mpf(0)
            ut = [t / nu for t in u]
            vt = [t / nv for t in v]
            dm = norm([p - q for p, q in zip(ut, vt)])
            dp = norm([p + q for p, q in zip(ut, vt)])
            t = 2 * mpmath.atan2(dm, dp)
            return nu * nv * (mpmath.sin(t) + (mpmath.pi - t) * mpmath.cos(t)) / (2 * mpmath.pi)

        al = mpmath.mpf(float(alpha))

        def kapa(u, v):
            return (1 + al * al) * kap(u, v) - 2 * al * kap(u, [-t for t in v])

        S = [vec(r) for r in V]
        T = [vec(r) for r in Vs]
        A = [mpmath.mpf(float(t)) for t in a]
        As = [mpmath.mpf(float(t)) for t in a_s]
        tot = mpmath.mpf(0)
        for i in range(len(S)):
            for j in range(len(S)):
                tot += A[i] * A[j] * kapa(S[i], S[j])
            for k in range(len(T)):
                tot -= 2 * A[i] * As[k] * kapa(S[i], T[k])
        for k in range(len(T)):
            for l in range(len(T)):
                tot += As[k] * As[l] * kapa(T[k], T[l])
        return float(tot / 2)


def leader_clusters(X, tol):
    """Greedy leader clustering, quadratic: each row joins the earliest leader within ``tol`` in the
    max-norm, else leads a new class. Returns (labels, leaders)."""
    X = np.asarray(X, dtype=float)
    leaders = []
    labels = np.empty(len(X), dtype=np.int64)
    for i, x in enumerate(X):
        for c, j in enumerate(leaders):
            if np.max(np.abs(x - X[j]), initial=0.0) <= tol:
                labels[i] = c
                break
        else:
            labels[i] = len(leaders)
            leaders.append(i)
    return labels, np.array(leaders, dtype=np.int64)
