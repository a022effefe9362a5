"""Numba kernels of the Conjecture 1 scan (Tian (ICML 2017) Sec 5.3, Sec 7.2 and Fig 10).

For K = 2 with ``e_1 = (1, 0)``, ``e_2 = (cos t, sin t)`` and ``e* = (cos phi, sin phi)``, Tian (ICML 2017)
Eqn 14 reduces (docs/math.md section 4) to

    L_12 = m*_12 - v^T M_r^{-1} m_12 = P / D,
    D = pi^2 - h(t)^2 = (pi - h(t)) (pi + h(t)),
    P = D m*_12 - h(theta*_1) A - h(theta*_2) B,
    A = pi m_12,1 - h(t) m_12,2,   B = pi m_12,2 - h(t) m_12,1 = pi (pi - t) sin(t)^2,

with ``m_12 = (pi cos t, pi - t + sin t cos t)``,
``m*_12 = (pi - theta*_1) cos theta*_2 + sin theta*_1 cos t`` and ``h(a) = (pi - a) cos a + sin a``.
``D > 0`` on ``(0, pi]`` (h decreases from h(0) = pi), so ``sign(L_12) = sign(P)``: the kernels work
with P and never divide.

Two float64 evaluations are made at every grid point:

* a *careful* one, in forms free of catastrophic cancellation for small t
  (``pi - h(t) = 2 pi sin(t/2)^2 - g(t)``, ``A = pi (sin^3 t - 2 g(t)) + cos t (t - sin t)(t + sin t)
  + t (2 g(t) - sin^3 t)`` with ``g(t) = sin t - t cos t`` and ``t - sin t`` summed as Taylor series
  below 0.5), carrying a running forward error bound (Higham's running error analysis: every ``+, -, *``
  adds ``u |result|`` to the propagated bound, ``u = 2^-53``; ``sin``/``cos`` of libm are taken to be
  within 2 ulp, ``|pi - fl(pi)|`` is included, and the total is multiplied by ``CONJ1_BOUND_SAFETY``).
  If ``|P| > bound`` the sign of P, hence of L_12, is certified;
* a *naive* one, straight from Eqn 14: angles by ``arccos`` of the dot products, sines by
  ``sqrt(1 - cos^2)``, ``M_r^{-1}`` by the 2 x 2 inverse with determinant ``pi^2 - h(t)^2``. This is what
  a direct float64 scan counts.

Kernels take plain arrays and write per-row counters (no per-point arrays: N = 10^4 gives 10^8 points).
"""

import math

import numpy as np
from numba import njit, prange

_JIT = dict(cache=True, error_model="numpy")

_U = 2.0**-53                    # unit roundoff of float64
_TRIG = 4.0 * _U                 # relative error allowed for libm sin/cos/acos (2 ulp; glibc is < 1)
_PI = math.pi
_EPI = 1.2246467991473532e-16    # pi - fl(pi)
_TWO_PI = 2.0 * math.pi
_E2PI = 2.0 * _EPI
_SERIES_T = 0.5                  # below this t, g(t) and t - sin(t) are summed as series
_NSERIES = 12

# g(t) = sin t - t cos t = t^3 sum_{n>=1} (-1)^(n+1) 2n/(2n+1)! t^(2n-2)
_G_COEF = np.array([2.0 * n / math.factorial(2 * n + 1) for n in range(1, _NSERIES + 2)])
# t - sin t = t^3 sum_{n>=1} (-1)^(n+1) 1/(2n+1)! t^(2n-2)
_Q_COEF = np.array([1.0 / math.factorial(2 * n + 1) for n in range(1, _NSERIES + 2)])

#: Bit flags of one grid point.
NAIVE = 1        # the naive float64 value has the wrong sign (or is 0 or NaN)
BOUNDARY = 2     # e* within the edge tolerance of e_1 or e_2 (L_12 = 0 there)
DOUBTFUL = 4     # careful value not certified (|P| <= bound or wrong sign), or NAIVE
WRONG = 8        # careful value has the wrong sign by more than its bound
EXCLUDED = 16    # row outside the open interval 0 < t < pi (endpoint grid's t = 0 and t = pi)
UNCERTIFIED = 32  # careful value within its bound or of the wrong sign (its sign is not certified)

#: Columns of the per-row counter array.
(C_NAIVE, C_NAIVE_EXCLUDED, C_NAIVE_BOUNDARY, C_BOUNDARY, C_DOUBTFUL, C_WRONG, C_EXCLUDED, C_INSIDE,
 C_UNCERTIFIED) = range(9)
