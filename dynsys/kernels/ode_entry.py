"""rk4 and dopri5 with label on entry: the integrators of :mod:`dynsys.kernels.integrators`, stopping
a trajectory at the first accepted state inside a certified flow ball (:mod:`dynsys.basins.entry`).

Both drivers call the plain kernels' per-trajectory functions (``_fixed_one``, ``_dopri5_one``) with
the balls ``eb`` instead of ``None``: the same step code, stopping tests and polish phase, plus the
entry test (:func:`dynsys.kernels.entry_balls._entered`) after the stopping tests at every
``eb.every``-th accepted state. The plain kernels are compiled with ``eb = None``, which Numba prunes,
so they are unchanged; here a trajectory that enters no ball is bitwise the plain one (endpoint,
steps, status and every other output). An entered trajectory gets status ``ENTERED``, its accepted
steps so far, and the ball's centre as its state ``W[b]``. One compiled signature each: the
arguments are those of the plain kernel (read-only inputs, as :func:`dynsys.flow.run_flow_chunk`
passes them) plus ``eb`` (:func:`dynsys.basins.entry.frozen`).
"""

from numba import njit, prange

from .integrators import _dopri5_one, _fixed_one

_JIT = dict(cache=True)


@njit(parallel=True, nogil=True, **_JIT)
def _fixed_entry_batch(method, W0, fa, eb, step, n1, t1, gtol, norm_code, max_steps, div_limit, pl_gtol,
                       save_mode, save_every, save_idx, W, loss, gnorm, steps, t, status, plateau, ts_out,
                       Ws, nwork, stop, done):
    """``_fixed_batch`` (used for rk4) with label on entry: its arguments plus ``eb`` (EntryArrays)."""
    for b in prange(W0.shape[0]):
        _fixed_one(b, method, W0, fa, step, n1, t1, gtol, norm_code, max_steps, div_limit, pl_gtol,
                   save_mode, save_every, save_idx, W, loss, gnorm, steps, t, status, plateau, ts_out,
                   Ws, nwork, stop, eb)
        done[b] = 1


@njit(parallel=True, nogil=True, **_JIT)
def _dopri5_entry_batch(W0, fa, eb, step, t1, gtol, norm_code, max_steps, div_limit, pl_gtol, rtol, atol,
                        adaptive, polish, floor_factor, save_mode, save_every, save_times, W, loss, gnorm,
                        steps, t, status, plateau, extra, ts_out, Ws, nwork, stop, done):
    """``_dopri5_batch`` with label on entry: its arguments plus ``eb`` (EntryArrays)."""
    for b in prange(W0.shape[0]):
        _dopri5_one(b, W0, fa, step, t1, gtol, norm_code, max_steps, div_limit, pl_gtol, rtol, atol,
                    adaptive, polish, floor_factor, save_mode, save_every, save_times, W, loss, gnorm,
                    steps, t, status, plateau, extra, ts_out, Ws, nwork, stop, eb)
        done[b] = 1
