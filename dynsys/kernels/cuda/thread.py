"""The one-state-per-thread CUDA kernel of the loss and gradient (the ``"thread"`` shape of
:mod:`dynsys.kernels.cuda.field`, which launches it and describes the mathematics and precision).

Small ``k * d``: one state per thread, grid-stride loop over states. The batch axis is
last in device memory (``(k, d, n)``: neighbouring threads read neighbouring addresses), made by a
tiled shared-memory transpose on the device and undone the same way for the gradient. Each thread
copies its state into a local array and evaluates it with the per-state device field
:func:`dynsys.kernels.cuda.state._state_field` (the one the integrators use: one formula, in the CPU
kernel's order), then writes the loss, the status and the gradient back at its column. Every kernel is
compiled for its exact ``(k, d, k*, dtype, residual?, gradient?, alpha == 1?)`` by a cached factory
(closures over typed constants); the local arrays have compile-time sizes. With ``CUDA_KERNEL_UNROLL``
the loops run to the compile-time sizes (unrolled: fewer instructions, many more registers).
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import cuda

from .state import _state_field


@functools.cache
def _loss_grad_batch_cuda_thread(k: int, d: int, ks: int, dtype_name: str, has_u: bool, want_grad: bool,
                                 linear: bool, unroll: bool):
    """Kernel ``(Wt, U, T, tn, a, a_star, alpha, const, tol, loss, Gt, status)`` for one shape.

    ``Wt`` and ``Gt`` are ``(k, d, n)``: state ``b`` is column ``b``, so a warp's reads and writes of one
    entry are contiguous. ``unroll``: loop bounds are compile-time constants (the compiler unrolls the
    row loops: fewer instructions, far more registers) instead of the arrays' shapes.
    """
    nf = numba.from_dtype(np.dtype(dtype_name))
    NK, ND, M, WANT_G, UNROLL = k, d, max(k, d), want_grad, unroll
    field = _state_field(k, d, ks, dtype_name, has_u, linear, unroll, want_grad)

    def kernel(W, U, T, tn, a, a_star, alpha, const, tol, loss, G, status):
        Z = cuda.local.array((NK, ND), nf)
        Gs = cuda.local.array((1, NK, ND), nf)
        nrm = cuda.local.array(M, nf)
        inv = cuda.local.array(NK, nf)
        sc = cuda.local.array(NK, nf)
        nk = NK if UNROLL else W.shape[0]
        nd = ND if UNROLL else W.shape[1]
        for b in range(cuda.grid(1), W.shape[2], cuda.gridsize(1)):
            for j in range(nk):
                for l in range(nd):
                    Z[j, l] = W[j, l, b]
            L, st = field(Z, U, T, tn, a, a_star, alpha, const, tol, Gs, 0, nrm, inv, sc)
            loss[b] = L
            status[b] = st
            if WANT_G:
                for j in range(nk):
                    for l in range(nd):
                        G[j, l, b] = Gs[0, j, l]

    return cuda.jit(kernel)
