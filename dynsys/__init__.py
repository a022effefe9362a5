"""dynsys: training dynamics of two-layer ReLU teacher-student networks as a dynamical system.

The public API is re-exported here; submodules are implementation. Importing dynsys imports neither
matplotlib nor CUDA.
"""

from .model import PAPER_002_LOSS_FACTOR, TeacherStudent
from .results import Status

__version__ = "0.1.0"

__all__ = ["PAPER_002_LOSS_FACTOR", "Status", "TeacherStudent", "__version__"]
