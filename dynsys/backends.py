"""The one place that maps ``backend="parallel" | "cpu" | "cuda"`` to kernels.

``parallel`` runs the batched Numba kernels on all cores; ``cpu`` runs the same compiled kernels on
one thread (bitwise-equal results); ``cuda`` runs the ``numba.cuda`` twins (loss and gradient, flow
integrators), imported only when asked for, so that importing dynsys never touches CUDA. The field,
the flow integrators (:func:`flow_fixed`, :func:`flow_dopri5`, :func:`flow_gd_entry`, :func:`flow_fixed_entry`,
:func:`flow_dopri5_entry`, :func:`flow_cuda`) and the Newton batch
(:func:`newton`) are dispatched here.
"""

from __future__ import annotations

import contextlib
import functools

import numba
import numpy as np

from .config import PARALLEL_MIN_BATCH
from .progress import compile_notice
from .kernels import arclength as ka
from .kernels import continuation as kc
from .kernels import family as kfam
from .kernels import field, gd_entry, integrators, ldl, ode_entry
from .kernels import newton as kn
from .kernels.newton import NewtonParams  # noqa: F401  (the Newton kernel's settings, built by critical/)
from .systems.teacher_student import work_size

BACKENDS = ("parallel", "cpu", "cuda")


def check(backend) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}; got {backend!r}")
    return backend


@contextlib.contextmanager
def threads(backend: str, n: int | None = None):
    """Run the enclosed kernels on one thread for ``backend="cpu"``, on all cores otherwise.

    A parallel batch of fewer than ``PARALLEL_MIN_BATCH`` states also runs on one thread: waking
    the thread pool costs more than such a batch (10 ms on a loaded machine against 13 us for one
    state), and the kernels split the batch by state, so the result is bitwise the same.
    """
    if backend != "cpu" and (n is None or n >= PARALLEL_MIN_BATCH):
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@functools.cache
def cuda_kernels():
    """The CUDA module, or a ``ValueError`` that says why it cannot be used here."""
    try:
        from numba import cuda
    except Exception as exc:  # numba-cuda missing or broken
        raise ValueError(f"backend='cuda' needs numba-cuda (pip install 'dynsys[cuda]'): {exc}. "
                         f"Use backend='parallel' on this machine.") from None
    if not cuda.is_available():
        raise ValueError("backend='cuda' needs an NVIDIA GPU with a working driver, and none was found. "
                         "Use backend='parallel' (all CPU cores).")
    from .kernels.cuda import field

    return field


def loss_grad(backend, W, A, want_grad):
    """Loss (n,), gradient (n, k, d) (empty unless ``want_grad``) and int8 status (n,) of a batch.

    ``A`` is the model's :class:`~dynsys.systems.base.FieldArrays` (``model.arrays``).
    """
    n, k, d = W.shape
    if backend == "cuda":
        return cuda_kernels().loss_grad(W, *A, want_grad)

    loss = np.empty(n)
    G = np.empty((n, k, d) if want_grad else (n, 0, 0))
    status = np.empty(n, dtype=np.int8)
    compile_notice(field._loss_grad_batch, "field")
    with threads(backend, W.shape[0]):
        field._loss_grad_batch(W, A, want_grad, loss, G, status, field.blocks(n),
                               work_size(k, A.T.shape[0], d))
    return loss, G, status


def _cpu_only(backend: str, what: str):
    if backend == "cuda":
        raise ValueError(f"{what} has no CUDA kernel; use backend='parallel' (all CPU cores) or 'cpu'")


def hessian(backend, W, A):
    _cpu_only(backend, "hessian")

    n, k, d = W.shape
    H = np.empty((n, k * d, k * d))
    status = np.empty(n, dtype=np.int8)
    compile_notice(field._hessian_batch, "field")
    with threads(backend, W.shape[0]):
        field._hessian_batch(W, A, H, status, field.blocks(n))
    return H, status


def hvp(backend, W, X, A):
    _cpu_only(backend, "hvp")

    n = W.shape[0]
    out = np.empty_like(W)
    status = np.empty(W.shape[0], dtype=np.int8)
    compile_notice(field._hvp_batch, "field")
    with threads(backend, W.shape[0]):
        field._hvp_batch(W, X, A, out, status, field.blocks(n))
    return out, status


def grad_a(backend, W, A):
    _cpu_only(backend, "grad_a")

    n = W.shape[0]
    out = np.empty(W.shape[:2])
    status = np.empty(W.shape[0], dtype=np.int8)
    compile_notice(field._grad_a_batch, "field")
    with threads(backend, W.shape[0]):
        field._grad_a_batch(W, A, out, status, field.blocks(n))
    return out, status


# ------------------------------------------------------------------------------------------------
# Flows (dynsys.flow): the integrator kernels
# ------------------------------------------------------------------------------------------------

