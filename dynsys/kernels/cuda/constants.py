"""Statuses and typed constants shared by the CUDA kernel factories of :mod:`dynsys.kernels.cuda.thread`
and :mod:`dynsys.kernels.cuda.block` (no numba.cuda import here).
"""

from __future__ import annotations

import math

import numpy as np

from ...config import ACOS_SWITCH

from ..._codes import NONFINITE, OK, SINGULAR

__all__ = ["NONFINITE", "OK", "SINGULAR", "_CONST_NAMES", "_consts"]  # the kernel factories' shared names


def _consts(dtype):
    """Typed constants for the kernels of one precision (literals would promote float32 to float64)."""
    f = np.dtype(dtype).type
    return dict(ZERO=f(0.0), ONE=f(1.0), TWO=f(2.0), HALF=f(0.5), PI=f(math.pi),
                TWO_PI=f(2.0 * math.pi), INV2PI=f(1.0 / (2.0 * math.pi)), SW=f(ACOS_SWITCH))


_CONST_NAMES = ("ZERO", "ONE", "TWO", "HALF", "PI", "TWO_PI", "INV2PI", "SW")
