"""The exhaustive check of Conjecture 1 (Tian (ICML 2017) Sec 7.2, Fig 10): :func:`conjecture1_scan` and its
result :class:`Conjecture1Scan`. The grid and the float64 evaluations run in the Numba kernels of
:mod:`dynsys.theory.conjecture_kernel`, with a roundoff bound per evaluation; every doubtful point is
re-evaluated in mpmath.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import mpmath
import numpy as np

from .. import _validate as v
from ..progress import compile_notice
from ..config import (CONJ1_BOUND_SAFETY, CONJ1_EDGE_ATOL, CONJ1_LOCATION_CAP, CONJ1_MAX_MP_POINTS, CONJ1_MAX_N,
                      CONJ1_MP_DPS)
from ..results.io import Result
from . import conjecture_kernel as _cj
from .normal_equation import _l12_mp

__all__ = ["Conjecture1Scan", "conjecture1_scan"]


@dataclass(frozen=True, repr=False)
class Conjecture1Scan(Result):
    """Result of :func:`conjecture1_scan`.

    Attributes
    ----------
    N : int
        Grid size per axis (``N x N`` points).
    grid : str
        ``"midpoint"`` or ``"endpoint"``.
    n_points : int
        ``N^2``.
    n_excluded : int
        Points on rows outside the open interval ``0 < t < pi`` (the endpoint grid's rows t = 0 and
        t = pi, ``2 N`` points): not part of the conjecture, not checked.
    n_inside : int
        Checked points with e* strictly inside the cone (``0 < phi < t``).
    n_float64 : int
        Naive float64 violations over ALL points (excluded rows and edges included, as a direct scan
        counts them): the Eqn 14 value computed directly has the wrong strict sign, is 0 or NaN.
    n_float64_excluded, n_float64_boundary : int
        How many of those lie on excluded rows and on boundary points.
    n_boundary : int
        Points whose e* lies within ``CONJ1_EDGE_ATOL`` of ``e_1`` or ``e_2`` (phi in {0, t} up to the
        grid's roundoff, where ``L_12 = 0``): counted apart, not checked.
    n_uncertified : int
        Checked points whose sign the careful float64 evaluation does not certify (wrong sign, or
        ``|P|`` within its roundoff bound).
    n_doubtful : int
        The uncertified points plus every naive float64 violation among checked points: all of them
        are re-evaluated in mpmath.
    n_wrong_certified : int
        Checked points where the careful value has the wrong sign by more than its bound (a float64
        counterexample, before mpmath).
    n_confirmed : int or None
        Doubtful points whose ``mp_dps``-digit value has the wrong sign (or is zero at twice the
        digits): counterexamples to Conjecture 1. None when ``high_precision=False``.
    n_mp : int
        Points re-evaluated in mpmath.
    complete : bool
        False when more than ``CONJ1_MAX_MP_POINTS`` points were doubtful (only that many re-evaluated).
    float64_locations, doubtful_locations, confirmed_locations : ndarray of float64, shape (m, 2)
        ``(t, phi)`` of naive violations and doubtful points (first ``CONJ1_LOCATION_CAP``, row order)
        and of all confirmed counterexamples.
    mp_dps : int
    wall_time, kernel_time, mp_time : float
        Seconds: total, in the Numba kernels (compilation included on a cold cache), in mpmath.
    """

    N: int
    grid: str
    n_points: int
    n_excluded: int
    n_inside: int
    n_float64: int
    n_float64_excluded: int
    n_float64_boundary: int
    n_boundary: int
    n_uncertified: int
    n_doubtful: int
    n_wrong_certified: int
    n_confirmed: int | None
    n_mp: int
    complete: bool
    float64_locations: np.ndarray
    doubtful_locations: np.ndarray
    confirmed_locations: np.ndarray
    mp_dps: int
    wall_time: float
    kernel_time: float
    mp_time: float

    _call_fields = ("N", "grid", "mp_dps")

    def _headline(self) -> str:
        confirmed = "not checked" if self.n_confirmed is None else self.n_confirmed
        return (f"{self.N} x {self.N} {self.grid} grid: {self.n_float64} float64 violations, "
                f"{self.n_boundary} boundary, {self.n_doubtful} doubtful, confirmed {confirmed}, holds "
                f"{self.holds}" + ("" if self.complete else " (incomplete)") + f", {self.wall_time:.2f} s")

    @property
    def holds(self) -> bool | None:
        """True when no counterexample was confirmed (None without the high-precision pass)."""
        return None if self.n_confirmed is None else (self.n_confirmed == 0 and self.complete)


def _collect(counts_col, cap, mask, args):
    """(t, phi, P, bound, naive) of the first ``cap`` points (row order) whose flags meet ``mask``."""
    per_row = counts_col
    rows = np.flatnonzero(per_row)
    if rows.size == 0 or cap <= 0:
        return np.empty((0, 2)), np.empty((0, 3)), np.empty(0, np.int64), np.empty(0, np.int64)
    csum = np.cumsum(per_row[rows])
    total = min(int(cap), int(csum[-1]))
    keep = int(np.searchsorted(csum, total, side="left")) + 1
    rows = rows[:keep]
    caps = per_row[rows].copy()
    caps[-1] -= int(csum[keep - 1]) - total
    starts = np.concatenate([[0], np.cumsum(caps)[:-1]]).astype(np.int64)
    total = int(caps.sum())
    oi = np.empty(total, np.int64)
    oj = np.empty(total, np.int64)
    oP = np.empty(total)
    oe = np.empty(total)
    on = np.empty(total)
    t, phi, cphi, sphi, excl, edge, safety = args
    _cj.collect(rows.astype(np.int64), starts, caps.astype(np.int64), mask, t, phi, cphi, sphi, excl, edge,
                safety, oi, oj, oP, oe, on)
    return np.stack([t[oi], phi[oj]], axis=1), np.stack([oP, oe, on], axis=1), oi, oj


def conjecture1_scan(N=10_000, grid="midpoint", high_precision=True, *, mp_dps=CONJ1_MP_DPS):
    """Check Conjecture 1 (Tian (ICML 2017) Sec 5.3) on an N x N grid over (t, phi), with error control.

    For every grid point ``(t_i, phi_j)`` the sign of ``L_12`` (:func:`L12`) is compared with the
    conjecture's: ``> 0`` when ``0 < phi < t`` (e* strictly inside ``Cone(e_1, e_2)``), ``< 0`` for
    ``phi`` in ``(t, 2 pi)``. Each point is evaluated twice in float64 by a Numba kernel
    (:mod:`dynsys.theory.conjecture_kernel`): naively from Eqn 14 (counted as ``n_float64``) and in a
    cancellation-free form with a running roundoff bound. Points on the cone's edges (within
    ``CONJ1_EDGE_ATOL``) are counted apart; points whose sign is not certified by the bound, and every
    naive violation, are *doubtful* and are re-evaluated in mpmath at ``mp_dps`` digits (the float64
    t and phi taken exactly). A doubtful point is *confirmed* when its high-precision sign is wrong.

    Parameters
    ----------
    N : int
        Points per axis (the paper used ``10^4 x 10^4``).
    grid : {"midpoint", "endpoint"}
        ``"midpoint"``: ``t_i = pi (i + 1/2)/N``, ``phi_j = 2 pi (j + 1/2)/N`` (no point on t = 0, pi or
        on an edge). ``"endpoint"``: the paper's ``t_i = pi i/(N - 1)``, ``phi_j = 2 pi j/(N - 1)``; its
        rows ``t = 0`` (``M_r = pi 11^T`` singular, L_12 undefined) and ``t = pi`` (the last row; its
        float value fl(pi) is 1.2e-16 below pi, but it stands for t = pi, where ``e_2 = -e_1``, the cone
        has no interior and ``L_12 = 0`` identically) lie outside the conjecture's open interval: they
        are excluded from the check (``n_excluded``) but counted in the naive ``n_float64``, as a direct
        scan would count them. Its points ``phi = 0``, ``phi = 2 pi (N-1)/(N-1)`` and ``phi_j = t_{2j}``
        lie on edges (``n_boundary``).
    high_precision : bool
        Re-evaluate doubtful points in mpmath (else ``n_confirmed`` is None).
    mp_dps : int
        mpmath digits (doubled once for a value below ``10^-(mp_dps - 10)`` times its terms).

    Returns
    -------
    Conjecture1Scan
    """
    start = time.perf_counter()
    N = v.positive_int(N, "N", minimum=2, maximum=CONJ1_MAX_N,
                       why="config.CONJ1_MAX_N: the scan evaluates N^2 points")
    grid = v.choice(grid, "grid", ("midpoint", "endpoint"))
    mp_dps = v.positive_int(mp_dps, "mp_dps", minimum=20, maximum=10**4, why="mpmath's cost grows like dps^2")
    endpoint = grid == "endpoint"
    t = np.empty(N)
    phi = np.empty(N)
    k0 = time.perf_counter()
    cphi = np.empty(N)
    sphi = np.empty(N)
    compile_notice(_cj.scan_rows, "theory")
    _cj.grid(N, endpoint, t, phi, cphi, sphi)
    excl = np.zeros(N, np.bool_)
    if endpoint:
        excl[0] = excl[-1] = True
    counts = np.zeros((N, _cj.N_COUNTERS), np.int64)
    args = (t, phi, cphi, sphi, excl, float(CONJ1_EDGE_ATOL), float(CONJ1_BOUND_SAFETY))
    _cj.scan_rows(t, phi, cphi, sphi, excl, args[5], args[6], counts)
    tot = counts.sum(axis=0)
    f64_loc, _, _, _ = _collect(counts[:, _cj.C_NAIVE], CONJ1_LOCATION_CAP, _cj.NAIVE, args)
    n_doubt = int(tot[_cj.C_DOUBTFUL])
    n_mp_target = min(n_doubt, CONJ1_MAX_MP_POINTS) if high_precision else min(n_doubt, CONJ1_LOCATION_CAP)
    d_loc, _, _, _ = _collect(counts[:, _cj.C_DOUBTFUL], n_mp_target, _cj.DOUBTFUL, args)
    kernel_time = time.perf_counter() - k0
    m0 = time.perf_counter()
    confirmed = []
    n_conf = None
    complete = True
    if high_precision:
        complete = n_doubt <= CONJ1_MAX_MP_POINTS
        if not complete:
            warnings.warn(f"{n_doubt} doubtful points; only the first {CONJ1_MAX_MP_POINTS} (row order) are "
                          f"re-evaluated in mpmath (raise config.CONJ1_MAX_MP_POINTS)", RuntimeWarning,
                          stacklevel=2)
        for ti, pj in d_loc:
            sgn = 1 if (0.0 < pj < ti) else -1
            L, scale = _l12_mp(ti, pj, mp_dps)
            if abs(L) <= scale * mpmath.mpf(10) ** (-(mp_dps - 10)):
                L, scale = _l12_mp(ti, pj, 2 * mp_dps)
                if abs(L) <= scale * mpmath.mpf(10) ** (-(2 * mp_dps - 10)):
                    L = mpmath.mpf(0)
            if not sgn * L > 0:
                confirmed.append((ti, pj))
        n_conf = len(confirmed)
    mp_time = time.perf_counter() - m0
    return Conjecture1Scan(
        N=N, grid=grid, n_points=N * N, n_excluded=int(tot[_cj.C_EXCLUDED]), n_inside=int(tot[_cj.C_INSIDE]),
        n_float64=int(tot[_cj.C_NAIVE]), n_float64_excluded=int(tot[_cj.C_NAIVE_EXCLUDED]),
        n_float64_boundary=int(tot[_cj.C_NAIVE_BOUNDARY]), n_boundary=int(tot[_cj.C_BOUNDARY]),
        n_uncertified=int(tot[_cj.C_UNCERTIFIED]), n_doubtful=n_doubt,
        n_wrong_certified=int(tot[_cj.C_WRONG]), n_confirmed=n_conf,
        n_mp=len(d_loc) if high_precision else 0, complete=complete,
        float64_locations=f64_loc, doubtful_locations=d_loc[:CONJ1_LOCATION_CAP],
        confirmed_locations=np.array(confirmed, dtype=float).reshape(-1, 2), mp_dps=mp_dps,
        wall_time=time.perf_counter() - start, kernel_time=kernel_time, mp_time=mp_time)
