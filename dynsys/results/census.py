"""Results of :func:`dynsys.critical.census` and :func:`dynsys.critical.census_sweep`."""

from __future__ import annotations

import dataclasses

import numpy as np

from .io import Result


def _pct(x) -> str:
    return f"{100.0 * x:.2f}"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CensusClass(Result):
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
        Zero eigenvalues of the representative (docs/math.md section 4 tolerance).
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

    def _headline(self) -> str:
        lo, hi = self.interval
        return (f"{self.kind}, {self.count} runs ({_pct(self.fraction)}% [{_pct(lo)}, {_pct(hi)}]), loss "
                f"{self.loss:.6e}, lambda_min {self.lambda_min:.3e}, multiplicity {self.multiplicity}, "
                f"n_functions {self.n_functions}")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Census(Result):
    """Where gradient descent from random starts ends: classes of minima with fractions and intervals.

    Attributes
    ----------
    classes : tuple of CensusClass
        Distinct minima up to symmetry, by increasing loss (the global minimum first when reached).
    labels : ndarray of int64, shape (n_runs,)
        Per run: its class index (>= 0), or -1 diverged / non-finite, -2 not converged (gd ran out of
        steps, or the endpoint did not refine to a critical point), -3 singular, -4 ended at a saddle,
        -5 not finished (the census was interrupted) (the reserved labels of :class:`dynsys.Label`).
    n_runs, n_saddle, n_unconverged, n_failed : int
        Runs in all; runs ending at a saddle; not converged; diverged, non-finite or singular.
        ``sum(c.count for c in classes) + n_saddle + n_unconverged + n_failed + n_interrupted ==
        n_runs``.
    spurious_fraction : float
        Runs ending at a spurious minimum over all finished runs (all runs unless interrupted), with
        its 95% Wilson ``spurious_interval``.
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
    n_interrupted : int
        Runs not finished because the census was interrupted (Ctrl-C); 0 for a complete census. The
        fractions and class fractions are then over the ``n_runs - n_interrupted`` finished runs,
        which lean towards runs that finish fast, and ``table()`` says so.
    certificates : CertificateSet or None
        With ``census(..., certify=True)``: one certificate per class representative, in the order of
        ``classes`` (:func:`dynsys.certify`).
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
    n_interrupted: int = 0
    certificates: object = None

    _call_fields = ("step", "gtol", "norm", "max_steps", "seed", "init")

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
        """A plain-text table of the classes (one line each) under a summary line.

        Column headers are the :class:`CensusClass` attribute names (``class`` is the index in
        ``classes``; fraction and interval are in percent).
        """
        lo, hi = self.spurious_interval
        head = (f"census k={self.k}, k_star={self.k_star}, d={self.d}: {self.n_runs} runs of gd "
                f"(step {self.step:g}, gtol {self.gtol:.3g} in {self.norm}, init {self.init}, seed "
                f"{self.seed})\nspurious {_pct(self.spurious_fraction)}% [{_pct(lo)}, {_pct(hi)}]; "
                f"saddle endpoints {self.n_saddle}, unconverged {self.n_unconverged}, failed "
                f"{self.n_failed}; {self.flow_time:.2f} s gd + {self.classify_time:.2f} s classify")
        # headers are the CensusClass attribute names (fraction and interval in %)
        cols = (f"{'class':>5}  {'kind':<17}{'count':>6}  {'fraction [interval] %':<24}{'loss':>12}"
                f"{'lambda_min':>12}{'grad_norm':>10}{'nullity':>8}{'multiplicity':>13}{'n_functions':>12}")
        rows = [head, cols]
        if self.n_interrupted:
            rows.insert(1, f"interrupted: {self.n_interrupted} of {self.n_runs} runs not finished "
                           f"(fractions are over the {self.n_runs - self.n_interrupted} finished runs)")
        for i, c in enumerate(self.classes):
            ci = f"{_pct(c.fraction)} [{_pct(c.interval[0])}, {_pct(c.interval[1])}]"
            rows.append(f"{i:>5}  {c.kind:<17}{c.count:>6}  {ci:<24}{c.loss:>12.5e}{c.lambda_min:>12.4e}"
                        f"{c.grad_norm:>10.1e}{c.nullity:>8}{c.multiplicity:>13}{c.n_functions:>12}")
        return "\n".join(rows)

    def summary(self) -> str:
        """The :meth:`table`."""
        return self.table()

    def _headline(self) -> str:
        lo, hi = self.spurious_interval
        return (f"k={self.k}, k_star={self.k_star}, d={self.d}, {self.n_runs} runs: {len(self.classes)} "
                f"classes, spurious {_pct(self.spurious_fraction)}% [{_pct(lo)}, {_pct(hi)}], global "
                f"{_pct(self.global_fraction)}%, saddle {self.n_saddle}, unconverged {self.n_unconverged}, "
                f"failed {self.n_failed}")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CensusSweep(Result):
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

    _call_fields = ("ks", "k_extra")

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
        """One line per k: the :class:`Census` attributes named in the header (spurious fraction
        and interval in percent; ``spurious_classes`` is their number), then each spurious class as
        ``loss (count, multiplicity, lambda_min)``."""
        rows = [f"census sweep: W* = I_k, student width k + {self.k_extra}",
                f"{'k':>3}{'n_runs':>7}  {'spurious_fraction [interval] %':<32}{'spurious_classes':>17}"
                f"{'n_saddle':>9}{'n_unconverged':>14}{'n_failed':>9}{'wall_time':>10}  "
                f"spurious classes: loss (count, multiplicity, lambda_min)"]
        for k, c in zip(self.ks, self.censuses):
            lo, hi = c.spurious_interval
            ci = f"{_pct(c.spurious_fraction)} [{_pct(lo)}, {_pct(hi)}]"
            sp = "; ".join(f"{s.loss:.6f} ({s.count}, {s.multiplicity}, {s.lambda_min:.2e})"
                           for s in c.spurious_classes) or "-"
            rows.append(f"{k:>3}{c.n_runs:>7}  {ci:<32}{len(c.spurious_classes):>17}{c.n_saddle:>9}"
                        f"{c.n_unconverged:>14}{c.n_failed:>9}{c.wall_time:>10.2f}  {sp}")
        for k, c in zip(self.ks, self.censuses):
            if c.n_interrupted:
                rows.append(f"interrupted: k={k}: {c.n_interrupted} of {c.n_runs} runs not finished")
        return "\n".join(rows)

    def summary(self) -> str:
        """The :meth:`table`."""
        return self.table()

    def _headline(self) -> str:
        return (f"k in {self.ks}, student width k + {self.k_extra}: spurious % "
                + ", ".join(f"{_pct(f)}" for f in self.spurious_fractions))
