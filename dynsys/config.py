"""Every tunable of dynsys in one place (tolerances, sizes, thread counts).

Change a value here, not in the code that uses it; tests refer to these names.

Most values are read by Python code at call time (Newton's and the integrators' parameters travel
to the kernels as arguments). One is frozen into the CPU kernels cached on disk, because compiled
code reads it as a constant: ``ACOS_SWITCH`` (the per-state field of
``dynsys/systems/teacher_student.py``). After editing it, clear Numba's cache (the ``__pycache__``
folders' ``*.nbi``/``*.nbc`` files, or ``NUMBA_CACHE_DIR``), or the old value stays in use. The CUDA
constants are read when a CUDA kernel is built, once per process and shape (those kernels are not
cached on disk).
"""

import math

TWO_PI = 2.0 * math.pi

#: A row of the network weights (``w_j`` or ``w_j + u_j``) whose norm is at or below
#: ``SINGULAR_RTOL * scale`` makes a state singular (the field's direction is undefined there).
#: ``scale`` is the largest teacher row norm (1 if the teacher is zero).
SINGULAR_RTOL = 1e-12

#: Where ``|cos(theta)|`` exceeds this, angles are taken from the atan2 form
#: ``2 atan2(|u - v|, |u + v|)`` (accurate to roundoff near 0 and pi) instead of ``arccos``.
#: Below it, ``arccos`` loses at most ``eps / sin(theta) < 1.2e-15`` absolute.
ACOS_SWITCH = 0.99

#: Teacher row norms (of ``W* + U``) allowed by ``TeacherStudent``: outside, the teacher energy
#: overflows (it is about the norm squared, and float64 ends at 1.8e308) or the squared norms
#: underflow in float64 (rows of norm exactly 0 are allowed).
TEACHER_NORM_RANGE = (1e-150, 1e152)
#: Largest ``k * d`` of a model (a state's Hessian has ``(k d)^2`` entries; 1e6 is 8 TB of it).
MAX_STATE_SIZE = 10**6

#: Parallel batches smaller than this run on one thread (same result, no thread-pool wake-up).
PARALLEL_MIN_BATCH = 8

#: States per chunk handed to one parallel kernel call by long-running drivers.
CHUNK_SIZE = 65536

#: Monte Carlo: samples per chunk (memory per chunk is about ``MC_CHUNK * d * 8`` bytes per thread).
MC_CHUNK = 1 << 16

#: CUDA: threads per block for the one-state-per-thread kernels.
CUDA_THREADS_PER_BLOCK = 128
#: CUDA: above this k * d the one-state-per-block kernel is used.
CUDA_BLOCK_KERNEL_MIN_KD = 400

#: Classification defaults (docs/math.md section 4).
EIG_RTOL = 1e-7
LOSS_RTOL = 1e-10

#: Reduced dynamics (``theory.ReducedDynamics.fixed_points``): Newton stops when the max-norm of
#: ``(dx/dt, dy/dt)`` is at or below ``REDUCED_NEWTON_FTOL * K`` (the field's terms grow like K).
REDUCED_NEWTON_FTOL = 1e-13
#: Largest ``sqrt(x^2 + (K-1) y^2)`` of a reduced state (beyond it ``1 / r^2`` underflows).
REDUCED_MAX_NORM = 1e150
#: ``ReducedDynamics.integrate``: solver steps before MAX_STEPS.
REDUCED_MAX_STEPS = 100_000
#: Newton iterations per start.
REDUCED_NEWTON_MAXITER = 100
#: Two fixed points closer than this (max-norm in (x, y), relative to 1 + |(x, y)|) are one.
REDUCED_DEDUP_TOL = 1e-7
#: Starts of the fixed-point search: radial x angular grid over the ellipse where fixed points can be.
REDUCED_GRID = (40, 120)
#: At most this many starts (n_radial * n_angular) per fixed-point search.
REDUCED_MAX_STARTS = 10**6

#: K = 2 saddle families: grid points on (0, theta12) scanned for sign changes and near-tangencies.
K2_ROOT_GRID = 4096

