"""Gradient evaluations per second: dynsys against batched NumPy, JAX and a plain per-pair loop.

Run (NumPy's BLAS is slowed by OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE on these machines; unset both
for this command only, never in tests or CI, so the NumPy baseline is a fair one)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_field.py [--quick]

Prints the machine, compile (or cache-load) time apart from run time, gradients/s for (k, d) =
(2, 2) and (10, 10) at batch 10^4, (50, 50) and (100, 100) at batch 10^3 (W* = I, entries of W
N(0, 1/d)), the ratios, the Hessian at (20, 20) against ``jax.jacfwd(jax.grad)``, and the fraction
of the machine's peak measured here (bench_peak.py: FMA throughput, sqrt and acos_poly in tight Numba
loops): the flops of one gradient (``field_cost``, counted from the kernel's loops) times the rate
over the FMA peak, and the roofline time (FMAs at the measured rate plus the square roots and
arccos polynomials at their measured cost, over the threads) over the measured time.
"""

from __future__ import annotations

import argparse
import math
import time

import numba
import numpy as np
from numba import njit, prange

import dynsys as ds
from _common import best_time, machine, row






# ---------------------------------------------------------------- baselines
def numpy_grad(W, W_star):
    """Batched NumPy gradient, matrix form of docs/math.md section 2 (all a = 1, ReLU), as a user writes it.

    ``2 pi grad L = A W - B W* + diag(s_j / |w_j|) W`` with ``A_ji = pi - angle(w_j, w_i)``,
    ``B_jk = pi - angle(w_j, w*_k)``.
    """
    nw = np.linalg.norm(W, axis=2)                         # (n, k)
    ns = np.linalg.norm(W_star, axis=1)                    # (k*,)
    U = W / nw[..., None]
    Us = W_star / ns[:, None]
    th = np.arccos(np.clip(U @ U.transpose(0, 2, 1), -1, 1))  # (n, k, k)
    ths = np.arccos(np.clip(U @ Us.T, -1, 1))                 # (n, k, k*)
    A = np.pi - th
    B = np.pi - ths
    s = (np.sin(th) * nw[:, None, :]).sum(2) - (np.sin(ths) * ns).sum(2)
    return (A @ W - B @ W_star + (s / nw)[..., None] * W) / (2 * np.pi)


@njit(parallel=True, cache=True)
def plain_pair_loop(W, W_star, out):
    """The straightforward per-pair loop: every ordered pair (j, i) takes its own arccos."""
    n, k, d = W.shape
    ks = W_star.shape[0]
    for b in prange(n):
        for j in range(k):
            nj = np.sqrt(np.sum(W[b, j] ** 2))
            g = 0.5 * W[b, j].copy()
            for i in range(k):
                if i == j:
                    continue
                ni = np.sqrt(np.sum(W[b, i] ** 2))
                c = min(1.0, max(-1.0, np.sum(W[b, j] * W[b, i]) / (nj * ni)))
                th = np.arccos(c)
                g += ((np.pi - th) * W[b, i] + ni * np.sin(th) * W[b, j] / nj) / (2 * np.pi)
            for q in range(ks):
                nq = np.sqrt(np.sum(W_star[q] ** 2))
                c = min(1.0, max(-1.0, np.sum(W[b, j] * W_star[q]) / (nj * nq)))
                th = np.arccos(c)
                g -= ((np.pi - th) * W_star[q] + nq * np.sin(th) * W[b, j] / nj) / (2 * np.pi)
            out[b, j] = g


def jax_fns():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def kappa(U, V):
        nu = jnp.linalg.norm(U, axis=1)
        nv = jnp.linalg.norm(V, axis=1)
        c = jnp.clip((U @ V.T) / (nu[:, None] * nv[None, :]), -1.0, 1.0)
        # clip strictly inside so the derivative of arccos stays finite on the diagonal
        c = jnp.clip(c, -1 + 1e-15, 1 - 1e-15)
        th = jnp.arccos(c)
        return nu[:, None] * nv[None, :] * (jnp.sin(th) + (jnp.pi - th) * c) / (2 * jnp.pi)

    def loss(W, W_star):
        return 0.5 * (kappa(W, W).sum() - 2 * kappa(W, W_star).sum() + kappa(W_star, W_star).sum())

    grad = jax.jit(jax.vmap(jax.grad(loss), in_axes=(0, None)))
    hess = jax.jit(jax.vmap(jax.jacfwd(jax.grad(loss)), in_axes=(0, None)))
    return grad, hess