N_COUNTERS = 9


# ----------------------------------------------------------------------------- running error helpers
@njit(**_JIT)
def _add(a, ea, b, eb):
    s = a + b
    return s, ea + eb + _U * abs(s)


@njit(**_JIT)
def _sub(a, ea, b, eb):
    s = a - b
    return s, ea + eb + _U * abs(s)


@njit(**_JIT)
def _mul(a, ea, b, eb):
    p = a * b
    return p, abs(a) * eb + abs(b) * ea + ea * eb + _U * abs(p)


@njit(**_JIT)
def _series(t, coef):
    """``t^3 sum_n (-1)^(n+1) coef[n] t^(2n)`` by Horner in t^2, with an error bound."""
    z = t * t
    p = coef[_NSERIES - 1]
    s = coef[_NSERIES - 1]
    for n in range(_NSERIES - 2, -1, -1):
        p = coef[n] - z * p
        s = coef[n] + z * s
    t3 = t * t * t
    val = t3 * p
    # Horner with exact coefficients loses at most ~(2 n + 2) u relative to the sum of |terms|;
    # coefficients and t^3 add a few u more; the truncated tail is below the first omitted term.
    err = (2.0 * _NSERIES + 8.0) * _U * t3 * s + t3 * coef[_NSERIES] * z**_NSERIES
    return val, err


@njit(**_JIT)
def row_terms(t):
    """Everything in P that depends on t only, with error bounds; and the naive row terms.

    Returns ``(ct, ect, st, est, D, eD, A, eA, B, eB, An, Bn, detn)``.
    """
    st = math.sin(t)
    est = _TRIG * abs(st)
    ct = math.cos(t)
    ect = _TRIG * abs(ct)
    u, eu = _sub(_PI, _EPI, t, 0.0)
    # h(t) = (pi - t) cos t + sin t
    hc, ehc = _mul(u, eu, ct, ect)
    ht, eht = _add(hc, ehc, st, est)
    # g = sin t - t cos t, q = t - sin t
    if t < _SERIES_T:
        g, eg = _series(t, _G_COEF)
        q, eq = _series(t, _Q_COEF)
    else:
        tc, etc = _mul(t, 0.0, ct, ect)
        g, eg = _sub(st, est, tc, etc)
        q, eq = _sub(t, 0.0, st, est)
    # pi - h = 2 pi sin(t/2)^2 - g
    sh = math.sin(0.5 * t)
    esh = _TRIG * abs(sh)
    sh2, esh2 = _mul(sh, esh, sh, esh)
    tsh, etsh = _mul(_TWO_PI, _E2PI, sh2, esh2)
    pmh, epmh = _sub(tsh, etsh, g, eg)
    pph, epph = _add(_PI, _EPI, ht, eht)
    D, eD = _mul(pmh, epmh, pph, epph)
    # B = pi (pi - t) sin^2 t
    s2, es2 = _mul(st, est, st, est)
    pu, epu = _mul(_PI, _EPI, u, eu)
    B, eB = _mul(pu, epu, s2, es2)
    # A = pi (s^3 - 2 g) + c (t - s)(t + s) + t (2 g - s^3)
    s3, es3 = _mul(s2, es2, st, est)
    g2 = 2.0 * g
    eg2 = 2.0 * eg
    a1, ea1 = _sub(s3, es3, g2, eg2)
    a1p, ea1p = _mul(_PI, _EPI, a1, ea1)
    tps, etps = _add(t, 0.0, st, est)
    qq, eqq = _mul(q, eq, tps, etps)
    a2, ea2 = _mul(ct, ect, qq, eqq)
    a3, ea3 = _mul(t, 0.0, -a1, ea1)
    A, eA = _add(a1p, ea1p, a2, ea2)
    A, eA = _add(A, eA, a3, ea3)
    # naive: the 2 x 2 inverse of M_r = [[pi, h], [h, pi]] applied to m_12 = (pi cos t, pi - t + sin t cos t)
    hn = (_PI - t) * ct + st
    m1 = _PI * ct
    m2 = (_PI - t) + st * ct
    An = _PI * m1 - hn * m2
    Bn = _PI * m2 - hn * m1
    detn = _PI * _PI - hn * hn
    return ct, ect, st, est, D, eD, A, eA, B, eB, An, Bn, detn


