"""dynsys: training dynamics of two-layer ReLU teacher-student networks as a dynamical system.

The public API is re-exported here; submodules are implementation. Importing dynsys imports neither
matplotlib nor CUDA.
"""

from .critical import (
    census,
    census_sweep,
    classify,
    eigenvector_following,
    find_critical_points,
    saddle_between,
    same_point,
    trace_manifold,
    wilson_interval,
)
from . import families
from .continuation import Family, continuation
from .basins import basins
from .basins.samplers import Ball, Gaussian, Grid, Spheres, TeacherNoise, Xavier, reduced_plane, teacher_slice
from .certify import certify
from .flow import flow
from .graph import landscape_graph
from .model import PAPER_002_LOSS_FACTOR, FieldArrays, TeacherStudent
from .montecarlo import monte_carlo, monte_carlo_gating
from .results import (Attractor, BasinResult, Branch, Certificate, CertificateSet, CriticalPoint, CriticalSet,
                      FlowResult, GatingEstimate, Label, Manifold, MonteCarloEstimate, SGDResult, Status, load)
from .sgd import sgd, sgd_dataset
from .twophase import TwoPhaseTrace, aux_function, convexity_margin, gd_trace, sgd_trace, two_phase_verdict
from .classifier import ClassifierResult, train_classifier
from .systems.base import PointSystem, System
from .progress import CompileWarning
from .warmup import warmup
from .theory import (
    Conjecture1Scan,
    K2SaddleFamily,
    L12,
    L_jjp,
    ReducedDynamics,
    ReducedFixedPoint,
    ReducedTrajectory,
    conjecture1_scan,
    k2_equal_norm_threshold,
    k2_saddle_families,
    normal_matrices,
)

from ._version import __version__

__all__ = [
    "PAPER_002_LOSS_FACTOR", "FieldArrays", "TeacherStudent", "Status", "Label", "System", "PointSystem",
    "load",
    "flow", "FlowResult",
    "monte_carlo", "monte_carlo_gating", "MonteCarloEstimate", "GatingEstimate",
    "sgd", "sgd_dataset", "SGDResult",
    "aux_function", "convexity_margin", "two_phase_verdict", "gd_trace", "sgd_trace", "TwoPhaseTrace",
    "train_classifier", "ClassifierResult",
    "ReducedDynamics", "ReducedFixedPoint", "ReducedTrajectory", "K2SaddleFamily",
    "k2_saddle_families", "k2_equal_norm_threshold", "normal_matrices", "L_jjp", "L12",
    "Conjecture1Scan", "conjecture1_scan",
    "certify", "Certificate", "CertificateSet",
    "classify", "find_critical_points", "same_point", "CriticalPoint", "CriticalSet",
    "saddle_between", "eigenvector_following", "census", "census_sweep", "wilson_interval",
    "trace_manifold", "Manifold", "landscape_graph",
    "continuation", "Family", "Branch", "families",
    "warmup", "CompileWarning",
    "basins", "BasinResult", "Attractor",
    "Grid", "reduced_plane", "teacher_slice", "Xavier", "Gaussian", "Ball", "TeacherNoise", "Spheres",
    "__version__",
]
