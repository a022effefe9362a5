"""The result of :func:`dynsys.flow`."""

from __future__ import annotations

import dataclasses

import numpy as np

from . import display
from .io import Result
from .status import Status, status_counts


@dataclasses.dataclass(frozen=True, repr=False)
class FlowResult(Result):
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
        dopri5 with polish on (the default on the CPU backends): how many of ``steps`` were gd
        polish steps.
    interrupted : bool
        True when Ctrl-C stopped the call: trajectories that had finished keep their results, the
        others have status INTERRUPTED at the state they had reached (``W``, ``loss``, ``steps``,
        ``t`` as there; ``W0``, NaN loss and 0 steps for those never started). ``n_interrupted``
        counts them.
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
    interrupted: bool = False

    _call_fields = ("method", "step", "norm")

    def status_counts(self) -> dict[str, int]:
        """How many trajectories ended in each status, by name (``{"CONVERGED": 998, ...}``)."""
        return status_counts(np.atleast_1d(np.asarray(self.status)))

    @property
    def n_interrupted(self) -> int:
        """Trajectories not finished because the call was interrupted (status INTERRUPTED)."""
        return int(np.count_nonzero(np.asarray(self.status) == Status.INTERRUPTED))

    @property
    def converged(self):
        """Boolean mask (or bool for one state): which trajectories reached ``gtol``."""
        return np.asarray(self.status) == Status.CONVERGED

    def _headline(self) -> str:
        W = np.asarray(self.W)
        if W.ndim == 2:
            return (f"one trajectory, k={W.shape[0]}, d={W.shape[1]}, {self.method} step {self.step:g}: "
                    f"{display.brief(self.status)}, loss {display.brief(self.loss)}, {self.steps} steps")
        return (f"{W.shape[0]} trajectories, k={W.shape[1]}, d={W.shape[2]}, {self.method} step "
                f"{self.step:g}: {display.counts(self.status)}")
