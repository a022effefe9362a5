"""Shared by the :mod:`dynsys.theory` submodules: the constants pi and 2 pi, and the input check for
arrays of reduced coordinates and angles."""

from __future__ import annotations

import math

import numpy as np

from .. import _validate as v

_PI = math.pi
_TWO_PI = 2.0 * math.pi


def _real(x, name):
    """``x`` as a finite float64 array of its own shape (0-d kept), with dynsys's input errors."""
    shape = np.shape(x)
    return v.finite(v.real_array(x, name), name).reshape(shape)
