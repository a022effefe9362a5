"""The one thread pool of dynsys, for ``nogil`` kernels run over ranges of a batch.

Drivers that split a batch into contiguous ranges and run a serial ``nogil`` kernel on each (the Monte
Carlo and SGD drivers, the Newton batch) share this pool instead of keeping one each. It holds
``numba.config.NUMBA_NUM_THREADS`` threads, created on first use; :func:`run_ranges` uses at most the
number of threads the caller asks for, so ``numba.set_num_threads`` keeps its meaning.
"""

import concurrent.futures
import functools
import threading

import numba


@functools.cache
def executor() -> concurrent.futures.ThreadPoolExecutor:
    """The shared pool (``NUMBA_NUM_THREADS`` threads)."""
    return concurrent.futures.ThreadPoolExecutor(numba.config.NUMBA_NUM_THREADS,
                                                 thread_name_prefix="dynsys")


def run_ranges(fn, bounds, n_threads: int) -> None:
    """``fn(lo, hi)`` for every ``(lo, hi)`` in ``bounds`` on at most ``n_threads`` pool threads.

    Each thread takes the next range when it finishes one (ranges of uneven cost balance). The
    ranges must write disjoint outputs; the first exception raised by ``fn`` is re-raised here.
    Do not call it from inside ``fn``: the pool is bounded, and nested waits could exhaust it.
    """
    pending = iter(bounds)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                b = next(pending, None)
            if b is None:
                return
            fn(*b)

    futures = [executor().submit(worker) for _ in range(max(1, min(n_threads, len(bounds))))]
    for f in futures:
        f.result()
