"""A one-parameter family of systems, ``p -> system``, and the derivative of its gradient in p."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .. import _validate as v
from ..critical.shared import check_system, grad_hess, state_shape

#: How ``dgrad_dp`` is computed (stored on a Branch).
ANALYTIC = "analytic"
CENTRAL = "central difference"
EXACT_CENTRAL = "central difference (exact: the gradient is quadratic in p)"


class Family:
    """``p -> system``: the object :func:`dynsys.continuation` follows critical points along.

    Parameters
    ----------
    of_p : callable
        ``p -> System`` (a :class:`dynsys.TeacherStudent`, a toy, any system of the protocol). Every
        value must have the same ``state_shape``.
    dgrad_dp : callable, optional
        ``(W, p) -> d grad / d p`` shaped like ``W``: the analytic derivative. Without it a central
        difference of the gradient is used (one-sided of second order at the edge of ``domain``).
    domain : (float, float)
        Closed interval of admissible p (``-inf``/``inf`` for none).
    name : str
        Name of the parameter (axis labels, summaries).
    quadratic : bool
        The gradient is quadratic in p (leaky slope, top weights): the central difference is then
        exact up to rounding, and the family says so.

    Notes
    -----
    ``derivative`` reports which derivative is in use: ``"analytic"``, ``"central difference"`` or
    ``"central difference (exact: the gradient is quadratic in p)"``.
    """

    __slots__ = ("_of_p", "_dgrad_dp", "_domain", "_name", "_quadratic", "_shape")

    def __init__(self, of_p: Callable, *, dgrad_dp: Callable | None = None, domain=(-math.inf, math.inf),
                 name: str = "p", quadratic: bool = False):
        if not callable(of_p):
            raise TypeError(f"of_p must be a callable p -> system (e.g. lambda a: model.replace(alpha=a)); "
                            f"got {type(of_p).__name__}")
        if dgrad_dp is not None and not callable(dgrad_dp):
            raise TypeError(f"dgrad_dp must be None or a callable (W, p) -> array shaped like W; "
                            f"got {type(dgrad_dp).__name__}")
        lo, hi = (float(domain[0]), float(domain[1])) if np.ndim(domain) == 1 and len(domain) == 2 else (None, None)
        if lo is None or math.isnan(lo) or math.isnan(hi) or not lo < hi:
            raise ValueError(f"domain must be an interval (lo, hi) with lo < hi; got {domain!r}")
        self._of_p = of_p
        self._dgrad_dp = dgrad_dp
        self._domain = (lo, hi)
        self._name = str(name)
        self._quadratic = bool(quadratic)
        self._shape = None

    @property
    def domain(self) -> tuple:
        return self._domain

    @property
    def name(self) -> str:
        return self._name

    @property
    def derivative(self) -> str:
        if self._dgrad_dp is not None:
            return ANALYTIC
        return EXACT_CENTRAL if self._quadratic else CENTRAL

    def __repr__(self) -> str:
        lo, hi = self._domain
        return f"Family({self._name} in [{lo:g}, {hi:g}], dgrad/dp: {self.derivative})"

    def check_p(self, p, name="p") -> float:
        p = v.real_scalar(p, name)
        lo, hi = self._domain
        if not lo <= p <= hi:
            raise ValueError(f"{name} = {p!r} lies outside the family's domain [{lo:g}, {hi:g}] of "
                             f"{self._name}; choose a value inside it")
        return p

    def __call__(self, p):
        """The system at ``p`` (checked: a system of the protocol with the family's state shape)."""
        try:
            s = self._of_p(float(p))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"the family could not build a system at {self._name} = {float(p)!r}: {exc}") from exc
        try:
            check_system(s)
        except TypeError:
            raise TypeError(f"the family must return a system of the protocol (a dynsys.TeacherStudent, "
                            f"a toy, a System subclass) for every p; at {self._name} = {float(p)!r} it "
                            f"returned {type(s).__name__}") from None
        shape = state_shape(s)
        if self._shape is None:
            self._shape = shape
        elif shape != self._shape:
            raise ValueError(f"the family changed the state shape from {self._shape} to {shape} at "
                             f"{self._name} = {float(p)!r}; the width k and dimension d must stay fixed")
        return s

    @property
    def analytic(self) -> bool:
        return self._dgrad_dp is not None

    def analytic_dgrad_dp(self, W, p) -> np.ndarray:
        """The user's ``dgrad_dp(W, p)``, checked for shape."""
        out = np.asarray(self._dgrad_dp(W, float(p)), dtype=float)
        if out.shape != np.shape(W):
            raise ValueError(f"dgrad_dp must return an array shaped like W {np.shape(W)}; got {out.shape}")
        return out

    def stencil(self, p):
        """Points and weights of the difference quotient of d grad / d p at p: central inside the
        domain, second-order one-sided at its edge (``sum_i w_i grad(p_i)``)."""
        lo, hi = self._domain
        h = 1e-3 * max(1.0, abs(p)) if self._quadratic else 1e-6 * max(1.0, abs(p))
        h = min(h, 0.5 * (hi - lo))
        if lo <= p - h and p + h <= hi:
            return (p - h, p + h), (-0.5 / h, 0.5 / h)
        s = 1.0 if p - h < lo else -1.0
        return (p, p + s * h, p + 2 * s * h), (-1.5 * s / h, 2.0 * s / h, -0.5 * s / h)

    def dgrad_dp(self, W, p) -> np.ndarray:
        """``d grad / d p`` at state ``W`` (state-shaped); None where a state of the stencil is singular."""
        if self._dgrad_dp is not None:
            return self.analytic_dgrad_dp(W, p)
        out = 0.0
        for q, w in zip(*self.stencil(p)):
            g, _, st = grad_hess(self(q), W, want_H=False)
            if st:
                return None
            out = out + w * g
        return out


def as_family(family) -> Family:
    """A :class:`Family` as given, or a plain callable ``p -> system`` wrapped in one."""
    if isinstance(family, Family):
        return family
    if callable(family):
        return Family(family)
    raise TypeError(f"family must be a dynsys.Family or a callable p -> system (e.g. lambda a: "
                    f"model.replace(alpha=a)); got {type(family).__name__}")