@njit(**_JIT)
def point_value(phi, cphi, sphi, t, R, safety):
    """Careful P with its bound, the naive L_12, and the angles of e* to e_1 and e_2.

    ``cphi``, ``sphi`` are float64 ``cos(phi)``, ``sin(phi)`` (each within 1 ulp); ``R`` is
    :func:`row_terms` of t. Returns ``(P, bound, L_naive, theta1, theta2)``.
    """
    ct, ect, st, est, D, eD, A, eA, B, eB, An, Bn, detn = R
    ecphi = _TRIG * abs(cphi)
    esphi = _TRIG * abs(sphi)
    # theta*_1 = angle(e*, e_1); no float lies in (fl(pi), pi), so the branch is exact
    if phi <= _PI:
        th1 = phi
        eth1 = 0.0
    else:
        th1 = _TWO_PI - phi
        eth1 = _E2PI + _U * th1
    # theta*_2 = angle(e*, e_2) = pi - |pi - (phi - t)| (1-Lipschitz in phi - t)
    dl = phi - t
    edl = _U * abs(dl)
    if dl < 0.0:
        th2 = -dl
        eth2 = edl
    elif dl <= _PI:
        th2 = dl
        eth2 = edl
    else:
        th2 = _TWO_PI - dl
        eth2 = edl + _E2PI + _U * th2
    c1, ec1 = cphi, ecphi
    s1, es1 = abs(sphi), esphi
    x1, ex1 = _mul(cphi, ecphi, ct, ect)
    x2, ex2 = _mul(sphi, esphi, st, est)
    c2, ec2 = _add(x1, ex1, x2, ex2)
    y1, ey1 = _mul(sphi, esphi, ct, ect)
    y2, ey2 = _mul(cphi, ecphi, st, est)
    s2, es2 = _sub(y1, ey1, y2, ey2)
    s2 = abs(s2)
    pm1, epm1 = _sub(_PI, _EPI, th1, eth1)
    pm2, epm2 = _sub(_PI, _EPI, th2, eth2)
    z, ez = _mul(pm1, epm1, c1, ec1)
    v1, ev1 = _add(z, ez, s1, es1)
    z, ez = _mul(pm2, epm2, c2, ec2)
    v2, ev2 = _add(z, ez, s2, es2)
    z, ez = _mul(pm1, epm1, c2, ec2)
    w, ew = _mul(s1, es1, ct, ect)
    ms, ems = _add(z, ez, w, ew)
    p1, ep1 = _mul(D, eD, ms, ems)
    p2, ep2 = _mul(v1, ev1, A, eA)
    p3, ep3 = _mul(v2, ev2, B, eB)
    P, eP = _sub(p1, ep1, p2, ep2)
    P, eP = _sub(P, eP, p3, ep3)
    # naive Eqn 14
    c1n = min(1.0, max(-1.0, cphi))
    c2n = min(1.0, max(-1.0, cphi * ct + sphi * st))
    t1n = math.acos(c1n)
    t2n = math.acos(c2n)
    s1n = math.sqrt(max(0.0, 1.0 - c1n * c1n))
    s2n = math.sqrt(max(0.0, 1.0 - c2n * c2n))
    v1n = (_PI - t1n) * c1n + s1n
    v2n = (_PI - t2n) * c2n + s2n
    msn = (_PI - t1n) * c2n + s1n * ct
    Ln = msn - (v1n * An + v2n * Bn) / detn
    return P, safety * eP, Ln, th1, th2


@njit(**_JIT)
def classify(phi, cphi, sphi, t, R, excluded, edge_atol, safety):
    """Flags of one grid point (see the module constants) and its careful P, bound and naive L."""
    P, eP, Ln, th1, th2 = point_value(phi, cphi, sphi, t, R, safety)
    inside = phi > 0.0 and phi < t
    sgn = 1.0 if inside else -1.0
    flags = 0
    naive_ok = Ln * sgn > 0.0
    if not naive_ok:
        flags |= NAIVE
    if excluded:
        return flags | EXCLUDED, P, eP, Ln
    if min(th1, th2) <= edge_atol:
        return flags | BOUNDARY, P, eP, Ln
    margin = P * sgn
    if margin <= eP:
        flags |= UNCERTIFIED
    if margin <= eP or not naive_ok:
        flags |= DOUBTFUL
    if margin < -eP:
        flags |= WRONG
    return flags, P, eP, Ln


