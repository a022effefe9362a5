"""Progress reporting and Ctrl-C for long calls (kernels never print).

A *reporter* is any object with ``update(n)`` (n more items done) and ``close()``, and optionally
``note(text)`` (a short status, e.g. the steps taken inside long trajectories) and ``tick()``
(called on every poll, so that a reporter can show time passing when no item finishes). Public
functions take ``progress=None | True | False | reporter`` and resolve it with :func:`reporter`:

- ``None`` (auto), shown only once the call has run for ``config.PROGRESS_DELAY_S`` seconds (short
  calls stay silent): a tqdm bar on stderr when stderr is a terminal; in a Jupyter kernel a
  notebook bar (tqdm's widget, or its text bar when ipywidgets is missing); otherwise (a log file,
  a pipe, CI) plain lines on stderr, one every ``config.PROGRESS_LOG_S`` seconds, without the
  carriage returns that make a bar unreadable in a log;
- ``True``: the same choice, shown at once; ``False``: nothing;
- a reporter object: used as given (tests and GUIs plug in their own).
"""

from __future__ import annotations

import concurrent.futures
import functools
import importlib.util
import os
import sys
import sysconfig
import threading
import time
import warnings

import numba

from . import config


class NoProgress:
    """The silent reporter."""

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


class TqdmProgress:
    """A tqdm bar over ``total`` items: on stderr, or the notebook widget when ``notebook``."""

    def __init__(self, total: int, desc: str = "", unit: str = "it", delay: float = 0.0,
                 notebook: bool = False):
        from tqdm import tqdm

        self._shown_at = time.monotonic() + delay
        self._redrawn = 0.0
        # the widget needs ipywidgets (asked first: a tqdm_notebook that fails half-built complains
        # again when collected); without it, the text bar, which a notebook shows from stderr
        if notebook and importlib.util.find_spec("ipywidgets") is not None:
            from tqdm.notebook import tqdm as tqdm_nb

            self._bar = tqdm_nb(total=total, desc=desc, unit=unit, delay=delay, leave=False)
            return
        self._bar = tqdm(total=total, desc=desc, unit=unit, delay=delay, file=sys.stderr,
                         dynamic_ncols=True, leave=False)

    def update(self, n: int) -> None:
        self._bar.update(n)

    def note(self, text: str) -> None:
        """A short status after the bar (``"1.2e+06 steps"``)."""
        self._bar.set_postfix_str(text, refresh=False)

    def tick(self) -> None:
        """Redraw about once a second, so that the elapsed time moves while no item finishes
        (tqdm redraws only on updates)."""
        now = time.monotonic()
        if now >= self._shown_at and now - self._redrawn >= 1.0:
            self._bar.refresh()
            self._redrawn = now

    def close(self) -> None:
        self._bar.close()


class LogProgress:
    """Progress as plain lines on a stream (stderr by default) for logs, pipes and CI.

    The first line comes ``delay`` seconds into the call, then one every ``interval`` seconds
    (written from :meth:`tick`, which the polling loop calls, so a line comes even while no item
    finishes), and a last line at :meth:`close` if any was written::

        dynsys flow (dopri5): 120/1000 traj (12%), 3.2e+06 steps, 15 s, about 110 s left
    """

    def __init__(self, total: int, desc: str = "", unit: str = "it", delay: float = 0.0,
                 interval: float | None = None, stream=None):
        self._total, self._desc, self._unit = int(total), desc, unit
        self._interval = config.PROGRESS_LOG_S if interval is None else float(interval)
        self._stream = stream
        self._t0 = time.monotonic()
        self._next = self._t0 + float(delay)
        self._n = 0
        self._note = ""
        self._wrote = False

    def update(self, n: int) -> None:
        self._n += int(n)
        self.tick()

    def note(self, text: str) -> None:
        self._note = text

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._write(now)
            self._next = now + self._interval

    def close(self) -> None:
        if self._wrote:
            self._write(time.monotonic(), final=True)

    def _write(self, now: float, final: bool = False) -> None:
        el = now - self._t0
        pct = f" ({100.0 * self._n / self._total:.0f}%)" if self._total else ""
        parts = [f"{self._n}/{self._total} {self._unit}{pct}"]
        if self._note:
            parts.append(self._note)
        parts.append(f"{el:.0f} s")
        if final:
            parts.append("done" if self._n >= self._total else "stopped")
        elif 0 < self._n < self._total:
            parts.append(f"about {el * (self._total - self._n) / self._n:.0f} s left")
        stream = sys.stderr if self._stream is None else self._stream
        stream.write(f"dynsys {self._desc}: {', '.join(parts)}\n")
        stream.flush()
        self._wrote = True


