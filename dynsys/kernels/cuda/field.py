"""CUDA twins of the teacher-student loss and gradient (``backend="cuda"``).

Same mathematics and statuses as the CPU per-state kernel
:func:`dynsys.systems.teacher_student.loss_grad` (its module docstring: the pair coefficients
``P, Q, K`` that share one angle per pair between the loss and both rows' gradients, the accurate-angle
rule, the ``alpha = 1`` linear branch; docs/math.md sections 1-2, Tian (ICML 2017) Theorem 1, Eqn 5-8).
Imported only by :func:`dynsys.backends.cuda_kernels`, after it has checked that a GPU is there.

Two kernel shapes, chosen by :func:`kernel_shape` from ``k * d`` (``CUDA_BLOCK_KERNEL_MIN_KD``):

``"thread"`` (small ``k * d``, :mod:`dynsys.kernels.cuda.thread`): one state per thread, the batch axis
    last in device memory (a tiled shared-memory transpose, here, makes and undoes that layout).

``"block"`` (large ``k * d``, :mod:`dynsys.kernels.cuda.block`): one state per block of
    ``CUDA_BLOCK_KERNEL_THREADS`` threads, its workspace in dynamic shared memory when it fits, else in
    a per-block slice of a global scratch array.

Both are compiled per exact shape and precision by cached factories; this module holds the host side:
the shape choice, the device copy of the model, the launches and the chunked host entry point.

Precision: the kernel runs in the dtype of ``W`` (float64 or float32); the model's arrays are cast to
it, every constant in the kernels is typed (no silent float64 promotion in the float32 kernels).
Agreement with the CPU kernel, relative to the size of the terms (``S^2`` for the loss and ``|a_j| S``
for row j of the gradient, ``S = sum_j |a_j| |v_j| + sum_q |a*_q| |t_q|``; near a critical point the
results are small differences of such terms, so the scale is the terms', not the result's): float64
within 1e-12 (asserted by ``tests/test_cuda.py``; 1e-16 measured in the simulator), float32 within 1e-4
(asserted; a few 1e-8 measured in the simulator, which does not reproduce float32 arithmetic exactly).

Repeatable bitwise for a given launch: no atomics, fixed reduction trees. Gradient entries do not depend
on the launch configuration; the block kernel's loss depends in its last bits on the threads per block
(the order of the partial sums), and the two shapes differ from each other in the last bits.

Statuses: 0 ok, 3 singular (a row norm at or below ``tol``), 4 non-finite (a row holds NaN/Inf or its
norm overflows, as on the CPU; in addition a state whose loss or gradient comes out non-finite is
reported 4 instead of returned, which matters for float32 overflow). Bad states have loss 0 and G 0.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np
from numba import cuda

from ...config import (
    CUDA_BLOCK_KERNEL_MIN_KD,
    CUDA_BLOCK_KERNEL_THREADS,
    CUDA_BLOCKS_PER_SM,
    CUDA_CHUNK_BYTES,
    CUDA_SHARED_WORKSPACE_MAX_BYTES,
    CUDA_KERNEL_UNROLL,
    CUDA_THREADS_PER_BLOCK,
)
from .block import _layout, _loss_grad_batch_cuda_block
from .thread import _loss_grad_batch_cuda_thread

SHAPES = ("thread", "block")
WORKSPACES = ("auto", "shared", "global")

_TILE = 32  # transpose tile (TILE x TILE values through shared memory)
_TILE_ROWS = 8  # threads per tile column: a block is TILE x TILE_ROWS threads


# ----------------------------------------------------------------------------------------- helpers
def kernel_shape(k: int, d: int) -> str:
    """``"block"`` (one state per block) when ``k * d > CUDA_BLOCK_KERNEL_MIN_KD``, else ``"thread"``."""
    return "block" if k * d > CUDA_BLOCK_KERNEL_MIN_KD else "thread"


def _device_attr(name: str, default: int) -> int:
    try:
        return int(getattr(cuda.get_current_device(), name))
    except Exception:  # the simulator's device has no attributes
        return default


# ------------------------------------------------------------------------------------- transpose
@functools.cache
def _transpose_kernel(dtype_name: str):
    """``dst (C, R) = src (R, C).T`` through shared-memory tiles (coalesced reads and writes).

    Grid ``(ceil(R / TILE), ceil(C / TILE))``: the long axis (the batch) of either layout is the
    source's rows or columns; ``rows_on_x`` says which one the grid's x axis (no 65535 limit) walks.
    """
    nf = numba.from_dtype(np.dtype(dtype_name))
    TILE, ROWS = _TILE, _TILE_ROWS
    PADDED = _TILE + 1  # a tile column falls in different banks (a compile-time constant for the shape)

    def transpose(src, dst, rows_on_x):
        tile = cuda.shared.array((TILE, PADDED), nf)
        if rows_on_x:
            r0 = cuda.blockIdx.x * TILE
            c0 = cuda.blockIdx.y * TILE
        else:
            r0 = cuda.blockIdx.y * TILE
            c0 = cuda.blockIdx.x * TILE
        tx = cuda.threadIdx.x
        R = src.shape[0]
        C = src.shape[1]
        for t in range(cuda.threadIdx.y, TILE, ROWS):
            i = r0 + t
            j = c0 + tx
            if i < R and j < C:
                tile[t, tx] = src[i, j]
        cuda.syncthreads()
        for t in range(cuda.threadIdx.y, TILE, ROWS):
            i = c0 + t
            j = r0 + tx
            if i < C and j < R:
                dst[i, j] = tile[tx, t]

    return cuda.jit(transpose)


def _transpose(src, dst, long_axis_rows: bool, stream):
    """Launch the tiled transpose of device ``src`` (R, C) into ``dst`` (C, R)."""
    R, C = src.shape
    gr = (R + _TILE - 1) // _TILE
    gc = (C + _TILE - 1) // _TILE
    grid = (gr, gc) if long_axis_rows else (gc, gr)
    _transpose_kernel(src.dtype.name)[grid, (_TILE, _TILE_ROWS), stream](src, dst, 1 if long_axis_rows else 0)


# ---------------------------------------------------------------- block kernel: shared-memory opt-in
@functools.cache
def _opt_in_shared(kernel, nbytes: int) -> bool:
    """Let ``kernel`` use ``nbytes`` (> 48 KiB) of dynamic shared memory; False where that fails."""
    try:
        from numba.cuda.cudadrv import driver
        from numba.cuda.cudadrv.driver import binding

        attr = binding.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        for overload in kernel.overloads.values():
            f = overload._codelibrary.get_cufunc()
            driver.cuKernelSetAttribute(attr, nbytes, f.handle, f.device.id)
        return True
    except Exception:  # old driver, simulator, or numba-cuda internals moved: use global workspace
        return False


# --------------------------------------------------------------------------------------- device API
class DeviceField(NamedTuple):
    """The model on the device, cast to one precision (from :func:`device_field`)."""

    U: object  # (k, d), or (1, 1) dummy without a residual
    T: object  # (k*, d)
    tn: object  # (k*,)
    a: object  # (k,)
    a_star: object  # (k*,)
    alpha: object  # scalars typed as the precision
    const: object
    tol: object
    k: int
    d: int
    k_star: int
    has_u: bool
    linear: bool  # alpha == 1 (decided in float64, before the cast)
    dtype: np.dtype


def device_field(U, T, tn, a, a_star, alpha, const, tol, dtype, *, k=None, stream=0) -> DeviceField:
    """Copy the model's arrays (``TeacherStudent.arrays``) to the device in ``dtype``.

    ``k`` is needed only without a residual (``U`` then is an empty array).
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64; got {dtype}")
    T = np.asarray(T)
    ks, d = T.shape
    has_u = np.asarray(U).shape[0] > 0
    kk = np.asarray(U).shape[0] if has_u else (len(a) if k is None else k)

    def put(x):
        return cuda.to_device(np.ascontiguousarray(x, dtype=dtype), stream=stream)

    Ud = put(U) if has_u else put(np.zeros((1, 1)))
    f = dtype.type
    return DeviceField(Ud, put(T), put(tn), put(a), put(a_star), f(alpha), f(const), f(tol),
                       int(kk), int(d), int(ks), bool(has_u), float(alpha) == 1.0, dtype)


