"""The one table of integer codes that compiled kernels and Python results share.

Kernels import these names (Numba freezes module-level integers into the compiled code, so a kernel
cached on disk keeps the value it was compiled with: change a code here only together with a cache
clear). :class:`dynsys.results.Status` and the basin labels of the results are built from them.
"""

# --- per-element statuses (int8), dynsys.results.Status --------------------------------------
CONVERGED = 0     #: done without trouble (for a plain field evaluation: "ok")
OK = CONVERGED
MAX_STEPS = 1
DIVERGED = 2
SINGULAR = 3      #: a row of W + U at or below the singular tolerance
NONFINITE = 4
T1_REACHED = 5
INTERRUPTED = 6
STALLED = 7       #: Newton made no progress
ENTERED = 8       #: a basin-map run stopped inside a certified ball of a minimum (label on entry)

# --- labels of a run's end point (census classes, basin maps) ----------------------------------
#: Non-negative labels name attractors; these reserved ones say why a run has none.
LABEL_DIVERGED = -1
LABEL_UNCONVERGED = -2
LABEL_SINGULAR = -3
LABEL_SADDLE = -4
LABEL_NOT_COMPUTED = -5

# --- integrators (dynsys.kernels.integrators, dynsys.kernels.cuda.integrators) -----------------
GD = 0
EULER = 1
RK4 = 2
DOPRI5 = 3
METHOD_CODES = {"gd": GD, "euler": EULER, "rk4": RK4, "dopri5": DOPRI5}

#: Stopping norms of the gradient.
NORM_ROW_MAX = 0
NORM_FRO = 1
NORM_CODES = {"row_max": NORM_ROW_MAX, "fro": NORM_FRO}

# --- Newton's linear solves (dynsys.kernels.newton) --------------------------------------------
FACTOR_NONE = -1        #: no usable factor: the step is Levenberg-Marquardt
FACTOR_LDLT_DEFINITE = 1
FACTOR_LU = 2
FACTOR_LDLT_INDEFINITE = 3

# --- systems the Newton kernel evaluates (dynsys.systems) --------------------------------------
SYSTEM_TEACHER_STUDENT = 0
SYSTEM_DOUBLE_WELL = 1
SYSTEM_QUADRATIC_SADDLE = 2
SYSTEM_RING_OF_MINIMA = 3

# --- two-phase verdicts of a run (dynsys.twophase, paper 002's two-phase claim) ----------------
TWO_PHASE_HELD = 0          #: entered the delta-margin region for good, f_A never rose before, distance never rose after
TWO_PHASE_FA_ROSE = 1       #: entered for good, but f_A rose at some step before the entry
TWO_PHASE_DIST_ROSE = 2     #: entered for good with f_A monotone before, but |W - W*| rose after the entry
TWO_PHASE_NOT_ENTERED = 3   #: the margin was not above delta at the last record
TWO_PHASE_RUN_FAILED = 4    #: the run diverged or went non-finite
TWO_PHASE_NAMES = {TWO_PHASE_HELD: "held", TWO_PHASE_FA_ROSE: "f_A rose before entry",
                   TWO_PHASE_DIST_ROSE: "distance rose after entry", TWO_PHASE_NOT_ENTERED: "never entered",
                   TWO_PHASE_RUN_FAILED: "run failed"}