#: Conjecture 1 scan: a grid point whose ``e*`` lies within this angle (radians) of ``e_1`` or ``e_2``
#: is a boundary point (L_12 = 0 on the cone's edges); a few ulps of 2 pi, the grid's own roundoff.
CONJ1_EDGE_ATOL = 64 * 2.0**-53 * TWO_PI
#: Safety factor on the running roundoff bound of each float64 evaluation of L_12.
CONJ1_BOUND_SAFETY = 2.0
#: Digits of the mpmath re-evaluation of doubtful points (doubled once when the value is tiny).
CONJ1_MP_DPS = 50
#: At most this many doubtful points are re-evaluated in mpmath (beyond it the scan warns).
CONJ1_MAX_MP_POINTS = 200_000
#: Length of the (t, phi) location lists kept in a scan result.
CONJ1_LOCATION_CAP = 1000
#: Largest grid of ``conjecture1_scan`` (N^2 points: 10^8 take minutes).
CONJ1_MAX_N = 20_000

# --- dynsys.flow (trajectory engine) ---
#: Trajectories per kernel call by default. Progress and Ctrl-C do not wait for a chunk to end (the
#: kernels poll a stop flag), so chunks are large; results do not depend on the size.
FLOW_CHUNK_SIZE = 1 << 16
#: A trajectory whose state norm (in the stopping norm, of W + U) exceeds
#: ``FLOW_DIVERGENCE_FACTOR * (1 + |W* + U|)`` is DIVERGED.
FLOW_DIVERGENCE_FACTOR = 1e6
#: Default ``plateau_gtol``: gradient norms below it count as "near a critical point" for plateau time.
FLOW_PLATEAU_GTOL = 1e-3
#: The save buffers (n, n_saves, k, d) of one call may take at most this many bytes.
FLOW_SAVE_MAX_BYTES = 2 * 1024**3
#: dopri5 ``polish=True`` hands a trajectory to gd once its gradient norm is below this many times
#: the error-control floor ``B (rtol max|W| + atol)`` (B the Hessian norm bound at the state).
FLOW_POLISH_FLOOR_FACTOR = 10.0
#: Progress (``progress=None``): shown only once a call has run this long (s).
PROGRESS_DELAY_S = 2.0
#: Progress written as plain lines (stderr not a terminal, not a notebook: a log): one line this
#: often (s).
PROGRESS_LOG_S = 5.0
#: First-call compile time (s) of a kernel of each group on an empty Numba cache, and of every
#: kernel (``dynsys warmup``), measured on 2 shared cores with numba 0.68; the compile notice
#: (``dynsys.progress.CompileWarning``) quotes them.
COMPILE_ESTIMATE_S = {"field": 5.0, "flow": 35.0, "critical": 25.0, "sampling": 9.0, "theory": 2.0,
                      "continuation": 60.0}
COMPILE_ALL_S = 240.0

# --- chunked engine: progress, interrupts, census chunks (docs/engine.md) ---
#: While a kernel runs on a worker thread, the main thread wakes this often (s) to move the progress
#: bar and to see Ctrl-C.
PROGRESS_POLL_S = 0.1
#: A census runs its first chunk of this many runs, then sizes chunks from the measured rate.
CENSUS_FIRST_CHUNK = 64
#: Target wall seconds of one census chunk (gradient descent, Newton refinement and classification
#: of its runs): bounds the work lost to a second Ctrl-C and the wait for a chunk being classified.
CENSUS_CHUNK_S = 4.0
#: find_critical_points refines its first chunk of this many seeds, then sizes chunks from the rate.
FIND_FIRST_CHUNK = 256
#: Target wall seconds of one chunk of find_critical_points's Newton: Newton does not poll Ctrl-C,
#: so this bounds the wait after it (the seeds not refined by then are INTERRUPTED).
FIND_CHUNK_S = 1.0
#: After Ctrl-C, find_critical_points deduplicates, then classifies, the seeds done for at most this
#: many seconds each (in Python, about a millisecond per seed); the seeds left are INTERRUPTED.
FIND_INTERRUPT_S = 1.0

