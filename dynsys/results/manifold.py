"""A sampled manifold of critical points (:func:`dynsys.trace_manifold`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .io import Result
from .status import Status


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Manifold(Result):
    """Points sampled on the connected set of critical points through a start point.

    Every point was corrected by Newton to ``grad_norm <= gtol``. Point 0 is the start; every other
    point was reached by one predictor step from point ``parent[i]`` (the sampling is a tree: its
    edges join neighbours on the manifold).

    Attributes
    ----------
    W : ndarray, shape (n, *state_shape)
        The sampled critical points.
    parent : ndarray of int64, shape (n,)
        The point each one was stepped from (-1 for the start).
    loss : ndarray, shape (n,)
        Loss at each point (constant on a manifold of critical points, up to roundoff).
    grad_norm : ndarray, shape (n,)
        Row-max gradient norm at each point.
    morse_index, nullity : ndarray of int64, shape (n,)
        Hessian eigenvalues below ``-eig_tol`` and with ``|lambda| <= eig_tol``
        (``eig_tol = eig_rtol max|lambda|`` at that point).
    nullity_expected : ndarray of int64, shape (n,)
        The nullity the symmetry explains at each point (docs/math.md section 4: rotation orbit plus
        ``m_g - 1`` per group of ``m_g`` parallel rows).
    local_dim : ndarray of int64, shape (n,)
        Dimension of the sampled set near each point by local PCA of its neighbours (-1 where fewer
        than three neighbours lie within ``pca_radius``).
    dim_null : int
        Nullity of the Hessian at the start: the dimension of the tangent space the steps use.
    dim_sampled : int
        The most common ``local_dim`` (-1 when no point had enough neighbours).
    dim_expected : int
        ``nullity_expected`` at the start: the dimension the symmetry predicts.
    step : float
        Predictor step (absolute, in weight space).
    pca_radius : float
        Neighbourhood radius of the local PCA (absolute).
    gtol : float
        Gradient tolerance every point meets.
    eig_rtol : float
        Relative zero tolerance on eigenvalues.
    status : Status
        CONVERGED: no predictor step from any sampled point found a new point (the connected set
        within ``radius`` is covered at this resolution); MAX_STEPS: ``max_points`` reached;
        INTERRUPTED: Ctrl-C (the points so far).
    n_failed : int
        Predictor steps whose corrector did not converge (an edge of the set: a row reaching zero,
        a change of nullity, or a step too long for the curvature).
    """

    W: np.ndarray
    parent: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    morse_index: np.ndarray
    nullity: np.ndarray
    nullity_expected: np.ndarray
    local_dim: np.ndarray
    dim_null: int
    dim_sampled: int
    dim_expected: int
    step: float
    pca_radius: float
    gtol: float
    eig_rtol: float
    status: Status
    n_failed: int

    _call_fields = ("step", "gtol", "eig_rtol")

    @property
    def n_points(self) -> int:
        """Number of sampled points."""
        return int(self.W.shape[0])

    @property
    def loss_range(self) -> tuple:
        """``(min, max)`` of the loss over the sampled points."""
        return float(np.min(self.loss)), float(np.max(self.loss))

    @property
    def indices(self) -> tuple:
        """The distinct Morse indices met along the manifold, ascending."""
        return tuple(int(i) for i in np.unique(self.morse_index))

    def _headline(self) -> str:
        lo, hi = self.loss_range
        idx = ", ".join(map(str, self.indices))
        return (f"{self.n_points} points, dimension {self.dim_sampled} sampled / {self.dim_null} null space / "
                f"{self.dim_expected} symmetry, loss [{lo:.10g}, {hi:.10g}], Morse index {idx}, "
                f"max grad {float(np.max(self.grad_norm)):.2g}, {self.status.name}")

    def summary(self) -> str:
        """The headline, then the sampling and its tolerances."""
        lo, hi = self.loss_range
        return (f"Manifold: {self._headline()}\n"
                f"  dimension: sampled (local PCA) {self.dim_sampled}, Hessian nullity {self.dim_null}, "
                f"explained by symmetry {self.dim_expected}\n"
                f"  loss: {lo:.12g} .. {hi:.12g} (spread {hi - lo:.3g})\n"
                f"  Morse index along it: {', '.join(map(str, self.indices))}; nullity "
                f"{int(np.min(self.nullity))}..{int(np.max(self.nullity))}\n"
                f"  step {self.step:.4g}, gtol {self.gtol:.3g}, eig_rtol {self.eig_rtol:.3g}, "
                f"{self.n_failed} corrector failures, status {self.status.name}")


__all__ = ["Manifold"]