def _in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel app)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
        return shell is not None and "IPKernelApp" in shell.config
    except Exception:  # an IPython too old or too odd to ask
        return False


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
    if progress is None or progress is True:
        delay = config.PROGRESS_DELAY_S if progress is None else 0.0
        if _is_tty() or _in_notebook():
            try:
                return TqdmProgress(total, desc, unit, delay=delay, notebook=not _is_tty())
            except ImportError:  # no tqdm: the plain lines below
                pass
        return LogProgress(total, desc, unit, delay=delay)
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
        self._tick = getattr(bar, "tick", None)
        self._counted = 0

    def __call__(self):
        # the arrays are being written by a running kernel: racy counts, for display only
        c = int(self._done.sum(dtype=int))
        if c > self._counted:
            self._bar.update(c - self._counted)
            self._counted = c
        if self._steps is not None and callable(self._note):
            self._note(f"{float(self._steps.sum()):.3g} steps")
        if callable(self._tick):
            self._tick()


# ------------------------------------------------------------------------------ compile notice
class CompileWarning(UserWarning):
    """Said once per process, before the first kernel that must be compiled (not found in Numba's
    on-disk cache): the call will pause for the compilation. Silence it with
    ``warnings.simplefilter("ignore", dynsys.CompileWarning)``, or run ``dynsys warmup`` once."""


_compile_said = threading.Event()
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
#: Frames in these directories are not the user's (dynsys, and the standard library's threading).
_NOT_USER = (_PACKAGE_DIR, os.path.abspath(sysconfig.get_paths()["stdlib"]))


def is_cold(kernel) -> bool:
    """Whether calling ``kernel`` (a Numba dispatcher) will compile it: nothing compiled or loaded in
    this process and no entry in its on-disk cache index (an index from another Numba version or
    for an older source file counts as none, as Numba itself treats it).

    Reads one small index file; False when Numba's internals do not answer (say nothing rather
    than something wrong).
    """
    if getattr(kernel, "signatures", None):
        return False
    try:
        return not kernel._cache._cache_file._load_index()
    except Exception:  # cache=False (Numba's NullCache), changed internals, an unreadable index
        return False


def _user_frame():
    """The innermost frame outside dynsys of the call that reached here: on this thread's stack, or,
    from a worker thread (flows and censuses run their kernels on one), on the main thread's."""
    frame = sys._getframe(2)
    if threading.current_thread() is not threading.main_thread():
        frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_NOT_USER):
        frame = frame.f_back
    return frame


def compile_notice(kernel, what: str) -> None:
    """Warn (:class:`CompileWarning`, once per process) when ``kernel`` is about to be compiled.

    ``what`` names its group in ``config.COMPILE_ESTIMATE_S`` (measured compile times on an empty
    cache), so the message says how long the pause will be.
    """
    if _compile_said.is_set() or not is_cold(kernel):
        return
    _compile_said.set()
    est = config.COMPILE_ESTIMATE_S
    text = (f"dynsys is compiling its {what} kernels: first call only, about {est.get(what, 30):.0f} s "
            f"(later calls, and later processes, load them from Numba's on-disk cache). "
            f"`dynsys warmup` compiles every kernel up front, about {config.COMPILE_ALL_S:.0f} s in all.")
    frame = _user_frame()
    if frame is None:
        warnings.warn(text, CompileWarning, stacklevel=2)
        return
    # the user's line, also when a worker thread compiles (warn's stacklevel walks this thread only)
    g = frame.f_globals
    args = (text, CompileWarning, frame.f_code.co_filename, frame.f_lineno)
    kw = dict(module=g.get("__name__"), registry=g.setdefault("__warningregistry__", {}))
    try:  # module_globals lets linecache show the user's line
        warnings.warn_explicit(*args, **kw, module_globals=g)
    except ImportError:  # code without a source file (python -c, stdin): its loader refuses get_source
        warnings.warn_explicit(*args, **kw)


def compile_notice_done() -> None:
    """Mark the notice as said (``dynsys warmup`` compiles on purpose and reports its own times)."""
    _compile_said.set()
