"""Label on entry: certified balls around minima, tested inside the gradient-descent kernel.

A ball ``B(c, r)`` around a non-degenerate minimum ``c`` from :func:`dynsys.bounds.definite_radius`
at the run's step ``s`` has every Hessian positive definite and ``|I - s H| <= q < 1`` on it, so the
gradient-descent map ``g(W) = W - s grad L(W)`` is a contraction there with fixed point ``c``: a run
that enters the ball stays in it and converges to ``c``. Its label is ``c``'s, so the run can stop at
entry. docs/basins.md states the argument and its limits.

For the flow methods (rk4, dopri5; ``certify(..., flow=True)``) a ball needs no step condition: on a
ball where every Hessian is at least ``mu I`` (``mu > 0``) around a minimum ``c``, the exact gradient
flow has ``d/dt |W - c|^2 = -2 <grad L(W), W - c> <= -2 mu |W - c|^2``, so the ball is forward
invariant and the flow converges to ``c``. The numerical trajectory is tested against the ball
shrunk by ``ENTRY_FLOW_MARGIN``, at accepted steps (:mod:`dynsys.kernels.ode_entry`).

The balls reach the kernel (:func:`dynsys.kernels.gd_entry._gd_entry_batch`, or for the flow
methods :mod:`dynsys.kernels.ode_entry`) as one
:class:`EntryArrays`. With ``k!`` teacher permutations the kernel never loops over balls: it
matches each student row to its nearest teacher row (``O(k k* d)``), and only the ball that this
matching names is tested:

* **teacher permutations** of a model whose loss is symmetric under permuting rows (equal top
  weights, ``k = k*``): every permutation's ball has the radius of the identity's (the Hessian at
  ``(W* + U)[perm]`` is the identity's conjugated by the permutation, and the Lipschitz bound is
  symmetric in the rows), so one certificate covers all ``k!`` of them;
* **keyed balls** (explicit minima whose ball lies where the nearest-row matching is constant: each
  centre row is nearer its nearest teacher row than any other by more than ``2 r``): a point inside
  has the centre's matching, looked up in a sorted table of keys;
* **direct balls** (any other minimum, e.g. spurious ones): sorted by the projection of their centre
  on a fixed direction ``z``; a state is tested only against the balls whose projection lies within
  the largest direct radius of its own (a point of a ball projects within the radius of its centre),
  found by binary search, so thousands of spurious balls of a pilot map cost a few tests.

A wrong matching can only miss an entry (the run goes on, as without entry), never claim one: every
claim is a direct distance test against the named centre.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import warnings
from typing import NamedTuple

import numpy as np

from ..bounds import (definite_radius, eigvalsh_bounded, hessian_error_bound, hessian_lipschitz,
                      network_rows)
from ..config import ENTRY_EVERY, ENTRY_FLOW_MARGIN, ENTRY_MAX_PERMUTATIONS_K
from ..model import TeacherStudent

#: Balls are tested with this relative margin below their radius (the distance is computed in
#: floating point; the margin is far above its rounding error).
_MARGIN = 1e-9
#: Keys are base-k* numbers of the matching; beyond this they would overflow int64.
_KEY_LIMIT = 2 ** 62


class EntryArrays(NamedTuple):
    """The balls as the kernel reads them (see the module docstring).

    ``T`` (k*, d) teacher network rows; ``perm_r2`` squared radius of every teacher permutation's
    ball (0: none); ``C`` (n_balls, k, d) explicit centres with squared radii ``r2`` (n_balls,);
    ``keys`` (sorted int64) and ``key_ball`` the keyed balls; ``direct`` (int64) the other balls,
    sorted by ``proj`` (their centres' projections on the unit direction ``z`` (k, d)), ``rd`` the
    largest radius among them; ``g2max`` a bound on the squared gradient norm inside any ball (no test
    above it); ``every`` steps between two tests.
    """

    T: np.ndarray
    perm_r2: float
    C: np.ndarray
    r2: np.ndarray
    keys: np.ndarray
    key_ball: np.ndarray
    direct: np.ndarray
    z: np.ndarray
    proj: np.ndarray
    rd: float
    g2max: float
    every: int


@dataclasses.dataclass(frozen=True, eq=False)
class EntryBalls:
    """Certified balls of a basin plan (picklable).

    Attributes
    ----------
    centres : ndarray, shape (n_balls,) + state shape
        Explicit minima (from ``attractors=``, or the teacher permutations of a model without row
        symmetry).
    radii : ndarray, shape (n_balls,)
        Their radii in the Frobenius norm of the state, already shrunk for a centre that is only a
        numerical minimum.
    q : ndarray, shape (n_balls,)
        Contraction factor of gradient descent on each ball (NaN for flow balls).
    perm_radius, perm_q : float
        Radius and factor of the ball of every teacher permutation (0 and NaN: none; q NaN for flow
        balls).
    n_perm : int
        How many teacher permutations that ball stands for (``k!`` or 0).
    kernel : EntryArrays
        What the kernel reads.
    source : str
        ``"teacher permutations"`` or ``"attractors"``.
    flow : bool
        Balls for the gradient flow (rk4, dopri5: positive definite Hessian, radius shrunk by
        ``ENTRY_FLOW_MARGIN``) rather than for the gradient-descent map.
    """

    centres: np.ndarray
    radii: np.ndarray
    q: np.ndarray
    perm_radius: float
    perm_q: float
    n_perm: int
    kernel: EntryArrays
    source: str
    flow: bool = False

    @property
    def n_balls(self) -> int:
        """Every certified ball, each teacher permutation counted."""
        return int(self.radii.size) + self.n_perm

    def identity(self) -> dict:
        """JSON-able identity for a store: the test interval and a hash of the balls."""
        h = hashlib.sha256(np.ascontiguousarray(self.centres, dtype=float).tobytes())
        h.update(np.ascontiguousarray(self.radii, dtype=float).tobytes())
        h.update(np.float64(self.perm_radius).tobytes())
        ident = {"every": int(self.kernel.every), "source": self.source, "n_balls": self.n_balls,
                 "balls_sha256": h.hexdigest()}
        if self.flow:  # only then: identities of gd stores stay as they were
            ident["flow"] = True
        return ident


def teacher_minima(model) -> np.ndarray:
    """The global minima ``W + U = (W* + U)[perm]`` of a model with ``k = k*`` (k! states; gradient
    zero in exact arithmetic, so the ball needs no shrinking), as (k!,) + state shape."""
    V, T, a, a_star, _ = network_rows(model, np.zeros(model.state_shape))
    U = V  # network rows of the zero state are the residual
    out = []
    for perm in itertools.permutations(range(model.k)):
        p = list(perm)
        if np.array_equal(a, a_star[p]):  # the permuted teacher is a minimum only when the top weights match
            out.append(T[p] - U)
    return np.array(out).reshape((len(out),) + tuple(model.state_shape))


def row_symmetric(model) -> bool:
    """Whether every teacher permutation is a minimum with the same certified ball: ``k = k*`` and
    all top weights equal (the loss is then invariant under permuting the rows of ``W + U``)."""
    _, _, a, a_star, _ = network_rows(model, np.zeros(model.state_shape))
    return model.k == model.k_star and bool(np.all(a == a[0])) and bool(np.all(a_star == a[0]))


def _radius(model, c, step):
    """:func:`definite_radius` at ``c``, refined: it returns the first radius of a halving grid that
    works, so the best one lies in ``[r, 2 r)``; try ``r 2^(j/4)``, j = 3, 2, 1 (each passes the
    same test at its own radius)."""
    r, q = definite_radius(model, c, step=step)
    if r > 0:
        for j in (3, 2, 1):
            rho = r * 2.0 ** (j / 4)
            r2, q2 = definite_radius(model, c, step=step, rho_max=rho)
            if r2 == rho:
                return r2, q2
    return r, q


def _flow_mu(model, c, r):
    """Lower bound on every Hessian eigenvalue on ``B(c, r)``: the bound :func:`definite_radius` tests
    (``lambda_min(H(c)) - L(r) r - e``), evaluated at the radius it returned."""
    H = model.hessian(np.asarray(c, dtype=float))
    lam, err = eigvalsh_bounded(H)
    e = hessian_error_bound(model, c) + float(np.max(err))
    return float(lam[0]) - hessian_lipschitz(model, c, r) * r - e


def certify(model, step, attractors=None, every=ENTRY_EVERY, stacklevel=3, flow=False) -> EntryBalls:
    """Certified balls for label on entry at gradient-descent step ``step`` (or, with ``flow=True``,
    for the gradient flow integrated by rk4 or dopri5).

    Centres: the minima among ``attractors`` (their representatives ``W``, kinds
    ``global_minimum``, ``spurious_minimum`` or ``minimum``), and, for a model with ``k = k*``, the
    teacher permutations: all ``k!`` by one certificate when the rows are symmetric
    (:func:`row_symmetric`; then global-minimum attractors need no ball of their own), else one by one
    for ``k <= ENTRY_MAX_PERMUTATIONS_K`` when no attractors are given. A representative is a
    numerical minimum: the true minimum ``c*`` lies within ``delta = s |grad L(W)| / (1 - q)`` of it
    (the contraction moves ``W`` by ``s |grad L(W)|``), so its ball is shrunk to ``r - 2 delta``. A
    minimum whose ball cannot be certified gets none, and a warning says its runs go to full length.

    With ``flow=True`` the radius is :func:`definite_radius`'s without a step (every Hessian on the
    ball at least ``mu I``, ``mu > 0``), times ``1 - ENTRY_FLOW_MARGIN`` (room for the integration
    error); a representative's true minimum lies within ``|grad L(W)| / mu`` of it (strong
    convexity on the ball), and its ball is shrunk by twice that. ``q`` is NaN and the kernel tests
    at every ``every``-th accepted step with no gradient bound (``g2max`` infinite).
    """
    if not isinstance(model, TeacherStudent):
        raise ValueError(f"entry=True needs a TeacherStudent model (the ball radii come from its Hessian "
                         f"Lipschitz bound); got {type(model).__name__}. Pass entry=False.")
    shape = tuple(model.state_shape)
    V0, T, _, _, _ = network_rows(model, np.zeros(shape))
    U = V0
    sym = row_symmetric(model)
    failed, total = 0, 0
    perm_r, perm_q, n_perm = 0.0, math.nan, 0
    if sym:
        total += 1
        r, q = _radius(model, T - U, None if flow else step)
        if r > 0 and (flow or q < 1):
            perm_r, perm_q, n_perm = r * (1.0 - ENTRY_FLOW_MARGIN) if flow else r, q, math.factorial(model.k)
        else:
            failed += 1
    if attractors is None:
        source = "teacher permutations"
        exact = True
        if model.k != model.k_star:
            warnings.warn(f"label on entry: no known isolated minima at k = {model.k} != k* = {model.k_star} "
                          f"(the global minima are not isolated); pass attractors= (e.g. of a pilot map). "
                          f"Every run goes to full length.", RuntimeWarning, stacklevel=stacklevel)
            centres = np.zeros((0,) + shape)
        elif sym:
            centres = np.zeros((0,) + shape)
        elif model.k > ENTRY_MAX_PERMUTATIONS_K:
            raise ValueError(f"entry=True without attractors= would certify k! = {math.factorial(model.k)} "
                             f"teacher permutations one by one (the top weights differ); pass attractors= "
                             f"(e.g. of a pilot map) for k > {ENTRY_MAX_PERMUTATIONS_K}")
        else:
            centres = teacher_minima(model)
    else:
        source = "attractors"
        exact = False
        atts = getattr(attractors, "attractors", attractors)
        kinds = ("spurious_minimum", "minimum") if sym else ("global_minimum", "spurious_minimum", "minimum")
        centres = np.array([np.asarray(a.W, dtype=float) for a in atts if a.kind in kinds])
        centres = centres.reshape((len(centres),) + shape)
    keep, radii, qs = [], [], []
    for i, c in enumerate(centres):
        total += 1
        r, q = definite_radius(model, c, step=None if flow else step)
        if flow and r > 0:
            r0 = r
            r *= 1.0 - ENTRY_FLOW_MARGIN
            if not exact:
                g = float(np.linalg.norm(model.grad(c, backend="cpu")))
                mu = _flow_mu(model, c, r0)
                r = r - 2.0 * g / mu if mu > 0 else 0.0
        elif r > 0 and not exact:
            g = float(np.linalg.norm(model.grad(c, backend="cpu")))
            r -= 2.0 * step * g / (1.0 - q)
        if r > 0 and (flow or q < 1):
            keep.append(i)
            radii.append(r)
            qs.append(q)
        else:
            failed += 1
    if failed:
        why = ("for the gradient flow (Hessian not definite near it)" if flow else
               f"at step {step:g} (Hessian not definite, or step * lambda_max >= 2 near it)")
        warnings.warn(f"label on entry: the ball of {failed} of {total} minima could not be certified "
                      f"{why}; runs towards them go to full length.", RuntimeWarning, stacklevel=stacklevel)
    C = np.array(centres[keep], dtype=float).reshape((len(keep),) + shape)
    R, Q = np.array(radii, dtype=float), np.array(qs, dtype=float)
    kern = _kernel_arrays(model, step, T, U, C, R, perm_r, every)
    if flow:
        kern = kern._replace(g2max=math.inf)
        Q = np.full(R.size, math.nan)
    for a in (C, R, Q):
        a.setflags(write=False)
    return EntryBalls(centres=C, radii=R, q=Q, perm_radius=float(perm_r), perm_q=float(perm_q), n_perm=n_perm,
                      kernel=kern, source=source, flow=bool(flow))


def _kernel_arrays(model, step, T, U, C, R, perm_r, every) -> EntryArrays:
    """Split the explicit balls into keyed and direct ones, and bound the gradient inside any ball."""
    nb = R.size
    k, ks = model.k, T.shape[0]
    keys = np.zeros(0, dtype=np.int64)
    key_ball = np.zeros(0, dtype=np.int64)
    direct = np.arange(nb, dtype=np.int64)
    if nb and ks ** k < _KEY_LIMIT:
        Vc = C + U
        D = np.linalg.norm(Vc[:, :, None, :] - T[None, None, :, :], axis=3)  # (nb, k, k*)
        near = np.argmin(D, axis=2)
        Ds = np.sort(D, axis=2)
        gap = Ds[:, :, 1] - Ds[:, :, 0] if ks > 1 else np.full(near.shape, np.inf)
        # the matching is constant on the ball (triangle inequality), with room for rounding
        ok = np.all(gap > 2.0 * R[:, None] * (1.0 + 1e-6) + 1e-12, axis=1)
        key = (near * (ks ** np.arange(k, dtype=np.int64))[None, :]).sum(axis=1)
        uniq, counts = np.unique(key[ok], return_counts=True)
        single = np.isin(key, uniq[counts == 1]) & ok
        order = np.argsort(key[single], kind="stable")
        keys = key[single][order].astype(np.int64)
        key_ball = np.flatnonzero(single)[order].astype(np.int64)
        direct = np.flatnonzero(~single).astype(np.int64)
    # a fixed direction (the identity of a store depends on the balls only)
    z = np.random.default_rng(0).standard_normal(tuple(model.state_shape))
    z /= np.linalg.norm(z)
    proj = (C[direct].reshape(direct.size, -1) @ z.ravel()) if direct.size else np.zeros(0)
    order = np.argsort(proj, kind="stable")
    direct, proj = direct[order].astype(np.int64), proj[order]
    rd = float(np.max(R[direct])) * (1.0 + 1e-6) if direct.size else 0.0
    # |grad L(X)| <= |H| |X - c| + |grad L(c)| with |H| <= (1 + q) / s < 2 / s on the ball
    gc = float(np.max(np.linalg.norm(np.asarray(model.grad(C, backend="cpu")).reshape(nb, -1), axis=1))) if nb else 0.0
    rmax = max([perm_r] + list(R))
    g2max = ((2.0 / step) * rmax + gc) ** 2 * (1.0 + 1e-6)
    r2 = (R * (1.0 - _MARGIN)) ** 2
    arrs = EntryArrays(T=np.array(T, dtype=float), perm_r2=float((perm_r * (1.0 - _MARGIN)) ** 2),
                       C=np.array(C, dtype=float), r2=r2, keys=keys, key_ball=key_ball, direct=direct,
                       z=z, proj=np.asarray(proj, dtype=float), rd=rd, g2max=float(g2max), every=int(every))
    for a in arrs:
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    return arrs


def frozen(e: EntryArrays) -> EntryArrays:
    """``e`` with read-only contiguous arrays and Python scalars (one kernel signature, also for plans
    that went through pickle, which makes arrays writable)."""
    def ro(x, dt):
        x = np.ascontiguousarray(x, dtype=dt).view()
        x.setflags(write=False)
        return x
    return EntryArrays(T=ro(e.T, float), perm_r2=float(e.perm_r2), C=ro(e.C, float), r2=ro(e.r2, float),
                       keys=ro(e.keys, np.int64), key_ball=ro(e.key_ball, np.int64),
                       direct=ro(e.direct, np.int64), z=ro(e.z, float), proj=ro(e.proj, float), rd=float(e.rd),
                       g2max=float(e.g2max), every=int(e.every))


__all__ = ["EntryArrays", "EntryBalls", "certify", "frozen", "row_symmetric", "teacher_minima"]
