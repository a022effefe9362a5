"""Classified critical points (:func:`dynsys.classify`, :func:`dynsys.find_critical_points`) and the
saddles of :func:`dynsys.critical.saddle_between` and :func:`dynsys.critical.eigenvector_following`."""

from __future__ import annotations

import collections
import collections.abc as abc
import dataclasses

import numpy as np

from . import display
from .io import Result
from .status import Status, status_counts

#: The kinds of critical point, in docs/math.md section 4's order of precedence.
CRITICAL_KINDS = ("singular", "not_critical", "saddle", "global_minimum", "degenerate",
                  "spurious_minimum", "minimum")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CriticalPoint(Result):
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
        The nullity that symmetry explains (docs/math.md section 4, Theorem 2: rotation orbit dimension
        plus ``m_g - 1`` per group of ``m_g`` parallel student rows).
    kind : str
        One of :data:`CRITICAL_KINDS`, by the precedence of docs/math.md section 4.
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
    match : ndarray of int64, shape (k,), or None
        At every point (any kind): each student row's nearest teacher row, by the cosine between the
        contributions ``a_j (w_j + u_j)`` and ``a*_k (w*_k + u_k)``; -1 for a row that contributes
        nothing. The permutation at a global minimum. None for a system without a teacher (a toy).
    match_cosine : ndarray, shape (k,), or None
        Cosine between each student row and its teacher row (NaN where ``match`` is -1).
    unmatched_teacher : ndarray of int64, shape (m,), or None
        Teacher rows the point has not learnt: no student row is strictly nearer to it than to the
        other teacher rows while being the nearest student row to it (empty at a global minimum;
        :func:`dynsys.critical.teacher_assignment`).
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
    match: np.ndarray | None = None
    match_cosine: np.ndarray | None = None
    unmatched_teacher: np.ndarray | None = None

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

    def _line(self) -> str:
        return (f"{self.kind:<16} loss={self.loss:.6e} |g|={self.grad_norm:.1e} "
                f"index={self.morse_index} nullity={self.nullity} (expected {self.nullity_expected}) "
                f"lambda_min={self.lambda_min:.3e}")

    def matching(self) -> str:
        """The teacher matching in words: ``"row 0 -> teacher 1 (cos 1.0000), ...; unmatched teacher
        rows: [2]"`` (empty string for a system without a teacher)."""
        if self.match is None:
            return ""
        pairs = ", ".join(f"row {j} -> teacher {int(t)} (cos {c:.4f})" if t >= 0 else f"row {j} -> none"
                          for j, (t, c) in enumerate(zip(self.match, self.match_cosine)))
        return f"{pairs}; unmatched teacher rows: {[int(t) for t in self.unmatched_teacher]}"

    def summary(self) -> str:
        """Kind, loss, gradient norm, index, nullity (expected), smallest eigenvalue; then the
        teacher matching (:meth:`matching`) on a second line when there is a teacher."""
        m = self.matching()
        return self._line() + (f"\n  {m}" if m else "")

    def __repr__(self) -> str:
        shape = np.shape(self.W)
        dims = f"k={shape[0]}, d={shape[1]}" if len(shape) == 2 else f"dim={np.size(self.W)}"
        return f"CriticalPoint({dims}: {self._line()})"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CriticalSet(Result, abc.Sequence):
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
    certificates : CertificateSet or None
        With ``find_critical_points(..., certify=True)``: one certificate per point, in the order of
        ``points`` (:func:`dynsys.certify`).
    """

    points: tuple
    counts: np.ndarray
    seed_index: np.ndarray
    labels: np.ndarray
    status: np.ndarray
    residual: np.ndarray
    gtol: float
    dedup_tol: float
    certificates: object = None

    _call_fields = ("gtol", "dedup_tol")

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

    def _headline(self) -> str:
        kinds = collections.Counter(self.kinds)
        return (f"{len(self)} distinct points from {len(self.labels)} seeds"
                + "".join(f", {n} {kind}" for kind, n in kinds.most_common()))


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SaddlePoint(Result):
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
        Negative and zero eigenvalues (docs/math.md section 4 tolerance); -1 when singular.
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

    def _headline(self) -> str:
        found = (f", mode {self.direction} sign {self.sign:+d} in {self.iterations} steps"
                 if self.direction >= 0 else "")
        return (f"{self.kind}, index {self.index}, nullity {self.nullity}, loss {self.loss:.6e}, "
                f"|g| {self.grad_norm:.1e}, {Status(int(self.status)).name}{found}")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SaddlePath(Result):
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

    _call_fields = ("method",)

    def _headline(self) -> str:
        return (f"{self.method}, {len(self.energies)} images, top image {self.climbing_image}: saddle "
                f"index {self.saddle.index}, loss {self.saddle.loss:.6e}, barriers "
                f"{display.brief(self.barriers)}, max force {self.max_force:.1e}, {self.iterations} "
                f"iterations, {self.restarts} restarts, {Status(int(self.status)).name}")

    @property
    def index(self) -> int:
        return self.saddle.index

    @property
    def W(self) -> np.ndarray:
        return self.saddle.W

    @property
    def loss(self) -> float:
        return self.saddle.loss