def flow_fixed(backend, *args):
    """gd / euler / rk4 over a batch: :func:`dynsys.kernels.integrators._fixed_batch` ``(*args)``.

    Threads take trajectories one at a time (Numba's parallel chunk size 1), which balances
    trajectories of very different lengths. Numba's thread count and chunk size are per thread: call
    this on the thread that is to run the kernel.
    """
    _cpu_only(backend, "flow_fixed")

    compile_notice(integrators._fixed_batch, "flow")
    # one trajectory runs on one thread: waking the pool would be its only parallel work
    with threads("cpu" if args[1].shape[0] == 1 else backend), numba.parallel_chunksize(1):
        integrators._fixed_batch(*args)


def flow_dopri5(backend, *args):
    """Adaptive Dormand-Prince over a batch: :func:`dynsys.kernels.integrators._dopri5_batch`
    ``(*args)``, scheduled as :func:`flow_fixed`."""
    _cpu_only(backend, "flow_dopri5")
    compile_notice(integrators._dopri5_batch, "flow")

    with threads("cpu" if args[0].shape[0] == 1 else backend), numba.parallel_chunksize(1):
        integrators._dopri5_batch(*args)


def flow_gd_entry(backend, *args):
    """gd with label on entry over a batch: :func:`dynsys.kernels.gd_entry._gd_entry_batch` ``(*args)``,
    scheduled as :func:`flow_fixed`."""
    _cpu_only(backend, "flow_gd_entry")
    compile_notice(gd_entry._gd_entry_batch, "flow")

    with threads("cpu" if args[0].shape[0] == 1 else backend), numba.parallel_chunksize(1):
        gd_entry._gd_entry_batch(*args)


def flow_fixed_entry(backend, *args):
    """rk4 with label on entry: :func:`dynsys.kernels.ode_entry._fixed_entry_batch` ``(*args)``."""
    _cpu_only(backend, "flow_fixed_entry")
    compile_notice(ode_entry._fixed_entry_batch, "flow")

    with threads("cpu" if args[1].shape[0] == 1 else backend), numba.parallel_chunksize(1):
        ode_entry._fixed_entry_batch(*args)


def flow_dopri5_entry(backend, *args):
    """dopri5 with label on entry: :func:`dynsys.kernels.ode_entry._dopri5_entry_batch` ``(*args)``."""
    _cpu_only(backend, "flow_dopri5_entry")
    compile_notice(ode_entry._dopri5_entry_batch, "flow")

    with threads("cpu" if args[0].shape[0] == 1 else backend), numba.parallel_chunksize(1):
        ode_entry._dopri5_entry_batch(*args)


def flow_cuda(method, W0, fa, *args):
    """The CUDA integrators (final states only): ``(W, loss, gnorm, steps, t, status)`` as NumPy."""
    cuda_kernels()  # a clear ValueError without a usable GPU
    # imported here, not at the top: importing dynsys must never import numba.cuda
    from .kernels.cuda import integrators as cuda_integrators

    return cuda_integrators.run(method, W0, fa.U, fa.T, fa.tn, fa.a, fa.a_star, fa.alpha, fa.const,
                                fa.tol, *args)


# ------------------------------------------------------------------------------------------------
# Newton (dynsys.critical.newton): the batched corrector
# ------------------------------------------------------------------------------------------------

def newton(backend, X0, *args):
    """Damped Newton over a batch of seeds: :func:`dynsys.kernels.newton.newton_batch`
    ``(X0, *args, n_threads)`` on the shared pool (all threads for ``"parallel"``, one for ``"cpu"``;
    seeds are independent, so the result is bitwise the same)."""
    _cpu_only(backend, "Newton")
    compile_notice(kn.newton_range, "critical")

    kn.newton_batch(X0, *args, 1 if backend == "cpu" else numba.get_num_threads())


def grad_hess_one(view, X, want_H):
    """Gradient ``G`` (k, d), Hessian ``H`` (k d, k d) (left empty unless ``want_H``) and status of one
    state ``X`` (k, d) by the compiled field of a system's :class:`~dynsys.systems.base.KernelView`."""
    k, d = X.shape
    G = np.empty((k, d))
    H = np.empty((k * d, k * d))
    compile_notice(kn.grad_hess_one, "critical")
    st = kn.grad_hess_one(view.code, X, view.arrays, G, H, want_H, view.nwork)
    return G, H, int(st)


# ------------------------------------------------------------------------------------------------
# Continuation (dynsys.continuation): the bordered solves
# ------------------------------------------------------------------------------------------------

