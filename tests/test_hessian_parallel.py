"""The exact Hessian at nearly parallel student rows (angle ~1e-33): it must equal its limit at
coincident rows (docs/math.md section 2: continuous there), and the Morse index and nullity along a
branch through such points must match eigvalsh of the oracle Hessian.

Regression: the kernel's frame vector ``p = v~ - c u`` kept the rounding error of a fused
multiply-add (~1e-17) while ``s = sin(theta)`` was ~1e-33, so ``p p^T / s`` came out O(1) and the
Hessian of a point on the K = 2 family in d = 4 was off by 0.39 (no zero eigenvalue, index wrong).
"""

import numpy as np
import pytest

import dynsys
from dynsys import families
from dynsys.continuation.spectrum import spectrum
from dynsys.theory.k2_saddles import k2_saddle_families

import naive
import naive_critical

# a point of the K = 2 saddle family (teacher angle 2, equal norms) in d = 4, met at alpha = 0.0785 on a
# branch over the leaky slope: the rows are parallel up to rounding in the plane and have components
# of order 1e-34 outside it
W_REPRO = np.array([[0.19815637470572056, 0.30861026865630053, -7.807697024418735e-35, -4.228265771264219e-34],
                    [0.47313449066021207, 0.7368633105548771, -2.361693463176547e-34, -9.398590641015412e-35]])
ALPHA_REPRO = 0.07845117622291177
TEACHER = np.array([[1.0, 0.0, 0.0, 0.0], [np.cos(2.0), np.sin(2.0), 0.0, 0.0]])


def _limit(W):
    """The same rows with the out-of-plane components set to zero (exactly coincident directions)."""
    L = W.copy()
    L[:, 2:] = 0.0
    return L


def test_hessian_at_the_reproducer_equals_its_limit_and_the_oracle():
    model = dynsys.TeacherStudent(TEACHER, alpha=ALPHA_REPRO)
    H = model.hessian(W_REPRO)
    H_lim = model.hessian(_limit(W_REPRO))
    H_ref = naive.hessian_closed_form(W_REPRO, TEACHER, alpha=ALPHA_REPRO)
    assert np.max(np.abs(H - H_ref)) < 1e-12
    assert np.max(np.abs(H - H_lim)) < 1e-12
    # the mass between the two parallel rows is a null direction: index 3, nullity 1
    assert naive_critical.index_nullity(H_ref, 1e-7) == (3, 1)
    sp = spectrum(H, eig_rtol=1e-7, q=4)
    assert (sp.index, sp.nullity) == (3, 1)
    # the Hessian-vector product shares the frame: it agrees with H
    x = np.random.default_rng(1).standard_normal(W_REPRO.shape)
    assert np.allclose(model.hvp(W_REPRO, x).reshape(-1), H @ x.reshape(-1), atol=1e-12)


@pytest.mark.parametrize("tiny", [1e-34, 1e-30, 1e-25, 1e-20, 1e-17, 1e-12])
def test_hessian_is_continuous_at_coincident_rows(tiny):
    f = k2_saddle_families(1.0, 1.0, 2.0)[0]
    model = dynsys.TeacherStudent(f.teacher(4), alpha=0.3)
    W = f.W(0.3, 4)
    W[:, 2] = tiny * np.array([1.0, -2.0])
    H = model.hessian(W)
    H_ref = naive.hessian_closed_form(W, model.W_star, alpha=0.3)
    # continuous (Lipschitz) at s = 0: off the limit by O(angle) = O(tiny / |row|), plus roundoff
    assert np.max(np.abs(H - model.hessian(_limit(W)))) < 1e-12 + 10 * tiny
    assert np.max(np.abs(H - H_ref)) < 1e-12


def test_index_and_nullity_along_the_k2_family_over_alpha():
    f = k2_saddle_families(1.0, 1.0, 2.0)[0]
    model = dynsys.TeacherStudent(f.teacher(4))
    b = dynsys.continuation(families.leaky_slope(model), f.W(0.3, 4), 0.0, 0.9)
    assert b.status == dynsys.results.Status.CONVERGED and b.own_nullity == 1 and not b.events
    for i in range(len(b)):
        H_ref = naive.hessian_closed_form(b.W[i], model.W_star, alpha=b.p[i])
        assert naive_critical.index_nullity(H_ref, 1e-7) == (b.morse_index[i], b.nullity[i]) == (3, 1)
