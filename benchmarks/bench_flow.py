"""Trajectories per second of dynsys.flow against SciPy's solve_ivp and diffrax, and gd's overhead.

Run (NumPy's BLAS is slowed by OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE on these machines; unset both
for this command only, never in tests or CI, so the NumPy right-hand side is a fair baseline)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_flow.py [--n 10000]

diffrax is the ``bench`` extra (``pip install jax diffrax`` into the venv); without it that row is
skipped. Setting: k = d = 10, teacher W* = I, starts with entries N(0, 1/d) (Xavier scale), seed 0.

Measured, compile time (or cache load) apart from run time, each once after a warm-up:

1. gd's cost per step over one batched gradient evaluation ``m.grad(batch)`` (10^4 states, 20 steps
   with an unreachable gtol, so that every trajectory takes every step);
2. dynsys ``gd`` (step 0.1, gtol 1e-9) on the batch: trajectories/s, and the time of 1000 runs;
3. dynsys ``dopri5`` (rtol 1e-8, atol 1e-10, gtol 1e-6 in the largest row norm, initial dt 0.1);
4. ``scipy.integrate.solve_ivp`` RK45 at the same tolerances with a terminal event at the same
   gradient norm, one trajectory at a time: NumPy right-hand side as a user writes it (matrix form
   of docs/math.md section 2) and a Numba one (dynsys's own per-state kernel); a sample of 20 trajectories,
   extrapolated;
5. diffrax: ``jax.vmap`` over ``diffeqsolve`` with ``Dopri5``, ``PIDController`` at the same
   tolerances and ``Event(steady_state_event)`` at the same gradient norm, float64, on a sub-batch
   of 1000 in vmap batches of 200 (vmap runs every trajectory of a batch until its slowest is done,
   so smaller batches favour diffrax, if anything).

3-5 run interleaved in rounds (a fifth of each per round), so that a change of load on a shared
machine hits all of them alike; CPU time per trajectory is printed beside wall time.

Every baseline's endpoints are compared with dynsys's (same starts) so that the rates are for the same
work. Targets: dopri5 >= 20x solve_ivp (NumPy RHS) and >= 5x diffrax vmap; gd step within 10% of one
batched gradient; 1000 gd runs <= 20 s on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numba
import numpy as np
from scipy.integrate import solve_ivp

import dynsys as ds
from _common import machine, row
from dynsys.flow import flow
from dynsys.systems import teacher_student as ts

K = D = 10
RTOL, ATOL, GTOL_ODE, GTOL_GD, GD_STEP, DT0 = 1e-8, 1e-10, 1e-6, 1e-9, 0.1, 0.1
T_MAX = 1e7  # a horizon no run reaches: the gradient-norm event stops every solver




def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------- right-hand sides for the baselines
def numpy_grad(W, W_star):
    """One state's gradient in NumPy, matrix form of docs/math.md section 2 (all a = 1, ReLU):
    ``2 pi grad L = A W - B W* + diag(s_j / |w_j|) W`` with ``A_ji = pi - angle(w_j, w_i)``,
    ``B_jk = pi - angle(w_j, w*_k)``, ``s_j = sum_i |w_i| sin - sum_k |w*_k| sin``."""
    nw = np.linalg.norm(W, axis=1)
    ns = np.linalg.norm(W_star, axis=1)
    U = W / nw[:, None]
    th = np.arccos(np.clip(U @ U.T, -1.0, 1.0))
    np.fill_diagonal(th, 0.0)
    ths = np.arccos(np.clip(U @ (W_star / ns[:, None]).T, -1.0, 1.0))
    s = (np.sin(th) * nw).sum(1) - (np.sin(ths) * ns).sum(1)
    return ((np.pi - th) @ W - (np.pi - ths) @ W_star + (s / nw)[:, None] * W) / (2.0 * np.pi)


def row_max(G):
    return float(np.sqrt((G * G).sum(axis=1)).max())


def scipy_numpy(W0, W_star):
    def rhs(t, y):
        return -numpy_grad(y.reshape(K, D), W_star).ravel()

    def event(t, y):
        return row_max(numpy_grad(y.reshape(K, D), W_star)) - GTOL_ODE

    event.terminal = True
    sol = solve_ivp(rhs, (0.0, T_MAX), W0.ravel(), method="RK45", rtol=RTOL, atol=ATOL,
                    first_step=DT0, events=event)
    return sol.y[:, -1].reshape(K, D), sol.status


def make_numba_rhs(m):
    arr = m.arrays
    T, tn, a, a_star = (np.array(x) for x in (arr.T, arr.tn, arr.a, arr.a_star))
    alpha, const, tol = arr.alpha, arr.const, arr.tol
    nwork = ts.work_size(K, T.shape[0], D)

    @numba.njit(cache=True)
    def _grad(y, G, work):
        ts.loss_grad(y.reshape(G.shape), T, tn, a, a_star, alpha, const, tol, True, G, work)

    G = np.empty((K, D))
    work = np.empty(nwork)

    def rhs(t, y):
        _grad(y, G, work)
        return -G.ravel()

    def event(t, y):
        _grad(y, G, work)
        return row_max(G) - GTOL_ODE

    event.terminal = True
    return rhs, event


def scipy_numba(W0, rhs, event):
    sol = solve_ivp(rhs, (0.0, T_MAX), W0.ravel(), method="RK45", rtol=RTOL, atol=ATOL,
                    first_step=DT0, events=event)
    return sol.y[:, -1].reshape(K, D), sol.status


def make_diffrax(W_star_np):
    import diffrax
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    W_star = jnp.asarray(W_star_np)
    eye = jnp.eye(K, dtype=bool)

    def grad(W):
        nw = jnp.linalg.norm(W, axis=1)
        ns = jnp.linalg.norm(W_star, axis=1)
        U = W / nw[:, None]
        th = jnp.where(eye, 0.0, jnp.arccos(jnp.clip(U @ U.T, -1.0, 1.0)))
        ths = jnp.arccos(jnp.clip(U @ (W_star / ns[:, None]).T, -1.0, 1.0))
        s = (jnp.sin(th) * nw).sum(1) - (jnp.sin(ths) * ns).sum(1)
        return ((jnp.pi - th) @ W - (jnp.pi - ths) @ W_star + (s / nw)[:, None] * W) / (2.0 * jnp.pi)

    def row_max_j(f):
        return jnp.sqrt((f * f).sum(axis=1)).max()

    term = diffrax.ODETerm(lambda t, y, args: -grad(y))
    event = diffrax.Event(diffrax.steady_state_event(rtol=0.0, atol=GTOL_ODE, norm=row_max_j))

    def solve(W0):
        sol = diffrax.diffeqsolve(term, diffrax.Dopri5(), 0.0, T_MAX, DT0, W0,
                                  stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
                                  event=event, max_steps=200_000, throw=False)
        return sol.ys[-1], sol.result == diffrax.RESULTS.event_occurred, sol.stats["num_steps"]

    return jax.jit(jax.vmap(solve)), jnp


def make_jax_gd(W_star_np, max_steps):
    """Gradient descent in JAX, ``jax.jit(jax.vmap(...))`` over a ``lax.while_loop`` per trajectory
    with dynsys's stop (row-max gradient norm <= gtol or ``max_steps``), float64. vmap runs a batch
    until its slowest trajectory stops (the finished ones are masked)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    W_star = jnp.asarray(W_star_np)
    eye = jnp.eye(K, dtype=bool)

    def grad(W):
        nw = jnp.linalg.norm(W, axis=1)
        ns = jnp.linalg.norm(W_star, axis=1)
        U = W / nw[:, None]
        th = jnp.where(eye, 0.0, jnp.arccos(jnp.clip(U @ U.T, -1.0, 1.0)))
        ths = jnp.arccos(jnp.clip(U @ (W_star / ns[:, None]).T, -1.0, 1.0))
        s = (jnp.sin(th) * nw).sum(1) - (jnp.sin(ths) * ns).sum(1)
        return ((jnp.pi - th) @ W - (jnp.pi - ths) @ W_star + (s / nw)[:, None] * W) / (2.0 * jnp.pi)

    def run(W0):
        def cond(c):
            W, G, n = c
            return (n < max_steps) & (jnp.sqrt((G * G).sum(axis=1)).max() > GTOL_GD)

        def body(c):
            W, G, n = c
            W = W - GD_STEP * G
            return W, grad(W), n + 1

        W, G, n = jax.lax.while_loop(cond, body, (W0, grad(W0), 0))
        return W, n

    return jax.jit(jax.vmap(run))