def loss_grad_device(W, field: DeviceField, want_grad: bool, *, shape=None, threads=None, workspace="auto",
                     blocks=None, unroll=None, stream=0):
    """Loss (n,), gradient (n, k, d) (or (n, 0, 0)) and int8 status (n,) of a device batch ``W``.

    Parameters
    ----------
    W : device array, shape (n, k, d), dtype ``field.dtype``, C-contiguous
    field : DeviceField
    want_grad : bool
    shape : {None, "thread", "block"}
        Kernel shape; None picks it by :func:`kernel_shape`.
    threads : int, optional
        Threads per block (default ``CUDA_THREADS_PER_BLOCK`` / ``CUDA_BLOCK_KERNEL_THREADS``); a
        power of two for the block kernel.
    workspace : {"auto", "shared", "global"}
        Block kernel only: where a block keeps its state (shared memory when it fits in
        ``CUDA_SHARED_WORKSPACE_MAX_BYTES`` for "auto"; "shared" opts in to the device's maximum).
    blocks : int, optional
        At most this many blocks (the kernels grid-stride over the rest); for tests.
    unroll : bool, optional
        Compile the kernels' loops for the constant k, d, k* (default ``CUDA_KERNEL_UNROLL``).

    Returns
    -------
    loss, G, status : device arrays
    """
    n, k, d = W.shape
    if (k, d) != (field.k, field.d):
        raise ValueError(f"W must have shape (n, {field.k}, {field.d}) to match the model; got {W.shape}")
    if np.dtype(W.dtype) != field.dtype:
        raise TypeError(f"W has dtype {W.dtype} but the device model is {field.dtype}")
    shape = kernel_shape(k, d) if shape is None else shape
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES} or None; got {shape!r}")
    if workspace not in WORKSPACES:
        raise ValueError(f"workspace must be one of {WORKSPACES}; got {workspace!r}")
    dt = field.dtype
    linear = field.linear
    loss = cuda.device_array(n, dtype=dt, stream=stream)
    status = cuda.device_array(n, dtype=np.int8, stream=stream)
    G = cuda.device_array((n, k, d) if want_grad else (n, 0, 0), dtype=dt, stream=stream)
    args = (field.U, field.T, field.tn, field.a, field.a_star, field.alpha, field.const, field.tol)
    if shape == "thread":
        tpb = CUDA_THREADS_PER_BLOCK if threads is None else int(threads)
        if tpb < 1:
            raise ValueError(f"threads must be a positive number of threads per block; got {tpb}")
        kern = _loss_grad_batch_cuda_thread(k, d, field.k_star, dt.name, field.has_u, bool(want_grad), linear,
                                            CUDA_KERNEL_UNROLL if unroll is None else bool(unroll))
        Wt = cuda.device_array((k * d, n), dtype=dt, stream=stream)
        _transpose(W.reshape(n, k * d), Wt, True, stream)
        Gt = cuda.device_array((k * d, n) if want_grad else (1, 1), dtype=dt, stream=stream)
        nb = max(1, min((n + tpb - 1) // tpb, 2**31 - 1, blocks or 2**31 - 1))
        kern[nb, tpb, stream](Wt.reshape(k, d, n), *args, loss,
                              Gt.reshape(k, d, n) if want_grad else Gt.reshape(1, 1, 1), status)
        if want_grad:
            _transpose(Gt, G.reshape(n, k * d), False, stream)
        return loss, G, status
    nt = CUDA_BLOCK_KERNEL_THREADS if threads is None else int(threads)
    if nt < 1 or nt & (nt - 1):
        raise ValueError(f"threads must be a power of two for the block kernel; got {nt}")
    nb = max(1, min(n, CUDA_BLOCKS_PER_SM * _device_attr("MULTIPROCESSOR_COUNT", 1), blocks or n))
    lay = _layout(k, d, field.k_star, nt, bool(want_grad), linear)
    nbytes = lay.size * dt.itemsize
    if workspace == "auto":
        use_shared = nbytes <= CUDA_SHARED_WORKSPACE_MAX_BYTES
    elif workspace == "shared":
        use_shared = nbytes <= 48 * 1024 or nbytes <= _device_attr("MAX_SHARED_MEMORY_PER_BLOCK_OPTIN", 0)
    else:
        use_shared = False
    spec = (k, d, field.k_star, dt.name, field.has_u, bool(want_grad), linear, nt)
    unroll = CUDA_KERNEL_UNROLL if unroll is None else bool(unroll)
    kern, _ = _loss_grad_batch_cuda_block(*spec, use_shared, unroll)
    G2 = G.reshape(n, k * d) if want_grad else cuda.device_array((1, 1), dtype=dt, stream=stream)
    call = args + (loss, G2, status)
    if use_shared:
        scratch = cuda.device_array((1, 1), dtype=dt, stream=stream)
        if nbytes > 48 * 1024:
            kern.compile(tuple(numba.typeof(x) for x in (W.reshape(n, k * d),) + call + (scratch,)))
            if not _opt_in_shared(kern, nbytes):
                use_shared = False
                kern, _ = _loss_grad_batch_cuda_block(*spec, False, unroll)
        if use_shared:
            kern[nb, nt, stream, nbytes](W.reshape(n, k * d), *call, scratch)
            return loss, G, status
    scratch = cuda.device_array((nb, lay.size), dtype=dt, stream=stream)
    kern[nb, nt, stream](W.reshape(n, k * d), *call, scratch)
    return loss, G, status


# ----------------------------------------------------------------------------------------- host API
def loss_grad(W, U, T, tn, a, a_star, alpha, const, tol, want_grad, *, shape=None, threads=None,
              workspace="auto", blocks=None, unroll=None):
    """Loss, gradient and status of a host batch on the GPU (the twin of the CPU batch driver).

    Parameters
    ----------
    W : ndarray, shape (n, k, d), float64 or float32
        Network weights; the kernels run in this dtype.
    U, T, tn, a, a_star, alpha, const, tol
        The model (``TeacherStudent.arrays``), float64; cast to ``W``'s dtype. ``U`` is (k, d) or an
        empty (0, 0) array without a residual.
    want_grad : bool
    shape, threads, workspace, blocks, unroll
        See :func:`loss_grad_device`.

    Returns
    -------
    loss : ndarray (n,), dtype of W
    G : ndarray (n, k, d), dtype of W, or (n, 0, 0) unless ``want_grad``
    status : ndarray (n,), int8 (0 ok, 3 singular, 4 non-finite; bad states zeroed)
    """
    W = np.asarray(W)
    if W.dtype not in (np.float32, np.float64):
        raise TypeError(f"W must be float64 or float32 for backend='cuda'; got {W.dtype}")
    W = np.ascontiguousarray(W)
    n, k, d = W.shape
    dt = W.dtype
    field = device_field(U, T, tn, a, a_star, alpha, const, tol, dt, k=k)
    loss = np.empty(n, dtype=dt)
    G = np.empty((n, k, d) if want_grad else (n, 0, 0), dtype=dt)
    status = np.empty(n, dtype=np.int8)
    chunk = max(1, CUDA_CHUNK_BYTES // max(1, k * d * dt.itemsize))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        dW = cuda.to_device(W[lo:hi])
        dl, dG, ds = loss_grad_device(dW, field, want_grad, shape=shape, threads=threads, workspace=workspace,
                                      blocks=blocks, unroll=unroll)
        dl.copy_to_host(loss[lo:hi])
        ds.copy_to_host(status[lo:hi])
        if want_grad:
            dG.copy_to_host(G[lo:hi])
    return loss, G, status