@njit(**_JIT)
def grid(N, endpoint, t, phi, cphi, sphi):
    """Fill the scan grid: midpoint ``t_i = pi (i + 1/2)/N, phi_j = 2 pi (j + 1/2)/N`` or the endpoint
    grid ``t_i = pi i/(N - 1), phi_j = 2 pi j/(N - 1)`` (``phi_{2j} == t_{2j}`` there bitwise); and
    ``cos(phi_j)``, ``sin(phi_j)`` from libm (the error bounds assume libm, not a vectorised NumPy sin)."""
    for i in range(N):
        if endpoint:
            t[i] = _PI * i / (N - 1)
            phi[i] = _TWO_PI * i / (N - 1)
        else:
            t[i] = _PI * (i + 0.5) / N
            phi[i] = _TWO_PI * (i + 0.5) / N
        cphi[i] = math.cos(phi[i])
        sphi[i] = math.sin(phi[i])


@njit(parallel=True, **_JIT)
def scan_rows(t, phi, cphi, sphi, excluded, edge_atol, safety, counts):
    """Per-row counters (``counts[i, C_*]``) of the scan over ``t[i] x phi[:]``; each row is one task.

    Notes: jit-compiled by Numba (parallel over rows; each row writes only its own counters).
    """
    nt = t.shape[0]
    nphi = phi.shape[0]
    for i in prange(nt):
        ti = t[i]
        R = row_terms(ti)
        ex = excluded[i]
        c_naive = 0
        c_naive_ex = 0
        c_naive_b = 0
        c_b = 0
        c_d = 0
        c_w = 0
        c_in = 0
        c_u = 0
        for j in range(nphi):
            f, P, eP, Ln = classify(phi[j], cphi[j], sphi[j], ti, R, ex, edge_atol, safety)
            if f & NAIVE:
                c_naive += 1
                if f & EXCLUDED:
                    c_naive_ex += 1
                elif f & BOUNDARY:
                    c_naive_b += 1
            if f & BOUNDARY:
                c_b += 1
            if f & DOUBTFUL:
                c_d += 1
            if f & WRONG:
                c_w += 1
            if f & UNCERTIFIED:
                c_u += 1
            if phi[j] > 0.0 and phi[j] < ti:
                c_in += 1
        counts[i, C_NAIVE] = c_naive
        counts[i, C_NAIVE_EXCLUDED] = c_naive_ex
        counts[i, C_NAIVE_BOUNDARY] = c_naive_b
        counts[i, C_BOUNDARY] = c_b
        counts[i, C_DOUBTFUL] = c_d
        counts[i, C_WRONG] = c_w
        counts[i, C_EXCLUDED] = nphi if ex else 0
        counts[i, C_INSIDE] = c_in
        counts[i, C_UNCERTIFIED] = c_u


@njit(**_JIT)
def collect(rows, starts, caps, mask, t, phi, cphi, sphi, excluded, edge_atol, safety,
            out_i, out_j, out_P, out_err, out_naive):
    """Write the grid points of ``rows`` whose flags meet ``mask``: row ``rows[r]`` fills
    ``out_*[starts[r] : starts[r] + caps[r]]`` with its first ``caps[r]`` such points.

    Notes: jit-compiled by Numba (serial: only rows holding flagged points are listed).
    """
    nphi = phi.shape[0]
    for r in range(rows.shape[0]):
        i = rows[r]
        ti = t[i]
        R = row_terms(ti)
        pos = starts[r]
        n = 0
        for j in range(nphi):
            if n >= caps[r]:
                break
            f, P, eP, Ln = classify(phi[j], cphi[j], sphi[j], ti, R, excluded[i], edge_atol, safety)
            if f & mask:
                out_i[pos + n] = i
                out_j[pos + n] = j
                out_P[pos + n] = P
                out_err[pos + n] = eP
                out_naive[pos + n] = Ln
                n += 1


@njit(**_JIT)
def l12_batch(t, phi, safety, P, eP, D, eD, Ln):
    """Careful P (with bound), D (with bound) and the naive L_12 at arbitrary points.

    ``t`` in (0, pi], ``phi`` in [0, 2 pi). L_12 = P / D.
    """
    for b in range(t.shape[0]):
        R = row_terms(t[b])
        cphi = math.cos(phi[b])
        sphi = math.sin(phi[b])
        P[b], eP[b], Ln[b], _, _ = point_value(phi[b], cphi, sphi, t[b], R, safety)
        D[b] = R[4]
        eD[b] = safety * R[5]
