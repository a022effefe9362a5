"""Closed-form objects of the papers: the reduced 2D field, the saddle formula, the normal equation.

Everything here follows docs/math.md sections 3 and 4 and Tian (ICML 2017):

* :class:`ReducedDynamics` (:mod:`.reduced`) -- the invariant 2D system of the orthonormal teacher
  (Tian (ICML 2017) Sec 6.2, Thm 7; Tian (ICLR 2017) Eqn 16-17), its Jacobian, the symmetric saddle, the diagonal 1D
  system, all fixed points of the reduced plane;
* :func:`k2_saddle_families` (:mod:`.k2_saddles`) -- the one-parameter saddle families of a K = 2
  network (Tian (ICML 2017) Sec 5.3, generalised to unequal teacher norms in docs/math.md section 4);
* :func:`h`, :func:`normal_matrices`, :func:`L_jjp`, :func:`L12` (:mod:`.normal_equation`) -- the
  normal equation (Tian (ICML 2017) Eqn 9-14), Proposition 1 and Theorem 3;
* :func:`conjecture1_scan` (:mod:`.conjecture`) -- the exhaustive check of Conjecture 1 (Tian (ICML 2017)
  Sec 7.2, Fig 10), with a roundoff bound per evaluation and mpmath re-evaluation of every doubtful
  point.

Conventions: all top weights are 1, ReLU, ``x ~ N(0, I)``; the loss is ``L = 1/2 E[(g* - g)^2]`` and
the flow ``dW/dt = -grad L`` (Tian (ICML 2017) writes ``J`` over N samples; its field is ``N`` times ours).
Imports run one way: ``_common`` <- ``reduced_points`` <- ``reduced``, ``normal_equation`` <- ``k2_saddles``, ``conjecture``.
"""

from .conjecture import Conjecture1Scan, conjecture1_scan
from .k2_saddles import K2SaddleFamily, k2_equal_norm_threshold, k2_saddle_families
from .normal_equation import _l12_mp  # noqa: F401  (private; tests/test_theory.py uses th._l12_mp)
from .normal_equation import L12, L_jjp, h, normal_matrices
from .reduced import ReducedDynamics, ReducedFixedPoint, ReducedTrajectory

__all__ = [
    "ReducedDynamics", "ReducedFixedPoint", "ReducedTrajectory",
    "K2SaddleFamily", "k2_saddle_families", "k2_equal_norm_threshold",
    "h", "normal_matrices", "L_jjp", "L12",
    "Conjecture1Scan", "conjecture1_scan",
]