# ---------------------------------------------------------------- peak
def field_cost(k, ks, d):
    """Operations of one gradient evaluation of ``loss_grad`` (dynsys/systems/teacher_student.py), ReLU.

    Counted from its loops, with ``M = k(k-1)/2 + k ks`` pairs: row norms ``k d`` FMAs and ``k``
    square roots; cosines ``M d`` FMAs; per pair one ``acos_poly`` (a 13-term polynomial and a
    square root) and one square root for the sine; the coefficient loop about 20 flops per pair;
    the gradient ``2 d`` FMAs per student pair and ``d`` per teacher pair, then ``k d`` FMAs for the
    ``v_j`` term. The atan2 branch (``|cos| > ACOS_SWITCH``) almost never runs from random states
    and is not counted. Returns ``(fmas_outside_angles, flops, sqrts, acos_polys)``: ``flops``
    counts an FMA as 2 and includes the polynomial's FMAs.
    """
    M = k * (k - 1) // 2 + k * ks
    fmas = k * d + M * d + k * (k - 1) * d + k * ks * d + k * d
    flops = 2 * fmas + 2 * 13 * M + (4 + 8 + 20) * M + 3 * k * (k - 1) + 3 * k * ks + k * d + k
    return fmas, flops, k + 2 * M, M


def peak_figures(quick):
    """Measured peak (bench_peak.py): FMAs/s on all threads and ns per sqrt and acos_poly (one core)."""
    from bench_peak import fma_rate, transcendental_ns

    threads = numba.get_num_threads()
    seconds = 0.1 if quick else 0.3
    rate1, _ = fma_rate(1, seconds)
    rate, _ = fma_rate(threads, seconds) if threads > 1 else (rate1, None)
    ns = transcendental_ns(reps=30 if quick else 100)
    return {"fma_rate": max(rate, rate1), "fma_rate_1": rate1, "sqrt_ns": ns["sqrt"],
            "acos_poly_ns": ns["acos_poly"], "threads": threads}


def peak_fractions(k, ks, d, grads_per_s, peak):
    """Fraction of peak of a measured rate: flops against the FMA peak, and time against a roofline.

    The roofline time of one gradient on one core is its FMAs (outside the angles) at the measured
    FMA rate plus its square roots and ``acos_poly`` calls at their measured cost; divided over the
    threads it is the fastest the kernel could run on this machine.
    """
    fmas, flops, sqrts, acos = field_cost(k, ks, d)
    flop_frac = flops * grads_per_s / (2 * peak["fma_rate"])
    t_one = fmas / peak["fma_rate_1"] + (sqrts - acos) * peak["sqrt_ns"] * 1e-9 + acos * peak["acos_poly_ns"] * 1e-9
    roof_frac = grads_per_s * t_one / peak["threads"]
    return flops, flop_frac, roof_frac


