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