# --- dynsys.critical.saddles (saddle search) ---
#: Movable images of a nudged elastic band / string between two minima.
SADDLE_N_IMAGES = 15
#: Most images a path may have (each relaxation iteration evaluates all of them).
SADDLE_MAX_IMAGES = 10_000
#: NEB spring constant (force per unit length; the loss's Hessian scale is about 1).
SADDLE_SPRING = 1.0
#: Largest spring constant accepted: far above the curvature scale a spring only freezes the path,
#: and near 1e300 its forces overflow.
SADDLE_MAX_SPRING = 1e12
#: Path relaxation stops when every image's force (row-max norm) is at most this; Newton refines after.
SADDLE_FTOL = 1e-4
#: Path relaxation iterations.
SADDLE_MAX_ITER = 20000
#: The highest image starts climbing after this many iterations (the path first takes its shape).
SADDLE_CLIMB_START = 20
#: FIRE (NEB) initial and largest time step.
SADDLE_DT = 0.1
SADDLE_DT_MAX = 1.0
#: String method: gradient step (below 2 / lambda_max of the loss, about 0.5 for k = 12).
SADDLE_STRING_STEP = 0.2
#: Largest move of one image in one iteration (Frobenius norm).
SADDLE_MAX_MOVE = 0.05
#: A converged path whose refined top has index > 1 is pushed off it (at most this many times) by
#: this fraction of the mean image spacing along the top's most path-orthogonal negative direction.
SADDLE_RESTARTS = 2
SADDLE_RESTART_KICK = 0.5
#: Dense Newton (models other than TeacherStudent): gradient norm target and iterations.
SADDLE_NEWTON_GTOL = 1e-13
SADDLE_NEWTON_MAX_ITER = 100
#: Eigenvector following: trust radius (Frobenius), gradient norm before Newton, steps per direction.
SADDLE_EF_TRUST = 0.05
SADDLE_EF_GTOL = 1e-7
SADDLE_EF_MAX_ITER = 500
#: Two saddles are one when their losses and spectra agree to this relative tolerance.
SADDLE_EF_DEDUP_RTOL = 1e-6
#: Branch switching at a symmetric branch point: the symmetry group acting on the crossing eigenspace is
#: enumerated up to this order (S_k on the (k-1)-dimensional kernel of k equal rows has k! elements);
#: past it the group is truncated, with a warning.
SYMMETRY_MAX_ORDER = 5040

# --- dynsys.critical.census ---
#: Two-sided normal quantile of the 95% Wilson intervals.
CENSUS_Z = 1.959964
#: Two refined endpoints are the same point of weight space (one member of an orbit) when their
#: largest entrywise difference is at most this times (1 + max |W|).
CENSUS_POINT_RTOL = 1e-6
#: Most runs of one census (its per-run arrays take about 40 bytes a run).
CENSUS_MAX_RUNS = 10**8
#: Most cells (starts) of one basin map (its per-cell arrays take about 20 bytes a cell).
BASINS_MAX_CELLS = 10**8

# --- dynsys.montecarlo and dynsys.sgd (sampled inputs) ---
#: Monte Carlo: samples per block, the atom of the deterministic reduction (MC_CHUNK is rounded down
#: to a whole number of blocks). Changing it changes the last bits of the estimates.
MC_BLOCK = 1024
#: SGD: a run whose ``|W + U|_F`` exceeds ``SGD_DIVERGENCE_FACTOR * (1 + |W* + U|_F + |W0 + U|_F)``
#: is DIVERGED (it stops; the other runs go on).
SGD_DIVERGENCE_FACTOR = 1e6
#: SGD: the recorded losses and distances (4 float64 per run and record) of one call may take at most
#: this many bytes.
SGD_RECORD_MAX_BYTES = 2 * 1024**3
#: SGD: the training sets held at once (one per thread: n_samples inputs and labels) may take at most
#: this many bytes.
SGD_DATA_MAX_BYTES = 2 * 1024**3

