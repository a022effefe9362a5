"""Saddle search: nudged elastic band / string between two minima, eigenvector following from one.

Toy systems with known saddles (the double well of ``dynsys.systems.toys`` and a curved double well
written here, whose minimum-energy path is not a straight line), then the teacher-student model with
``W* = I_2`` between the teacher and its row-swapped copy: docs/math.md section 4 says the saddle there
lies on the bisector family ``w_1 = c S e``, ``w_2 = (1 - c) S e`` with ``e`` at 45 degrees and
``pi S = 2 h(pi/4)``, ``h(t) = (pi - t) cos t + sin t``, of Morse index 1 and nullity 1 in d = 2.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import optimize

import dynsys as ds
from dynsys.critical.saddles import eigenvector_following, saddle_between
from dynsys.results import SaddlePath, Status
from dynsys.systems.toys import DoubleWell

#: The refined saddle against the exact one (Newton converges to roundoff at a nondegenerate saddle).
POINT_ATOL = 1e-9
#: Refined gradient norms (row max).
GRAD_ATOL = 1e-10
#: Family check: |w_1| + |w_2| = S and the rows' angle to the bisector.
FAMILY_ATOL = 1e-8


class CurvedWell:
    """``V = (x^2 - 1)^2 + 2 (y - (1 - x^2)/2)^2 + tilt x``: two minima near (+-1, 0) and an index-1
    saddle near (0, 1/2) (exactly there, with V = 1, when tilt = 0). The straight line between the
    minima misses the saddle, so the path has to bend."""

    def __init__(self, tilt=0.0):
        self.tilt = tilt

    def grad1(self, p):
        x, y = p
        r = y - 0.5 * (1 - x * x)
        return np.array([4 * x * (x * x - 1) + 4 * r * x + self.tilt, 4 * r])

    def loss_and_grad(self, X):
        X = np.asarray(X, float)
        x, y = X[..., 0], X[..., 1]
        r = y - 0.5 * (1 - x ** 2)
        L = (x ** 2 - 1) ** 2 + 2 * r ** 2 + self.tilt * x
        G = np.stack([4 * x * (x ** 2 - 1) + 4 * r * x + self.tilt, 4 * r], axis=-1)
        return L, G

    def hessian(self, p):
        x, y = p
        r = y - 0.5 * (1 - x * x)
        return np.array([[12 * x * x - 4 + 4 * r + 4 * x * x, 4 * x], [4 * x, 4.0]])


def _root(system, guess):
    """Independent oracle: scipy's hybrid root finder on the analytic gradient."""
    sol = optimize.root(system.grad1, guess, jac=system.hessian, tol=1e-14)
    assert sol.success
    return sol.x


# ------------------------------------------------------------------------------------------------
# Toys
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["neb", "string"])
def test_double_well_saddle_at_origin(method):
    r = saddle_between(DoubleWell(), [-1.0, 0.0], [1.0, 0.0], method=method)
    assert isinstance(r, SaddlePath)
    assert r.status == Status.CONVERGED
    np.testing.assert_allclose(r.W, [0.0, 0.0], atol=POINT_ATOL)
    assert r.index == 1 and r.saddle.nullity == 0 and r.saddle.kind == "saddle"
    np.testing.assert_allclose(r.saddle.eigvals, [-4.0, 2.0], atol=1e-12)
    assert r.loss == pytest.approx(1.0, abs=1e-15)
    assert r.barriers == pytest.approx((1.0, 1.0), abs=1e-15)
    # The end points stay where they were given.
    np.testing.assert_array_equal(r.images[0], [-1.0, 0.0])
    np.testing.assert_array_equal(r.images[-1], [1.0, 0.0])


@pytest.mark.parametrize("method", ["neb", "string"])
@pytest.mark.parametrize("tilt", [0.0, 0.3])
def test_curved_well_path_bends_to_the_saddle(method, tilt):
    sys_ = CurvedWell(tilt)
    a = _root(sys_, [-1.0, 0.0])
    b = _root(sys_, [1.0, 0.0])
    s = _root(sys_, [0.0, 0.5])
    assert np.linalg.eigvalsh(sys_.hessian(s))[0] < 0 < np.linalg.eigvalsh(sys_.hessian(a))[0]
    r = saddle_between(sys_, a, b, method=method, n_images=11)
    assert r.status == Status.CONVERGED
    np.testing.assert_allclose(r.W, s, atol=POINT_ATOL)
    assert r.index == 1 and r.saddle.grad_norm <= GRAD_ATOL
    # The relaxed path left the straight line (whose highest point is at y = 0, far from the saddle).
    assert np.max(r.images[:, 1]) > 0.4
    # The climbing image is the top of the path, and the path's energies are the loss at its images.
    assert r.climbing_image == int(np.argmax(r.energies))
    np.testing.assert_allclose(r.energies, sys_.loss_and_grad(r.images)[0], rtol=0, atol=1e-15)
    La = sys_.loss_and_grad(a[None])[0][0]
    Lb = sys_.loss_and_grad(b[None])[0][0]
    assert r.barriers == pytest.approx((r.loss - La, r.loss - Lb), abs=1e-14)


