"""Slow reference versions ("oracles") of dynsys.flow: plain Python loops over one trajectory.

Nothing here imports dynsys. Each integrator takes a gradient callable ``grad(W) -> (k, d)`` (for
instance :func:`naive.grad_closed_form` with the model's arguments bound) and is transcribed from the
textbook formulas: gradient descent ``W <- W - eta grad L(W)``; explicit Euler and classical RK4 on
``dW/dt = -grad L``; Dormand-Prince 5(4) with its Butcher tableau written as fractions (Dormand &
Prince 1980; Hairer, Norsett & Wanner, Solving ODEs I, Table II.5.2) and Hairer's continuous
extension (``contd5`` of DOPRI5). Closed forms of the linear (alpha = 1) model give exact solutions.
"""

from __future__ import annotations

from fractions import Fraction as Fr

import numpy as np

# --------------------------------------------------------------------------------------------------
# Fixed-step maps and integrators (one trajectory, a given number of steps)
# --------------------------------------------------------------------------------------------------


def gd(grad, W0, eta, n_steps):
    """``n_steps`` of ``W <- W - eta grad(W)``; returns the list of all iterates (n_steps + 1)."""
    W = np.array(W0, dtype=float)
    out = [W.copy()]
    for _ in range(n_steps):
        W = W - eta * grad(W)
        out.append(W.copy())
    return out


def euler(grad, W0, h, n_steps):
    return gd(grad, W0, h, n_steps)


def rk4(grad, W0, h, n_steps):
    """Classical Runge-Kutta on ``dW/dt = -grad(W)``; returns the final state."""
    W = np.array(W0, dtype=float)
    f = lambda X: -grad(X)  # noqa: E731
    for _ in range(n_steps):
        k1 = f(W)
        k2 = f(W + h / 2 * k1)
        k3 = f(W + h / 2 * k2)
        k4 = f(W + h * k3)
        W = W + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return W


# Dormand-Prince 5(4): c, a (lower triangle), b (5th order), b_hat (embedded 4th order)
DP_C = [Fr(0), Fr(1, 5), Fr(3, 10), Fr(4, 5), Fr(8, 9), Fr(1), Fr(1)]
DP_A = [
    [],
    [Fr(1, 5)],
    [Fr(3, 40), Fr(9, 40)],
    [Fr(44, 45), Fr(-56, 15), Fr(32, 9)],
    [Fr(19372, 6561), Fr(-25360, 2187), Fr(64448, 6561), Fr(-212, 729)],
    [Fr(9017, 3168), Fr(-355, 33), Fr(46732, 5247), Fr(49, 176), Fr(-5103, 18656)],
    [Fr(35, 384), Fr(0), Fr(500, 1113), Fr(125, 192), Fr(-2187, 6784), Fr(11, 84)],
]
DP_B = [Fr(35, 384), Fr(0), Fr(500, 1113), Fr(125, 192), Fr(-2187, 6784), Fr(11, 84), Fr(0)]
DP_BHAT = [Fr(5179, 57600), Fr(0), Fr(7571, 16695), Fr(393, 640), Fr(-92097, 339200),
           Fr(187, 2100), Fr(1, 40)]
# dense output coefficients of Hairer's contd5
DP_D = [Fr(-12715105075, 11282082432), Fr(0), Fr(87487479700, 32700410799),
        Fr(-10690763975, 1880347072), Fr(701980252875, 199316789632),
        Fr(-1453857185, 822651844), Fr(69997945, 29380423)]


def dp5_step(grad, W, h):
    """One Dormand-Prince step: ``(W_new, err_vector, stages)`` with ``err = W5 - W4``."""
    f = lambda X: -grad(X)  # noqa: E731
    ks = []
    for i in range(7):
        Y = W + h * sum((float(a) * k for a, k in zip(DP_A[i], ks)), np.zeros_like(W))
        ks.append(f(Y))
    W5 = W + h * sum(float(b) * k for b, k in zip(DP_B, ks))
    W4 = W + h * sum(float(b) * k for b, k in zip(DP_BHAT, ks))
    return W5, W5 - W4, ks


def dp5_fixed(grad, W0, h, n_steps):
    """``n_steps`` Dormand-Prince steps of size h (no error control); returns the final state."""
    W = np.array(W0, dtype=float)
    for _ in range(n_steps):
        W, _, _ = dp5_step(grad, W, h)
    return W


def dp5_dense(W, W_new, ks, h, theta):
    """Hairer's 4th-order continuous extension at ``t + theta h`` of the step W -> W_new."""
    ydiff = W_new - W
    bspl = h * ks[0] - ydiff
    r4 = ydiff - h * ks[6] - bspl
    r5 = h * sum(float(dd) * k for dd, k in zip(DP_D, ks))
    th1 = 1 - theta
    return W + theta * (ydiff + th1 * (bspl + theta * (r4 + th1 * r5)))


# --------------------------------------------------------------------------------------------------
# Plateau time by its definition (FlowResult.plateau_time): time with gradient norm below a threshold, counting
# only episodes after which the gradient norm rises above it again.
# --------------------------------------------------------------------------------------------------


def plateau_time(gnorms, dts, thr):
    """``gnorms[i]`` the gradient norm at the state where step i (length ``dts[i]``) starts.

    ``gnorms`` has one entry more than ``dts`` (the final state); the final state's episode, still
    open when the trajectory stops, is not counted.
    """
    total = 0.0
    episode = 0.0
    for g, dt in zip(gnorms[:-1], dts):
        if g < thr:
            episode += dt
        else:
            total += episode
            episode = 0.0
    return total


def row_max_norm(G):
    return float(np.max(np.linalg.norm(G, axis=1)))


# --------------------------------------------------------------------------------------------------
# The linear model (alpha = 1): L = |r|^2 / 2, r = sum_j a_j v_j - sum_k a*_k t_k, grad_j = a_j r
# --------------------------------------------------------------------------------------------------


def linear_residual(W, W_star, a, a_star):
    return a @ W - a_star @ W_star


def linear_flow_exact(W0, W_star, a, a_star, t):
    """Exact gradient flow of the linear model: dr/dt = -|a|^2 r, so
    ``W(t) = W0 - a r0^T (1 - exp(-|a|^2 t)) / |a|^2``."""
    a = np.asarray(a, dtype=float)
    r0 = linear_residual(W0, W_star, a, a_star)
    s = float(a @ a)
    return W0 - np.outer(a, r0) * (-np.expm1(-s * t)) / s


def linear_gd_exact(W0, W_star, a, a_star, eta, n):
    """Closed form of n gd steps on the linear model: r_n = (1 - eta |a|^2)^n r0, so
    ``W_n = W0 - a r0^T (1 - (1 - eta |a|^2)^n) / |a|^2``."""
    a = np.asarray(a, dtype=float)
    r0 = linear_residual(W0, W_star, a, a_star)
    s = float(a @ a)
    return W0 - np.outer(a, r0) * (1.0 - (1.0 - eta * s) ** n) / s
