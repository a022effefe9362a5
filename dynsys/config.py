"""Every tunable of dynsys in one place (tolerances, sizes, thread counts).

Change a value here, not in the code that uses it; tests refer to these names.
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

#: States per chunk handed to one parallel kernel call by long-running drivers.
CHUNK_SIZE = 65536

#: Monte Carlo: samples per chunk (memory per chunk is about ``MC_CHUNK * d * 8`` bytes per thread).
MC_CHUNK = 1 << 16

#: CUDA: threads per block for the one-state-per-thread kernels.
CUDA_THREADS_PER_BLOCK = 128
#: CUDA: above this k * d the one-state-per-block kernel is used.
CUDA_BLOCK_KERNEL_MIN_KD = 400

#: Classification defaults (MATH.md section 4).
EIG_RTOL = 1e-7
LOSS_RTOL = 1e-10

#: Reduced dynamics (``theory.ReducedDynamics.fixed_points``): Newton stops when the max-norm of
#: ``(dx/dt, dy/dt)`` is at or below ``REDUCED_NEWTON_FTOL * K`` (the field's terms grow like K).
REDUCED_NEWTON_FTOL = 1e-13
#: Newton iterations per start.
REDUCED_NEWTON_MAXITER = 100
#: Two fixed points closer than this (max-norm in (x, y), relative to 1 + |(x, y)|) are one.
REDUCED_DEDUP_TOL = 1e-7
#: Starts of the fixed-point search: radial x angular grid over the ellipse where fixed points can be.
REDUCED_GRID = (40, 120)

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

# --- dynsys.flow (trajectory engine) ---
#: Trajectories per kernel call; progress and KeyboardInterrupt are handled between chunks.
FLOW_CHUNK_SIZE = 4096
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
#: Progress bar (``progress=None``, stderr a TTY): shown only once a call has run this long (s).
PROGRESS_DELAY_S = 2.0

# --- dynsys.critical.saddles (saddle search) ---
#: Movable images of a nudged elastic band / string between two minima.
SADDLE_N_IMAGES = 15
#: NEB spring constant (force per unit length; the loss's Hessian scale is about 1).
SADDLE_SPRING = 1.0
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
#: Dense Newton (models other than TeacherStudent): gradient norm target and iterations.
SADDLE_NEWTON_GTOL = 1e-13
SADDLE_NEWTON_MAX_ITER = 100
#: Eigenvector following: trust radius (Frobenius), gradient norm before Newton, steps per direction.
SADDLE_EF_TRUST = 0.05
SADDLE_EF_GTOL = 1e-7
SADDLE_EF_MAX_ITER = 500
#: Two saddles are one when their losses and spectra agree to this relative tolerance.
SADDLE_EF_DEDUP_RTOL = 1e-6

# --- dynsys.critical.census ---
#: Two-sided normal quantile of the 95% Wilson intervals.
CENSUS_Z = 1.959964
#: Two refined minima with losses within this relative tolerance (and, for isolated minima, spectra,
#: sorted row norms and singular values within it) are one class up to symmetry.
CENSUS_CLASS_RTOL = 1e-6
#: Two refined endpoints are the same point of weight space (one member of an orbit) when their
#: largest entrywise difference is at most this times (1 + max |W|).
CENSUS_POINT_RTOL = 1e-6
