"""Results of :func:`dynsys.basins`: :class:`BasinResult` and its attractor table (:class:`Attractor`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._codes import ENTERED, LABEL_NOT_COMPUTED
from .io import Result
from .status import Label

#: Kinds of attractor, in the order of ``BasinResult.kind_counts``.
KINDS = ("global_minimum", "spurious_minimum", "minimum", "degenerate")
#: Width in cells of the boxes of the basin entropy (Daza et al., Sci. Rep. 6, 31416 (2016)).
ENTROPY_BOX = 5


def _pct(x) -> str:
    return f"{100.0 * x:.2f}"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Attractor(Result):
    """One attractor of a basin map (a row of ``BasinResult.attractors``; its label is its index).

    Attributes
    ----------
    label : int
        Its label (>= 0; its index in the table).
    kind : str
        ``"global_minimum"``, ``"spurious_minimum"``, ``"minimum"`` (model not realisable) or
        ``"degenerate"`` (index 0, nullity beyond what symmetry explains).
    class_id : int
        Symmetry class: 0 holds every global minimum (when one is reached); other classes by
        increasing loss. Fractions per class sum the fractions of its labels.
    loss, lambda_min : float
        At the representative.
    W : ndarray, one state
        The representative: the refined endpoint of the first cell that reached it.
    assignment : ndarray of int16, shape (k,), or None
        Global minimum: the teacher row each student row matches (k > k*: rows split between
        parallel students). None for the other kinds and for systems without teacher rows.
    permutation : ndarray of int16, shape (k,), or None
        ``assignment`` when it is a permutation (k = k*), else None.
    count : int
        Cells labelled with it.
    fraction : float
        ``count`` over the finished cells, with its 95% Wilson ``interval``.
    first_cell : int
        The first cell that reached it (-1: passed in as known and not reached here).
    mean_steps : float
        Mean flow steps of its cells (NaN when count is 0).
    """

    label: int
    kind: str
    class_id: int
    loss: float
    lambda_min: float
    W: np.ndarray
    assignment: object
    permutation: object
    count: int
    fraction: float
    interval: tuple
    first_cell: int
    mean_steps: float

    def _headline(self) -> str:
        lo, hi = self.interval
        what = ("" if self.permutation is None else f" perm {tuple(int(p) for p in self.permutation)}") or (
            "" if self.assignment is None else f" assignment {tuple(int(p) for p in self.assignment)}")
        return (f"label {self.label}: {self.kind}{what}, class {self.class_id}, {self.count} cells "
                f"({_pct(self.fraction)}% [{_pct(lo)}, {_pct(hi)}]), loss {self.loss:.6e}")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class BasinResult(Result):
    """Where each initialisation ends: labels of a basin map, its attractors and their fractions.

    Attributes
    ----------
    labels : ndarray of int64, shape (n,)
        Per cell: its attractor's label (>= 0, an index of ``attractors``) or a reserved label
        (:class:`dynsys.Label`): -1 diverged, -2 not converged, -3 singular, -4 ended at a saddle,
        -5 not computed (interrupted, or a chunk not yet run). ``label_map`` has the grid's shape.
    attractors : tuple of Attractor
        One per label, in label order (canonical: see docs/basins.md).
    reserved_counts : ndarray of int64, shape (5,)
        Cells with labels -1 .. -5, in that order.
    reserved_intervals : ndarray, shape (5, 2)
        95% Wilson intervals of the fractions of labels -1 .. -5 (the last is unused: -5 is never
        counted in a fraction).
    class_counts : ndarray of int64, shape (n_classes,)
        Cells per symmetry class (``class_id`` 0, 1, ...), with ``class_interval_bounds`` (n_classes, 2)
        their 95% Wilson intervals.
    kind_counts : ndarray of int64, shape (4,)
        Cells per kind of attractor (``KINDS``: global, spurious, minimum, degenerate), with
        ``kind_interval_bounds`` (4, 2) their 95% Wilson intervals (:attr:`kind_fractions`).
    saddle_points : ndarray, shape (n_saddles,) + state shape
        The distinct saddles that cells ended at (refined; first cell first), with
        ``saddle_counts`` the cells that reached each.
    loss, lambda_min : ndarray, shape (n,)
        At each cell's refined endpoint (NaN where there is none).
    steps : ndarray of int64, shape (n,)
        Flow steps of each cell.
    status : ndarray of int8, shape (n,)
        The flow's :class:`dynsys.Status` of each cell.
    grid_shape : tuple or None
        ``(rows, columns)`` of a 2D map (cell ``i`` is ``divmod(i, columns)``), None for a sample.
    sampler : dict
        The sampler's description (``Sampler.describe()``).
    method, step, gtol, max_steps :
        The flow's arguments.
    k, d : int
        State shape of a teacher-student model (0 for another system).
    flow_time, classify_time : float
        Seconds spent in the flow and in classification, summed over the chunks computed now.
    interrupted : bool
        Ctrl-C stopped the call, or some chunk is missing: ``n_not_computed`` cells are -5, and the
        fractions are over the other cells.
    """

    labels: np.ndarray
    attractors: tuple
    reserved_counts: np.ndarray
    reserved_intervals: np.ndarray
    class_counts: np.ndarray
    class_interval_bounds: np.ndarray
    kind_counts: np.ndarray
    kind_interval_bounds: np.ndarray
    saddle_points: np.ndarray
    saddle_counts: np.ndarray
    loss: np.ndarray
    lambda_min: np.ndarray
    steps: np.ndarray
    status: np.ndarray
    grid_shape: object
    sampler: dict
    method: str
    step: float
    gtol: float
    max_steps: int
    k: int
    d: int
    flow_time: float = 0.0
    classify_time: float = 0.0
    interrupted: bool = False

    _call_fields = ("method", "step", "gtol", "max_steps", "sampler")

    # ------------------------------------------------------------------ counts and fractions
    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_not_computed(self) -> int:
        return int(self.reserved_counts[-LABEL_NOT_COMPUTED - 1])

    @property
    def n_done(self) -> int:
        """Cells finished (all but ``n_not_computed``): the denominator of every fraction."""
        return self.n - self.n_not_computed

    def _counts(self) -> dict:
        out = {a.label: a.count for a in self.attractors}
        for j, c in enumerate(self.reserved_counts):
            if -(j + 1) != LABEL_NOT_COMPUTED:
                out[-(j + 1)] = int(c)
        return out

    @property
    def fractions(self) -> dict:
        """``{label: fraction}`` over the finished cells, attractors and reserved labels -1..-4 (sums
        to 1)."""
        n = self.n_done
        return {lab: (c / n if n else math.nan) for lab, c in self._counts().items()}

    @property
    def intervals(self) -> dict:
        """``{label: (lo, hi)}``: 95% Wilson score intervals of :attr:`fractions`."""
        out = {a.label: tuple(a.interval) for a in self.attractors}
        for j in range(-LABEL_NOT_COMPUTED - 1):
            out[-(j + 1)] = (float(self.reserved_intervals[j, 0]), float(self.reserved_intervals[j, 1]))
        return out

    @property
    def class_fractions(self) -> dict:
        """``{class_id: fraction}``: the fractions of each symmetry class's labels, summed."""
        n = self.n_done
        return {c: (int(m) / n if n else math.nan) for c, m in enumerate(self.class_counts)}

    @property
    def class_intervals(self) -> dict:
        """``{class_id: (lo, hi)}``: 95% Wilson intervals of :attr:`class_fractions`."""
        return {c: (float(b[0]), float(b[1])) for c, b in enumerate(self.class_interval_bounds)}

    @property
    def kind_fractions(self) -> dict:
        """``{kind: fraction}`` for the four kinds of attractor (summed over their labels)."""
        n = self.n_done
        return {k: (int(c) / n if n else math.nan) for k, c in zip(KINDS, self.kind_counts)}

    @property
    def kind_intervals(self) -> dict:
        """``{kind: (lo, hi)}``: 95% Wilson intervals of :attr:`kind_fractions`."""
        return {k: (float(b[0]), float(b[1])) for k, b in zip(KINDS, self.kind_interval_bounds)}

    def class_kind(self, class_id) -> str:
        """The kind of the attractors of a class."""
        for a in self.attractors:
            if a.class_id == class_id:
                return a.kind
        raise KeyError(f"no attractor has class_id {class_id}")

    @property
    def entered(self) -> np.ndarray:
        """bool (n,): cells stopped by label on entry (status ``ENTERED``; their ``steps`` count to the
        entry, their ``loss`` and ``lambda_min`` are the minimum's; docs/basins.md)."""
        return self.status == ENTERED

    @property
    def mean_steps(self) -> dict:
        """``{label: mean flow steps}`` over the cells with that label (finished cells only)."""
        out = {}
        for lab in np.unique(self.labels):
            if lab != LABEL_NOT_COMPUTED:
                out[int(lab)] = float(np.mean(self.steps[self.labels == lab]))
        return out

    # ------------------------------------------------------------------ maps
    @property
    def label_map(self) -> np.ndarray:
        """``labels`` with the grid's shape (rows = the slice's second coordinate)."""
        if self.grid_shape is None:
            raise ValueError("this basin result is a sample, not a grid: it has no map")
        return self.labels.reshape(tuple(self.grid_shape))

    @property
    def boundary(self) -> np.ndarray:
        """Bool map (grid shape): cells with a 4-neighbour of another label."""
        L = self.label_map
        b = np.zeros(L.shape, dtype=bool)
        dv = L[1:, :] != L[:-1, :]
        dh = L[:, 1:] != L[:, :-1]
        b[1:, :] |= dv
        b[:-1, :] |= dv
        b[:, 1:] |= dh
        b[:, :-1] |= dh
        return b

    def entropy(self, box=None):
        """Basin entropy ``S_b`` and boundary basin entropy ``S_bb`` of the map (Daza et al., Sci.
        Rep. 6, 31416 (2016)), over boxes of ``box x box`` cells (default ``ENTROPY_BOX``, or the
        map's smaller side when it is smaller); every label (reserved ones too) is an outcome.

        ``S_b`` is the mean over boxes of ``-sum_i p_i log p_i``; ``S_bb`` the same mean over the
        boxes that hold more than one label. Returns ``(S_b, S_bb)`` (``S_bb`` is 0 with no boundary).
        """
        L = self.label_map
        box = min(ENTROPY_BOX, *L.shape) if box is None else int(box)
        if box < 1:
            raise ValueError(f"box must be >= 1; got {box}")
        r, c = (L.shape[0] // box) * box, (L.shape[1] // box) * box
        if r == 0 or c == 0:
            raise ValueError(f"the map {L.shape} is smaller than one box of {box} x {box} cells")
        B = L[:r, :c].reshape(r // box, box, c // box, box).transpose(0, 2, 1, 3).reshape(-1, box * box)
        ent = np.zeros(B.shape[0])
        mixed = np.zeros(B.shape[0], dtype=bool)
        for i, row in enumerate(B):
            _, cnt = np.unique(row, return_counts=True)
            p = cnt / row.size
            ent[i] = float(-np.sum(p * np.log(p)))
            mixed[i] = cnt.size > 1
        return float(ent.mean()), float(ent[mixed].mean()) if mixed.any() else 0.0

    # ------------------------------------------------------------------ text
    def table(self, max_rows=20) -> str:
        """Per symmetry class, then per attractor (the first ``max_rows``) and reserved label, the
        cells with fraction and 95% interval."""
        rows = [f"basins of {self.n} cells ({self.sampler.get('sampler', '?')}), {self.method} step "
                f"{self.step:g}, gtol {self.gtol:.3g}: {len(self.attractors)} attractors in "
                f"{len(self.class_counts)} classes; {self.flow_time:.2f} s flow + {self.classify_time:.2f} s "
                f"classify"]
        if self.n_not_computed:
            rows.append(f"not computed: {self.n_not_computed} of {self.n} cells (fractions are over "
                        f"the {self.n_done} finished cells)")
        labels_of: dict = {}
        for a in self.attractors:
            labels_of.setdefault(a.class_id, []).append(a)
        for c, f in self.class_fractions.items():
            lo, hi = self.class_intervals[c]
            atts = labels_of.get(c, [])
            kind = atts[0].kind if atts else "?"
            rows.append(f"class {c} ({kind}, {len(atts)} labels, loss {atts[0].loss if atts else math.nan:.6e}): "
                        f"{int(self.class_counts[c])} cells ({_pct(f)}% [{_pct(lo)}, {_pct(hi)}])")
        for a in self.attractors[:max_rows]:
            rows.append("  " + a._headline())
        if len(self.attractors) > max_rows:
            rows.append(f"  ... {len(self.attractors) - max_rows} more attractors (table(max_rows=...))")
        fr, iv, counts = self.fractions, self.intervals, self._counts()
        for lab in sorted((x for x in fr if x < 0), reverse=True):
            if counts[lab]:
                rows.append(f"label {lab} ({Label(lab).name.lower()}): {counts[lab]} cells ({_pct(fr[lab])}% "
                            f"[{_pct(iv[lab][0])}, {_pct(iv[lab][1])}])")
        return "\n".join(rows)

    def summary(self) -> str:
        """The :meth:`table`."""
        return self.table()

    def _headline(self) -> str:
        kinds = {}
        for a in self.attractors:
            kinds[a.kind] = kinds.get(a.kind, 0) + a.count
        parts = ", ".join(f"{k} {_pct(c / self.n_done) if self.n_done else 'nan'}%" for k, c in kinds.items())
        return (f"{self.n} cells{'' if self.grid_shape is None else f' {tuple(self.grid_shape)}'}, "
                f"{len(self.attractors)} attractors ({parts}), saddle {int(self.reserved_counts[3])}, "
                f"unconverged {int(self.reserved_counts[1])}, not computed {self.n_not_computed}")

