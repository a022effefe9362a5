"""Monte Carlo estimates of the loss, the gradient and Tian's (ICML 2017) gating function.

These are the sample averages that the closed forms of docs/math.md section 2 replace: the check of
Theorem 1 in Tian (ICML 2017) (Sec 7.1, Fig 7) and an independent check of the library's field.
``N = 10**8`` samples fit in memory: inputs are generated inside the Numba kernels from the
counter-based stream (:mod:`dynsys.kernels.rng`), block by block, and never stored; the reduction
(:mod:`dynsys.kernels.montecarlo`) gives bitwise the same numbers for any thread count and chunk size.
"""

from __future__ import annotations

import math

import numpy as np

from . import _validate as v
from .config import MC_BLOCK, MC_CHUNK
from .kernels import montecarlo as kmc
from .kernels.rng import as_key
from .model import TeacherStudent
from .results import GatingEstimate, MonteCarloEstimate

SAMPLERS = ("gaussian", "uniform")


def _mode(sampler):
    if callable(sampler):
        return kmc.MODE_ARRAY, "callable"
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise ValueError(f"sampler must be 'gaussian', 'uniform' or a callable "
                         f"sampler(rng, n, d) -> (n, d) array; got {sampler!r}")
    return (kmc.MODE_GAUSSIAN if sampler == "gaussian" else kmc.MODE_UNIFORM), sampler


def _user_chunk(sampler, gen, n, d):
    """Call the user's sampler for n inputs and check what it returns."""
    X = sampler(gen, n, d)
    try:
        X = np.asarray(X)
    except Exception as exc:
        raise ValueError(f"sampler must return a real (n, d) array; conversion failed: {exc}") from None
    if X.dtype.kind not in "iuf":
        raise ValueError(f"sampler must return a real (n, d) array; got dtype {X.dtype}")
    if X.shape != (n, d):
        raise ValueError(f"sampler(rng, n={n}, d={d}) must return an array of shape ({n}, {d}); "
                         f"got shape {X.shape}")
    X = np.ascontiguousarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(X))[0])
        raise ValueError(f"sampler returned a non-finite value at row {bad[0]}, column {bad[1]} "
                         f"({X[bad]}); it must return finite inputs")
    return X


