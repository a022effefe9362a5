"""Plain NumPy oracles for continuation (imports nothing from dynsys).

``arclength``: a textbook pseudo-arclength predictor-corrector (fixed step, LU solves of the bordered
system, ``eigvalsh`` per point) on a gradient ``g(x, p)`` with Hessian ``H(x, p)`` and ``dg/dp``.
``k2_fold``: where two K = 2 saddle families meet (a double root of the theta_1 equation of
docs/math.md section 4), by solving ``f = 0, df/dtheta_1 = 0`` with SciPy.
"""

import numpy as np
from scipy import optimize


def arclength(g, H, gp, x0, p0, ds, n_steps, direction=1.0):
    """Points ``(p, x, index)`` of a fixed-step pseudo-arclength continuation (no null directions)."""
    x, p = np.array(x0, dtype=float), float(p0)
    n = x.size
    A = np.vstack([np.hstack([H(x, p), gp(x, p)[:, None]]), np.zeros((1, n + 1))])
    t = np.linalg.svd(A[:n])[2][-1]
    t *= np.sign(t[n]) * direction if t[n] != 0 else 1.0
    out = [(p, x.copy(), int(np.sum(np.linalg.eigvalsh(H(x, p)) < 0)))]
    for _ in range(n_steps):
        y = np.concatenate([x, [p]]) + ds * t
        for _ in range(30):
            xx, pp = y[:n], y[n]
            F = np.concatenate([g(xx, pp), [t @ (y - np.concatenate([x, [p]])) - ds]])
            J = np.vstack([np.hstack([H(xx, pp), gp(xx, pp)[:, None]]), t[None]])
            dy = np.linalg.solve(J, -F)
            y = y + dy
            if np.max(np.abs(dy)) < 1e-13:
                break
        e = np.zeros(n + 1)
        e[n] = 1.0
        J = np.vstack([np.hstack([H(y[:n], y[n]), gp(y[:n], y[n])[:, None]]), t[None]])
        tn = np.linalg.solve(J, e)
        tn /= np.linalg.norm(tn)
        t = tn if tn @ t > 0 else -tn
        x, p = y[:n], y[n]
        out.append((p, x.copy(), int(np.sum(np.linalg.eigvalsh(H(x, p)) < 0))))
    return out


def _f(t1, n1, n2, T):
    t2 = T - t1
    return (np.pi - t1) * np.sin(t1) * n1 - (np.pi - t2) * np.sin(t2) * n2


def _df(t1, n1, n2, T):
    t2 = T - t1
    return n1 * (-np.sin(t1) + (np.pi - t1) * np.cos(t1)) + n2 * (-np.sin(t2) + (np.pi - t2) * np.cos(t2))


def k2_fold(n1, n2, T_guess, t1_guess):
    """``(T, theta_1)`` where two roots of the theta_1 equation merge (f = df/dtheta_1 = 0)."""
    sol = optimize.fsolve(lambda z: [_f(z[1], n1, n2, z[0]), _df(z[1], n1, n2, z[0])],
                          [T_guess, t1_guess], xtol=1e-12)
    return float(sol[0]), float(sol[1])
