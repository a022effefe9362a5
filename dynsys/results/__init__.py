"""The one status table and the frozen result types of dynsys.

Every batch algorithm (field evaluation, flows, Newton, census) gives each element an ``int8``
status from :class:`Status`; results are frozen dataclasses holding plain arrays. Submodules, by what
they hold: :mod:`.status` (:class:`Status`, :func:`status_counts`), :mod:`.flow` (:class:`FlowResult`),
:mod:`.critical` (critical points and saddles), :mod:`.census` (censuses of minima), :mod:`.certificate`
(certificates of critical points), :mod:`.sampling`
(Monte Carlo estimates and SGD runs); :mod:`.io` saves and loads any of them (``result.save(path)``,
``Type.load(path)``, :func:`load`), :mod:`.display` formats their short summaries. Figures of results
are in :mod:`dynsys.plotting`, which results never import.
"""

from .basins import Attractor, BasinResult
from .branch import EVENT_KINDS, AxialSubgroup, Branch, Event, EventCurve, Switching
from .census import Census, CensusClass, CensusSweep
from .certificate import CERTIFY_REASONS, Certificate, CertificateSet
from .critical import CRITICAL_KINDS, CriticalPoint, CriticalSet, SaddlePath, SaddlePoint
from .flow import FlowResult
from .manifold import Manifold
from .io import Result, ResultFileError, load, load_model, read_meta, save
from .sampling import GatingEstimate, MonteCarloEstimate, SGDResult
from .status import OK, Label, Status, status_counts

__all__ = ["Attractor", "AxialSubgroup", "BasinResult", "Branch", "CERTIFY_REASONS", "CRITICAL_KINDS", "Census", "CensusClass",
           "CensusSweep", "Certificate", "CertificateSet", "CriticalPoint", "CriticalSet", "EVENT_KINDS", "Event",
           "EventCurve", "FlowResult", "GatingEstimate", "Label", "Manifold", "MonteCarloEstimate", "OK", "Result",
           "ResultFileError", "SGDResult",
           "SaddlePath", "SaddlePoint", "Status", "Switching", "load", "load_model", "read_meta", "save", "status_counts"]