def lu_solve_many(J, R):
    """``J^-1 R`` (R of shape (n,) or (n, c)) by one compiled LU of ``J``; None when ``J`` is
    exactly singular or the result is not finite (the caller falls back to least squares)."""
    R2 = np.ascontiguousarray(R, dtype=np.float64).reshape(J.shape[0], -1)
    X = np.empty_like(R2)
    if kc.lu_solve_many(np.ascontiguousarray(J, dtype=np.float64), R2, X) == 0.0 or not np.all(np.isfinite(X)):
        return None
    return X.reshape(np.shape(R))


def family_arrays(p, fam):
    """The :class:`~dynsys.systems.base.FieldArrays` of a compiled family ``fam`` at ``p``
    (:func:`dynsys.kernels.family.arrays_at`)."""
    compile_notice(kfam.arrays_at, "continuation")
    return kfam.arrays_at(p, *fam[:6])


def arclength_kernel():
    """The compiled continuation, :func:`dynsys.kernels.arclength.advance`: one point as given, or a
    run of plain points (its compile notice given here, once: a branch calls it many times)."""
    _notice_once(ka.advance)
    return ka.advance


_warm = set()


def _notice_once(kernel):
    """:func:`compile_notice` for a kernel called once per continuation point: checked on the first
    call only (the check of the compiled signatures costs a tenth of a point)."""
    if kernel not in _warm:
        compile_notice(kernel, "continuation")
        _warm.add(kernel)


def spectrum_near_zero(H, eig_rtol, V0, v0, lam_iters, sweeps):
    """``(index, nullity, tau, max|lambda|, eigvals (q,), vectors (n, q), power vector (n,), factor)`` of
    the symmetric ``H`` by :func:`dynsys.kernels.ldl.spectrum` (Bunch-Kaufman inertia, inverse
    iteration from ``V0`` (n, q)); ``factor`` is ``(F, perm, blk)`` of ``H + tau I``."""
    n, q = V0.shape
    _notice_once(ldl.spectrum)
    mu = np.empty(q)
    vecs = np.empty((n, q))
    top = np.empty(n)
    F = np.empty((n, n))
    perm = np.empty(n, dtype=np.int64)
    blk = np.empty(n, dtype=np.int64)
    index, nullity, tol, lam = ldl.spectrum(np.ascontiguousarray(H, dtype=np.float64), float(eig_rtol),
                                            np.ascontiguousarray(V0, dtype=np.float64),
                                            np.ascontiguousarray(v0, dtype=np.float64), int(lam_iters),
                                            int(sweeps), mu, vecs, top, F, perm, blk)
    return int(index), int(nullity), float(tol), float(lam), mu, vecs, top, (F, perm, blk)


def chord_prepare(factor, b, N):
    """``X`` (m + 1, n): ``b`` and the columns of ``N`` solved with ``factor``
    (:func:`dynsys.kernels.arclength.chord_prepare`)."""
    F, perm, blk = factor
    n, m = N.shape
    X = np.empty((m + 1, n))
    ka.chord_prepare(F, perm, blk, np.ascontiguousarray(b, dtype=np.float64), np.ascontiguousarray(N), X,
                     np.empty(n))
    return X


def chord_solve(chord, N, c, cp, r):
    """The bordered system with the factored matrix of ``chord = (F, perm, blk, X)`` and last row
    ``(c, cp)`` solved for ``r`` (:func:`dynsys.kernels.arclength.chord_solve`); None when it fails."""
    F, perm, blk, X = chord
    out = np.empty(r.size)
    ok = ka.chord_solve(F, perm, blk, X, np.ascontiguousarray(N), np.ascontiguousarray(c, dtype=np.float64),
                        float(cp), np.ascontiguousarray(r, dtype=np.float64), out, np.empty(X.shape[1]))
    return out if ok else None


def chord_tangent(chord, H, b, N, trow, lam):
    """``z`` with ``J z = e_last`` for ``J = [[H, b, N], [N^T, 0, 0], [trow^T, 0]]`` by the refined chord
    solve (:func:`dynsys.kernels.arclength.chord_tangent`); None where it does not reach rounding level."""
    F, perm, blk, X = chord
    n, m = N.shape
    z = np.empty(n + m + 1)
    ok = ka.chord_tangent(F, perm, blk, X, np.ascontiguousarray(H, dtype=np.float64),
                          np.ascontiguousarray(b, dtype=np.float64), np.ascontiguousarray(N),
                          np.ascontiguousarray(trow, dtype=np.float64), float(lam), z, np.empty(n))
    return z if ok else None


def inertia(S, shift=0.0):
    """``(negative, zero pivots)`` of the symmetric ``S + shift I`` by the compiled Bunch-Kaufman
    LDL^T (:func:`dynsys.kernels.ldl.inertia`)."""
    compile_notice(ldl.inertia, "continuation")
    neg, zero = ldl.inertia(np.ascontiguousarray(S, dtype=np.float64), float(shift))
    return int(neg), int(zero)
