"""Label on entry: certified balls around minima, and the test of entering one.

A ball ``B(c, r)`` around a non-degenerate minimum ``c`` from :func:`dynsys.bounds.definite_radius`
at the run's step ``s`` has every Hessian positive definite and ``|I - s H| <= q < 1`` on it, so the
gradient-descent map ``g(W) = W - s grad L(W)`` is a contraction there with fixed point ``c``: a run
that enters the ball stays in it and converges to ``c``. Its label is ``c``'s, so the run can stop at
entry. docs/basins.md states the argument and its limits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import warnings

import numpy as np

from ..bounds import definite_radius, network_rows
from ..config import ENTRY_EVERY, ENTRY_GROWTH, ENTRY_MAX_PERMUTATIONS_K
from ..model import TeacherStudent

#: Balls are tested with this relative margin below their radius (the distance is computed in
#: floating point; the margin is far above its rounding error).
_MARGIN = 1e-9


@dataclasses.dataclass(frozen=True, eq=False)
class EntryBalls:
    """Certified balls of a basin plan (kernel arrays only; picklable).

    Attributes
    ----------
    centres : ndarray, shape (n_balls,) + state shape
        The minima.
    radii : ndarray, shape (n_balls,)
        Radii in the Frobenius norm of the state, already shrunk for a centre that is only a
        numerical minimum.
    q : ndarray, shape (n_balls,)
        Contraction factor of gradient descent on each ball.
    every, growth : int
        Steps between two entry tests: ``max(every, steps so far // growth)``.
    source : str
        ``"teacher permutations"`` or ``"attractors"``.
    """

    centres: np.ndarray
    radii: np.ndarray
    q: np.ndarray
    every: int
    growth: int
    source: str

    def identity(self) -> dict:
        """JSON-able identity for a store: the test interval and a hash of the balls."""
        h = hashlib.sha256(np.ascontiguousarray(self.centres, dtype=float).tobytes())
        h.update(np.ascontiguousarray(self.radii, dtype=float).tobytes())
        return {"every": self.every, "growth": self.growth, "source": self.source, "n_balls": int(self.radii.size),
                "balls_sha256": h.hexdigest()}

    def inside(self, W) -> np.ndarray:
        """Index of the ball each state of ``W`` (m,) + state shape lies in, or -1 (int64 (m,))."""
        m = W.shape[0]
        out = np.full(m, -1, dtype=np.int64)
        if m == 0 or self.radii.size == 0:
            return out
        X = W.reshape(m, -1)
        C = self.centres.reshape(self.radii.size, -1)
        # squared distances by one product; its cancellation error is far below the 1e-3 screen
        d2 = (X * X).sum(1)[:, None] - 2.0 * (X @ C.T) + (C * C).sum(1)[None, :]
        r2 = self.radii ** 2
        cand = np.argmin(d2 - r2[None, :], axis=1)
        rows = np.flatnonzero(d2[np.arange(m), cand] < r2[cand] * (1.0 + 1e-3) + 1e-300)
        if rows.size:
            # the decision itself: a direct difference, with a margin below the radius
            dist = np.linalg.norm(X[rows] - C[cand[rows]], axis=1)
            ok = dist < self.radii[cand[rows]] * (1.0 - _MARGIN)
            out[rows[ok]] = cand[rows[ok]]
        return out


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


def certify(model, step, attractors=None, every=ENTRY_EVERY, growth=ENTRY_GROWTH, stacklevel=3) -> EntryBalls:
    """Certified balls for label on entry at gradient-descent step ``step``.

    Centres: the minima among ``attractors`` (their representatives ``W``, kinds
    ``global_minimum``, ``spurious_minimum`` or ``minimum``), else the teacher permutations of a
    model with ``k = k*`` (for k <= ``ENTRY_MAX_PERMUTATIONS_K``). A representative is a numerical
    minimum: the true minimum ``c*`` lies within ``delta = s |grad L(W)| / (1 - q)`` of it (the
    contraction moves ``W`` by ``s |grad L(W)|``), so its ball is shrunk to ``r - 2 delta``. A
    minimum whose ball cannot be certified gets none, and a warning says its runs go to full length.
    """
    if not isinstance(model, TeacherStudent):
        raise ValueError(f"entry=True needs a TeacherStudent model (the ball radii come from its Hessian "
                         f"Lipschitz bound); got {type(model).__name__}. Pass entry=False.")
    exact = attractors is None
    if exact:
        if model.k != model.k_star:
            warnings.warn(f"label on entry: no known isolated minima at k = {model.k} != k* = {model.k_star} "
                          f"(the global minima are not isolated); pass attractors= (e.g. of a pilot map). "
                          f"Every run goes to full length.", RuntimeWarning, stacklevel=stacklevel)
            centres = np.zeros((0,) + tuple(model.state_shape))
        elif model.k > ENTRY_MAX_PERMUTATIONS_K:
            raise ValueError(f"entry=True without attractors= would certify k! = {math.factorial(model.k)} "
                             f"teacher permutations; pass attractors= (e.g. of a pilot map) for "
                             f"k > {ENTRY_MAX_PERMUTATIONS_K}")
        else:
            centres = teacher_minima(model)
        source = "teacher permutations"
    else:
        atts = getattr(attractors, "attractors", attractors)
        centres = np.array([np.asarray(a.W, dtype=float) for a in atts
                            if a.kind in ("global_minimum", "spurious_minimum", "minimum")])
        centres = centres.reshape((len(centres),) + tuple(model.state_shape))
        source = "attractors"
    keep, radii, qs, failed = [], [], [], 0
    for i, c in enumerate(centres):
        r, q = definite_radius(model, c, step=step)
        if r > 0 and not exact:
            g = float(np.linalg.norm(model.grad(c, backend="cpu")))
            r -= 2.0 * step * g / (1.0 - q)
        if r > 0 and q < 1:
            keep.append(i)
            radii.append(r)
            qs.append(q)
        else:
            failed += 1
    if failed:
        warnings.warn(f"label on entry: the ball of {failed} of {len(centres)} minima could not be certified "
                      f"at step {step:g} (Hessian not definite, or step * lambda_max >= 2 near it); runs "
                      f"towards them go to full length.", RuntimeWarning, stacklevel=stacklevel)
    C = np.array(centres[keep]).reshape((len(keep),) + tuple(model.state_shape))
    R, Q = np.array(radii, dtype=float), np.array(qs, dtype=float)
    for a in (C, R, Q):
        a.setflags(write=False)
    return EntryBalls(centres=C, radii=R, q=Q, every=int(every), growth=int(growth), source=source)


__all__ = ["EntryBalls", "certify", "teacher_minima"]
