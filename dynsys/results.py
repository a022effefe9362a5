"""The one status table and the frozen result types of dynsys.

Every batch algorithm (field evaluation, flows, Newton, census) gives each element an ``int8``
status from :class:`Status`; results are frozen dataclasses holding plain arrays.
"""

from __future__ import annotations

import enum

import numpy as np


class Status(enum.IntEnum):
    """Per-element outcome of a batch computation (stored as ``int8``)."""

    CONVERGED = 0
    MAX_STEPS = 1
    DIVERGED = 2
    SINGULAR = 3
    NONFINITE = 4
    T1_REACHED = 5
    INTERRUPTED = 6
    STALLED = 7

    @property
    def message(self) -> str:
        return _MESSAGES[self][0]

    @property
    def fix(self) -> str:
        return _MESSAGES[self][1]


#: Status 0 means "done without trouble"; for a plain field evaluation it reads "ok".
OK = Status.CONVERGED

_MESSAGES = {
    Status.CONVERGED: ("converged (or evaluated without trouble)", "nothing to fix"),
    Status.MAX_STEPS: ("max_steps reached before the stopping criterion",
                       "raise max_steps, or loosen gtol"),
    Status.DIVERGED: ("the state's norm grew past the divergence limit",
                      "lower the step size (gradient descent is unstable above about 2 / lambda_max)"),
    Status.SINGULAR: ("a row of W (+ residual) has norm at or below the singular tolerance: "
                      "the field is undefined there",
                      "start away from zero rows, or use alpha = 1 (the linear model is smooth)"),
    Status.NONFINITE: ("a non-finite value (NaN or Inf) appeared",
                       "check the input, or lower the step size"),
    Status.T1_REACHED: ("the final time t1 was reached", "raise t1 to integrate further"),
    Status.INTERRUPTED: ("interrupted before finishing (KeyboardInterrupt)",
                         "call again from the returned states to continue"),
    Status.STALLED: ("Newton made no progress (degenerate or non-smooth point)",
                     "classify the point as it is, or start elsewhere"),
}


def status_counts(status: np.ndarray) -> dict[str, int]:
    """Count how many elements ended in each status, by name (statuses with no element omitted)."""
    values, counts = np.unique(np.asarray(status), return_counts=True)
    return {Status(int(v)).name: int(c) for v, c in zip(values, counts)}


# --- dynsys.flow ---------------------------------------------------------------------------------
import dataclasses as _dataclasses  # noqa: E402  (appended section; results.py grows by appending)


@_dataclasses.dataclass(frozen=True)
class FlowResult:
    """Outcome of :func:`dynsys.flow`: the final state of each trajectory and why it stopped.

    For a batch ``W0`` (n, k, d) every field has the batch axis first; for one state ``W0`` (k, d)
    the batch axis is dropped (``W`` (k, d), ``loss`` a float, ``status`` a :class:`Status`, ...).

    Attributes
    ----------
    W : ndarray, shape (n, k, d)
        Final states (``W0`` for trajectories marked INTERRUPTED).
    loss : ndarray, shape (n,)
        Loss at the final state (NaN where the final state is singular, non-finite or interrupted).
    grad_norm : ndarray, shape (n,)
        Gradient norm at the final state, in the stopping norm ``norm``.
    steps : ndarray of int64, shape (n,)
        gd: updates made; euler/rk4: steps; dopri5: accepted steps (plus polish steps).
    t : ndarray, shape (n,)
        Flow time reached (``steps * step`` for gd, euler and rk4, except that euler/rk4 land on t1).
    status : ndarray of int8, shape (n,)
        :class:`Status` codes: CONVERGED, MAX_STEPS, DIVERGED, SINGULAR, NONFINITE, T1_REACHED,
        INTERRUPTED.
    plateau_time : ndarray, shape (n,)
        Time spent with gradient norm below ``plateau_gtol`` in episodes after which the gradient
        rose again (time near saddles, not the final approach).
    ts : ndarray, shape (n, n_saves), or None
        Times of the saved states (NaN in slots a trajectory never reached); None unless saved.
    Ws : ndarray, shape (n, n_saves, k, d), or None
        Saved states (NaN in unreached slots); None unless saved.
    method, step, norm : str, float, str
        The call's integrator, step (dt, or the initial dt of dopri5) and stopping norm.
    n_rejected : ndarray of int64, shape (n,), or None
        dopri5: rejected steps.
    n_polish : ndarray of int64, shape (n,), or None
        dopri5 with ``polish=True``: how many of ``steps`` were gd polish steps.
    """

    W: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    t: np.ndarray
    status: np.ndarray
    plateau_time: np.ndarray
    ts: np.ndarray | None = None
    Ws: np.ndarray | None = None
    method: str = "gd"
    step: float = 0.1
    norm: str = "row_max"
    n_rejected: np.ndarray | None = None
    n_polish: np.ndarray | None = None

    def status_counts(self) -> dict[str, int]:
        """How many trajectories ended in each status, by name (``{"CONVERGED": 998, ...}``)."""
        return status_counts(np.atleast_1d(np.asarray(self.status)))

    @property
    def converged(self):
        """Boolean mask (or bool for one state): which trajectories reached ``gtol``."""
        return np.asarray(self.status) == Status.CONVERGED


