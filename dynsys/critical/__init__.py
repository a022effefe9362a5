"""Critical points of the loss: Newton refinement from many seeds, classification, deduplication up
to the model's symmetry (MATH.md section 4), and saddles between minima.

* :func:`classify` (:mod:`.classify`): refine one point by Newton and classify it
  (:class:`~dynsys.results.CriticalPoint`).
* :func:`find_critical_points` (:mod:`.newton`): batched Newton from many seeds, deduplicated and
  classified (:class:`~dynsys.results.CriticalSet`); :func:`refine` is the bare batched Newton solver.
* :func:`same_point`, :func:`invariants`, :func:`nullity_expected` (:mod:`.symmetry`).
* :func:`saddle_between`, :func:`eigenvector_following` (:mod:`.saddles`): index-1 saddles between
  minima (climbing-image NEB or string) and from a minimum along its softest modes.
* :func:`census`, :func:`census_sweep` (:mod:`.census`): gradient descent from many random starts,
  endpoints refined, classified and grouped into classes of minima with Wilson intervals.
"""

from .census import census, census_sweep, random_starts, wilson_interval
from .classify import classify, teacher_match
from .newton import NewtonResult, deflate, find_critical_points, grad_scale, refine
from .saddles import eigenvector_following, saddle_between
from .symmetry import invariants, nullity_expected, same_point

__all__ = ["NewtonResult", "census", "census_sweep", "classify", "deflate", "eigenvector_following",
           "find_critical_points", "grad_scale", "invariants", "nullity_expected", "random_starts", "refine",
           "saddle_between", "same_point", "teacher_match", "wilson_interval"]
