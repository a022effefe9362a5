"""Compile (or load from Numba's on-disk cache) every kernel the public API uses, up front.

Numba compiles a kernel the first time it is called with new argument types and caches the machine
code on disk (``cache=True``; the directory is ``NUMBA_CACHE_DIR`` or ``__pycache__`` beside the
source). On an empty cache the first call of each public function pauses for its compilation, about
two minutes across the whole API on two cores. :func:`warmup` makes those first calls on tiny
inputs, group by group, on both CPU backends, so that later processes only load the cached code
(a fraction of a second per kernel). ``dynsys warmup`` on the command line runs it.

Numba compiles one version per argument type, and array mutability is part of the type: a
read-only state (the ``W`` of a saved or returned result) and a writable one are two versions of
the field kernels. Both are compiled here for the loss and gradient.
"""

from __future__ import annotations

import time

import numpy as np

from . import progress as _progress

#: The kernel groups, in the order they are compiled (keys of ``config.COMPILE_ESTIMATE_S``).
GROUPS = ("field", "flow", "critical", "sampling", "theory", "continuation")
BACKENDS = ("parallel", "cpu")


def _field(ds):
    m = ds.TeacherStudent(np.eye(2))
    W = np.random.default_rng(0).normal(scale=0.5, size=(3, 2, 2))
    frozen = W.copy()
    frozen.setflags(write=False)
    for b in BACKENDS:
        for X in (W, frozen):
            m.loss_and_grad(X, backend=b)
            m.loss(X[0], backend=b)
        m.hessian(W, backend=b)
        m.hvp(W, W, backend=b)
        m.grad_a(W, backend=b)


def _flow(ds):
    m = ds.TeacherStudent(np.eye(2))
    W0 = np.random.default_rng(1).normal(scale=0.5, size=(2, 2, 2))
    for b in BACKENDS:
        for method in ("gd", "dopri5"):  # euler and rk4 share gd's kernel
            ds.flow(m, W0, method=method, max_steps=5, backend=b, progress=False)
            ds.flow(m, W0[0], method=method, max_steps=5, backend=b, progress=False, save=2)
    ds.basins(m, W0, max_steps=5, progress=False, entry=True)  # gd with label on entry (its own kernel)
    ds.basins(m, W0, method="rk4", max_steps=5, progress=False, entry=True)  # rk4 with label on entry
    ds.basins(m, W0, method="dopri5", max_steps=5, progress=False, entry=True)  # dopri5 with label on entry


def _critical(ds):
    m = ds.TeacherStudent(np.eye(2))
    seeds = np.eye(2)[None] + 0.1 * np.random.default_rng(2).normal(size=(2, 2, 2))
    ds.classify(m, seeds[0])
    for b in BACKENDS:
        ds.find_critical_points(m, seeds, backend=b)
        ds.census(m, 4, seed=0, max_steps=200, backend=b, progress=False)
    ds.saddle_between(m, np.eye(2), np.eye(2)[::-1])
    ds.eigenvector_following(m, np.eye(2), n_directions=1)
    from .systems import toys  # the toy systems' own compiled field

    ds.classify(toys.DoubleWell(), np.array([0.9, 0.1]))


def _sampling(ds):
    m = ds.TeacherStudent(np.eye(2))
    W = np.random.default_rng(3).normal(scale=0.5, size=(2, 2))
    ds.sgd(m, W, n_samples=8, batch_size=4, epochs=1)
    ds.sgd(m, W, n_samples=8, batch_size=4, epochs=1, fresh=True)
    ds.sgd_dataset(4, 2, seed=0)
    ds.monte_carlo(m, W, 1000, seed=0)
    ds.monte_carlo_gating(W, W[::-1], 1000, seed=0)
    # paper 002's classifier (minibatch SGD with PReLU), which the identity_digits analysis trains
    X = np.random.default_rng(4).random((20, 3))
    ds.train_classifier(X, np.arange(20) % 10, X, np.arange(20) % 10, epochs=1, repeats=1, batch_size=8)


def _theory(ds):
    rd = ds.ReducedDynamics(2)
    rd.integrate(0.3, 0.2, 1.0)
    rd.fixed_points()
    ds.conjecture1_scan(8)
    ds.k2_saddle_families(1.0, 1.0, 1.0)
    ds.normal_matrices(np.eye(2) + 0.1, np.eye(2))
    ds.L12(1.0, 0.4)


def _continuation(ds):
    m = ds.TeacherStudent(np.eye(2))
    # the compiled arclength step and its loop, the Bunch-Kaufman inertia, the near-zero spectrum
    ds.continuation(ds.families.leaky_slope(m), np.eye(2), 0.0, 0.05, progress=False)


_CALLS = {"field": _field, "flow": _flow, "critical": _critical, "sampling": _sampling, "theory": _theory,
          "continuation": _continuation}


def warmup(groups=GROUPS, *, progress=None) -> dict:
    """Compile and cache the kernels of each group by calling the public API on tiny inputs.

    Parameters
    ----------
    groups : sequence of str, default all of :data:`GROUPS`
        Any of ``"field"`` (loss, gradient, Hessian, Hessian-vector product, top-weight gradient),
        ``"flow"`` (gd/euler/rk4 and dopri5 integrators), ``"critical"`` (Newton, classify,
        find_critical_points, census, saddle searches), ``"sampling"`` (SGD, Monte Carlo, paper
        002's classifier), ``"theory"`` (reduced system, Conjecture 1 scan, K = 2 saddle families),
        ``"continuation"`` (the compiled arclength kernel and its inertia).
    progress : None, bool or reporter
        Progress over the groups (:mod:`dynsys.progress`).

    Returns
    -------
    dict
        Wall seconds per group, in the order run: the compile time on an empty cache, the cache
        load time (a fraction of a second per group) when the cache already holds the kernels.
    """
    import dynsys as ds  # the public API, as a user calls it (this module is not imported by it)

    if isinstance(groups, str):
        groups = (groups,)
    unknown = [g for g in groups if g not in _CALLS]
    if unknown:
        raise ValueError(f"groups must be among {', '.join(map(repr, GROUPS))}; got {unknown}")
    _progress.check(progress)
    _progress.compile_notice_done()  # compiling is what was asked for: no notice
    bar = _progress.reporter(progress, len(groups), "warmup", "group")
    times = {}
    try:
        for g in groups:
            if hasattr(bar, "note"):
                bar.note(g)
            t0 = time.perf_counter()
            _CALLS[g](ds)
            times[g] = time.perf_counter() - t0
            bar.update(1)
    finally:
        bar.close()
    return times


__all__ = ["GROUPS", "warmup"]
