"""Gradients per second of the CUDA kernels (both shapes) against JAX jit + vmap on the same GPU.

Run on a machine with an NVIDIA GPU (without one it stops at once with a message, exit status 2)::

    python benchmarks/bench_field_cuda.py [--quick] [--alpha A] [--no-jax]

For k = d in {10, 50, 100}, batch 10^5 (10^4 at k = d = 100; ``--quick`` divides by 10), float64 and
float32, W* and W with N(0, 1/d) entries: the one-state-per-thread kernel, the one-state-per-block
kernel with its workspace in shared memory (where it fits, with the opt-in above 48 KiB) and in
global memory, loops compiled for the constant sizes (unrolled) or not, the default choice end to end
from host arrays (transfers included), and ``jax.jit(jax.vmap(jax.value_and_grad(loss)))`` of the
same closed-form loss (docs/math.md section 1) on device arrays. Compile time (first call) is printed apart
from run time (best of several calls after it); ratios are JAX's time over ours (> 1: we are
faster). Every variant's loss and gradient on 256 states are checked against the CPU kernels (max
error in units of the terms' scale, see ``tests/cuda_sim_check.py``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
from _common import best_time, row


def _fail(msg: str):
    print(f"bench_field_cuda: {msg}", file=sys.stderr)
    sys.exit(2)




def jax_value_and_grad(model, dtype, require_gpu=True):
    """``jit(vmap(value_and_grad(L)))`` of the closed form, or None when JAX has no GPU here."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    try:
        if require_gpu and not any(dev.platform == "gpu" for dev in jax.devices()):
            return None
    except RuntimeError:
        return None
    A = model.arrays
    f = np.dtype(dtype).type
    al = f(model.alpha)
    a = jnp.asarray(model.a, dtype=dtype)
    a_star = jnp.asarray(model.a_star, dtype=dtype)
    T = jnp.asarray(A.T, dtype=dtype)
    U = jnp.asarray(A.U, dtype=dtype) if A.U.shape[0] else None
    const = f(A.const)
    pi = f(math.pi)

    def kappa(X, Y, same):
        nx = jnp.linalg.norm(X, axis=1)
        ny = jnp.linalg.norm(Y, axis=1)
        c = (X @ Y.T) / (nx[:, None] * ny[None, :])
        if same:  # the diagonal (theta = 0) apart: arccos has no derivative at 1
            eye = jnp.eye(X.shape[0], dtype=bool)
            c = jnp.where(eye, f(0), c)
        c = jnp.clip(c, f(-1), f(1))
        th = jnp.arccos(c)
        s = jnp.sqrt(f(1) - c * c)
        K = (f(1) + al * al) * (s + (pi - th) * c) - f(2) * al * (s - th * c)
        if same:
            K = jnp.where(eye, (f(1) + al * al) * pi, K)
        return nx[:, None] * ny[None, :] * K / (f(2) * pi)

    def loss(W):
        V = W if U is None else W + U
        return f(0.5) * (a @ kappa(V, V, True) @ a) - a @ kappa(V, T, False) @ a_star + const

    return jax.jit(jax.vmap(jax.value_and_grad(loss))), jnp