# --- dynsys.critical.census and dynsys.critical.saddles ------------------------------------------

def _pct(x) -> str:
    return f"{100.0 * x:.2f}"


@_dataclasses.dataclass(frozen=True, eq=False)
class CensusClass:
    """One class of minima, distinct up to the model's symmetry, reached by the runs of a census.

    Attributes
    ----------
    kind : str
        ``"global_minimum"``, ``"spurious_minimum"``, ``"minimum"`` (model not realisable) or
        ``"degenerate"`` (index 0, nullity beyond what symmetry explains).
    count : int
        Runs that ended in this class.
    fraction : float
        ``count / n_runs`` (over all runs).
    interval : tuple of float
        95% Wilson score interval of ``fraction``.
    loss : float
        Loss of the class (of its representative; equal over the class to the grouping tolerance).
    lambda_min, lambda_max : float
        Smallest and largest Hessian eigenvalue of the representative (the zero eigenvalues of a
        symmetry orbit, when there are any, are included: see ``nullity``).
    grad_norm : float
        Largest refined gradient norm over the class's runs (row max: largest row norm of grad L).
    multiplicity : int
        Distinct points of weight space (members of the symmetry orbit) the runs reached.
    n_functions : int
        Distinct network functions among them: points that differ by relabelling hidden units
        (student rows with equal top weights) count once.
    nullity : int
        Zero eigenvalues of the representative (MATH.md section 4 tolerance).
    W : ndarray, shape (k, d)
        A representative (the first run's refined endpoint).
    first_run : int
        The run that found the representative.
    """

    kind: str
    count: int
    fraction: float
    interval: tuple
    loss: float
    lambda_min: float
    lambda_max: float
    grad_norm: float
    multiplicity: int
    n_functions: int
    nullity: int
    W: np.ndarray
    first_run: int

    @property
    def spurious(self) -> bool:
        return self.kind == "spurious_minimum"


