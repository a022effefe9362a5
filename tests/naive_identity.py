"""Slow NumPy oracles for paper 002's quantities (imports nothing from dynsys): the auxiliary function
f_A, the one-point strong convexity margin from central differences of the closed-form loss, and the
one-hidden-layer classifier's loss and gradient written out with arrays."""

from __future__ import annotations

import numpy as np

import naive as nv


def f_A(W, W_star, U=None, printed=False):
    """sum_i (|u_i + w*_i| - |u_i +- w_i|), one row at a time (minus sign when ``printed``)."""
    W = np.asarray(W, float)
    U = np.zeros_like(W) if U is None else np.asarray(U, float)
    total = 0.0
    for i in range(W.shape[0]):
        other = U[i] - W[i] if printed else U[i] + W[i]
        total += np.sqrt(np.sum((U[i] + W_star[i]) ** 2)) - np.sqrt(np.sum(other ** 2))
    return total


def margin(W, W_star, alpha, U=None, h=1e-6):
    """<-grad L, W* - W> / |W* - W|^2 with grad L from 4th-order central differences of the closed form."""
    loss = lambda X: nv.loss_closed_form(X, W_star, alpha=alpha, U=U)  # noqa: E731
    G = nv.grad_central_differences(loss, np.asarray(W, float), h=h, order=4)
    D = W_star - W
    return float(-np.sum(G * D) / np.sum(D * D))


def classifier_loss(W, b, A, V, c, X, y, identity):
    """Mean softmax cross-entropy of z = (W [+ I]) x + b, h = PReLU_A(z), o = V h + c."""
    Z = X @ W.T + b + (X if identity else 0.0)
    Hh = np.where(Z > 0, Z, A * Z)
    O = Hh @ V.T + c
    O = O - O.max(axis=1, keepdims=True)
    logp = O - np.log(np.exp(O).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def classifier_grad(W, b, A, V, c, X, y, identity):
    """Backpropagation of :func:`classifier_loss` with whole arrays (sigma'(0) = alpha)."""
    n = len(y)
    Z = X @ W.T + b + (X if identity else 0.0)
    Hh = np.where(Z > 0, Z, A * Z)
    O = Hh @ V.T + c
    P = np.exp(O - O.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(n), y] -= 1.0
    P /= n
    gV = P.T @ Hh
    gc = P.sum(0)
    dH = P @ V
    gA = np.sum(np.where(Z > 0, 0.0, dH * Z), axis=0)
    dZ = np.where(Z > 0, dH, A * dH)
    return dZ.T @ X, dZ.sum(0), gA, gV, gc
