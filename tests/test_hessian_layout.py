"""The Hessian kernel against a frozen copy of its previous version (tests/hessian_old.py).

The current kernel writes each lower off-diagonal block once and mirrors it at the end, and forms the
Gram updates of the diagonal blocks as ``(w p[l]) p[m]`` with one fused multiply-add per entry; the
old one let LLVM turn ``w = f / s`` into a division per entry. The two differ only by rounding: within
1e-15 of max|H| on generic states, nearly parallel and coincident rows, ``alpha`` in {0, 0.5, 1, -0.2}
and k != k*; statuses agree and H is exactly symmetric.
"""

import numpy as np
import pytest

from dynsys._codes import OK
from dynsys.systems import teacher_student as ts

from hessian_old import hessian_old


def _state(kind, k, k_star, d, rng):
    V = np.eye(k, d) + 0.3 * rng.standard_normal((k, d))
    T = np.eye(k_star, d) + 0.1 * rng.standard_normal((k_star, d))
    if kind == "coincident":
        V[1] = 2.5 * V[0]
    elif kind == "parallel":  # angle ~1e-20: the frame's snap to an exact orthogonal p
        V[1] = 1.7 * V[0]
        V[1, -1] += 1e-20
    elif kind == "teacher":  # a student row along a teacher row (s = 0 for that pair)
        V[0] = 0.4 * T[0]
    elif kind == "singular":
        V[0] = 0.0
    return V, T, np.linalg.norm(T, axis=1), rng.standard_normal(k), rng.standard_normal(k_star)


def _run(fn, V, T, tn, a, a_star, alpha):
    k, d = V.shape
    m = max(k, d)
    H = np.full((k * d, k * d), np.nan)
    S = np.full((ts.HESS_SCRATCH_ROWS, m), np.nan)
    st = fn(V, T, tn, a, a_star, alpha, 1e-12, H, S, np.zeros(m))
    return st, H


@pytest.mark.parametrize("k,k_star,d", [(2, 2, 4), (10, 10, 10), (5, 3, 7), (3, 6, 40)])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, -0.2])
@pytest.mark.parametrize("kind", ["generic", "coincident", "parallel", "teacher", "singular"])
def test_hessian_matches_the_previous_kernel(k, k_star, d, alpha, kind):
    rng = np.random.default_rng([k, k_star, d, int(10 * alpha) + 5, len(kind)])
    args = _state(kind, k, k_star, d, rng)
    st_old, H_old = _run(hessian_old, *args, alpha)
    st, H = _run(ts.hessian, *args, alpha)
    assert st == st_old
    assert np.all(np.isfinite(H))
    if st != OK:
        assert not H.any()
        return
    np.testing.assert_array_equal(H, H.T)
    scale = np.abs(H_old).max()
    assert np.abs(H - H_old).max() <= 1e-15 * scale
    if alpha == 1.0:  # the linear branch is unchanged
        np.testing.assert_array_equal(H, H_old)
