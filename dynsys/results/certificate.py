"""Certificates of critical points (:func:`dynsys.certify`): a ball that provably holds exactly one
true critical point, and its proven Morse index, or the reason no certificate could be given."""

from __future__ import annotations

import collections
import collections.abc as abc
import dataclasses

import numpy as np

from .io import Result

#: Why a point was not certified (``Certificate.reason``), checked in this order.
CERTIFY_REASONS = ("too close to a zero row", "not critical", "degenerate", "bounds too weak")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Certificate(Result):
    """A Newton-Kantorovich certificate for one point (docs/certify.md).

    When ``certified``: the ball of radius ``radius`` around ``W`` holds a true critical point of the
    population loss, the only one in the ball of radius ``unique_radius``, and the Hessian there has
    exactly ``morse_index`` negative eigenvalues and none zero. Distances are Euclidean over all
    ``k d`` entries.

    Attributes
    ----------
    W : ndarray, shape (k, d)
        The point certified (as given).
    certified : bool
    radius : float
        Existence radius ``r = (1 - sqrt(1 - 2 h)) / (beta L)`` (``eta`` when ``L = 0``); NaN when not certified.
    unique_radius : float
        Uniqueness radius ``min(rho, (1 + sqrt(1 - 2 h)) / (beta L))``; NaN when not certified.
    morse_index : int
        Proven number of negative Hessian eigenvalues at the true critical point (-1 when not certified).
    reason : str or None
        None when certified, else one of :data:`CERTIFY_REASONS`.
    residual : float
        Euclidean norm of the computed gradient at ``W``.
    residual_bound : float
        Upper bound on the exact gradient's norm (residual plus its rounding error bound).
    grad_error : float
        The gradient's rounding error bound (:func:`dynsys.bounds.gradient_error_bound`).
    hessian_error : float
        Bound on the computed Hessian's error (:func:`dynsys.bounds.hessian_error_bound`).
    eig_error : float
        Largest error bound of the computed eigenvalues of the computed Hessian.
    lambda_min : float
        Smallest computed Hessian eigenvalue.
    eig_gap : float
        Smallest ``|lambda_i|``: the distance of the spectrum from zero.
    beta : float
        Bound on ``|H(W)^-1|_2``: ``1 / (eig_gap - hessian_error - eig_error)`` (inf when that is not positive).
    eta : float
        Bound on the Newton step: ``beta * residual_bound``.
    lipschitz : float
        Lipschitz constant of the Hessian on ``B(W, rho)`` (:func:`dynsys.bounds.hessian_lipschitz`).
    rho : float
        Radius of the ball the Lipschitz constant holds on.
    h : float
        Kantorovich's ``beta * L * eta`` (certified needs ``h <= 1/2``).
    weyl_margin : float
        How far any eigenvalue may move on the existence ball: ``L * radius + hessian_error + eig_error``.
    """

    W: np.ndarray
    certified: bool
    radius: float
    unique_radius: float
    morse_index: int
    reason: str | None
    residual: float
    residual_bound: float
    grad_error: float
    hessian_error: float
    eig_error: float
    lambda_min: float
    eig_gap: float
    beta: float
    eta: float
    lipschitz: float
    rho: float
    h: float
    weyl_margin: float

    def _headline(self) -> str:
        if self.certified:
            return (f"certified: a critical point of index {self.morse_index} within {self.radius:.2e} "
                    f"(unique within {self.unique_radius:.2e}); |g| <= {self.residual_bound:.1e}, "
                    f"beta {self.beta:.2e}, L {self.lipschitz:.2e}, h {self.h:.1e}")
        return (f"not certified ({self.reason}): |g| <= {self.residual_bound:.1e}, eig gap {self.eig_gap:.2e} "
                f"(error {self.hessian_error + self.eig_error:.1e}), L {self.lipschitz:.2e}, h {self.h:.1e}")

    def summary(self) -> str:
        """One line: the verdict, the radius and index or the reason, and the numbers behind it."""
        return self._headline()


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CertificateSet(Result, abc.Sequence):
    """Certificates of a batch of points (:func:`dynsys.certify` of a CriticalSet or a batch of states).

    A sequence of :class:`Certificate` (``len``, indexing, iteration), in the order of the points.

    Attributes
    ----------
    certificates : tuple of Certificate
    """

    certificates: tuple

    def __len__(self) -> int:
        return len(self.certificates)

    def __getitem__(self, i):
        return self.certificates[i]

    def __iter__(self):
        return iter(self.certificates)

    @property
    def certified(self) -> np.ndarray:
        """Whether each point is certified, bool (n,)."""
        return np.array([c.certified for c in self.certificates], dtype=bool)

    @property
    def radius(self) -> np.ndarray:
        """Existence radii, (n,) (NaN where not certified)."""
        return np.array([c.radius for c in self.certificates], dtype=float)

    @property
    def morse_index(self) -> np.ndarray:
        """Proven Morse indices, int64 (n,) (-1 where not certified)."""
        return np.array([c.morse_index for c in self.certificates], dtype=np.int64)

    @property
    def reasons(self) -> tuple:
        return tuple(c.reason for c in self.certificates)

    def _headline(self) -> str:
        n_ok = int(self.certified.sum())
        why = collections.Counter(r for r in self.reasons if r is not None)
        return (f"{n_ok} of {len(self)} points certified"
                + "".join(f", {n} {r}" for r, n in why.most_common()))

    def summary(self) -> str:
        """A table: one line per point (verdict, radius, index or reason, residual bound, h)."""
        lines = [self._headline(),
                 f"{'#':>4} {'certified':>9} {'radius':>9} {'index':>5} {'|g| bound':>9} {'eig gap':>9} "
                 f"{'L':>9} {'h':>8}  reason"]
        for i, c in enumerate(self.certificates):
            lines.append(f"{i:>4} {str(c.certified):>9} {c.radius:>9.2e} {c.morse_index:>5} "
                         f"{c.residual_bound:>9.1e} {c.eig_gap:>9.2e} {c.lipschitz:>9.2e} {c.h:>8.1e}  "
                         f"{c.reason or ''}")
        return "\n".join(lines)
