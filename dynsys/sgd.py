"""Finite-sample stochastic gradient descent on Gaussian inputs (the experiments of the identity-mapping
/ PReLU report of Jiang et al., docs/math.md section 7).

``sgd`` trains a batch of independent runs of the model's student on a finite training set (or on
fresh mini-batches), with the model's leaky slope, top weights and residual offset, and records
learning curves: training loss, population loss and the distance to the teacher. Every random
choice comes from the run's counter-based stream (:mod:`dynsys.kernels.rng`), so a run's trajectory
does not depend on the thread count or on which other runs share the call (``run_ids``).
"""

from __future__ import annotations

import numba
import numpy as np

from . import _validate as v
from .config import SGD_DATA_MAX_BYTES, SGD_DIVERGENCE_FACTOR, SGD_RECORD_MAX_BYTES
from .kernels import sgd as ksgd
from .kernels.montecarlo import threaded
from .kernels.rng import as_key
from .model import TeacherStudent
from .progress import watch
from .results import Status, SGDResult
from .systems.teacher_student import work_size

#: Largest training set: the shuffle's counter holds a position in 32 bits.
MAX_SAMPLES = 2**32 - 1


def sgd_dataset(n_samples, d, seed=0, run=0):
    """The training set of run ``run`` of :func:`sgd` (the same numbers, bit for bit).

    Parameters
    ----------
    n_samples, d : int
    seed : int, default 0
    run : int, default 0
        The run's stream id (``run_ids[r]`` of :func:`sgd`; by default the run's index in the batch).

    Returns
    -------
    X : ndarray, shape (n_samples, d)
        Rows x_i ~ N(0, I_d) drawn from the counter-based stream ``(seed, run)``.
    """
    n_samples = v.positive_int(n_samples, "n_samples")
    d = v.positive_int(d, "d")
    X = np.empty((n_samples, d))
    ksgd.fill_dataset(as_key(seed, "seed"), as_key(run, "run"), X)
    return X


def _project_arg(project):
    if project is None:
        return ksgd.PROJECT_NONE, 0.0, None
    ok = isinstance(project, (tuple, list)) and len(project) == 2 and project[0] in ("row", "fro")
    if ok:
        try:
            r = v.real_scalar(project[1], "project radius", lo=0.0, lo_open=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"project must be None, ('row', r) or ('fro', r) with r > 0; {exc}") from None
        kind = ksgd.PROJECT_ROW if project[0] == "row" else ksgd.PROJECT_FRO
        return kind, r, (project[0], r)
    raise ValueError(f"project must be None, ('row', r) (each row of W in the ball |w_j| <= r) or "
                     f"('fro', r) (|W|_F <= r), with r > 0; got {project!r}")