# dynsys.kernels.cuda.field
#: CUDA: threads per block of the one-state-per-block kernels (a power of two: tree reduction).
CUDA_BLOCK_KERNEL_THREADS = 128
#: CUDA: a block kernel keeps its workspace (the state's rows, teacher rows, pair coefficients) in
#: shared memory up to this many bytes, in global memory (L1/L2-cached) above (48 KiB needs no opt-in).
CUDA_SHARED_WORKSPACE_MAX_BYTES = 48 * 1024
#: CUDA: the block kernels launch at most this many blocks per multiprocessor (grid-stride beyond).
CUDA_BLOCKS_PER_SM = 16
#: CUDA: the host wrapper moves the batch to the GPU in chunks of at most this many bytes of W.
CUDA_CHUNK_BYTES = 1 << 30
#: CUDA: compile the kernels' loops for the constant k, d, k* (unrolled), not for the arrays' shapes.
#: Unrolled, ptxas (sm_90) gives the thread kernel at k = d = 10 255 registers and 752 bytes of
#: spills (float64) against 100 registers and none rolled; run benchmarks/bench_field_cuda.py to choose.
CUDA_KERNEL_UNROLL = False

# --- dynsys.critical (Newton, classification, deduplication: critical/newton.py, classify.py,
# symmetry.py) ---
#: Gradient tolerances below are relative to the model's gradient scale
#: ``S = max_j |a_j| * max_k |a*_k| |w*_k + u_k|`` (1 if that is 0; 1 for W* = I with unit top
#: weights, and for a toy system), in the row-max norm (the largest per-row Euclidean norm of grad L).
#: Newton stops (CONVERGED) at ``|grad L|_row_max <= NEWTON_GTOL * S``.
NEWTON_GTOL = 1e-12
#: Accepted Newton steps per seed before MAX_STEPS.
NEWTON_MAX_STEPS = 100
#: STALLED when ``|grad L|`` has not fallen by ``NEWTON_STALL_FACTOR`` over the last
#: ``NEWTON_STALL_WINDOW`` accepted steps (linear convergence slower than about 0.93 per step).
#: Shorter windows give up sooner on seeds far from any root and find fewer roots per second.
NEWTON_STALL_WINDOW = 30
NEWTON_STALL_FACTOR = 0.1
#: A Newton factor whose smallest pivot is at most this times ``max|H_ij|`` counts as singular
#: (the step then is Levenberg-Marquardt).
NEWTON_PIVOT_RTOL = 1e-13
#: Broyden steps (reusing one factorisation, no Hessian) after a full Newton step that shrank the
#: gradient by at least ``NEWTON_BROYDEN_GATE``; at most ``NEWTON_CHORD_STEPS`` of them, each kept
#: while it shrinks the gradient by at least ``NEWTON_CHORD_RATIO``.
NEWTON_CHORD_STEPS = 20
NEWTON_CHORD_RATIO = 0.5
NEWTON_BROYDEN_GATE = 0.25
#: Sufficient decrease (Armijo) constant on the merit ``|grad L|^2 / 2``, and backtracking halvings.
NEWTON_ARMIJO = 1e-4
NEWTON_LS_MAX = 12
#: Nonmonotone line search (Grippo, Lampariello and Lucidi, SIAM J. Numer. Anal. 23 (1986) 707):
#: the Armijo test compares with the largest ``|grad L|^2`` of the current and the last
#: ``NEWTON_NONMONOTONE`` iterates, so a step may climb a little out of a curved valley of the
#: merit instead of crawling along it. Keep it small (``docs/newton.md`` has the measurements).
NEWTON_NONMONOTONE = 2
#: Newton's step is taken only where the smallest |eigenvalue| it sees (one step of inverse
#: iteration) exceeds ``NEWTON_SWITCH * max|H_ij| * |g| / S``; elsewhere (near-null directions, e.g.
#: a family of critical points) a Levenberg-Marquardt step ``(H^2 + mu I) dx = -H g``.
NEWTON_SWITCH = 10.0
#: ... but only once ``|g| / S <= NEWTON_LOCAL`` (far from roots, Newton's long steps are what find
#: one; near a family of roots, LM keeps the iterate from sliding along it).
NEWTON_LOCAL = 1e-3
#: LM shift ``mu = max diag(H^2) * max(c (|g| / S)^2, NEWTON_MU_MIN)``, the multiplier c adapted
#: (times 10 per failed trial, a tenth of the successful value next time, at least
#: ``NEWTON_LM_SCALE_MIN``); above ``NEWTON_MU_MAX`` no step decreases ``|g|``: STALLED.
NEWTON_MU_MIN = 1e-16
NEWTON_MU_MAX = 1e6
NEWTON_LM_SCALE_MIN = 1e-2
#: ``classify``: a point is critical when ``|grad L|_row_max <= CRITICAL_GTOL * S`` after refinement.
CRITICAL_GTOL = 1e-11
#: ``classify``: above this k * d, eigenvalues come from Lanczos on hvp (scipy eigsh), not dense eigh,
#: and only the ``nullity_expected + EIG_LANCZOS_EXTRA`` smallest (and the largest) are computed.
EIG_DENSE_MAX_KD = 400
EIG_LANCZOS_EXTRA = 20
#: Two student rows are parallel (one group for the nullity that symmetry explains, and one teacher
#: row for the permutation of a global minimum) when their angle is at most this (radians). Near
#: coincident rows the gradient grows only like the square of their angle, so a point refined to
#: ``|grad L| ~ 1e-12`` resolves angles only to about 1e-6: the tolerance must sit well above that.
PARALLEL_ATOL = 1e-4
#: Deduplication: two points are one up to symmetry when their invariant vectors (normalised by the
#: teacher's scale) agree to this, entry by entry (absolute, on O(1) quantities).
DEDUP_RTOL = 1e-6
#: Deflation (Farrell, Birkisson and Funke 2015): ``M(x) = prod_i (|x - r_i|^-p + sigma)``.
DEFLATION_POWER = 2.0
DEFLATION_SHIFT = 1.0
#: ``deflation=True``: at most this many extra roots per seed.
DEFLATION_MAX_ROOTS = 3
#: Deflated Newton hands over to plain Newton below this relative gradient norm (times S).
DEFLATION_HANDOVER_GTOL = 1e-6
#: Newton on an indefinite Hessian: LDL^T without pivoting is used when no pivot has
#: ``|D_jj| <= NEWTON_LDLT_PIVOT_RTOL * max|H_ij|`` and the solve's residual is at most
#: ``NEWTON_LDLT_RESID_RTOL * max|g|``; else LU with partial pivoting.
NEWTON_LDLT_PIVOT_RTOL = 1e-8
NEWTON_LDLT_RESID_RTOL = 1e-10
#: ``trace_manifold``: predictor step, relative to the largest row norm of the start point.
MANIFOLD_STEP = 0.05
#: ``trace_manifold``: at most this many points are sampled.
MANIFOLD_MAX_POINTS = 500
#: ``trace_manifold``: the buffer of sampled points (max_points x k x d float64) may take at most this.
MANIFOLD_MAX_BYTES = 2 * 1024**3
#: ``trace_manifold``: Newton steps of one corrector (a converging one needs 3 to 6).
MANIFOLD_NEWTON_STEPS = 30
#: ``trace_manifold``: a corrector bordered by the step direction alone (tried where the null space
#: is larger than the set's tangent space) may move this many steps from the predicted point.
MANIFOLD_FALLBACK_REACH = 5.0
#: ``trace_manifold``: a predicted or corrected point closer than this many steps to a sampled point
#: is not added (the sampling's resolution; below 1 so that a grid of steps is kept).
MANIFOLD_MIN_SEPARATION = 0.7
#: ``trace_manifold``: local PCA takes the sampled points within this many steps of a point, and
#: counts the singular values of the centred neighbourhood above ``MANIFOLD_PCA_RTOL`` times the
#: largest (curvature gives the normal directions about ``step * curvature`` of it, well below).
MANIFOLD_PCA_RADIUS = 2.5
MANIFOLD_PCA_RTOL = 0.2
#: ``landscape_graph``: descents start at ``W_s +- GRAPH_EPS * max_j |w_j| * v`` (v the saddle's unit
#: unstable eigenvector): far enough that the flow leaves in a few time units, close enough to stay on
#: the saddle's side.
GRAPH_EPS = 1e-3
#: ``landscape_graph``: a point found again is the same node when it agrees entry by entry to this
#: times ``max(1, max |W_ij|)`` (Newton-refined minima agree to about 1e-12).
GRAPH_MATCH_RTOL = 1e-6
#: ``landscape_graph``: saddle searches (climbing-image NEB) allowed to connect the graph.
GRAPH_MAX_SEARCHES = 20
#: ``landscape_graph(permute_rows=True)``: at most this many row permutations per point (k = 5: 120).
GRAPH_MAX_PERMUTATIONS = 120
#: ``landscape_graph``: a descent stops below this gradient norm (times the gradient scale) and is
#: then refined by Newton; and after this many steps.
GRAPH_DESCENT_GTOL = 1e-8
GRAPH_DESCENT_MAX_STEPS = 100_000

