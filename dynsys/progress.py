"""Progress reporting and Ctrl-C for long calls (kernels never print).

A *reporter* is any object with ``update(n)`` (n more items done) and ``close()``, and optionally
``note(text)`` (a short status, e.g. the steps taken inside long trajectories). Public functions
take ``progress=None | True | False | reporter`` and resolve it with :func:`reporter`:

- ``None`` (auto): a tqdm bar on stderr when stderr is a terminal, shown only once the call has
  run for ``config.PROGRESS_DELAY_S`` seconds (short calls stay silent);
- ``True``: a tqdm bar at once; ``False``: nothing;
- a reporter object: used as given (tests and GUIs plug in their own).
"""

from __future__ import annotations

import concurrent.futures
import functools
import sys
import threading

import numba

from . import config


class NoProgress:
    """The silent reporter."""

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


class TqdmProgress:
    """A tqdm bar over ``total`` items (on stderr)."""

    def __init__(self, total: int, desc: str = "", unit: str = "it", delay: float = 0.0):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=desc, unit=unit, delay=delay, file=sys.stderr,
                         dynamic_ncols=True, leave=False)

    def update(self, n: int) -> None:
        self._bar.update(n)

    def note(self, text: str) -> None:
        """A short status after the bar (``"1.2e+06 steps"``)."""
        self._bar.set_postfix_str(text)

    def close(self) -> None:
        self._bar.close()


def _is_tty() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except Exception:  # a replaced stderr without isatty
        return False


def check(progress):
    """Raise ``TypeError`` unless ``progress`` is None, a bool or a reporter; return it."""
    if progress is None or isinstance(progress, bool):
        return progress
    if callable(getattr(progress, "update", None)) and callable(getattr(progress, "close", None)):
        return progress
    raise TypeError(f"progress must be None (auto), True, False, or an object with update(n) and "
                    f"close(); got {progress!r}")


def reporter(progress, total: int, desc: str = "", unit: str = "it"):
    """Resolve a ``progress=`` argument to a reporter (see the module docstring).

    Parameters
    ----------
    progress : None, bool or reporter
    total : int
        Number of items the call will report.
    desc, unit : str
        Label and unit of the bar.
    """
    if progress is None:
        if not _is_tty():
            return NoProgress()
        try:
            return TqdmProgress(total, desc, unit, delay=config.PROGRESS_DELAY_S)
        except ImportError:
            return NoProgress()
    if progress is True:
        return TqdmProgress(total, desc, unit)
    if progress is False:
        return NoProgress()
    return check(progress)


@functools.cache
def _runner() -> concurrent.futures.ThreadPoolExecutor:
    """The one worker thread that runs watched work: one for the whole process, not one per call
    (OpenMP gives every new calling thread its own team of threads, and a census makes many calls)."""
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dynsys-runner")


def watch(fn, stop, tick, poll_s=None):
    """Run ``fn()`` on a worker thread; meanwhile tick progress and turn Ctrl-C into ``stop[0] = 1``.

    The calling (main) thread waits in slices of ``poll_s`` seconds (``config.PROGRESS_POLL_S``),
    calling ``tick()`` after each and once at the end, so progress moves while a long kernel runs.
    On the first ``KeyboardInterrupt`` (from the wait or from ``tick``, a reporter may raise it) it
    sets ``stop[0] = 1`` (``fn``'s kernels poll it and end their unfinished work at its current
    state), stops ticking and waits for ``fn`` to return; a second one abandons a still running
    ``fn`` (it finishes on its own, and the next watched call waits for it; its result is dropped).
    ``fn`` runs with the caller's Numba thread count (Numba's settings are per thread). Called from
    any thread but the main one, ``watch`` simply runs ``fn()`` there (no Ctrl-C to catch).

    Returns
    -------
    (result, interrupted)
        ``fn()``'s return value (None if abandoned) and whether Ctrl-C came. An exception raised by
        ``fn`` is re-raised here.
    """
    if threading.current_thread() is not threading.main_thread():
        # Ctrl-C reaches the main thread only; elsewhere (a user's thread, a dask worker) just run
        result = fn()
        tick()
        return result, False
    poll_s = config.PROGRESS_POLL_S if poll_s is None else poll_s
    n_threads = numba.get_num_threads()
    box = {}
    # An Event, not Thread.join: in CPython 3.11 a join interrupted by KeyboardInterrupt marks the
    # still running thread as stopped (the bpo-45274 fix), so is_alive() would lie afterwards.
    finished = threading.Event()

    def target():
        try:
            numba.set_num_threads(n_threads)
            box["result"] = fn()
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            finished.set()

    _runner().submit(target)
    interrupted = False
    while not finished.is_set():
        try:
            finished.wait(poll_s)
            if not interrupted:
                tick()
        except KeyboardInterrupt:
            if interrupted and not finished.is_set():
                return None, True
            stop[0] = 1
            interrupted = True
    if not interrupted:
        try:
            tick()
        except KeyboardInterrupt:  # fn is done; the caller stops before the next piece of work
            interrupted = True
    if "error" in box:
        raise box["error"]
    return box.get("result"), interrupted


class DoneCounter:
    """A ``tick`` for :func:`watch`: reports to ``bar`` the items whose flag in ``done`` turned 1,
    and, to a reporter with a ``note(text)`` method, the steps taken so far (``steps``, optional,
    as the integrator kernels update it), so that long trajectories show progress too."""

    def __init__(self, bar, done, steps=None):
        self._bar = bar
        self._done = done
        self._steps = steps
        self._note = getattr(bar, "note", None)
        self._counted = 0

    def __call__(self):
        # the arrays are being written by a running kernel: racy counts, for display only
        c = int(self._done.sum(dtype=int))
        if c > self._counted:
            self._bar.update(c - self._counted)
            self._counted = c
        if self._steps is not None and callable(self._note):
            self._note(f"{float(self._steps.sum()):.3g} steps")