def sgd(model, W0, *, n_samples=5000, batch_size=1, step=0.1, epochs=10, seed=0, fresh=False,
        project=None, record_every=None, run_ids=None):
    """Stochastic gradient descent from ``W0`` on a finite Gaussian sample (or fresh batches).

    Each run draws its own training set of ``n_samples`` inputs x ~ N(0, I_d) (labels from the
    teacher ``g(x; W*)``), shuffles it at the start of every epoch and steps through it in
    mini-batches of ``batch_size`` (the last batch of an epoch is shorter when ``batch_size`` does
    not divide ``n_samples``: every sample is used once per epoch). With ``fresh=True`` every batch
    is new inputs instead (an epoch is then just ``ceil(n_samples / batch_size)`` steps). One step:

        W <- W - step * grad_W [ mean over the batch of 1/2 (g(x; W*) - g(x; W))^2 ]

    (per-sample gradient ``-(g* - g) a_j sigma'((w_j + u_j) . x) x``, ``sigma'(0) = alpha``), then,
    if asked, the projection of W onto a norm ball.

    ``step`` is the step on dynsys's loss, the mean of HALF the squared error (docs/math.md
    section 1), and has the name and meaning of :func:`dynsys.flow`'s gd ``step``. The identity
    mapping / PReLU report (Jiang et al.) writes its loss without the 1/2 (``L_002 = 2 L``,
    :data:`dynsys.PAPER_002_LOSS_FACTOR`), so its learning rate eta is ``step = 2 eta`` here: its
    stage-4 rate 0.1 is ``step=0.2``.

    Parameters
    ----------
    model : TeacherStudent
        Teacher, student width, leaky slope ``alpha``, top weights ``a``, ``a*`` (fixed, not
        trained) and residual ``U`` (the network rows are ``W + U``, the teacher's ``W* + U``).
    W0 : array_like, shape (runs, k, d) or (k, d)
        Initial weights of each run (not projected).
    n_samples : int, default 5000
        Training-set size (at most 2**32 - 1). With ``fresh=True``: the epoch length in samples and
        the size of the evaluation set of ``train_loss``.
    batch_size : int, default 1
        At most ``n_samples``.
    step : float, default 0.1
        Step on L (above), > 0: the learning rate.
    epochs : int, default 10
    seed : int, default 0
        Run r draws from the stream ``(seed, run_ids[r])``.
    fresh : bool, default False
        Fresh inputs for every batch instead of a fixed training set.
    project : None, ("row", r) or ("fro", r)
        After each step, project each row of W onto the ball ``|w_j| <= r`` (``"row"``), or W onto
        ``|W|_F <= r`` (``"fro"``): Jiang et al.'s norm bound. It acts on W, not on ``W + U``.
    record_every : int, optional
        Record the curves every this many steps (default: once per epoch), and always at the start
        and at the end.
    run_ids : array_like of int, shape (runs,), optional
        Stream id of each run (default ``0, ..., runs - 1``). Pass a slice of a larger range to split
        a big batch across calls: each run gives the same numbers as in one call.

    Returns
    -------
    SGDResult
        ``W`` final weights; ``steps`` (runs,); ``record_steps`` (n_rec,); ``train_loss``,
        ``pop_loss``, ``dist``, ``dist_raw`` (runs, n_rec); ``status`` (runs,); and the arguments.
        ``train_loss`` is the mean half squared error on the run's fixed set of ``n_samples``
        inputs (:func:`sgd_dataset`); with ``fresh=True`` that set is never trained on, so it is a
        held-out estimate of the population loss. ``pop_loss`` is the closed-form ``L(W)``.
        ``dist`` is the distance to the teacher after matching rows by the best permutation (exact
        assignment, Hungarian method, in the kernel): ``min_P |A (W + U) - P A* (W* + U)|_F`` with rows
        scaled by their top weights, which is ``min_P |W - P W*|_F`` without residual and with
        ``a = a* = 1``; ``dist_raw`` is ``|W - W*|_F`` unmatched (Jiang et al.'s curve). Both are NaN
        when ``k != k_star``. A run that blows up stops with status DIVERGED (``|W + U|_F`` above
        ``config.SGD_DIVERGENCE_FACTOR * (1 + |W* + U|_F + |W0 + U|_F)``) or NONFINITE, its later
        records NaN; the other runs go on.

    Raises
    ------
    ValueError, TypeError
        For malformed arguments (each message names the argument).
    """
    if not isinstance(model, TeacherStudent):
        raise TypeError(f"model must be a dynsys.TeacherStudent; got {type(model).__name__}")
    k, d = model.k, model.d
    W = v.finite(v.real_array(W0, "W0"), "W0")
    if W.ndim not in (2, 3) or W.shape[-2:] != (k, d) or (W.ndim == 3 and W.shape[0] == 0):
        raise ValueError(f"W0 must have shape (k, d) = ({k}, {d}) or (runs, {k}, {d}) with runs >= 1; "
                         f"got {W.shape}")
    single = W.ndim == 2
    W = np.array(W[None] if single else W, dtype=np.float64, order="C")  # a copy the kernel updates
    runs = W.shape[0]
    n_samples = v.positive_int(n_samples, "n_samples")
    if n_samples > MAX_SAMPLES:
        raise ValueError(f"n_samples must be at most {MAX_SAMPLES}; got {n_samples}")
    # every run holds its training set (inputs, labels, a permutation) while it runs, one per thread
    held = 8 * n_samples * (W.shape[-1] + 2) * min(numba.get_num_threads(), runs)
    if held > SGD_DATA_MAX_BYTES:
        raise ValueError(f"n_samples = {n_samples} needs {held / 2**30:.3g} GiB of training sets at once (one "
                         f"per thread), above config.SGD_DATA_MAX_BYTES = {SGD_DATA_MAX_BYTES / 2**30:.3g} GiB: "
                         f"lower n_samples")
    batch_size = v.positive_int(batch_size, "batch_size")
    if batch_size > n_samples:
        raise ValueError(f"batch_size must be at most n_samples = {n_samples}; got {batch_size}")
    step = v.real_scalar(step, "step", lo=0.0, lo_open=True)
    epochs = v.positive_int(epochs, "epochs")
    key = as_key(seed, "seed")
    if not isinstance(fresh, (bool, np.bool_)):
        raise TypeError(f"fresh must be True or False; got {fresh!r}")
    proj_kind, proj_r, project = _project_arg(project)
    spe = -(-n_samples // batch_size)
    n_steps = epochs * spe
    every = spe if record_every is None else v.positive_int(record_every, "record_every")
    n_rec_est = runs * (n_steps // every + 2)
    if 4 * 8 * n_rec_est > SGD_RECORD_MAX_BYTES:
        raise ValueError(f"the records of this call (runs x (epochs x steps_per_epoch / record_every + 2) "
                         f"= {n_rec_est} entries, 4 float64 each) would take more than "
                         f"config.SGD_RECORD_MAX_BYTES = {SGD_RECORD_MAX_BYTES} bytes: raise record_every "
                         f"(now {every}) or lower epochs (now {epochs})")
    rec = np.unique(np.concatenate([np.arange(0, n_steps, every, dtype=np.int64),
                                    np.array([n_steps], dtype=np.int64)]))
    if run_ids is None:
        ids = np.arange(runs, dtype=np.uint64)
    else:
        raw = np.asarray(run_ids)
        if raw.shape != (runs,) or raw.dtype.kind not in "iu":
            raise ValueError(f"run_ids must be {runs} integers (one stream id per run); got "
                             f"{raw.dtype} array of shape {raw.shape}")
        if raw.dtype.kind == "i" and np.any(raw < 0):
            raise ValueError(f"run_ids must be non-negative; got {raw.min()}")
        ids = raw.astype(np.uint64)
    fa = model.arrays
    V0 = W + fa.U if fa.U.shape[0] else W
    T_norm = float(np.linalg.norm(fa.T))
    div_lim = SGD_DIVERGENCE_FACTOR * (1.0 + T_norm + np.linalg.norm(V0.reshape(runs, -1), axis=1))
    n_rec = rec.size
    train_loss = np.empty((runs, n_rec))
    pop_loss = np.empty((runs, n_rec))
    dist = np.empty((runs, n_rec))
    dist_raw = np.empty((runs, n_rec))
    steps = np.empty(runs, dtype=np.int64)
    status = np.empty(runs, dtype=np.int8)
    stop = np.zeros(1, dtype=np.int64)
    # On the watch thread so that Ctrl-C sets the kernels' stop flag (every run ends INTERRUPTED at its
    # current step) and the call returns, instead of the pool threads running on to the end.
    watch(lambda: threaded(ksgd.sgd_block, runs, W, ids, key, fa, np.array(model.W_star), n_samples,
                           batch_size, step, n_steps, spe, bool(fresh), proj_kind, proj_r, rec, div_lim,
                           work_size(k, model.k_star, d), train_loss, pop_loss, dist, dist_raw, steps,
                           status, stop),
          stop, lambda: None)
    # A run can end CONVERGED at a state where the closed-form loss is undefined (e.g. a zero row
    # replaced by a unit row that is itself below a large teacher's singular tolerance): say so.
    bad = (status == Status.CONVERGED) & ~np.all(np.isfinite(pop_loss), axis=1)
    status[bad] = Status.NONFINITE
    if single:
        W, steps, status = W[0], int(steps[0]), Status(int(status[0]))
        train_loss, pop_loss, dist, dist_raw = train_loss[0], pop_loss[0], dist[0], dist_raw[0]
    return SGDResult(W=W, steps=steps, record_steps=rec, train_loss=train_loss, pop_loss=pop_loss,
                     dist=dist, dist_raw=dist_raw, status=status, n_samples=n_samples,
                     batch_size=batch_size, step=step, epochs=epochs, seed=int(seed), fresh=bool(fresh),
                     project=project, record_every=every, steps_per_epoch=spe, run_ids=ids)


__all__ = ["sgd", "sgd_dataset"]