# ---------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller batches (a smoke run)")
    args = p.parse_args(argv)
    print("machine:", machine())
    rng = np.random.default_rng(0)
    cases = [(2, 10**4), (10, 10**4), (50, 10**3), (100, 10**3)]
    if args.quick:
        cases = [(2, 10**3), (10, 10**3), (50, 10**2)]
    jx = jax_fns()
    peak = peak_figures(args.quick)
    print(f"\n{'k=d':>5} {'batch':>6} | {'dynsys/s':>10} {'numpy/s':>10} {'plain/s':>10} {'jax/s':>10} | "
          f"{'x numpy':>8} {'x plain':>8} {'x jax':>8} | {'roofline':>8} {'flops':>6}")
    for k, n in cases:
        m = ds.TeacherStudent(np.eye(k))
        W = rng.normal(scale=1 / np.sqrt(k), size=(n, k, k))
        t0 = time.perf_counter()
        m.grad(W[:1])
        compile_dynsys = time.perf_counter() - t0
        t_dyn = best_time(lambda: m.grad(W))
        # one thread too: on a shared machine a parallel region waits for a descheduled thread
        t_dyn1 = best_time(lambda: m.grad(W, backend="cpu"))
        t_np = best_time(lambda: numpy_grad(W, m.W_star), repeat=3)
        out = np.empty_like(W)
        t0 = time.perf_counter()
        plain_pair_loop(W[:1], m.W_star, out[:1])
        compile_plain = time.perf_counter() - t0
        t_plain = best_time(lambda: plain_pair_loop(W, m.W_star, out), repeat=3)
        err = np.abs(out - m.grad(W)).max()
        t_jax = math.nan
        compile_jax = math.nan
        if jx is not None:
            Wj = W.copy()
            t0 = time.perf_counter()
            jx[0](Wj, m.W_star).block_until_ready()
            compile_jax = time.perf_counter() - t0
            t_jax = best_time(lambda: jx[0](Wj, m.W_star).block_until_ready(), repeat=3)
            err = max(err, np.abs(np.asarray(jx[0](Wj, m.W_star)) - m.grad(W)).max())
        flops, flop_frac, roof = peak_fractions(k, k, k, n / t_dyn, peak)
        print(f"{k:>5} {n:>6} | {n / t_dyn:>10.3g} {n / t_np:>10.3g} {n / t_plain:>10.3g} {n / t_jax:>10.3g} | "
              f"{t_np / t_dyn:>8.1f} {t_plain / t_dyn:>8.1f} {t_jax / t_dyn:>8.1f} | {roof:>8.0%} {flop_frac:>6.0%}"
              f"   (dynsys on one thread {n / t_dyn1:.3g}/s; first call: dynsys {compile_dynsys:.2f} s, "
              f"plain {compile_plain:.2f} s, "
              f"jax {compile_jax:.2f} s; max |diff| {err:.1e})")
        row(f"field grad k=d={k}, batch {n}", n / t_dyn, "grads/s",
            {"numpy batched": n / t_np, "numba per-pair loop": n / t_plain, "jax jit+vmap": n / t_jax},
            target=[("numpy batched", ">=", 4.0), ("jax jit+vmap", ">=", 4.0),
                    ("numba per-pair loop", ">=", 4.0), ("peak_fraction", ">=", 0.3)] if k == 10 else None,
            note=f"one thread {n / t_dyn1:.3g} grads/s ({t_np / t_dyn1:.2f}x numpy); first call "
                 f"{compile_dynsys:.2f} s (jax {compile_jax:.2f} s); max |diff| {err:.1e}",
            peak_fraction=flop_frac, roofline_fraction=roof, flops_per_grad=flops, k=k, d=k)
    print(f"\npeak (bench_peak.py): {2 * peak['fma_rate'] / 1e9:.1f} GFLOP/s on {peak['threads']} threads, "
          f"sqrt {peak['sqrt_ns']:.2f} ns, acos_poly {peak['acos_poly_ns']:.2f} ns (one core); 'roofline' = "
          f"roofline time / measured time, 'flops' = flop rate / FMA peak")
    k = 20
    n = 10**3 if not args.quick else 100
    m = ds.TeacherStudent(np.eye(k))
    W = rng.normal(scale=1 / np.sqrt(k), size=(n, k, k))
    t0 = time.perf_counter()
    m.hessian(W[:1])
    c_h = time.perf_counter() - t0
    t_h = best_time(lambda: m.hessian(W), repeat=3)
    line = f"\nHessian k = d = 20, batch {n}: dynsys {n / t_h:.3g}/s (first call {c_h:.2f} s)"
    if jx is not None:
        # jacfwd materialises (k d)^2 tangents per state: a batch of 1000 needs ~40 GB, so time 32
        nj = 32
        Wj = W[:nj].copy()
        jx[1](Wj, m.W_star).block_until_ready()
        t_jh = best_time(lambda: jx[1](Wj, m.W_star).block_until_ready(), repeat=3)
        diff = np.abs(np.asarray(jx[1](Wj, m.W_star)).reshape(nj, k * k, k * k) - m.hessian(Wj)).max()
        line += (f", jax jacfwd(grad) {nj / t_jh:.3g}/s (batch {nj}), ratio {t_jh / nj * n / t_h:.1f}x "
                 f"(max |diff| {diff:.1e})")
        row(f"Hessian k=d={k}, batch {n}", n / t_h, "hessians/s", {"jax jacfwd(grad)": nj / t_jh},
            note=f"jax on a batch of {nj}; max |diff| {diff:.1e}")
    print(line)


if __name__ == "__main__":
    main()
