"""The two-layer network on plain arrays (CPU, Numba): its rows with the residual, its output on one input.

``g(x; M, c) = sum_q c_q sigma_alpha(M_q . x)`` with ``sigma_alpha(z) = z`` for ``z > 0`` and
``alpha z`` otherwise (ReLU at alpha = 0, leaky ReLU / PReLU otherwise; docs/math.md section 1), and
``sigma_alpha'(0) = alpha``. The student's rows are ``V = W + U`` (``U`` the residual, an empty (0, 0)
array when there is none; Jiang et al.'s identity mapping).
"""

from numba import njit

_JIT = dict(cache=True)


@njit(**_JIT)
def rows(X, U, V):
    """Network rows: ``X`` itself, or ``X + U`` copied into ``V`` when there is a residual."""
    if U.shape[0] == 0:
        return X
    for j in range(X.shape[0]):
        for l in range(X.shape[1]):
            V[j, l] = X[j, l] + U[j, l]
    return V


@njit(inline="always", **_JIT)
def act(z, alpha):
    return z if z > 0.0 else alpha * z


@njit(inline="always", **_JIT)
def _pre(M, q, x):
    """``M_q . x``: unit q's pre-activation."""
    h = 0.0
    for l in range(M.shape[1]):
        h += M[q, l] * x[l]
    return h


@njit(**_JIT)
def output(M, c, alpha, x):
    """``sum_q c_q sigma_alpha(M_q . x)``: a network's output."""
    g = 0.0
    for q in range(M.shape[0]):
        g += c[q] * act(_pre(M, q, x), alpha)
    return g


@njit(inline="always", **_JIT)
def forward(M, c, alpha, x, s):
    """The forward pass of backpropagation: returns the output ``g(x; M, c)`` and writes
    ``s_q = c_q sigma_alpha'(M_q . x)`` into ``s`` (``sigma_alpha'(0) = alpha``), so that the gradient
    of ``g`` in row q is ``s_q x``. Shared by the Monte Carlo and the SGD kernels."""
    g = 0.0
    for q in range(M.shape[0]):
        h = _pre(M, q, x)
        g += c[q] * act(h, alpha)
        s[q] = c[q] * (1.0 if h > 0.0 else alpha)
    return g
