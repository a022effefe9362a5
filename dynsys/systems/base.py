"""What every analysed system gives the kernels.

:class:`FieldArrays` is the bridge from a validated model to compiled code: plain arrays and floats
in one named tuple, passed to kernels as one argument (Numba types a named tuple by its fields, so
one model layout is one compiled signature, and the on-disk cache finds it again in a new process).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class FieldArrays(NamedTuple):
    """What the kernels need of a model, as plain arrays (kernels never take a model object).

    Pass them, in this order, to :func:`dynsys.systems.teacher_student.loss_grad` (after forming the
    network rows ``V = W + U`` when ``U`` is not empty) or to the batch drivers.
    """

    U: np.ndarray        #: residual offset (k, d), or an empty (0, 0) array when there is none
    T: np.ndarray        #: teacher network rows W* + U, (k_star, d)
    tn: np.ndarray       #: their norms, (k_star,)
    a: np.ndarray        #: student top weights, (k,)
    a_star: np.ndarray   #: teacher top weights, (k_star,)
    alpha: float         #: leaky slope
    const: float         #: teacher energy, the constant term of the loss
    tol: float           #: singular tolerance on the row norms of W + U