@_dataclasses.dataclass(frozen=True, eq=False)
class Census:
    """Where gradient descent from random starts ends: classes of minima with fractions and intervals.

    Attributes
    ----------
    classes : tuple of CensusClass
        Distinct minima up to symmetry, by increasing loss (the global minimum first when reached).
    labels : ndarray of int64, shape (n_runs,)
        Per run: its class index (>= 0), or -1 diverged / non-finite, -2 not converged (gd ran out of
        steps, or the endpoint did not refine to a critical point), -3 singular, -4 ended at a saddle
        (the basin-label convention of DESIGN.md).
    n_runs, n_saddle, n_unconverged, n_failed : int
        Runs in all; runs ending at a saddle; not converged; diverged, non-finite or singular.
        ``sum(c.count for c in classes) + n_saddle + n_unconverged + n_failed == n_runs``.
    spurious_fraction : float
        Runs ending at a spurious minimum over ALL runs, with its 95% Wilson ``spurious_interval``.
    global_fraction : float
        Runs ending at a global minimum over all runs, with ``global_interval``.
    loss, grad_norm, lambda_min : ndarray, shape (n_runs,)
        Per run, at the refined endpoint (NaN where there is none). ``grad_norm`` is the row-max norm
        of classification (``norm`` is gradient descent's stopping norm).
    steps : ndarray of int64, shape (n_runs,)
        Gradient-descent steps of each run.
    k, k_star, d : int
        Student width, teacher width, input dimension.
    step, gtol, norm, max_steps, seed, init :
        The call's arguments (``init`` is ``"array"`` when the starts were given).
    flow_time, classify_time : float
        Wall seconds spent in gradient descent and in refining/classifying/grouping.
    """

    classes: tuple
    labels: np.ndarray
    n_runs: int
    n_saddle: int
    n_unconverged: int
    n_failed: int
    spurious_fraction: float
    spurious_interval: tuple
    global_fraction: float
    global_interval: tuple
    loss: np.ndarray
    grad_norm: np.ndarray
    lambda_min: np.ndarray
    steps: np.ndarray
    k: int
    k_star: int
    d: int
    step: float
    gtol: float
    norm: str
    max_steps: int
    seed: object
    init: str
    flow_time: float = 0.0
    classify_time: float = 0.0

    @property
    def spurious_classes(self) -> tuple:
        return tuple(c for c in self.classes if c.kind == "spurious_minimum")

    @property
    def n_spurious(self) -> int:
        """Runs that ended at a spurious minimum."""
        return int(sum(c.count for c in self.spurious_classes))

    @property
    def wall_time(self) -> float:
        return self.flow_time + self.classify_time

    def table(self) -> str:
        """A plain-text table of the classes (one line each) under a summary line."""
        lo, hi = self.spurious_interval
        head = (f"census k={self.k}, k_star={self.k_star}, d={self.d}: {self.n_runs} runs of gd "
                f"(step {self.step:g}, gtol {self.gtol:.3g} in {self.norm}, init {self.init}, seed "
                f"{self.seed})\nspurious {_pct(self.spurious_fraction)}% [{_pct(lo)}, {_pct(hi)}]; "
                f"saddle endpoints {self.n_saddle}, unconverged {self.n_unconverged}, failed "
                f"{self.n_failed}; {self.flow_time:.2f} s gd + {self.classify_time:.2f} s classify")
        cols = (f"{'class':>5}  {'kind':<17}{'runs':>6}  {'fraction % [95% CI]':<24}{'loss':>12}"
                f"{'lambda_min':>12}{'max|grad|':>10}{'copies':>8}{'funcs':>7}")
        rows = [head, cols]
        for i, c in enumerate(self.classes):
            ci = f"{_pct(c.fraction)} [{_pct(c.interval[0])}, {_pct(c.interval[1])}]"
            rows.append(f"{i:>5}  {c.kind:<17}{c.count:>6}  {ci:<24}{c.loss:>12.5e}{c.lambda_min:>12.4e}"
                        f"{c.grad_norm:>10.1e}{c.multiplicity:>8}{c.n_functions:>7}")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()


