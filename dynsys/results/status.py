"""The one status table of dynsys: every batch algorithm gives each element an ``int8`` :class:`Status`."""

from __future__ import annotations

import enum

import numpy as np

from .. import _codes


class _NamedInt(enum.IntEnum):
    """An IntEnum that prints by name (``Status.T1_REACHED``), not as its bare value.

    Python 3.11 made ``str()`` and ``format()`` of an IntEnum member its integer; a status that
    prints as ``5`` tells a reader nothing. Numeric format specs (``f"{s:d}"``) still give the value.
    """

    __str__ = enum.Enum.__str__

    def __format__(self, spec: str) -> str:
        if spec and spec[-1] in _NUMERIC_FORMATS:
            return int.__format__(int(self), spec)
        return format(str(self), spec)


_NUMERIC_FORMATS = frozenset("bcdoxXneEfFgG%")


class Status(_NamedInt):
    """Per-element outcome of a batch computation (stored as ``int8``).

    A member prints by name (``print(r.status)`` shows ``Status.T1_REACHED``) and compares equal to
    its integer code; ``status_counts`` and the results' summaries count arrays of codes by name.
    """

    CONVERGED = _codes.CONVERGED
    MAX_STEPS = _codes.MAX_STEPS
    DIVERGED = _codes.DIVERGED
    SINGULAR = _codes.SINGULAR
    NONFINITE = _codes.NONFINITE
    T1_REACHED = _codes.T1_REACHED
    INTERRUPTED = _codes.INTERRUPTED
    STALLED = _codes.STALLED
    ENTERED = _codes.ENTERED

    @property
    def message(self) -> str:
        return _MESSAGES[self][0]

    @property
    def fix(self) -> str:
        return _MESSAGES[self][1]


class Label(_NamedInt):
    """Reserved labels of a run's end point (census and basin labels; attractors are >= 0)."""

    DIVERGED = _codes.LABEL_DIVERGED          #: diverged or went non-finite
    UNCONVERGED = _codes.LABEL_UNCONVERGED    #: stopped before the gradient tolerance
    SINGULAR = _codes.LABEL_SINGULAR          #: reached a zero row of W + U
    SADDLE = _codes.LABEL_SADDLE              #: ended at a saddle (never an attractor)
    NOT_COMPUTED = _codes.LABEL_NOT_COMPUTED  #: interrupted, or its chunk is missing


#: Status 0 means "done without trouble"; for a plain field evaluation it reads "ok".
OK = Status.CONVERGED

_MESSAGES = {
    Status.CONVERGED: ("converged (or evaluated without trouble)", "nothing to fix"),
    Status.MAX_STEPS: ("max_steps reached before the stopping criterion",
                       "raise max_steps, or loosen gtol"),
    Status.DIVERGED: ("the state's norm grew past the divergence limit",
                      "lower the step size (gradient descent is unstable above about 2 / lambda_max)"),
    Status.SINGULAR: ("a row of W (+ residual) has norm at or below the singular tolerance: "
                      "the field is undefined there",
                      "start away from zero rows, or use alpha = 1 (the linear model is smooth)"),
    Status.NONFINITE: ("a non-finite value (NaN or Inf) appeared",
                       "check the input, or lower the step size"),
    Status.T1_REACHED: ("the final time t1 was reached", "raise t1 to integrate further"),
    Status.INTERRUPTED: ("interrupted before finishing (KeyboardInterrupt)",
                         "call again from the returned states to continue"),
    Status.STALLED: ("Newton made no progress (degenerate or non-smooth point)",
                     "classify the point as it is, or start elsewhere"),
    Status.ENTERED: ("stopped inside a certified ball of a minimum: its basin is proven (label on entry)",
                     "nothing to fix; pass entry=False to run it to the gradient tolerance"),
}


def status_counts(status: np.ndarray) -> dict[str, int]:
    """Count how many elements ended in each status, by name (statuses with no element omitted)."""
    values, counts = np.unique(np.asarray(status), return_counts=True)
    return {Status(int(v)).name: int(c) for v, c in zip(values, counts)}