# ----------------------------------------------------------------- certificates (dynsys.bounds)
#: Floating-point error model of the compiled gradient and Hessian: each term of a row's sum is
#: computed with an error of at most ``(FIELD_ERR_ULPS + k + k* + d)`` units in the last place of the
#: term's size (the angles by libm acos/atan2 and the polynomial arccos are within a few ulps;
#: ``docs/certify.md``). Not a proof by itself: checked against ball arithmetic in the tests.
FIELD_ERR_ULPS = 64
#: ``certify`` first tries the ball of radius ``CERTIFY_RHO_FRACTION * min_j |w_j + u_j|`` (wide
#: uniqueness), then a ball just larger than the Newton step (smallest Lipschitz constant).
CERTIFY_RHO_FRACTION = 0.5
#: A failed certificate is blamed on a zero row when the smallest row norm is at most this times the
#: largest (the Hessian's Lipschitz constant grows like ``|w_j|^-2``).
CERTIFY_ZERO_ROW_RTOL = 1e-4

#: Classifier training (dynsys.classifier): a run whose parameters' largest magnitude exceeds this, or
#: whose batch loss is not finite, stops with status DIVERGED.
CLASSIFIER_DIVERGENCE_LIMIT = 1e6
#: train_classifier: the weights and the curves of all repeats may take at most this many bytes.
CLASSIFIER_MAX_BYTES = 2 * 1024**3

