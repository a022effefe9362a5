"""Results from sampled inputs: Monte Carlo estimates (:mod:`dynsys.montecarlo`) and SGD runs (:mod:`dynsys.sgd`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from . import display
from .io import Result
from .status import status_counts


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class MonteCarloEstimate(Result):
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

    _call_fields = ("n_samples", "sampler", "seed")

    def _headline(self) -> str:
        k, d = np.shape(self.grad)
        return (f"loss {self.loss:.6g} +- {self.loss_se:.2g}, |grad| {np.linalg.norm(self.grad):.4g} "
                f"(k={k}, d={d}), {self.n_samples} {self.sampler} samples, seed {self.seed}")

    def z_scores(self, loss, grad):
        """``(estimate - exact) / se`` for a reference loss (float) and gradient (k, d)."""
        return ((self.loss - loss) / self.loss_se,
                (self.grad - np.asarray(grad)) / self.grad_se)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class GatingEstimate(Result):
    """Sample estimate of Tian's (ICML 2017) population gating function (:func:`dynsys.monte_carlo_gating`).

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

    _call_fields = ("n_samples", "sampler", "seed")

    def _headline(self) -> str:
        n = 1 if np.ndim(self.theta) == 0 else len(self.theta)
        return (f"{n} pair{'s' * (n != 1)}, d={np.shape(self.F)[-1]}, {self.n_samples} {self.sampler} "
                f"samples, seed {self.seed}: relative error of the closed form max "
                f"{np.max(self.relative_error()):.3g}")

    @property
    def fitted_scale(self) -> float:
        """The one global scale c minimising ``sum |c closed_form - F|^2`` over all pairs.

        About 1 for Gaussian inputs, about 1/12 (the coordinate variance) for uniform [-1/2, 1/2]^d.
        """
        C = np.asarray(self.closed_form)
        return float(np.sum(C * self.F) / np.sum(C * C))

    def relative_error(self, scale=1.0):
        """Tian (ICML 2017) Sec 7.1's error ``|scale * closed_form - F| / |F|`` per pair.

        ``scale="fit"`` uses :attr:`fitted_scale` (the paper's "up to a global scale" for
        non-Gaussian inputs).
        """
        c = self.fitted_scale if isinstance(scale, str) and scale == "fit" else float(scale)
        F = np.asarray(self.F)
        return np.linalg.norm(c * np.asarray(self.closed_form) - F, axis=-1) / np.linalg.norm(F, axis=-1)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SGDResult(Result):
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
        ``|W - W*|_F`` without matching (Jiang et al.'s ``|W - W*|``); NaN when ``k != k_star``.
    status : ndarray of int8, shape (runs,)
        0 (CONVERGED: all epochs done), DIVERGED or NONFINITE. Records after a run stopped are NaN.
    n_samples, batch_size, step, epochs, seed, fresh, project, record_every, steps_per_epoch
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
    step: float
    epochs: int
    seed: int
    fresh: bool
    project: tuple | None
    record_every: int
    steps_per_epoch: int
    run_ids: np.ndarray

    _call_fields = ("n_samples", "batch_size", "step", "epochs", "seed", "fresh", "project", "record_every")

    def _headline(self) -> str:
        W = np.asarray(self.W)
        runs = "one run" if W.ndim == 2 else f"{W.shape[0]} runs"
        final = np.asarray(self.pop_loss)[..., -1]
        return (f"{runs}, k={W.shape[-2]}, d={W.shape[-1]}, step {self.step:g}, batch {self.batch_size}, "
                f"{self.epochs} epochs, seed {self.seed}: {display.counts(self.status)}; final "
                f"population loss {'median ' * (final.ndim > 0)}{np.nanmedian(final):.4g}")

    @property
    def record_epochs(self) -> np.ndarray:
        """``record_steps`` in epochs (floats)."""
        return self.record_steps / self.steps_per_epoch

    def status_counts(self) -> dict[str, int]:
        """How many runs ended in each status, by name."""
        return status_counts(np.atleast_1d(np.asarray(self.status)))