def scaled_errors(model, W64, L, G):
    """Max loss and gradient error against the CPU kernels, in units of S^2 and |a_j| S."""
    (L0, G0), s0 = model.loss_and_grad(W64, return_status=True)
    ok = s0 == 0
    A = model.arrays
    V = W64 if A.U.shape[0] == 0 else W64 + A.U
    S = np.abs(model.a) @ np.linalg.norm(V, axis=2).T + np.abs(model.a_star) @ A.tn
    el = np.max(np.abs(np.asarray(L, float)[ok] - L0[ok]) / S[ok] ** 2)
    scale_g = np.abs(model.a)[None, :, None] * S[ok, None, None]
    eg = np.max(np.abs(np.asarray(G, float)[ok] - G0[ok]) / scale_g)
    return el, eg


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="batches / 10, fewer repeats")
    p.add_argument("--alpha", type=float, default=0.0)
    p.add_argument("--sizes", type=int, nargs="*", default=[10, 50, 100], help="k = d values")
    p.add_argument("--no-jax", action="store_true")
    p.add_argument("--batch", type=int, default=None, help="override the batch size")
    args = p.parse_args(argv)

    try:
        from numba import cuda
    except Exception as exc:  # numba-cuda missing or broken
        _fail(f"numba-cuda is not usable here ({exc}); install it with pip install 'dynsys[cuda]'.")
    if not cuda.is_available():
        _fail("no NVIDIA GPU with a working driver was found; this benchmark needs one "
              "(benchmarks/bench_field.py measures the CPU backends).")
    import numba

    import dynsys as ds
    from dynsys.config import CUDA_BLOCK_KERNEL_MIN_KD
    from dynsys.kernels.cuda import field as fc

    dev = cuda.get_current_device()
    name = getattr(dev, "name", "?")
    name = name.decode() if isinstance(name, bytes) else name
    print(f"device: {name}, compute capability {dev.compute_capability}, "
          f"{getattr(dev, 'MULTIPROCESSOR_COUNT', '?')} SMs; numba {numba.__version__}")
    print(f"alpha = {args.alpha}; shape rule: block kernel above k*d = {CUDA_BLOCK_KERNEL_MIN_KD}")
    repeat = 3 if args.quick else 5
    rng = np.random.default_rng(0)
    header = (f"{'k=d':>4} {'batch':>7} {'dtype':>7} {'variant':<22} {'compile s':>9} {'grads/s':>10} "
              f"{'x jax':>7} {'err L':>8} {'err G':>8}")
    print(header)
    print("-" * len(header))
    for k in args.sizes:
        d = k
        n = 10**4 if k >= 100 else 10**5
        if args.quick:
            n //= 10
        if args.batch:
            n = args.batch
        model = ds.TeacherStudent(rng.standard_normal((k, d)) / math.sqrt(d), alpha=args.alpha)
        A = model.arrays
        W64 = rng.standard_normal((n, k, d)) / math.sqrt(d)
        for dtype in ("float64", "float32"):
            Wh = W64.astype(dtype)
            Wcheck = Wh[:256].astype(np.float64)
            ref = model if dtype == "float64" else ds.TeacherStudent(  # the parameters the kernel sees
                model.W_star.astype(dtype).astype(np.float64), alpha=model.alpha)
            field = fc.device_field(A.U, A.T, A.tn, A.a, A.a_star, A.alpha, A.const, A.tol, dtype, k=k)
            dW = cuda.to_device(Wh)
            dsmall = cuda.to_device(Wh[:2])
            jax_t = math.nan
            rows = []
            variants = [("thread", dict(shape="thread", unroll=False)),
                        ("thread unrolled", dict(shape="thread", unroll=True)),
                        ("block shared(+opt-in)", dict(shape="block", workspace="shared", unroll=False)),
                        ("block global", dict(shape="block", workspace="global", unroll=False)),
                        ("block shared unrolled", dict(shape="block", workspace="shared", unroll=True))]
            for vname, kw in variants:
                try:
                    t0 = time.perf_counter()
                    fc.loss_grad_device(dsmall, field, True, **kw)
                    cuda.synchronize()
                    t_compile = time.perf_counter() - t0

                    def run(kw=kw, dW=dW):
                        out = fc.loss_grad_device(dW, field, True, **kw)
                        cuda.synchronize()
                        return out

                    t = best_time(run, repeat=repeat)
                    L, G, _ = run()
                    el, eg = scaled_errors(ref, Wcheck, L[:256].copy_to_host(), G[:256].copy_to_host())
                    rows.append((vname, t_compile, t, el, eg))
                except Exception as exc:  # report and go on: one failing variant must not hide the rest
                    print(f"{k:>4} {n:>7} {dtype:>7} {vname:<22} failed: {type(exc).__name__}: {exc}")
            # end to end from host arrays with the default shape (transfers and transposes included)
            t0 = time.perf_counter()
            fc.loss_grad(Wh[:2], *A, True)
            t_compile = time.perf_counter() - t0
            t = best_time(lambda: fc.loss_grad(Wh, *A, True), repeat=repeat)
            L, G, _ = fc.loss_grad(Wh[:256], *A, True)
            el, eg = scaled_errors(ref, Wcheck, L, G)
            rows.append((f"host->host ({fc.kernel_shape(k, d)})", t_compile, t, el, eg))
            jx = None if args.no_jax else jax_value_and_grad(model, dtype)
            if jx is not None:
                fn, jnp = jx
                Wj = jnp.asarray(Wh)
                t0 = time.perf_counter()
                Lj, Gj = fn(Wj)
                Lj.block_until_ready()
                t_compile = time.perf_counter() - t0
                jax_t = best_time(lambda: fn(Wj)[1].block_until_ready(), repeat=repeat)
                el, eg = scaled_errors(ref, Wcheck, np.asarray(Lj[:256]), np.asarray(Gj[:256]))
                rows.append(("jax jit+vmap", t_compile, jax_t, el, eg))
            for vname, tc, t, el, eg in rows:
                print(f"{k:>4} {n:>7} {dtype:>7} {vname:<22} {tc:>9.2f} {n / t:>10.3g} {jax_t / t:>7.2f} "
                      f"{el:>8.1e} {eg:>8.1e}")
            ours = [r for r in rows if r[0] != "jax jit+vmap"]
            best = min(ours, key=lambda r: r[2])
            row(f"cuda field k=d={k} {dtype}, batch {n}", n / best[2], "grads/s", {"jax jit+vmap (GPU)": n / jax_t},
                target=("jax jit+vmap (GPU)", ">=", 2.0), section="gpu",
                note=f"fastest variant {best[0]}; host->host default {n / ours[-1][2]:.3g} grads/s")
            del dW
    print("\ngrads/s: states whose loss and full gradient are evaluated per second; 'x jax' = JAX time / "
          "ours; errors against the CPU kernels in units of the terms' scale (S^2 for L, |a_j| S for G).")


if __name__ == "__main__":
    main()
