"""The angle forms of the field kernels against the atan2 half-angle form (docs/math.md section 2).

The bulk gradient takes angles from a branch-free polynomial arccos; the atan2 form
``2 atan2(|u - v|, |u + v|)`` is accurate to roundoff on [0, pi]. The rule (docs/math.md section 2): any cheaper bulk
form agrees with it to 1e-12 relative on generic states; near 0 and pi the kernels switch to it.
"""

import math

import numpy as np
from numba import njit

from dynsys.config import ACOS_SWITCH
from dynsys.systems import teacher_student as ts

BULK_RTOL = 1e-12
ACOS_POLY_ATOL = 4.5e-16  # a couple of ulp of pi/2


@njit(cache=True)
def _poly_all(c, out):
    for i in range(c.size):
        out[i] = ts.acos_poly(c[i])


@njit(cache=True)
def _pair_angles(X, Y, out):
    for i in range(X.shape[0]):
        nx = math.sqrt(np.sum(X[i] ** 2))
        ny = math.sqrt(np.sum(Y[i] ** 2))
        out[i] = ts.pair_angle(X, i, nx, Y, i, ny, np.sum(X[i] * Y[i]))[0]


def _atan2_form(X, Y):
    u = X / np.linalg.norm(X, axis=1, keepdims=True)
    v = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    return 2 * np.arctan2(np.linalg.norm(u - v, axis=1), np.linalg.norm(u + v, axis=1))


def test_acos_poly_matches_arccos_over_the_whole_interval():
    c = np.concatenate([np.linspace(-1, 1, 200_001), [-1.0, -0.5, 0.0, 0.5, 1.0],
                        np.nextafter(0.5, [0, 1]), np.nextafter(-0.5, [0, -1])])
    out = np.empty_like(c)
    _poly_all(c, out)
    assert np.abs(out - np.arccos(c)).max() <= ACOS_POLY_ATOL
    assert out[c == 1.0][0] == 0.0 and abs(out[c == -1.0][0] - math.pi) <= ACOS_POLY_ATOL


def test_bulk_angles_agree_with_atan2_form_on_generic_states():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 10))
    Y = rng.normal(size=(20_000, 10))
    c = np.sum(X * Y, 1) / np.linalg.norm(X, axis=1) / np.linalg.norm(Y, axis=1)
    keep = np.abs(c) <= ACOS_SWITCH  # the bulk form serves exactly these pairs
    poly = np.empty(keep.sum())
    _poly_all(c[keep], poly)
    ref = _atan2_form(X[keep], Y[keep])
    assert np.max(np.abs(poly - ref) / ref) <= BULK_RTOL


def test_pair_angle_is_accurate_near_zero_and_pi():
    rng = np.random.default_rng(2)
    w = rng.normal(size=5)
    e = rng.normal(size=5)
    e -= e @ w / (w @ w) * w
    e /= np.linalg.norm(e)
    angles = np.array([1e-12, 1e-9, 1e-6, 1e-3, math.pi - 1e-3, math.pi - 1e-9])
    X = np.tile(w, (angles.size, 1))
    Y = np.array([2.0 * (math.cos(t) * w + math.sin(t) * np.linalg.norm(w) * e) for t in angles])
    out = np.empty(angles.size)
    _pair_angles(X, Y, out)
    # exact to roundoff of the construction: relative 1e-6 at theta = 1e-12 (the rows themselves
    # carry ~1e-16 absolute error), far better than arccos (which returns 0 or ~1e-8 there)
    assert np.all(np.abs(out - angles) <= 1e-15 + 1e-6 * np.minimum(angles, math.pi - angles))
    assert abs(out[1] - 1e-9) / 1e-9 < 1e-6