def _estimate(kernel, args, n_samples, d, p, sampler, seed, chunk_size):
    """Run ``kernel`` chunk by chunk and merge; returns (mean (p,), standard error (p,), sampler name)."""
    n_samples = v.positive_int(n_samples, "n_samples", maximum=2**53, why="sample counts must be exact in float64")
    key = as_key(seed, "seed")
    mode, name = _mode(sampler)
    chunk = MC_CHUNK if chunk_size is None else v.positive_int(chunk_size, "chunk_size")
    per_chunk = max(1, chunk // MC_BLOCK)          # blocks per chunk
    n_blocks = -(-n_samples // MC_BLOCK)
    per_chunk = min(per_chunk, n_blocks)
    mean = np.empty((per_chunk, p))
    m2 = np.empty((per_chunk, p))
    cnt = np.empty(per_chunk)
    stack = kmc.new_stack(p)
    gen = np.random.default_rng(int(seed)) if mode == kmc.MODE_ARRAY else None
    empty = np.empty((0, d))
    for blk0 in range(0, n_blocks, per_chunk):
        nblk = min(per_chunk, n_blocks - blk0)
        if mode == kmc.MODE_ARRAY:
            n_here = min(nblk * MC_BLOCK, n_samples - blk0 * MC_BLOCK)
            X = _user_chunk(sampler, gen, n_here, d)
        else:
            X = empty
        kmc.threaded(kernel, nblk, mode, X, key, blk0, n_samples, MC_BLOCK, *args, mean, m2, cnt)
        kmc.push_blocks(mean, m2, cnt, nblk, *stack)
    kmc.finish_stack(stack[0], stack[1], stack[2], stack[4])
    mu = stack[0][0].copy()
    if n_samples > 1:
        se = np.sqrt(np.maximum(stack[1][0], 0.0) / (n_samples - 1) / n_samples)
    else:
        se = np.full(p, np.nan)
    return mu, se, name


def monte_carlo(model, W, n_samples, *, sampler="gaussian", seed=0, chunk_size=None):
    """Monte Carlo estimate of the loss and gradient of ``model`` at one state ``W``.

    Averages, over ``n_samples`` inputs x, the per-sample loss ``1/2 (g(x; W*) - g(x; W))^2`` and its
    gradient ``-(g* - g) a_j sigma'((w_j + u_j) . x) x`` (docs/math.md sections 1 and 6; Tian (ICML 2017)
    Eqn 3 divided by N), with the model's leaky slope, top weights ``a``, ``a*`` and residual (the
    network rows are ``W + U``, the teacher's ``W* + U``). For Gaussian inputs the means estimate
    ``model.loss(W)`` and ``model.grad(W)`` (Tian (ICML 2017) Sec 7.1: the check of Theorem 1).

    Parameters
    ----------
    model : TeacherStudent
    W : array_like, shape (k, d)
        One state (a batch is not supported: call once per state; the inputs are then shared
        across calls with the same seed, which makes differences between states less noisy).
    n_samples : int
        Number of inputs, >= 1 (``10**8`` is fine: inputs are generated and consumed in blocks).
    sampler : {"gaussian", "uniform"} or callable, default "gaussian"
        ``"gaussian"``: x ~ N(0, I_d); ``"uniform"``: x uniform on [-1/2, 1/2]^d (both drawn in the
        kernel from the counter-based stream ``(seed, 0)``); or a callable
        ``sampler(rng, n, d) -> (n, d)`` array, called with a ``numpy.random.Generator`` seeded by
        ``seed`` once per chunk (the averaging still runs in Numba).
    seed : int, default 0
        Integer in [0, 2**64).
    chunk_size : int, optional
        Samples per kernel call (default ``config.MC_CHUNK``), rounded down to a whole number of
        blocks of ``config.MC_BLOCK`` samples (at least one). It bounds memory only: the result is
        bitwise the same for every chunk size and thread count (for a callable sampler, as long as
        its output does not depend on how many rows it is asked for at a time).

    Returns
    -------
    MonteCarloEstimate
        ``.loss``, ``.loss_se``, ``.grad`` (k, d), ``.grad_se`` (k, d), ``.n_samples``, ``.sampler``.
        Standard errors are the sample standard deviation (ddof 1) over ``sqrt(n_samples)``.
    """
    if not isinstance(model, TeacherStudent):
        raise TypeError(f"model must be a dynsys.TeacherStudent; got {type(model).__name__}")
    W = v.finite(v.real_array(W, "W"), "W")
    k, d = model.k, model.d
    if W.shape != (k, d):
        hint = (" monte_carlo takes one state: call it once per state of the batch."
                if W.ndim == 3 and W.shape[1:] == (k, d) else "")
        raise ValueError(f"W must have shape (k, d) = ({k}, {d}); got {W.shape}.{hint}")
    args = (np.ascontiguousarray(W), model.arrays)
    mu, se, name = _estimate(kmc.model_blocks, args, n_samples, d, 1 + k * d, sampler, seed, chunk_size)
    if not np.all(np.isfinite(mu)) or np.any(np.isinf(se)):  # (a NaN se is n_samples = 1's, documented)
        # Per-sample losses are squares of |W| |x|: they overflow (and their variance first) long
        # before the closed-form loss does.
        raise ValueError(f"W (largest row norm {np.linalg.norm(W, axis=1).max():.3g}) is too large for a "
                         f"float64 Monte Carlo estimate: the per-sample losses or their variance overflow; "
                         f"rescale W and the teacher together (the loss scales like their norm squared)")
    return MonteCarloEstimate(loss=float(mu[0]), loss_se=float(se[0]), grad=mu[1:].reshape(k, d),
                              grad_se=se[1:].reshape(k, d), n_samples=int(n_samples), sampler=name,
                              seed=int(seed))


def gating_closed_form(e, w):
    """Tian (ICML 2017) Theorem 1 per sample: ``((pi - theta) w + |w| sin(theta) e / |e|) / (2 pi)``.

    ``e``, ``w`` of shape (d,) or (n, d); returns ``(F, theta)``. The angle is
    ``2 atan2(|e~ - w~|, |e~ + w~|)`` (accurate near 0 and pi, docs/math.md section 2).
    """
    e = np.asarray(e, dtype=float)
    w = np.asarray(w, dtype=float)
    ne = np.linalg.norm(e, axis=-1, keepdims=True)
    nw = np.linalg.norm(w, axis=-1, keepdims=True)
    eu = e / ne
    wu = w / nw
    theta = 2.0 * np.arctan2(np.linalg.norm(eu - wu, axis=-1), np.linalg.norm(eu + wu, axis=-1))
    th = theta[..., None]
    F = ((math.pi - th) * w + nw * np.sin(th) * eu) / (2.0 * math.pi)
    return F, theta


def monte_carlo_gating(e, w, n_samples, *, sampler="gaussian", seed=0, chunk_size=None):
    """Sample estimate of Tian's (ICML 2017) gating function against its closed form (Theorem 1, Fig 7).

    Estimates ``E[x 1{e . x > 0} relu(w . x)]`` (``E[F(e, w)] / N`` with ``F = X^T D(e) D(w) X w``) for
    every pair ``(e_q, w_q)`` on the same ``n_samples`` inputs, with standard errors, and returns the
    closed form ``((pi - theta) w + |w| sin(theta) e~) / (2 pi)`` (``e~ = e / |e|``; docs/math.md
    section 2: ``grad_u kappa(e, w)``) beside it. The paper's relative error is
    ``result.relative_error()``; for non-Gaussian inputs it compares up to one global scale,
    ``result.relative_error("fit")``.

    Parameters
    ----------
    e, w : array_like, shape (d,) or (n, d)
        Gate directions (any nonzero length: only the direction of e matters) and weights (nonzero).
    n_samples : int
    sampler, seed, chunk_size
        As in :func:`monte_carlo` (with the same seed the inputs are the same as there).

    Returns
    -------
    GatingEstimate
        ``.F``, ``.F_se``, ``.closed_form`` (n, d) or (d,), ``.theta``, ``.relative_error(scale)``,
        ``.fitted_scale``.
    """
    E = v.finite(v.real_array(e, "e"), "e")
    Wg = v.finite(v.real_array(w, "w"), "w")
    single = E.ndim == 1 and Wg.ndim == 1
    E2 = np.atleast_2d(E)
    W2 = np.atleast_2d(Wg)
    if E2.ndim != 2 or W2.ndim != 2 or E2.shape != W2.shape:
        raise ValueError(f"e and w must both have shape (d,) or (n, d), the same; got {E.shape} and "
                         f"{Wg.shape}")
    if E2.shape[1] == 0 or E2.shape[0] == 0:
        raise ValueError(f"e and w must be non-empty; got shape {E.shape}")
    for name, A in (("e", E2), ("w", W2)):
        zero = np.flatnonzero(np.linalg.norm(A, axis=1) == 0.0)
        if zero.size:
            raise ValueError(f"{name} must have nonzero rows (the angle is undefined otherwise); "
                             f"{name}[{int(zero[0])}] = 0")
    n, d = E2.shape
    E2 = np.ascontiguousarray(E2)
    W2 = np.ascontiguousarray(W2)
    mu, se, name = _estimate(kmc.gating_blocks, (E2, W2), n_samples, d, n * d, sampler, seed, chunk_size)
    C, theta = gating_closed_form(E2, W2)
    F = mu.reshape(n, d)
    Fse = se.reshape(n, d)
    if single:
        F, Fse, C, theta = F[0], Fse[0], C[0], theta[0]
    return GatingEstimate(F=F, F_se=Fse, closed_form=C, theta=theta, n_samples=int(n_samples),
                          sampler=name, seed=int(seed))
