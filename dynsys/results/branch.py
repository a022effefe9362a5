"""A followed branch of critical points (:func:`dynsys.continuation`) and its events."""

from __future__ import annotations

import dataclasses

import numpy as np

from .io import Result
from .status import Status

#: The kinds of event along a branch (fixed strings; docs/continuation.md defines each).
EVENT_KINDS = ("fold", "branch_point", "symmetric_branch_point", "nonsmooth", "nullity_change")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Event(Result):
    """Where the Morse index, the nullity or the smoothness of the field changes along a branch.

    Attributes
    ----------
    p : float
        Parameter value (located to ``p_tol`` for folds and branch points; for ``"nonsmooth"`` the
        first point of the branch past the change).
    kind : str
        One of :data:`EVENT_KINDS`.
    index_before, index_after : int
        Morse index on either side (in the branch's direction of travel).
    nullity : int
        Nullity measured at the located point (including the branch's own).
    W : ndarray, state shape
        The located point.
    loss : float
    eigvals : ndarray, shape (m,)
        The crossing eigenvalues at ``W`` (nearest zero, outside the branch's own null space).
    vectors : ndarray, shape (m, n)
        Their eigenvectors (flattened states).
    position : int
        The event lies between branch points ``position - 1`` and ``position``.
    p_tol : float
        Width of the final bracket in p (0 when not located by bisection).
    symmetric : bool
        The crossing direction breaks a symmetry of the branch (its two signs give points equal up
        to symmetry): the branch point is forced by the symmetry (a pitchfork).
    groups_before, groups_after : tuple
        For ``"nonsmooth"``: the pairs (i, j) of parallel rows on either side.
    group_order : int
        Order of the symmetry group acting on the crossing eigenspace (1: no symmetry known that fixes
        the point; 0: not computed). :func:`dynsys.continuation.isotropy` and
        :func:`~dynsys.continuation.switch_branch` fill it and ``subgroups`` in.
    group_generators : tuple of ndarray (n, n)
        Generators of that group, as linear maps of flattened displacements from ``W``.
    subgroups : tuple of AxialSubgroup
        The axial isotropy subgroups of that group (empty when not computed, or when it has none).
    """

    p: float
    kind: str
    index_before: int
    index_after: int
    nullity: int
    W: np.ndarray
    loss: float
    eigvals: np.ndarray
    vectors: np.ndarray
    position: int
    p_tol: float = 0.0
    symmetric: bool = False
    groups_before: tuple = ()
    groups_after: tuple = ()
    group_order: int = 0
    group_generators: tuple = ()
    subgroups: tuple = ()

    def _headline(self) -> str:
        sub = f", {len(self.subgroups)} axial subgroups" if self.subgroups else ""
        return (f"{self.kind} at p = {self.p:.10g} (index {self.index_before} -> {self.index_after}, "
                f"nullity {self.nullity}, loss {self.loss:.6g}{sub})")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class AxialSubgroup(Result):
    """An axial isotropy subgroup of the symmetry group acting on the crossing eigenspace (the kernel)
    at a branch point: by the equivariant branching lemma a branch of critical points with this
    symmetry leaves along its fixed direction (docs/continuation.md).

    Attributes
    ----------
    order : int
        Elements of the subgroup, as maps of the kernel.
    fixed_dim : int
        Dimension of its fixed-point subspace in the kernel (1: axial).
    direction : ndarray, shape (n,)
        Unit vector (flattened state) spanning the fixed subspace; its largest entry is positive.
    generators : ndarray, shape (g, n, n)
        Generators of the subgroup as linear maps of flattened displacements from the branch point
        (none for the trivial subgroup).
    permutations : tuple of tuple of int
        Each generator's row permutation (row j goes to row ``perm[j]``, the map of R^d applied to every
        row), for states of shape (k, d) whose maps permute rows; () otherwise.
    conjugacy_class : int
        Subgroups with the same number are conjugate: their branches are images of each other.
    signs_conjugate : bool
        Some symmetry maps the direction to its negative: the two signs give branches equal up to
        symmetry (as at a pitchfork); otherwise they are two different branches.
    """

    order: int
    fixed_dim: int
    direction: np.ndarray
    generators: np.ndarray
    permutations: tuple
    conjugacy_class: int
    signs_conjugate: bool

    def _headline(self) -> str:
        perms = f", row permutations {list(self.permutations)}" if any(self.permutations) else ""
        return (f"axial subgroup of order {self.order} (fixed dimension {self.fixed_dim}, class "
                f"{self.conjugacy_class}, signs {'conjugate' if self.signs_conjugate else 'distinct'}, "
                f"{len(self.generators)} generators{perms})")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Switching(Result):
    """The branches that cross a branch at a branch point (:func:`dynsys.continuation.switch_branch`).

    Iterating over it, ``len`` and indexing give its ``branches``.

    Attributes
    ----------
    event : Event
        The branch point with its symmetry (:func:`dynsys.continuation.isotropy`): ``group_order``,
        ``subgroups`` and the crossing eigenvectors separated from the branch's own null directions.
    subgroups : tuple of AxialSubgroup
        The axial isotropy subgroups (the same as ``event.subgroups``); empty when the group has none,
        and then the starts were tried along the crossing eigenvectors and their sums and differences.
    branches : tuple of Branch
        One per start up to the system's invariants (:func:`dynsys.same_point`), each followed from
        its start towards ``p_end``.
    starts : ndarray, shape (s,) + state shape
        Every new critical point found next to the branch point (both sides of it).
    start_p : ndarray, shape (s,)
        Their parameter values (the event's p plus or minus ``dp``).
    start_subgroup : ndarray of int64, shape (s,)
        The subgroup each start was switched onto (-1 without subgroups).
    start_sign : ndarray of int64, shape (s,)
        The sign along its direction.
    start_class : ndarray of int64, shape (s,)
        Class of each start modulo the branch point's symmetry group: starts with the same number are
        images of each other (without subgroups: the class of :func:`dynsys.same_point`).
    start_branch : ndarray of int64, shape (s,)
        Index into ``branches`` of the branch that represents each start.
    """

    event: Event
    subgroups: tuple
    branches: tuple
    starts: np.ndarray
    start_p: np.ndarray
    start_subgroup: np.ndarray
    start_sign: np.ndarray
    start_class: np.ndarray
    start_branch: np.ndarray

    def __len__(self) -> int:
        return len(self.branches)

    def __iter__(self):
        return iter(self.branches)

    def __getitem__(self, i):
        return self.branches[i]

    def _headline(self) -> str:
        n_cls = len(set(int(c) for c in self.start_class))
        return (f"switching at {self.event.kind} p = {self.event.p:.10g}: kernel dimension "
                f"{len(self.event.vectors)}, group order {self.event.group_order}, {len(self.subgroups)} axial "
                f"subgroups, {len(self.starts)} "
                f"starts in {n_cls} classes up to symmetry, {len(self.branches)} branches followed")

    def summary(self) -> str:
        """The headline, one line per subgroup and one per start."""
        lines = [f"Switching: {self._headline()}"]
        for i, g in enumerate(self.subgroups):
            lines.append(f"  [{i}] {g._headline()}")
        for i in range(len(self.starts)):
            lines.append(f"  start at p = {self.start_p[i]:.6g}: subgroup {int(self.start_subgroup[i])}, sign "
                         f"{int(self.start_sign[i]):+d}, class {int(self.start_class[i])}, branch "
                         f"{int(self.start_branch[i])}")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Branch(Result):
    """A branch of critical points followed in one parameter (:func:`dynsys.continuation`).

    Attributes
    ----------
    p : ndarray, shape (N,)
        Parameter along the branch (not monotone past a fold).
    W : ndarray, shape (N,) + state shape
        The critical points.
    s : ndarray, shape (N,)
        Arclength in (W, p).
    loss, grad_norm : ndarray, shape (N,)
        Loss and row-max gradient norm at each point.
    morse_index, nullity : ndarray of int64, shape (N,)
        From the LDL^T inertia of the Hessian and the Ritz values nearest zero.
    eigvals : ndarray, shape (N, q)
        The ``q`` Hessian eigenvalues nearest zero at each point, ascending.
    tangent_p : ndarray, shape (N,)
        p-component of the unit tangent (changes sign at a fold).
    events : tuple of Event
    status : Status
        CONVERGED (the last point is at ``p_end``), STALLED (step below ``step_min``, or the family's
        domain edge reached before ``p_end``), MAX_STEPS, SINGULAR (a row of W + U reached zero),
        INTERRUPTED (Ctrl-C).
    own_nullity : int
        The branch's own nullity (null directions at the start that the continuation borders out:
        symmetry orbits, mass between parallel rows, families of critical points).
    parameter : str
        The family's parameter name.
    derivative : str
        How d grad / d p was computed.
    p0, p_end : float
        The requested start and end.
    message : str
        Why the branch ended, in words.
    path : str
        How it was computed: ``"compiled"`` (the compiled kernel, many points per call) or ``"general"``.
    """

    p: np.ndarray
    W: np.ndarray
    s: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    morse_index: np.ndarray
    nullity: np.ndarray
    eigvals: np.ndarray
    tangent_p: np.ndarray
    events: tuple
    status: Status
    own_nullity: int
    parameter: str
    derivative: str
    p0: float
    p_end: float
    step: float
    step_min: float
    step_max: float
    gtol: float
    eig_rtol: float
    message: str = ""
    path: str = ""

    _call_fields = ("p0", "p_end", "step", "step_min", "step_max", "gtol", "eig_rtol")

    def __len__(self) -> int:
        return int(self.p.shape[0])

    def events_of(self, kind: str) -> tuple:
        """The events of one kind."""
        return tuple(e for e in self.events if e.kind == kind)

    def _headline(self) -> str:
        idx = sorted(set(int(i) for i in self.morse_index))
        return (f"{len(self)} points, {self.parameter} from {self.p[0]:.6g} to {self.p[-1]:.6g}, "
                f"{Status(self.status).name}, index {idx}, own nullity {self.own_nullity}, "
                f"{len(self.events)} events")

    def summary(self) -> str:
        """The headline, the range of each quantity and one line per event."""
        lines = [f"Branch: {self._headline()}",
                 f"  loss in [{np.min(self.loss):.6g}, {np.max(self.loss):.6g}], max |grad| "
                 f"{np.max(self.grad_norm):.2e}, dgrad/dp: {self.derivative}",
                 f"  ended: {self.message or Status(self.status).message}"]
        for e in self.events:
            lines.append(f"  {e._headline()}")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class EventCurve(Result):
    """A fold or branch point followed in two parameters (:func:`dynsys.continuation.follow_event`).

    Attributes
    ----------
    p, q : ndarray, shape (N,)
        The curve in the parameter plane where the crossing eigenvalue vanishes.
    W : ndarray, shape (N,) + state shape
        The degenerate critical points along it.
    loss : ndarray, shape (N,)
    kind : str
        The kind of the followed event.
    status : Status
        CONVERGED (last point at ``q_end``), STALLED or MAX_STEPS.
    names : (str, str)
        Names of p and q.
    q0, q_end : float
    message : str
    """

    p: np.ndarray
    q: np.ndarray
    W: np.ndarray
    loss: np.ndarray
    kind: str
    status: Status
    names: tuple
    q0: float
    q_end: float
    message: str = ""

    _call_fields = ("q0", "q_end")

    def __len__(self) -> int:
        return int(self.p.shape[0])

    def _headline(self) -> str:
        return (f"{self.kind} curve, {len(self)} points, {self.names[1]} from {self.q[0]:.6g} to "
                f"{self.q[-1]:.6g}, {self.names[0]} from {self.p[0]:.6g} to {self.p[-1]:.6g}, "
                f"{Status(self.status).name}")
