"""Initialisations of a basin map: seeded, reproducible, and chunkable without changing the points.

A sampler is a frozen, picklable object with ``n`` (how many starts) and ``points(model, lo, hi)``
(the starts ``lo:hi``, shape ``(hi - lo,) + model.state_shape``). Start ``i`` depends on the
sampler and ``i`` only: a grid cell is computed from its index, a random start ``i`` draws from
``numpy.random.default_rng([seed, i])`` alone (the census convention, docs/engine.md), so any range
is drawn on its own and chunk boundaries, resume and workers never change a point.

``describe()`` gives the sampler as a JSON-able dict: a basin store keeps it and refuses to mix the
chunks of two samplers.

Samplers:

* :class:`Grid` -- a regular cell-centred grid on the 2D slice ``origin + s u + t v`` (for example
  through the teacher and a permuted teacher: :func:`teacher_slice`), and :func:`reduced_plane`: the
  invariant plane ``w_j = x w*_j + y sum_{l != j} w*_l`` of an orthonormal teacher (docs/math.md
  section 3) embedded in the full space, where the full field flows it;
* :class:`Gaussian` (entries N(mean, std^2)) and :class:`Xavier` (N(0, 1/d), or uniform with the same
  variance: the census starts, bitwise);
* :class:`Ball` -- uniform in the ball of radius ``radius`` about the origin of the whole state
  space (the initialisations of Theorem 6 of Tian, ICML 2017);
* :class:`TeacherNoise` -- ``scale * W* + noise * N(0, 1)`` entries (Fig 9 of Tian, ICML 2017);
* :class:`Spheres` -- every row uniform on the sphere of radius ``radius``;
* :class:`Starts` -- given starts (what :func:`as_sampler` makes of an array), described by their
  SHA-256 digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np

from .. import _validate as v


def _shape(model) -> tuple:
    return tuple(int(s) for s in model.state_shape)


def _seeded(seed, lo, hi, draw):
    """Stack ``draw(rng)`` for starts ``lo:hi``, start ``i`` from ``default_rng([seed, i])`` alone."""
    return np.stack([draw(np.random.default_rng([seed, i])) for i in range(lo, hi)])


def _check_range(sampler, lo, hi):
    if not (isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer))
            and 0 <= lo < hi <= sampler.n):
        raise ValueError(f"need integers 0 <= lo < hi <= n = {sampler.n}; got lo = {lo!r}, hi = {hi!r}")


class Sampler:
    """Base of the samplers: ``n``, ``grid_shape``, ``points(model, lo, hi)``, ``describe()``."""

    #: (rows, columns) of a 2D map (start ``i`` is cell ``divmod(i, columns)``), or None.
    grid_shape = None

    def points(self, model, lo=0, hi=None) -> np.ndarray:
        """Starts ``lo:hi`` (default all), shape ``(hi - lo,) + model.state_shape``, float64."""
        hi = self.n if hi is None else hi
        _check_range(self, lo, hi)
        self.check(model)
        return np.ascontiguousarray(self._points(model, int(lo), int(hi)), dtype=float)

    def check(self, model):
        """Raise ValueError when this sampler cannot make starts for ``model``."""

    def describe(self) -> dict:
        """The sampler as a JSON-able dict (its class and fields; arrays as nested lists)."""
        out = {"sampler": type(self).__name__}
        for f in dataclasses.fields(self):
            x = getattr(self, f.name)
            out[f.name] = x.tolist() if isinstance(x, np.ndarray) else x
        return out


def _seed(seed):
    return v.positive_int(seed, "seed", minimum=0)


def _count(n):
    return v.positive_int(n, "n")


@dataclasses.dataclass(frozen=True, eq=False)
class Grid(Sampler):
    """A regular grid on the slice ``origin + s u + t v``, cell centres, ``t`` along rows.

    Cell ``(i, j)`` (row i, column j) is ``s_j = s0 + (j + 1/2) (s1 - s0) / ns`` and ``t_i = t0 +
    (i + 1/2) (t1 - t0) / nt``; start ``i * ns + j``. Cell centres keep a grid symmetric about a
    line of the slice off that line (no start on a separatrix through the middle).

    Parameters
    ----------
    origin, u, v : array_like, one state each
        The slice's origin and its two directions (finite; u and v linearly independent).
    s, t : (float, float)
        Ranges of the two coordinates (``s0 < s1``, ``t0 < t1``).
    shape : (int, int)
        ``(nt, ns)``: rows (t) and columns (s), each >= 1.
    name : str
        What the slice is (e.g. ``"reduced_plane"``), kept in the description.
    """

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    s: tuple
    t: tuple
    shape: tuple
    name: str = "slice"

    def __post_init__(self):
        vecs = []
        for name in ("origin", "u", "v"):
            x = v.finite(v.real_array(getattr(self, name), name), name)
            x = np.array(x)
            x.setflags(write=False)
            object.__setattr__(self, name, x)
            vecs.append(x)
        if not (vecs[0].shape == vecs[1].shape == vecs[2].shape) or vecs[0].size == 0:
            raise ValueError(f"origin, u and v must be states of one shape; got {vecs[0].shape}, "
                             f"{vecs[1].shape}, {vecs[2].shape}")
        uu, vv = vecs[1].ravel(), vecs[2].ravel()
        nu, nv = np.linalg.norm(uu), np.linalg.norm(vv)
        if nu == 0.0 or nv == 0.0 or abs(uu @ vv) >= (1.0 - 1e-12) * nu * nv:
            raise ValueError("u and v must be non-zero and not parallel: they span the slice")
        for name in ("s", "t"):
            r = getattr(self, name)
            if not (isinstance(r, (tuple, list)) and len(r) == 2):
                raise ValueError(f"{name} must be a range (lo, hi); got {r!r}")
            lo_, hi_ = (v.real_scalar(r[0], f"{name}[0]"), v.real_scalar(r[1], f"{name}[1]"))
            if not (math.isfinite(lo_) and math.isfinite(hi_) and lo_ < hi_):
                raise ValueError(f"{name} must be a finite range with lo < hi; got {r!r}")
            object.__setattr__(self, name, (lo_, hi_))
        if not (isinstance(self.shape, (tuple, list)) and len(self.shape) == 2):
            raise ValueError(f"shape must be (rows, columns) = (nt, ns); got {self.shape!r}")
        object.__setattr__(self, "shape", (v.positive_int(self.shape[0], "shape[0]"),
                                           v.positive_int(self.shape[1], "shape[1]")))
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string; got {self.name!r}")

    @property
    def n(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def grid_shape(self):
        return self.shape

    @property
    def s_centres(self) -> np.ndarray:
        """The ``ns`` column coordinates."""
        s0, s1 = self.s
        return s0 + (np.arange(self.shape[1]) + 0.5) * ((s1 - s0) / self.shape[1])

    @property
    def t_centres(self) -> np.ndarray:
        """The ``nt`` row coordinates."""
        t0, t1 = self.t
        return t0 + (np.arange(self.shape[0]) + 0.5) * ((t1 - t0) / self.shape[0])

    def coords(self, W) -> np.ndarray:
        """Slice coordinates ``(s, t)`` of states ``W`` (..., state) by least squares (for markers)."""
        W = np.asarray(W, dtype=float)
        B = np.stack([self.u.ravel(), self.v.ravel()], axis=1)
        X = (W.reshape(-1, self.origin.size) - self.origin.ravel()).T
        st = np.linalg.lstsq(B, X, rcond=None)[0].T
        return st.reshape(W.shape[:W.ndim - self.origin.ndim] + (2,))

    def check(self, model):
        if self.origin.shape != _shape(model):
            raise ValueError(f"the grid's states have shape {self.origin.shape}, the model's "
                             f"{_shape(model)}: build the slice from states of this model")

    def _points(self, model, lo, hi):
        i = np.arange(lo, hi)
        s = self.s_centres[i % self.shape[1]]
        t = self.t_centres[i // self.shape[1]]
        return (self.origin[None] + s.reshape((-1,) + (1,) * self.origin.ndim) * self.u[None]
                + t.reshape((-1,) + (1,) * self.origin.ndim) * self.v[None])


def _teacher_model(model, what):
    from ..model import TeacherStudent
    if not isinstance(model, TeacherStudent):
        raise TypeError(f"model must be a dynsys.TeacherStudent ({what} is built from its teacher); "
                        f"got {type(model).__name__}")
    return model


def _pair(r, name):
    """A range argument as a tuple (Grid checks its values); a non-sequence is refused by name."""
    try:
        out = tuple(r)
    except TypeError:
        raise TypeError(f"{name} must be a pair (lo, hi); got {r!r}") from None
    if len(out) != 2 or isinstance(r, str):
        raise ValueError(f"{name} must be a pair (lo, hi); got {r!r}")
    if name != "shape":
        lo, hi = (v.real_scalar(out[0], f"{name}[0]"), v.real_scalar(out[1], f"{name}[1]"))
        if not lo < hi:
            raise ValueError(f"{name} must be a range (lo, hi) with lo < hi; got {r!r}")
    return out


def _orthonormal_teacher(model):
    _teacher_model(model, "the reduced plane")
    Ws = np.asarray(model.W_star, dtype=float)
    if model.k != model.k_star or Ws.shape[0] > Ws.shape[1]:
        raise ValueError(f"the reduced plane needs k = k* <= d (got k = {model.k}, k* = {model.k_star}, "
                         f"d = {model.d})")
    G = Ws @ Ws.T
    if np.max(np.abs(G - np.eye(G.shape[0]))) > 1e-12:
        raise ValueError("the reduced plane needs an orthonormal teacher (W* W*^T = I, e.g. "
                         "TeacherStudent(np.eye(K)))")
    return Ws


def reduced_plane(model, x=(-0.5, 1.5), y=(-0.5, 1.5), shape=(100, 100)) -> Grid:
    """The reduced plane of an orthonormal teacher: ``w_j = x w*_j + y sum_{l != j} w*_l`` (docs/math.md
    section 3), as a :class:`Grid` in the full space (x along columns, y along rows).

    ``(1, 0)`` is the teacher; the diagonal ``x = y`` holds the symmetric saddle.
    """
    Ws = _orthonormal_teacher(model)
    other = Ws.sum(axis=0, keepdims=True) - Ws
    return Grid(np.zeros_like(Ws), Ws, other, _pair(x, "x"), _pair(y, "y"), _pair(shape, "shape"),
                name="reduced_plane")


def teacher_slice(model, perm, s=(-0.5, 1.5), t=(-0.5, 1.5), shape=(100, 100)) -> Grid:
    """The slice ``s W* + t P W*`` through the teacher ``(1, 0)`` and its row permutation ``perm``
    ``(0, 1)`` (student rows in the order ``perm``; needs k = k*)."""
    Ws = np.asarray(_teacher_model(model, "the teacher slice").W_star, dtype=float)
    if model.k != model.k_star:
        raise ValueError(f"teacher_slice needs k = k* (got k = {model.k}, k* = {model.k_star})")
    perm = np.asarray(perm)
    if perm.dtype.kind not in "iu" or perm.shape != (model.k,) or sorted(perm.tolist()) != list(range(model.k)):
        raise ValueError(f"perm must be a permutation of 0..{model.k - 1}; got {perm.tolist()}")
    return Grid(np.zeros_like(Ws), Ws, Ws[perm], _pair(s, "s"), _pair(t, "t"), _pair(shape, "shape"),
                name=f"teacher_slice{tuple(int(p) for p in perm)}")


@dataclasses.dataclass(frozen=True)
class Gaussian(Sampler):
    """``n`` starts with i.i.d. entries N(mean, std^2); start i from ``default_rng([seed, i])``."""

    n: int
    std: float = 1.0
    seed: int = 0
    mean: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "n", _count(self.n))
        object.__setattr__(self, "std", v.real_scalar(self.std, "std", lo=0.0, lo_open=True))
        object.__setattr__(self, "mean", v.real_scalar(self.mean, "mean"))
        object.__setattr__(self, "seed", _seed(self.seed))

    def _points(self, model, lo, hi):
        shp = _shape(model)
        return _seeded(self.seed, lo, hi, lambda r: r.normal(self.mean, self.std, shp))


@dataclasses.dataclass(frozen=True)
class Xavier(Sampler):
    """The census starts: entries N(0, 1/d), or uniform on ``[-sqrt(3/d), sqrt(3/d)]`` when
    ``uniform`` (``dynsys.critical.random_starts``, bitwise)."""

    n: int
    seed: int = 0
    uniform: bool = False

    def __post_init__(self):
        object.__setattr__(self, "n", _count(self.n))
        object.__setattr__(self, "seed", _seed(self.seed))
        if not isinstance(self.uniform, (bool, np.bool_)):
            raise TypeError(f"uniform must be True or False; got {self.uniform!r}")

    def check(self, model):
        if len(_shape(model)) != 2:
            raise ValueError("Xavier starts need a model with (k, d) states (a TeacherStudent)")

    def _points(self, model, lo, hi):
        k, d = _shape(model)
        sd = 1.0 / math.sqrt(d)
        if self.uniform:
            b = math.sqrt(3.0) * sd
            return _seeded(self.seed, lo, hi, lambda r: r.uniform(-b, b, (k, d)))
        return _seeded(self.seed, lo, hi, lambda r: r.normal(0.0, sd, (k, d)))


@dataclasses.dataclass(frozen=True)
class Ball(Sampler):
    """Uniform in the ball of radius ``radius`` about the origin of the whole state space."""

    n: int
    radius: float = 1.0
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "n", _count(self.n))
        object.__setattr__(self, "radius", v.real_scalar(self.radius, "radius", lo=0.0, lo_open=True))
        object.__setattr__(self, "seed", _seed(self.seed))
        if not math.isfinite(self.radius):
            raise ValueError(f"radius must be finite; got {self.radius}")

    def _points(self, model, lo, hi):
        shp = _shape(model)
        m = int(np.prod(shp))

        def draw(r):
            x = r.standard_normal(m)
            # the radius law r^m of the uniform ball: R U^(1/m)
            return (self.radius * r.random() ** (1.0 / m) / np.linalg.norm(x) * x).reshape(shp)
        return _seeded(self.seed, lo, hi, draw)


@dataclasses.dataclass(frozen=True)
class TeacherNoise(Sampler):
    """``scale * W* + noise * Z`` with Z i.i.d. N(0, 1) entries (Fig 9 of Tian, ICML 2017; k = k*)."""

    n: int
    scale: float = 1.0
    noise: float = 0.1
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "n", _count(self.n))
        object.__setattr__(self, "scale", v.real_scalar(self.scale, "scale"))
        object.__setattr__(self, "noise", v.real_scalar(self.noise, "noise", lo=0.0))
        object.__setattr__(self, "seed", _seed(self.seed))
        if not (math.isfinite(self.scale) and math.isfinite(self.noise)):
            raise ValueError("scale and noise must be finite")

    def check(self, model):
        if not hasattr(model, "W_star") or model.k != model.k_star:
            raise ValueError("TeacherNoise needs a TeacherStudent with k = k* (the start is scale W* + noise)")

    def _points(self, model, lo, hi):
        Ws = np.asarray(model.W_star, dtype=float)
        return _seeded(self.seed, lo, hi, lambda r: self.scale * Ws + self.noise * r.standard_normal(Ws.shape))


@dataclasses.dataclass(frozen=True)
class Spheres(Sampler):
    """Every row uniform on the sphere of radius ``radius`` (rows independent)."""

    n: int
    radius: float = 1.0
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "n", _count(self.n))
        object.__setattr__(self, "radius", v.real_scalar(self.radius, "radius", lo=0.0, lo_open=True))
        object.__setattr__(self, "seed", _seed(self.seed))
        if not math.isfinite(self.radius):
            raise ValueError(f"radius must be finite; got {self.radius}")

    def check(self, model):
        if len(_shape(model)) != 2:
            raise ValueError("Spheres needs a model with (k, d) states (a TeacherStudent)")

    def _points(self, model, lo, hi):
        shp = _shape(model)

        def draw(r):
            x = r.standard_normal(shp)
            return self.radius * x / np.linalg.norm(x, axis=1, keepdims=True)
        return _seeded(self.seed, lo, hi, draw)


class Starts(Sampler):
    """Given starts as a sampler (``basins(model, W0)``); described by a digest of the array."""

    def __init__(self, W0):
        self.W0 = W0

    @property
    def n(self) -> int:
        return self.W0.shape[0]

    def check(self, model):
        if self.W0.shape[1:] != tuple(model.state_shape):
            raise ValueError(f"W0 must be a batch of states of shape {tuple(model.state_shape)}; got "
                             f"{self.W0.shape}")

    def _points(self, model, lo, hi):
        return self.W0[lo:hi]

    def describe(self) -> dict:
        return {"sampler": "array", "shape": list(self.W0.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(self.W0).tobytes()).hexdigest()}


def as_sampler(model, W0_or_sampler) -> Sampler:
    """A sampler, or given starts (n, state) wrapped as one."""
    if isinstance(W0_or_sampler, Sampler):
        return W0_or_sampler
    X = v.finite(v.real_array(W0_or_sampler, "W0"), "W0")
    shape = tuple(model.state_shape)
    if X.shape == shape:
        X = X[None]
    if X.ndim != len(shape) + 1 or X.shape[1:] != shape or X.shape[0] == 0:
        raise ValueError(f"W0 must be a sampler or a non-empty batch of states (n, "
                         f"{', '.join(map(str, shape))}); got shape {X.shape}")
    X = np.array(X)
    X.setflags(write=False)
    return Starts(X)


#: Sampler classes by name (for configs and stored descriptions).
SAMPLERS = {c.__name__: c for c in (Grid, Gaussian, Xavier, Ball, TeacherNoise, Spheres)}

__all__ = ["Ball", "Gaussian", "Grid", "SAMPLERS", "Sampler", "Spheres", "Starts", "TeacherNoise", "Xavier",
           "as_sampler", "reduced_plane", "teacher_slice"]
