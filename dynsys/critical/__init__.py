"""Critical points of the loss: Newton refinement from many seeds, classification, deduplication up
to the model's symmetry (MATH.md section 4), and saddles between minima.

* :func:`classify` (:mod:`.classify`): refine one point by Newton and classify it
  (:class:`~dynsys.results.CriticalPoint`).
* :func:`find_critical_points` (:mod:`.newton`): batched Newton from many seeds, deduplicated and
  classified (:class:`~dynsys.results.CriticalSet`); :func:`refine` is the bare batched Newton solver.
* :func:`same_point`, :func:`invariants`, :func:`nullity_expected` (:mod:`.symmetry`).
"""

from .classify import classify, teacher_match
from .newton import NewtonResult, deflate, find_critical_points, grad_scale, refine
from .symmetry import invariants, nullity_expected, same_point

__all__ = ["NewtonResult", "classify", "deflate", "find_critical_points", "grad_scale", "invariants",
           "nullity_expected", "refine", "same_point", "teacher_match"]