# ---------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="batch of the dynsys runs (default 10^4)")
    p.add_argument("--n-scipy", type=int, default=20, help="solve_ivp sample (default 20)")
    p.add_argument("--n-diffrax", type=int, default=1000, help="diffrax vmap sub-batch (default 1000)")
    p.add_argument("--n-gd-runs", type=int, default=1000, help="the timed gd runs (default 1000)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the ODE comparison")
    p.add_argument("--n-jax-gd", type=int, default=1000, help="JAX jit+vmap gd sub-batch (default 1000)")
    p.add_argument("--quick", action="store_true",
                   help="batch 400, 4 solve_ivp runs, 50 diffrax and JAX gd runs, 2 rounds")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.n_scipy, args.n_diffrax, args.n_jax_gd, args.n_gd_runs, args.rounds = \
            400, 4, 50, 50, 400, 2

    print("machine:", machine())
    rng = np.random.default_rng(0)
    W_star = np.eye(K)
    m = ds.TeacherStudent(W_star)
    W0 = rng.normal(0.0, 1.0 / math.sqrt(D), size=(args.n, K, D))
    print(f"setting: k = d = {K}, W* = I, W0 entries N(0, 1/d), batch {args.n}; rtol {RTOL}, "
          f"atol {ATOL}, ODE gtol {GTOL_ODE} (row max norm), gd step {GD_STEP} gtol {GTOL_GD}")

    # compile (or load from cache) apart
    _, c_grad = timed(lambda: m.grad(W0[:2]))
    _, c_gd = timed(lambda: flow(m, W0[:2], method="gd", max_steps=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, c_dp = timed(lambda: flow(m, W0[:2], method="dopri5", max_steps=3))
    print(f"compile or cache load: field grad {c_grad:.2f} s, gd kernel {c_gd:.2f} s, "
          f"dopri5 kernel {c_dp:.2f} s")

    # 1. gd's overhead per step over one batched gradient. On one thread (backend="cpu" for both)
    # the ratio is the kernel's own overhead; on all threads it also holds the scheduling (the field
    # driver splits the batch statically, the integrators hand out trajectories one at a time, which
    # matters when another process takes a core).
    n_over = min(args.n, 10_000)
    Wb = W0[:n_over]
    steps = 20
    for backend in ("cpu", "parallel"):
        m.grad(Wb, backend=backend)
        t_grad = min(timed(lambda: m.grad(Wb, backend=backend))[1] for _ in range(5)) / n_over
        t_step = min(timed(lambda: flow(m, Wb, method="gd", step=GD_STEP, gtol=1e-300,
                                        max_steps=steps, backend=backend, progress=False))[1]
                     for _ in range(3)) / (n_over * (steps + 1))
        print(f"\n[gd overhead, backend={backend!r}] m.grad(batch of {n_over}) {t_grad * 1e6:.3f} us/state; "
              f"gd {t_step * 1e6:.3f} us/step (gradient at steps + 1 states); gd step / gradient = "
              f"{t_step / t_grad:.3f}  (target <= 1.10)")
        if backend == "cpu":
            over_cpu = t_step / t_grad
    over_par = t_step / t_grad

    # 2. gd
    c0 = time.process_time()
    r_gd, t_gd = timed(lambda: flow(m, W0, method="gd", step=GD_STEP, gtol=GTOL_GD, progress=False))
    c_gd1 = time.process_time() - c0
    print(f"\n[gd] {args.n} runs: {t_gd:.2f} s = {args.n / t_gd:.1f} traj/s; {r_gd.status_counts()}; "
          f"steps mean {r_gd.steps.mean():.0f}, median {np.median(r_gd.steps):.0f}; "
          f"{r_gd.steps.sum() / t_gd / 1e6:.2f} M steps/s")
    ng = min(args.n_gd_runs, args.n)
    c0 = time.process_time()
    if ng == args.n:  # the same runs: time them once
        r_g1, t_g1, c_g1 = r_gd, t_gd, c_gd1
    else:
        r_g1, t_g1 = timed(lambda: flow(m, W0[:ng], method="gd", step=GD_STEP, gtol=GTOL_GD, progress=False))
        c_g1 = time.process_time() - c0
    print(f"[gd] {ng} runs: {t_g1:.2f} s on {numba.get_num_threads()} threads, CPU {c_g1:.2f} s "
          f"(target <= 20 s on 2 cores); {r_g1.status_counts()}")

    # JAX jit+vmap gd on a sub-batch, the same steps and stop
    nj = min(args.n_jax_gd, args.n)
    rate_jgd = math.nan
    try:
        jgd = make_jax_gd(W_star, int(r_gd.steps.max()) + 10)
    except ImportError as exc:
        print(f"\n[jax gd] skipped ({exc}); pip install jax")
    else:
        xj = W0[:nj].copy()
        jgd, c_jgd = timed(lambda: jgd.lower(xj).compile())
        (Wj, nst), t_jgd = timed(lambda: [np.asarray(o) for o in jgd(xj)])
        rate_jgd = nj / t_jgd
        print(f"[jax jit+vmap gd] {nj} runs: {t_jgd:.2f} s = {rate_jgd:.1f} traj/s (compile {c_jgd:.2f} s); "
              f"steps equal to dynsys's for {int((nst == r_gd.steps[:nj]).sum())}/{nj}; "
              f"max |W - W_dynsys| = {np.abs(Wj - r_gd.W[:nj]).max():.1e}")

    # 3-5. dopri5, solve_ivp and diffrax, interleaved in rounds: the machine is shared, and a load
    # change between two long measurements would otherwise bias their ratio
    rhs, event = make_numba_rhs(m)
    _, c_nb = timed(lambda: rhs(0.0, W0[0].ravel()))
    try:
        solve, jnp = make_diffrax(W_star)
    except ImportError as exc:
        solve = None
        print(f"\n[diffrax] skipped ({exc}); pip install jax diffrax")
    rounds = args.rounds
    ns = min(args.n_scipy, args.n)
    nd = min(args.n_diffrax, args.n)
    split = lambda n, r: slice(r * n // rounds, (r + 1) * n // rounds)  # noqa: E731
    if solve is not None:
        x0 = jnp.asarray(W0[split(nd, 0)])
        compiled, c_dx = timed(lambda: solve.lower(x0).compile())
        print(f"compile: diffrax vmap(diffeqsolve) {c_dx:.2f} s (batch {x0.shape[0]}); "
              f"Numba RHS {c_nb:.2f} s")
    wall = dict(dp=0.0, sp=0.0, nb=0.0, dx=0.0)
    cpu = dict(dp=0.0, sp=0.0, nb=0.0, dx=0.0)
    W_dp = np.empty_like(W0)
    st_dp, steps_dp, rej_dp = [], [], []
    sp_W, nb_W, dx_W, dx_ok, dx_steps = [], [], [], [], []

    def clock(key, fn):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        wall[key] += time.perf_counter() - t0
        cpu[key] += time.process_time() - c0
        return out

    for rd in range(rounds):
        sl = split(args.n, rd)
        r = clock("dp", lambda: flow(m, W0[sl], method="dopri5", step=DT0, rtol=RTOL, atol=ATOL,
                                     gtol=GTOL_ODE, polish=False, progress=False))  # the same work as solve_ivp
        W_dp[sl] = r.W
        st_dp.append(r.status)
        steps_dp.append(r.steps)
        rej_dp.append(r.n_rejected)
        ss = split(ns, rd)
        sp_W += clock("sp", lambda: [scipy_numpy(W0[i], W_star)[0] for i in range(ss.start, ss.stop)])
        nb_W += clock("nb", lambda: [scipy_numba(W0[i], rhs, event)[0] for i in range(ss.start, ss.stop)])
        if solve is not None:
            sd = split(nd, rd)
            x = jnp.asarray(W0[sd])
            fn = compiled if x.shape == x0.shape else solve
            ys, ok, nst = clock("dx", lambda: [np.asarray(o) for o in fn(x)])
            dx_W.append(ys)
            dx_ok.append(ok)
            dx_steps.append(nst)
    st_dp, steps_dp, rej_dp = np.concatenate(st_dp), np.concatenate(steps_dp), np.concatenate(rej_dp)
    cores = numba.get_num_threads()
    rate_dp = args.n / wall["dp"]
    print(f"\n[dopri5] {args.n} runs in {rounds} rounds: {wall['dp']:.2f} s = {rate_dp:.1f} traj/s "
          f"(CPU {cpu['dp'] / args.n * 1e3:.2f} ms/traj on {cores} threads); "
          f"{ds.results.status_counts(st_dp)}; accepted steps mean {steps_dp.mean():.0f}, "
          f"rejected mean {rej_dp.mean():.1f}")
    rate_sp = ns / wall["sp"]
    dev = max(np.abs(w - W_dp[i]).max() for i, w in enumerate(sp_W))
    print(f"[solve_ivp RK45, NumPy RHS] {ns} runs: {wall['sp']:.2f} s = {rate_sp:.2f} traj/s "
          f"(CPU {cpu['sp'] / ns * 1e3:.1f} ms/traj); max |W - W_dynsys| = {dev:.1e}")
    rate_nb = ns / wall["nb"]
    dev = max(np.abs(w - W_dp[i]).max() for i, w in enumerate(nb_W))
    print(f"[solve_ivp RK45, Numba RHS] {ns} runs: {wall['nb']:.2f} s = {rate_nb:.2f} traj/s "
          f"(CPU {cpu['nb'] / ns * 1e3:.1f} ms/traj); max |W - W_dynsys| = {dev:.1e}")
    rate_dx = None
    if solve is not None:
        rate_dx = nd / wall["dx"]
        ys, ok, nst = np.concatenate(dx_W), np.concatenate(dx_ok), np.concatenate(dx_steps)
        dev = np.abs(ys - W_dp[:nd]).max()
        print(f"[diffrax vmap Dopri5] {nd} runs (vmap batches of {x0.shape[0]}): {wall['dx']:.2f} s = "
              f"{rate_dx:.1f} traj/s (CPU {cpu['dx'] / nd * 1e3:.1f} ms/traj); events "
              f"{int(ok.sum())}/{nd}; steps mean {nst.mean():.0f}, max {nst.max()}; "
              f"max |W - W_dynsys| = {dev:.1e}")
    cpu_ratio = lambda key, n_key: (cpu[key] / n_key) / (cpu["dp"] / args.n)  # noqa: E731

    print("\n[ratios, trajectories/s, same tolerances]")
    print("  (wall clock; in brackets the ratio of CPU time per trajectory, which a shared machine's "
          "load disturbs less: the work per trajectory, whatever the cores)")
    print(f"  dopri5 / solve_ivp NumPy RHS = {rate_dp / rate_sp:8.1f}x  [{cpu_ratio('sp', ns):6.1f}x]"
          f"   (target >= 20x)")
    print(f"  dopri5 / solve_ivp Numba RHS = {rate_dp / rate_nb:8.1f}x  [{cpu_ratio('nb', ns):6.1f}x]")
    if rate_dx is not None:
        print(f"  dopri5 / diffrax vmap        = {rate_dp / rate_dx:8.1f}x  [{cpu_ratio('dx', nd):6.1f}x]"
              f"   (target >= 5x)")
    print(f"  gd step / batched gradient   = {over_cpu:8.3f}    (one thread; target <= 1.10)")
    print(f"  gd step / batched gradient   = {over_par:8.3f}    ({cores} threads)")
    print(f"  {ng} gd runs                 = {t_g1:8.2f} s  (CPU {c_g1:.2f} s; target <= 20 s on 2 cores)")
    if math.isfinite(rate_jgd):
        print(f"  gd / jax jit+vmap gd         = {args.n / t_gd / rate_jgd:8.1f}x")
    row(f"flow dopri5 k=d={K}, batch {args.n}", rate_dp, "traj/s",
        {"solve_ivp RK45 numpy rhs": rate_sp, "solve_ivp RK45 numba rhs": rate_nb,
         "diffrax vmap Dopri5": rate_dx if rate_dx is not None else math.nan},
        target=[("solve_ivp RK45 numpy rhs", ">=", 20.0), ("diffrax vmap Dopri5", ">=", 5.0)],
        note=f"rtol {RTOL}, atol {ATOL}, gtol {GTOL_ODE}; solve_ivp on {ns} runs, diffrax on {nd}")
    row(f"flow gd k=d={K}, batch {args.n}", args.n / t_gd, "traj/s", {"jax jit+vmap gd": rate_jgd},
        note=f"step {GD_STEP}, gtol {GTOL_GD}; jax on {nj} runs (vmap runs them all to the slowest's steps)")
    row(f"gd step / batched gradient, 1 thread, batch {n_over}", over_cpu, "ratio", higher_is_better=False,
        target=(None, "<=", 1.10))
    row(f"gd step / batched gradient, {cores} threads, batch {n_over}", over_par, "ratio",
        higher_is_better=False)
    row(f"{ng} gd runs k=d={K}", t_g1, "s", higher_is_better=False,
        target=(None, "<=", 20.0) if ng == 1000 else None,
        note=f"CPU {c_g1:.2f} s on {cores} threads")


if __name__ == "__main__":
    main()