def test_eigenvector_following_toys():
    found = eigenvector_following(DoubleWell(), [1.0, 0.0], n_directions=2)
    assert len(found) == 1
    np.testing.assert_allclose(found[0].W, [0.0, 0.0], atol=POINT_ATOL)
    assert found[0].index == 1
    sys_ = CurvedWell(0.3)
    a = _root(sys_, [1.0, 0.0])
    found = eigenvector_following(sys_, a, n_directions=2)
    s = _root(sys_, [0.0, 0.5])
    assert any(np.allclose(q.W, s, atol=POINT_ATOL) for q in found)
    assert all(q.index == 1 and q.grad_norm <= GRAD_ATOL for q in found)


def test_validation():
    with pytest.raises(ValueError, match="method"):
        saddle_between(DoubleWell(), [-1.0, 0.0], [1.0, 0.0], method="dimer")
    with pytest.raises(ValueError, match="same shape"):
        saddle_between(CurvedWell(), [-1.0, 0.0], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="W_a"):
        saddle_between(CurvedWell(), [np.nan, 0.0], [1.0, 0.0])
    m = ds.TeacherStudent(np.eye(2))
    with pytest.raises(ValueError, match=r"W_b must have the system's state_shape \(2, 2\)"):
        saddle_between(m, np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match="path"):
        saddle_between(m, np.eye(2), np.eye(2)[::-1], n_images=3, path=np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="n_directions"):
        eigenvector_following(DoubleWell(), [1.0, 0.0], n_directions=0)


def test_max_iter_reports_status():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = saddle_between(CurvedWell(), [-1.0, 0.0], [1.0, 0.0], max_iter=3)
    assert r.status == Status.MAX_STEPS and r.iterations == 3


# ------------------------------------------------------------------------------------------------
# Teacher-student, W* = I_2 (docs/math.md section 4, K = 2 saddle families)
# ------------------------------------------------------------------------------------------------

def _h(t):
    return (math.pi - t) * math.cos(t) + math.sin(t)


def _check_bisector_family(W, eigvals, index, nullity):
    S = 2.0 * _h(math.pi / 4) / math.pi
    norms = np.linalg.norm(W, axis=1)
    assert norms.sum() == pytest.approx(S, abs=FAMILY_ATOL)
    assert np.all(norms > 0)
    angles = np.arctan2(W[:, 1], W[:, 0])
    np.testing.assert_allclose(angles, math.pi / 4, atol=FAMILY_ATOL)
    assert index == 1 and nullity == 1
    assert eigvals[0] < 0


@pytest.mark.parametrize("method", ["neb", "string"])
def test_teacher_to_swapped_teacher_k2(method):
    m = ds.TeacherStudent(np.eye(2))
    r = saddle_between(m, np.eye(2), np.eye(2)[::-1], method=method)
    assert r.status == Status.CONVERGED
    sp = r.saddle
    assert sp.grad_norm <= GRAD_ATOL
    assert sp.kind == "saddle"
    _check_bisector_family(sp.W, sp.eigvals, sp.index, sp.nullity)
    assert sp.point is not None and sp.point.morse_index == 1
    # Both ends are global minima (loss 0): the two barriers are the saddle's loss.
    assert r.barriers[0] == pytest.approx(sp.loss, abs=1e-12)
    assert r.barriers[1] == pytest.approx(sp.loss, abs=1e-12)
    assert sp.loss == pytest.approx(m.loss(sp.W), abs=1e-15) and sp.loss > 0