#: Two-phase verdicts (dynsys.twophase): a record with ``|W - W*|_F`` at or below this counts as inside
#: the one-point convex region. There the margin's numerator is the rounding error of the gradient
#: (about 1e-14 relative) over a squared distance, i.e. noise, and the run has converged anyway.
TWO_PHASE_DIST_FLOOR = 1e-9

#: Label on entry (dynsys.basins): gradient-descent steps between two tests of entry into a
#: certified ball, inside the gd kernel (a test matches each student row to its nearest teacher
#: row, O(k k* d), about a tenth of a gradient at k = d = 4). A run stops at most this many steps
#: after it entered.
ENTRY_EVERY = 4
#: Label on entry for rk4 and dopri5: the flow balls (every Hessian positive definite) are tested
#: at this relative margin inside their certified radius, room for the integration error of the
#: numerical trajectory (inside the ball it stays within about (local error) / (mu h) of the exact
#: flow, orders of magnitude below this margin at the default tolerances; docs/basins.md).
ENTRY_FLOW_MARGIN = 0.1
#: Largest teacher width whose k! teacher permutations get entry balls without ``attractors=``.
ENTRY_MAX_PERMUTATIONS_K = 7
#: Continuation: chord iterations (the previous point's factored bordered Jacobian, one gradient per
#: iteration) before the corrector falls back to Newton on the exact Hessian; the chord also gives
#: way as soon as an iteration reduces the residual by less than ``CONTINUATION_CHORD_RATE``
#: (slower than that, the Hessian and factorisation it saves cost less than its iterations).
CONTINUATION_CHORD_ITER = 8
CONTINUATION_CHORD_RATE = 0.1
