"""Paper ``002``'s two-phase convergence claim, measured along population gd and SGD runs.

The claim (paper 002, Section 3.3): with the identity mapping and small ``|W|``, ``|W*|``, SGD first
decreases the auxiliary function ``f_A`` (Definition 2) until W enters a region where the loss is
delta-one-point strongly convex with respect to W* (Definition 1), then ``|W - W*|`` shrinks. This
module evaluates the two quantities along a run and gives each run a verdict
(``dynsys._codes.TWO_PHASE_*``); docs/identity.md explains the readings and tolerances.

- ``f_A`` is printed as ``sum_i (|e_i + w*_i| - |e_i - w_i|)``, which does not vanish at ``W = W*``;
  the corrected reading ``sum_i (|e_i + w*_i| - |e_i + w_i|)`` does (docs/math.md section 7). Both are
  computed, with the model's residual rows ``u_i`` in place of ``e_i``.
- The margin is ``<-grad L(W), W* - W> / |W* - W|_F^2`` on dynsys's population loss ``L``
  (docs/math.md section 1); on the paper's loss ``L_002 = 2 L`` it is twice as large.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import _validate as v
from ._codes import (OK, TWO_PHASE_DIST_ROSE, TWO_PHASE_FA_ROSE, TWO_PHASE_HELD, TWO_PHASE_NAMES,
                     TWO_PHASE_NOT_ENTERED, TWO_PHASE_RUN_FAILED)
from .config import FLOW_SAVE_MAX_BYTES, TWO_PHASE_DIST_FLOOR
from .flow import flow
from .flow_plan import _states
from .model import TeacherStudent
from .results.io import Result
from .sgd import sgd

#: Relative slack of "did not increase": ``f[t+1] <= f[t] + MONOTONE_RTOL (1 + |f[t]|)`` (rounding only).
MONOTONE_RTOL = 1e-12
#: gd runs here take exactly the steps asked for: a gradient tolerance no state reaches.
_NEVER = 1e-300


def _offset(model, W):
    U = model.residual
    return np.zeros(W.shape[-2:]) if U is None else U


def aux_function(model, W, *, reading="corrected"):
    """Paper 002's auxiliary function ``f_A`` (Definition 2) at each state.

    Parameters
    ----------
    model : TeacherStudent
        Teacher ``W*`` and residual rows ``u_i`` (the identity mapping ``e_i``; zero without one).
    W : array_like, shape (..., k, d)
    reading : {"corrected", "printed"}
        ``"corrected"``: ``sum_i (|u_i + w*_i| - |u_i + w_i|)``, zero at ``W = W*``; ``"printed"``:
        ``sum_i (|u_i + w*_i| - |u_i - w_i|)`` as the paper prints it.

    Returns
    -------
    ndarray, shape (...)
        NaN at a state that is not finite (:func:`gd_trace` records a failed run as NaN states).
    """
    _check_model(model)
    reading = v.choice(reading, "reading", ("corrected", "printed"))
    W = v.real_array(W, "W")
    if W.shape[-2:] != (model.k, model.d):
        raise ValueError(f"W must have shape (..., k, d) = (..., {model.k}, {model.d}); got {W.shape}")
    U = _offset(model, W)
    sign = 1.0 if reading == "corrected" else -1.0
    teacher = np.linalg.norm(U + model.W_star, axis=-1).sum()
    return teacher - np.linalg.norm(U + sign * W, axis=-1).sum(axis=-1)


def convexity_margin(model, W):
    """One-point strong convexity margin ``<-grad L(W), W* - W> / |W* - W|_F^2`` (paper 002, Def. 1).

    Parameters
    ----------
    model : TeacherStudent
        Needs ``k == k_star`` (W* is a point of the student's space).
    W : array_like, shape (k, d) or (n, k, d)

    Returns
    -------
    ndarray, shape (n,) or float
        On dynsys's loss L (twice it on the paper's ``L_002``). ``+inf`` at ``W = W*`` (no direction
        is left to test); NaN at a state where the gradient is undefined (a row of ``W + U`` at
        ``singular_tol``, or non-finite). Within about 1e-12 of W* the value is rounding noise (the
        numerator is then the gradient's rounding error); :func:`two_phase_verdict` treats such
        records as inside.
    """
    _check_model(model)
    W = v.real_array(W, "W")
    single = W.ndim == 2
    Wb = W[None] if single else W
    G, status = model.grad(Wb, return_status=True)
    D = model.W_star - Wb
    num = -np.einsum("nkd,nkd->n", G, D)
    den = np.einsum("nkd,nkd->n", D, D)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)
    m = np.where(status == OK, m, np.nan)
    return float(m[0]) if single else m


def _check_model(model):
    if not isinstance(model, TeacherStudent):
        raise TypeError(f"model must be a dynsys.TeacherStudent; got {type(model).__name__}")
    if model.k != model.k_star:
        raise ValueError(f"the two-phase quantities need k == k_star (W* in the student's space); "
                         f"got k={model.k}, k_star={model.k_star}")


def _non_increasing_upto(f, stop):
    """Per row: ``f`` did not increase (within rounding) over records ``0 .. stop``."""
    up = f[:, 1:] > f[:, :-1] + MONOTONE_RTOL * (1.0 + np.abs(f[:, :-1]))
    idx = np.arange(up.shape[1])[None, :]
    return ~np.any(up & (idx < stop[:, None]), axis=1)


def two_phase_verdict(f_A, margin, dist, delta, failed=None, dist_floor=TWO_PHASE_DIST_FLOOR):
    """Entry record and two-phase verdict of each run from its recorded curves.

    Parameters
    ----------
    f_A, margin, dist : array_like, shape (runs, n_rec)
        Auxiliary function, convexity margin and ``|W - W*|_F`` at each record (NaN after a failure).
    delta : float or array_like, shape (runs,)
        Margin threshold (>= 0, on dynsys's loss), one for all runs or one per run.
    failed : array_like of bool, shape (runs,), optional
        Runs that diverged or went non-finite.
    dist_floor : float, default ``config.TWO_PHASE_DIST_FLOOR``
        A record with ``dist <= dist_floor`` counts as inside the region whatever its margin: so close
        to W* the computed margin is rounding noise (its numerator is a gradient's rounding error).

    Returns
    -------
    entry : ndarray of int64, shape (runs,)
        First record from which the margin stays above ``delta`` (or ``dist`` below ``dist_floor``) to
        the end; -1 if the last record is outside.
    verdict : ndarray of int8, shape (runs,)
        ``dynsys._codes.TWO_PHASE_*``: HELD when ``f_A`` did not increase over records ``0 .. entry``
        and ``dist`` did not increase from ``entry`` on; else FA_ROSE, DIST_ROSE, NOT_ENTERED or
        RUN_FAILED (checked in the reverse order).
    """
    f_A, margin, dist = (np.atleast_2d(v.real_array(a, name).reshape(np.shape(a)))
                         for a, name in ((f_A, "f_A"), (margin, "margin"), (dist, "dist")))
    if not f_A.shape == margin.shape == dist.shape:
        raise ValueError(f"f_A, margin and dist must have one shape (runs, n_rec); got {f_A.shape}, "
                         f"{margin.shape}, {dist.shape}")
    if f_A.ndim != 2 or f_A.shape[1] == 0:
        raise ValueError(f"f_A, margin and dist must have shape (runs, n_rec) with n_rec >= 1; got {f_A.shape}")
    runs, n = f_A.shape
    delta = _deltas(delta, runs)
    dist_floor = v.real_scalar(dist_floor, "dist_floor", lo=0.0)
    if failed is None:
        failed = np.zeros(runs, bool)
    else:
        failed = np.asarray(failed)
        if failed.dtype.kind not in "biu" or failed.shape != (runs,):
            raise ValueError(f"failed must be None or a bool array of one per run ({runs}); got "
                             f"{failed.dtype} of shape {failed.shape}")
        failed = failed.astype(bool)
    above = (margin > delta[:, None]) | (dist <= dist_floor)    # a NaN (failed) record is outside
    below_at = np.where(~above, np.arange(n)[None, :], -1).max(axis=1)
    entry = np.where(above[:, -1], below_at + 1, -1).astype(np.int64)
    fa_ok = _non_increasing_upto(f_A, np.maximum(entry, 0))
    rev = dist[:, ::-1]
    dist_ok = _non_increasing_upto(-rev, np.where(entry >= 0, n - 1 - entry, 0))
    verdict = np.full(runs, TWO_PHASE_HELD, np.int8)
    verdict[~dist_ok] = TWO_PHASE_DIST_ROSE
    verdict[~fa_ok] = TWO_PHASE_FA_ROSE
    verdict[entry < 0] = TWO_PHASE_NOT_ENTERED
    verdict[failed] = TWO_PHASE_RUN_FAILED
    return entry, verdict


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class TwoPhaseTrace(Result):
    """The two-phase quantities along a batch of runs (:func:`gd_trace`, :func:`sgd_trace`).

    Attributes
    ----------
    record_steps : ndarray of int64, shape (n_rec,)
        Steps at which the states were recorded (0 = the start).
    loss : ndarray, shape (runs, n_rec)
        Population loss ``L`` (dynsys's; the paper's is twice it).
    dist : ndarray, shape (runs, n_rec)
        ``|W - W*|_F`` (unmatched: with the identity mapping W* is the one global minimum).
    f_A, f_A_printed : ndarray, shape (runs, n_rec)
        :func:`aux_function`, corrected and printed readings.
    margin : ndarray, shape (runs, n_rec)
        :func:`convexity_margin`.
    entry : ndarray of int64, shape (runs,)
        First record from which the margin stays above ``delta`` (-1: not at the end).
    entry_step : ndarray of int64, shape (runs,)
        ``record_steps[entry]`` (-1 where ``entry`` is -1).
    verdict : ndarray of int8, shape (runs,)
        :func:`two_phase_verdict` on the corrected ``f_A``.
    verdict_printed : ndarray of int8, shape (runs,)
        The same on the printed ``f_A``.
    status : ndarray of int8, shape (runs,)
        The run's :class:`dynsys.Status`.
    delta : ndarray, shape (runs,)
        The margin threshold of each run.
    kind : str
        ``"gd"`` (population gradient descent, every step) or ``"sgd"`` (every epoch).
    step : float
        Step on dynsys's loss (the paper's learning rate is half of it).
    """

    record_steps: np.ndarray
    loss: np.ndarray
    dist: np.ndarray
    f_A: np.ndarray
    f_A_printed: np.ndarray
    margin: np.ndarray
    entry: np.ndarray
    entry_step: np.ndarray
    verdict: np.ndarray
    verdict_printed: np.ndarray
    status: np.ndarray
    delta: np.ndarray
    kind: str
    step: float

    _call_fields = ("delta", "kind", "step")

    def _headline(self) -> str:
        return (f"{self.kind}, {self.verdict.size} runs, {self.record_steps.size} records: "
                f"{self.verdict_counts()}")

    def verdict_counts(self) -> dict[str, int]:
        """How many runs got each verdict (corrected ``f_A``), by name."""
        return {TWO_PHASE_NAMES[c]: int(np.sum(self.verdict == c)) for c in TWO_PHASE_NAMES
                if np.any(self.verdict == c)}

    @property
    def held(self) -> np.ndarray:
        """Runs in which the two phases occurred as claimed (bool, (runs,))."""
        return self.verdict == TWO_PHASE_HELD


def _trace(model, record_steps, Ws, status, delta, kind, step):
    """Evaluate the quantities at states ``Ws`` (runs, n_rec, k, d); NaN states stay NaN."""
    runs, n = Ws.shape[:2]
    flat = Ws.reshape(runs * n, model.k, model.d)
    ok = np.all(np.isfinite(flat), axis=(1, 2))
    loss = np.full(runs * n, np.nan)
    margin = np.full(runs * n, np.nan)
    if ok.any():
        lv, st = model.loss(flat[ok], return_status=True)
        loss[ok] = np.where(st == OK, lv, np.nan)
        margin[ok] = convexity_margin(model, flat[ok])
    with np.errstate(invalid="ignore"):
        fa = aux_function(model, flat)
        fp = aux_function(model, flat, reading="printed")
    dist = np.linalg.norm((flat - model.W_star).reshape(runs * n, -1), axis=1)
    loss, margin, fa, fp, dist = (a.reshape(runs, n) for a in (loss, margin, fa, fp, dist))
    failed = status != OK
    entry, verdict = two_phase_verdict(fa, margin, dist, delta, failed)
    _, verdict_p = two_phase_verdict(fp, margin, dist, delta, failed)
    entry_step = np.where(entry >= 0, record_steps[np.maximum(entry, 0)], -1)
    return TwoPhaseTrace(record_steps=record_steps, loss=loss, dist=dist, f_A=fa, f_A_printed=fp,
                         margin=margin, entry=entry, entry_step=entry_step, verdict=verdict,
                         verdict_printed=verdict_p, status=np.asarray(status, np.int8),
                         delta=np.broadcast_to(np.asarray(delta, float), (runs,)).copy(),
                         kind=kind, step=float(step))


def gd_states(model, W0, *, step, n_steps, every=1, chunk=25):
    """Population gradient descent ``W <- W - step grad L(W)`` for exactly ``n_steps`` steps.

    Runs :func:`dynsys.flow` (method ``"gd"``) in chunks of ``chunk`` runs, saving every ``every``-th
    state.

    Returns
    -------
    record_steps : ndarray of int64, shape (n_rec,)
    Ws : ndarray, shape (runs, n_rec, k, d)
        The saved states; after a run stopped (diverged, singular) NaN.
    status : ndarray of int8, shape (runs,)
        OK for a run that made all its steps, else the flow's status.
    """
    W0 = np.asarray(W0, dtype=float)
    W0 = W0[None] if W0.ndim == 2 else W0
    n_steps = v.positive_int(n_steps, "n_steps")
    every = v.positive_int(every, "every")
    rec = np.unique(np.r_[np.arange(0, n_steps, every), n_steps]).astype(np.int64)
    out = np.full((W0.shape[0], rec.size) + W0.shape[1:], np.nan)
    status = np.empty(W0.shape[0], np.int8)
    for lo in range(0, W0.shape[0], chunk):
        r = flow(model, W0[lo:lo + chunk], method="gd", step=step, max_steps=n_steps, gtol=_NEVER,
                 save=every, progress=False)
        n_saved = min(r.Ws.shape[1], rec.size)
        out[lo:lo + chunk, :n_saved] = r.Ws[:, :n_saved]
        done = np.asarray(r.steps) == n_steps
        status[lo:lo + chunk] = np.where(done, OK, np.asarray(r.status))
    return rec, out, status


def _deltas(delta, runs):
    """``delta`` (a scalar or one per run, each finite and >= 0) as an array (runs,)."""
    d = v.real_array(delta, "delta").reshape(np.shape(delta))    # real_array makes a scalar 1-d
    if d.ndim > 1 or (d.ndim == 1 and d.shape[0] != runs):
        raise ValueError(f"delta must be a number or an array of one per run ({runs}); got shape {d.shape}")
    v.finite(d, "delta")
    if np.any(d < 0.0):
        raise ValueError(f"delta must be >= 0; got {d.min()}")
    return np.broadcast_to(d, (runs,))


def gd_trace(model, W0, *, step, n_steps, delta, every=1, chunk=25):
    """:class:`TwoPhaseTrace` of population gd from each start (see :func:`gd_states`), evaluated
    ``chunk`` runs at a time so that only their states are held (runs x n_rec x k x d doubles)."""
    _check_model(model)
    W0, _ = _states(model, W0)
    deltas = _deltas(delta, W0.shape[0])
    n_steps = v.positive_int(n_steps, "n_steps")
    every = v.positive_int(every, "every", maximum=2**62 - 1, why="the kernels' int64 step counter")
    chunk = v.positive_int(chunk, "chunk")
    need = 8 * min(chunk, W0.shape[0]) * (n_steps // every + 2) * (model.k * model.d + 6)
    if need > FLOW_SAVE_MAX_BYTES:
        raise ValueError(f"n_steps / every = {n_steps // every} records of {min(chunk, W0.shape[0])} runs need "
                         f"{need / 2**30:.3g} GiB, above config.FLOW_SAVE_MAX_BYTES = "
                         f"{FLOW_SAVE_MAX_BYTES / 2**30:.3g} GiB: record less often (a larger every) or "
                         f"lower chunk")
    parts = []
    for lo in range(0, W0.shape[0], chunk):
        rec, Ws, status = gd_states(model, W0[lo:lo + chunk], step=step, n_steps=n_steps, every=every,
                                    chunk=chunk)
        parts.append(_trace(model, rec, Ws, status, deltas[lo:lo + chunk], "gd", step))
    if len(parts) == 1:
        return parts[0]
    per_run = {f.name for f in dataclasses.fields(TwoPhaseTrace)} - {"record_steps", "kind", "step"}
    return dataclasses.replace(parts[0], **{k: np.concatenate([getattr(p, k) for p in parts]) for k in per_run})


def run_sgd(model, W0, *, step, **kwargs):
    """:func:`dynsys.sgd` with ``step`` the step on dynsys's loss (the one place that names it)."""
    return sgd(model, W0, step=step, **kwargs)


def sgd_states(model, W0, *, step, epochs, **kwargs):
    """States of :func:`dynsys.sgd` runs at the end of every epoch.

    Run r's trajectory depends only on (seed, run id, arguments), so the state after e epochs of one
    call is the final state of the same call with ``epochs=e``: this makes ``epochs`` calls
    (``epochs (epochs + 1) / 2`` epochs of work) and leaves :func:`dynsys.sgd` untouched.

    Returns
    -------
    result : SGDResult
        The call with all ``epochs`` (curves per epoch).
    Ws : ndarray, shape (runs, epochs + 1, k, d)
        Start and end of each epoch; NaN from the epoch in which a run failed.
    """
    W0 = np.asarray(W0, dtype=float)
    W0 = W0[None] if W0.ndim == 2 else W0
    Ws = np.full((W0.shape[0], epochs + 1) + W0.shape[1:], np.nan)
    Ws[:, 0] = W0
    res = None
    for e in range(1, epochs + 1):
        res = run_sgd(model, W0, step=step, epochs=e, **kwargs)
        good = np.asarray(res.status) == OK
        Ws[good, e] = res.W[good]
    return res, Ws


def sgd_trace(model, W0, *, step, epochs, delta, **kwargs):
    """:class:`TwoPhaseTrace` of SGD runs, one record per epoch (see :func:`sgd_states`)."""
    _check_model(model)
    W0, _ = _states(model, W0)
    # SGD moves off a singular start, whose loss and margin are undefined: a record 0 that is NaN in a
    # run reported OK. Refused, as the quantities of the first record are the point of the trace.
    _, st = model.loss(W0, return_status=True)
    if np.any(st != OK):
        b = int(np.flatnonzero(st != OK)[0])
        raise ValueError(model._describe(W0[b], int(st[b]), f"W0[{b}]"))
    deltas = _deltas(delta, W0.shape[0])
    epochs = v.positive_int(epochs, "epochs")
    need = 8 * W0.shape[0] * (epochs + 1) * (model.k * model.d + 6)
    if need > FLOW_SAVE_MAX_BYTES:
        raise ValueError(f"epochs = {epochs} records of {W0.shape[0]} runs need {need / 2**30:.3g} GiB, above "
                         f"config.FLOW_SAVE_MAX_BYTES = {FLOW_SAVE_MAX_BYTES / 2**30:.3g} GiB: lower epochs")
    res, Ws = sgd_states(model, W0, step=step, epochs=epochs, **kwargs)
    return _trace(model, np.asarray(res.record_steps), Ws, np.asarray(res.status, np.int8), deltas, "sgd", step)


def draw_teacher(d, *, gamma=None, fro=None, seed=0, repeat=0):
    """A teacher of paper 002's stage 4: Gaussian directions, rows of norm ``gamma`` (the norm bound)
    or the whole matrix scaled to Frobenius norm ``fro`` (the unbounded comparison); exactly one.

    Drawn from ``numpy.random.default_rng((seed, repeat, 0))``; the bounded and unbounded teachers of one
    (seed, repeat) share their Gaussian matrix. Returns an ndarray (d, d).
    """
    if (gamma is None) == (fro is None):
        raise ValueError("pass exactly one of gamma (row norms) and fro (Frobenius norm)")
    G = np.random.default_rng((int(seed), int(repeat), 0)).standard_normal((d, d))
    if gamma is not None:
        return v.real_scalar(gamma, "gamma", lo=0.0) * G / np.linalg.norm(G, axis=1, keepdims=True)
    return v.real_scalar(fro, "fro", lo=0.0) * G / np.linalg.norm(G)


def draw_start(d, radius, *, seed=0, repeat=0):
    """A start with rows in the ball ``|w_i| <= radius``: Gaussian directions, norms ``radius * u``
    with ``u ~ U(0, 1)`` per row, from ``numpy.random.default_rng((seed, repeat, 1))``. (d, d)."""
    rng = np.random.default_rng((int(seed), int(repeat), 1))
    G = rng.standard_normal((d, d))
    return radius * rng.random((d, 1)) * G / np.linalg.norm(G, axis=1, keepdims=True)