@pytest.mark.parametrize("method", ["neb", "string"])
@pytest.mark.parametrize("norm2,theta12", [(5.0, 3.0), (1.0, 3.0), (2.0, 1.2)])
def test_k2_general_teacher_saddle_on_a_family(method, norm2, theta12):
    """Teacher rows of norms 1 and ``norm2`` at angle ``theta12``; between the teacher and its
    row-swapped copy the path's saddle must be a member of a K = 2 family (docs/math.md section 4): both
    rows along one unit vector e in the teacher plane at angle theta_1 from w*_1 with
    ``(pi - theta_1) sin(theta_1) |w*_1| = (pi - theta_2) sin(theta_2) |w*_2|``,
    ``|w_1| + |w_2| = S``, ``pi S = |w*_1| h(theta_1) + |w*_2| h(theta_2)``, nullity 1, and index 1,
    which the criterion ``sum |w*_k| sin(theta_k) < sum |w*_k| (pi - theta_k) cos(theta_k)`` predicts.
    For equal norms at theta12 = 3.0 > 2.2257 the bisector family has index 2: the straight path
    between the mirror images runs through it, and the search must leave it for an asymmetric family.
    """
    n = (1.0, norm2)
    Ws = np.array([[1.0, 0.0], [norm2 * math.cos(theta12), norm2 * math.sin(theta12)]])
    m = ds.TeacherStudent(Ws)
    r = saddle_between(m, Ws, Ws[::-1], method=method)
    assert r.status == Status.CONVERGED
    sp = r.saddle
    W = sp.W
    assert sp.grad_norm <= GRAD_ATOL and sp.index == 1 and sp.nullity == 1
    # Both rows along one direction e (zero cross product, positive dot product).
    assert abs(W[0, 0] * W[1, 1] - W[0, 1] * W[1, 0]) <= FAMILY_ATOL and W[0] @ W[1] > 0
    th1 = math.atan2(W[0, 1] + W[1, 1], W[0, 0] + W[1, 0])
    th2 = theta12 - th1
    assert 0 < th1 < theta12
    f = (math.pi - th1) * math.sin(th1) * n[0] - (math.pi - th2) * math.sin(th2) * n[1]
    assert abs(f) <= FAMILY_ATOL * norm2
    S = (n[0] * _h(th1) + n[1] * _h(th2)) / math.pi
    assert np.linalg.norm(W, axis=1).sum() == pytest.approx(S, abs=FAMILY_ATOL * norm2)
    margin = (n[0] * (math.pi - th1) * math.cos(th1) + n[1] * (math.pi - th2) * math.cos(th2)
              - n[0] * math.sin(th1) - n[1] * math.sin(th2))
    assert margin > 0
    if norm2 == 1.0 and theta12 > 2.2257:
        assert abs(th1 - theta12 / 2) > 0.1          # not the (index-2) bisector


def test_eigenvector_following_from_teacher_k2():
    m = ds.TeacherStudent(np.eye(2))
    found = eigenvector_following(m, np.eye(2), n_directions=4)
    assert found, "no index-1 saddle found from the teacher"
    for q in found:
        assert q.index == 1 and q.grad_norm <= GRAD_ATOL
        assert np.all(np.diff(q.eigvals) >= 0)
    # Distinct up to symmetry: losses or spectra differ pairwise.
    for i in range(len(found)):
        for j in range(i):
            assert (abs(found[i].loss - found[j].loss) > 1e-9
                    or np.max(np.abs(found[i].eigvals - found[j].eigvals)) > 1e-9)
    assert [q.loss for q in found] == sorted(q.loss for q in found)


@pytest.mark.slow
def test_spurious_minimum_to_teacher_k6():
    """From a spurious minimum of W* = I_6 (found by a census) to the nearest copy of the teacher:
    the path's top is an index-1 saddle above both ends; eigenvector following from the spurious
    minimum finds index-1 saddles above it."""
    from dynsys.critical.census import census

    m = ds.TeacherStudent(np.eye(6))
    c = census(m, 1000, seed=0)
    assert c.spurious_classes, "no spurious minimum in 1000 runs at k = 6"
    Wsp = c.spurious_classes[0].W
    Lsp = c.spurious_classes[0].loss
    for method in ("neb", "string"):
        r = saddle_between(m, Wsp, np.eye(6), align=True, method=method)
        assert r.status == Status.CONVERGED
        assert r.index == 1 and r.saddle.grad_norm <= GRAD_ATOL and r.saddle.kind == "saddle"
        assert r.barriers[0] > 0 and r.barriers[1] > 0
        assert r.loss == pytest.approx(Lsp + r.barriers[0], abs=1e-15)
        # align=True ended the path at a row permutation of the teacher.
        P = r.images[-1]
        np.testing.assert_array_equal(np.sort(P, axis=0), np.sort(np.eye(6), axis=0))
    found = eigenvector_following(m, Wsp, n_directions=3)
    assert found
    for q in found:
        assert q.index == 1 and q.grad_norm <= GRAD_ATOL and q.loss > Lsp