@_dataclasses.dataclass(frozen=True, eq=False)
class CensusSweep:
    """Censuses of ``W* = I_k`` with student width ``k + k_extra`` for several k.

    Attributes
    ----------
    ks : tuple of int
    k_extra : int
    censuses : tuple of Census
        One per k, in the order of ``ks``.
    """

    ks: tuple
    k_extra: int
    censuses: tuple

    @property
    def spurious_fractions(self) -> np.ndarray:
        return np.array([c.spurious_fraction for c in self.censuses])

    @property
    def spurious_intervals(self) -> np.ndarray:
        """Shape (len(ks), 2): the 95% Wilson interval of each spurious fraction."""
        return np.array([c.spurious_interval for c in self.censuses], dtype=float).reshape(-1, 2)

    @property
    def wall_times(self) -> np.ndarray:
        return np.array([c.wall_time for c in self.censuses])

    def table(self) -> str:
        """k, runs, % spurious with interval, distinct spurious classes with their losses and
        multiplicities (distinct copies hit), saddle/unconverged endpoints and wall time."""
        rows = [f"census sweep: W* = I_k, student width k + {self.k_extra}",
                f"{'k':>3}{'runs':>6}  {'spurious % [95% CI]':<24}{'classes':>8}  "
                f"{'saddle':>6}{'unconv':>7}{'wall s':>8}  spurious classes: loss (runs, copies, lambda_min)"]
        for k, c in zip(self.ks, self.censuses):
            lo, hi = c.spurious_interval
            ci = f"{_pct(c.spurious_fraction)} [{_pct(lo)}, {_pct(hi)}]"
            sp = "; ".join(f"{s.loss:.6f} ({s.count}, {s.multiplicity}, {s.lambda_min:.2e})"
                           for s in c.spurious_classes) or "-"
            rows.append(f"{k:>3}{c.n_runs:>6}  {ci:<24}{len(c.spurious_classes):>8}  {c.n_saddle:>6}"
                        f"{c.n_unconverged + c.n_failed:>7}{c.wall_time:>8.2f}  {sp}")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()

    def plot(self, ax=None):
        """Spurious fraction against k with 95% Wilson intervals (matplotlib, imported here only).

        Returns the matplotlib Axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        f = self.spurious_fractions
        iv = self.spurious_intervals
        ax.errorbar(self.ks, 100 * f, yerr=100 * np.abs(np.stack([f - iv[:, 0], iv[:, 1] - f])),
                    fmt="o-", capsize=3)
        ax.set_xlabel("k (teacher I_k; student width k + %d)" % self.k_extra)
        ax.set_ylabel("runs ending at a spurious minimum (%)")
        n = sorted({c.n_runs for c in self.censuses})
        ax.set_title(f"{'/'.join(map(str, n))} runs per k, 95% Wilson intervals", fontsize=9)
        ax.set_xticks(list(self.ks))
        return ax


@_dataclasses.dataclass(frozen=True, eq=False)
class SaddlePoint:
    """A refined critical point from a saddle search, with its Morse index read off the Hessian.

    Attributes
    ----------
    W : ndarray
        The refined point.
    loss, grad_norm : float
        Loss and gradient norm (stopping norm) there.
    eigvals : ndarray
        Hessian eigenvalues, ascending.
    index, nullity : int
        Negative and zero eigenvalues (MATH.md section 4 tolerance); -1 when singular.
    kind : str
        As ``CriticalPoint.kind`` ("saddle" expected).
    status : int
        Status of the refinement (CONVERGED when Newton met its tolerance).
    point : CriticalPoint or None
        The classification by :func:`dynsys.critical.classify` (TeacherStudent models only).
    direction, sign, iterations : int
        Eigenvector following only: which mode (0 the softest) and direction found it, in how many steps.
    """

    W: np.ndarray
    loss: float
    grad_norm: float
    eigvals: np.ndarray
    index: int
    nullity: int
    kind: str
    status: int
    point: object = None
    direction: int = -1
    sign: int = 0
    iterations: int = 0


@_dataclasses.dataclass(frozen=True, eq=False)
class SaddlePath:
    """A relaxed path between two minima and the refined saddle at its top.

    Attributes
    ----------
    images : ndarray, shape (n_images + 2, k, d)
        The path, end points included.
    energies : ndarray, shape (n_images + 2,)
        Loss along it.
    climbing_image : int
        Index of the highest image (the one refined).
    saddle : SaddlePoint
        The refined highest image: ``saddle.index`` 1 is what a minimum-energy path between two
        minima crosses; anything else is reported as found.
    barriers : tuple of float
        Saddle loss minus the loss of the first and of the last end point.
    max_force : float
        Largest image force (row-max norm) when the relaxation stopped.
    iterations : int
        Relaxation iterations, all attempts together.
    status : int
        CONVERGED (forces below ``ftol``), MAX_STEPS, or SINGULAR / NONFINITE if an image went bad.
    method : str
        ``"neb"`` or ``"string"``.
    restarts : int
        Times the path was pushed off a higher-index top and relaxed again.
    """

    images: np.ndarray
    energies: np.ndarray
    climbing_image: int
    saddle: SaddlePoint
    barriers: tuple
    max_force: float
    iterations: int
    status: int
    method: str
    restarts: int = 0

    @property
    def index(self) -> int:
        return self.saddle.index

    @property
    def W(self) -> np.ndarray:
        return self.saddle.W

    @property
    def loss(self) -> float:
        return self.saddle.loss


# --- dynsys.montecarlo and dynsys.sgd (sampled inputs) --------------------------------------------

@_dataclasses.dataclass(frozen=True, eq=False)
class MonteCarloEstimate:
    """Sample estimate of the population loss and gradient (:func:`dynsys.monte_carlo`).

    Attributes
    ----------
    loss : float
        Mean over the samples of ``1/2 (g(x; W*) - g(x; W))^2``.
    loss_se : float
        Its standard error: sample standard deviation (ddof 1) over ``sqrt(n_samples)``
        (NaN for one sample).
    grad : ndarray, shape (k, d)
        Mean of the per-sample gradient ``-(g* - g) a_j sigma'((w_j + u_j) . x) x``.
    grad_se : ndarray, shape (k, d)
        Entrywise standard errors of ``grad``.
    n_samples : int
    sampler : str
        ``"gaussian"``, ``"uniform"`` or ``"callable"``.
    seed : int
    """

    loss: float
    loss_se: float
    grad: np.ndarray
    grad_se: np.ndarray
    n_samples: int
    sampler: str
    seed: int

    def z_scores(self, loss, grad):
        """``(estimate - exact) / se`` for a reference loss (float) and gradient (k, d)."""
        return ((self.loss - loss) / self.loss_se,
                (self.grad - np.asarray(grad)) / self.grad_se)


@_dataclasses.dataclass(frozen=True, eq=False)
class GatingEstimate:
    """Sample estimate of paper 000's population gating function (:func:`dynsys.monte_carlo_gating`).

    ``F`` estimates ``E[x 1{e . x > 0} relu(w . x)]`` (Theorem 1's ``E[F(e, w)] / N``); ``closed_form``
    is ``((pi - theta) w + |w| sin(theta) e / |e|) / (2 pi)``, exact for Gaussian inputs. For one pair
    the leading axis is dropped.

    Attributes
    ----------
    F, F_se : ndarray, shape (n, d)
        Sample mean and its entrywise standard error.
    closed_form : ndarray, shape (n, d)
    theta : ndarray, shape (n,)
        ``angle(e, w)`` in [0, pi].
    n_samples : int
    sampler : str
    seed : int
    """

    F: np.ndarray
    F_se: np.ndarray
    closed_form: np.ndarray
    theta: np.ndarray
    n_samples: int
    sampler: str
    seed: int

    @property
    def fitted_scale(self) -> float:
        """The one global scale c minimising ``sum |c closed_form - F|^2`` over all pairs.

        About 1 for Gaussian inputs, about 1/12 (the coordinate variance) for uniform [-1/2, 1/2]^d.
        """
        C = np.asarray(self.closed_form)
        return float(np.sum(C * self.F) / np.sum(C * C))

    def relative_error(self, scale=1.0):
        """Paper 000 Sec 7.1's error ``|scale * closed_form - F| / |F|`` per pair.

        ``scale="fit"`` uses :attr:`fitted_scale` (the paper's "up to a global scale" for
        non-Gaussian inputs).
        """
        c = self.fitted_scale if isinstance(scale, str) and scale == "fit" else float(scale)
        F = np.asarray(self.F)
        return np.linalg.norm(c * np.asarray(self.closed_form) - F, axis=-1) / np.linalg.norm(F, axis=-1)


@_dataclasses.dataclass(frozen=True, eq=False)
class SGDResult:
    """Outcome of :func:`dynsys.sgd`: final weights and learning curves of a batch of SGD runs.

    For a batch ``W0`` (runs, k, d) every per-run field has the run axis first; for one run
    ``W0`` (k, d) the run axis is dropped.

    Attributes
    ----------
    W : ndarray, shape (runs, k, d)
        Final weights (for a run that went bad: the last finite state, see ``status``).
    steps : ndarray of int64, shape (runs,)
        Updates made by each run (``epochs * steps_per_epoch`` unless it stopped early).
    record_steps : ndarray of int64, shape (n_rec,)
        Step counts at which the curves are recorded (0 = the start, the last = the end).
    train_loss : ndarray, shape (runs, n_rec)
        Mean of ``1/2 (g* - g)^2`` over the run's fixed set of ``n_samples`` inputs (with
        ``fresh=True`` that set is never trained on: a held-out estimate of the population loss).
    pop_loss : ndarray, shape (runs, n_rec)
        Population loss ``L(W)`` (closed form).
    dist : ndarray, shape (runs, n_rec)
        ``min_P |A (W + U) - P A* (W* + U)|_F`` over permutations P of the teacher rows (rows scaled by
        their top weights; without residual and with ``a = a* = 1`` this is ``min_P |W - P W*|_F``);
        NaN when ``k != k_star``.
    dist_raw : ndarray, shape (runs, n_rec)
        ``|W - W*|_F`` without matching (paper 002's ``|W - W*|``); NaN when ``k != k_star``.
    status : ndarray of int8, shape (runs,)
        0 (CONVERGED: all epochs done), DIVERGED or NONFINITE. Records after a run stopped are NaN.
    n_samples, batch_size, lr, epochs, seed, fresh, project, record_every, steps_per_epoch
        The call's arguments (``record_every`` resolved to a number of steps).
    run_ids : ndarray of uint64, shape (runs,)
        Random stream of each run (run r draws from stream ``(seed, run_ids[r])``).
    """

    W: np.ndarray
    steps: np.ndarray
    record_steps: np.ndarray
    train_loss: np.ndarray
    pop_loss: np.ndarray
    dist: np.ndarray
    dist_raw: np.ndarray
    status: np.ndarray
    n_samples: int
    batch_size: int
    lr: float
    epochs: int
    seed: int
    fresh: bool
    project: tuple | None
    record_every: int
    steps_per_epoch: int
    run_ids: np.ndarray

    @property
    def record_epochs(self) -> np.ndarray:
        """``record_steps`` in epochs (floats)."""
        return self.record_steps / self.steps_per_epoch

    def status_counts(self) -> dict[str, int]:
        """How many runs ended in each status, by name."""
        return status_counts(np.atleast_1d(np.asarray(self.status)))


# --- dynsys.critical (classify, find_critical_points) --------------------------------------------
import collections.abc as _abc  # noqa: E402  (appended section)

#: The kinds of critical point, in MATH.md section 4's order of precedence.
CRITICAL_KINDS = ("singular", "not_critical", "saddle", "global_minimum", "degenerate",
                  "spurious_minimum", "minimum")


@_dataclasses.dataclass(frozen=True, eq=False)
class CriticalPoint:
    """A classified point of weight space (:func:`dynsys.classify`).

    Attributes
    ----------
    W : ndarray, shape (k, d)
        The point (after Newton refinement unless ``refined`` is False).
    loss : float
        Population loss (NaN for a singular point).
    grad_norm : float
        Gradient norm in the row-max norm (largest per-row Euclidean norm of grad L) at ``W``.
    grad_norm_before : float
        The same at the point given, before refinement.
    eigvals : ndarray, shape (k d,) or (n_eig,)
        Hessian eigenvalues, ascending: all of them (``eig_complete``), or the smallest few from
        Lanczos for large k d. Empty for a singular point.
    morse_index : int
        Eigenvalues below ``-eig_tol`` (counted among the computed ones; -1 for a singular point).
    nullity : int
        Eigenvalues with ``|lambda| <= eig_tol`` (-1 for a singular point).
    nullity_expected : int
        The nullity that symmetry explains (MATH.md section 4, Theorem 2: rotation orbit dimension
        plus ``m_g - 1`` per group of ``m_g`` parallel student rows).
    kind : str
        One of :data:`CRITICAL_KINDS`, by MATH.md's precedence.
    row_norms : ndarray, shape (k,)
        Norms of the network rows ``w_j + u_j``.
    eig_tol : float
        Absolute zero tolerance on eigenvalues used: ``eig_rtol * max|lambda|``.
    loss_tol : float
        Absolute loss tolerance of "global": ``loss_rtol * teacher_energy``.
    gtol : float
        Gradient norm at or below which the point counts as critical.
    permutation : ndarray of int64, shape (k,), or None
        For a global minimum: the teacher row matched by each student row (parallel to it), -1 for a
        row that contributes nothing; None otherwise (and for alpha = 1, where rows are not matched).
    refined : bool
        Whether Newton refined the point.
    status : Status
        Newton's status (CONVERGED without refinement when the point was already critical).
    eig_complete : bool
        Whether ``eigvals`` is the whole spectrum (dense) or the smallest few (Lanczos).
    """

    W: np.ndarray
    loss: float
    grad_norm: float
    grad_norm_before: float
    eigvals: np.ndarray
    morse_index: int
    nullity: int
    nullity_expected: int
    kind: str
    row_norms: np.ndarray
    eig_tol: float
    loss_tol: float
    gtol: float
    permutation: np.ndarray | None
    refined: bool
    status: Status
    eig_complete: bool = True

    @property
    def lambda_min(self) -> float:
        """Smallest Hessian eigenvalue (NaN for a singular point)."""
        return float(self.eigvals[0]) if len(self.eigvals) else float("nan")

    @property
    def lambda_max(self) -> float:
        """Largest computed eigenvalue (with Lanczos, the largest of the whole spectrum is kept last)."""
        return float(self.eigvals[-1]) if len(self.eigvals) else float("nan")

    @property
    def is_critical(self) -> bool:
        return self.kind not in ("singular", "not_critical")

    def summary(self) -> str:
        """One line: kind, loss, gradient norm, index, nullity (expected), smallest eigenvalue."""
        return (f"{self.kind:<16} loss={self.loss:.6e} |g|={self.grad_norm:.1e} "
                f"index={self.morse_index} nullity={self.nullity} (expected {self.nullity_expected}) "
                f"lambda_min={self.lambda_min:.3e}")

    def __repr__(self) -> str:
        k, d = np.shape(self.W)
        return f"CriticalPoint(k={k}, d={d}: {self.summary()})"


@_dataclasses.dataclass(frozen=True, eq=False)
class CriticalSet(_abc.Sequence):
    """Distinct critical points found from many seeds (:func:`dynsys.find_critical_points`).

    A sequence of :class:`CriticalPoint` (``len``, indexing, iteration), ordered by the first seed
    that reached each point.

    Attributes
    ----------
    points : tuple of CriticalPoint
    counts : ndarray of int64, shape (n_points,)
        Seeds that reached each point (with deflation, each seed counts once per point it reached).
    seed_index : ndarray of int64, shape (n_points,)
        The first seed that reached each point.
    labels : ndarray of int64, shape (n_seeds,)
        For each seed, the index of the point its Newton run reached, or -1 when it reached none
        (its ``status`` says why).
    status : ndarray of int8, shape (n_seeds,)
        Newton's status per seed.
    residual : ndarray, shape (n_seeds,)
        Final row-max gradient norm per seed (NaN for a singular seed).
    gtol : float
        Newton's tolerance (row-max norm, absolute).
    dedup_tol : float
        Tolerance of the deduplication up to symmetry (on the normalised invariants).
    """

    points: tuple
    counts: np.ndarray
    seed_index: np.ndarray
    labels: np.ndarray
    status: np.ndarray
    residual: np.ndarray
    gtol: float
    dedup_tol: float

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, i):
        return self.points[i]

    def __iter__(self):
        return iter(self.points)

    @property
    def kinds(self) -> tuple:
        return tuple(p.kind for p in self.points)

    def by_kind(self, kind: str) -> tuple:
        """The points of one kind (``cs.by_kind("saddle")``)."""
        return tuple(p for p in self.points if p.kind == kind)

    def status_counts(self) -> dict[str, int]:
        """How many seeds ended in each Newton status."""
        return status_counts(self.status)

    def summary(self) -> str:
        """A table: one line per point (kind, count, loss, |g|, index, nullity, lambda_min)."""
        head = (f"{'#':>4} {'kind':<16} {'seeds':>6} {'loss':>13} {'|g|':>8} {'index':>5} "
                f"{'null':>4} {'expect':>6} {'lambda_min':>11}")
        lines = [f"CriticalSet: {len(self)} distinct points from {len(self.labels)} seeds "
                 f"({int(np.sum(self.labels < 0))} reached none; statuses {self.status_counts()})", head]
        for i, p in enumerate(self.points):
            lines.append(f"{i:>4} {p.kind:<16} {int(self.counts[i]):>6} {p.loss:>13.6e} {p.grad_norm:>8.1e} "
                         f"{p.morse_index:>5} {p.nullity:>4} {p.nullity_expected:>6} {p.lambda_min:>11.3e}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()
