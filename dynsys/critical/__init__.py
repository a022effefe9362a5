"""Critical points of the loss: Newton refinement from many seeds, classification, deduplication up
to the model's symmetry (docs/math.md section 4), and saddles between minima.

Every function takes any system of the protocol :class:`dynsys.systems.base.System` (the
teacher-student model, the toys, the reduced dynamics, a system of yours: ``docs/systems.md``).
Modules import one way: :mod:`.shared` (seeds, tolerances, gradient and Hessian calls, ``row_max``,
the index/nullity count) <- :mod:`.newton` <- :mod:`.classify` <- :mod:`.find`; :mod:`.census` and
:mod:`.saddles` build on them.

* :func:`refine`, :func:`deflate`, :func:`bordered_newton` (:mod:`.newton`): the batched Newton
  solver, further roots by deflation, and the bordered corrector that continuation needs.
* :func:`classify` (:mod:`.classify`): refine one point by Newton and classify it
  (:class:`~dynsys.results.CriticalPoint`).
* :func:`find_critical_points` (:mod:`.find`): batched Newton from many seeds, deduplicated and
  classified (:class:`~dynsys.results.CriticalSet`).
* :func:`same_point`, :func:`invariants`, :func:`nullity_expected` (:mod:`.symmetry`).
* :func:`saddle_between`, :func:`eigenvector_following` (:mod:`.saddles`): index-1 saddles between
  minima (climbing-image NEB or string) and from a minimum along its softest modes.
* :func:`trace_manifold` (:mod:`.manifold`): sample the connected set of critical points through a
  degenerate one (:class:`~dynsys.results.Manifold`).
* :func:`census`, :func:`census_sweep` (:mod:`.census`): gradient descent from many random starts,
  endpoints refined, classified and grouped into classes of minima with Wilson intervals.
"""

from .census import census, census_sweep, random_starts, wilson_interval
from .classify import classify, teacher_assignment, teacher_match
from .find import find_critical_points
from .manifold import trace_manifold
from .newton import BorderedResult, NewtonResult, bordered_newton, deflate, refine
from .saddles import eigenvector_following, saddle_between
from .shared import grad_scale
from .symmetry import invariants, nullity_expected, same_point

__all__ = ["BorderedResult", "NewtonResult", "bordered_newton", "census", "census_sweep", "classify", "deflate",
           "eigenvector_following", "find_critical_points", "grad_scale", "invariants", "nullity_expected",
           "random_starts", "refine", "saddle_between", "same_point", "teacher_assignment", "teacher_match",
           "trace_manifold", "wilson_interval"]
