"""Run analyses: compute (or reuse saved data), save, draw, and write the claims table."""

from __future__ import annotations

import inspect
import os
import tempfile
import traceback
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from .claims import check_claim, write_claims
from .registry import ReproduceError, analyses, select
from .store import StaleDataError, load_data, read_info, save_data
from .._version import __version__


def _quiet(_msg):
    pass


def check_out(out) -> Path:
    """Create ``out`` if needed and check that files can be written there."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, p = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.remove(p)
    except OSError as exc:
        raise PermissionError(f"--out {out} is not a writable folder ({exc.strerror or exc}); choose "
                              f"another with --out DIR") from None
    return out


def estimate(mods, quick, out=None) -> tuple:
    """Estimated wall seconds per analysis and in total (None where nothing is known).

    A previous run of the same size in ``out`` gives its measured time; otherwise the module's
    ``QUICK_SECONDS`` or ``FULL_SECONDS`` (estimates for 2 cores, compilation included).
    """
    per = {}
    for name, mod in mods.items():
        info = read_info(out, name) if out is not None else None
        if info and info.get("quick") == bool(quick) and info.get("wall_time_s"):
            per[name] = float(info["wall_time_s"])
        else:
            per[name] = getattr(mod, "QUICK_SECONDS" if quick else "FULL_SECONDS", None)
    known = [s for s in per.values() if s is not None]
    return per, (sum(known) if known else None)


def _takes_mnist(mod):
    """Whether the analysis can run on MNIST IDX files (its ``compute`` takes ``mnist_dir``)."""
    return "mnist_dir" in inspect.signature(mod.compute).parameters


def _compute_and_save(name, quick, out, threads, mnist=None):
    if threads:
        import numba
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    mod = analyses()[name]
    t0 = time.perf_counter()
    kw = {}
    # an analysis that keeps resumable work (a basin store) takes the output folder as ``out``
    if "out" in inspect.signature(mod.compute).parameters:
        kw["out"] = out
    if mnist is not None and _takes_mnist(mod):
        kw["mnist_dir"] = mnist
    data = mod.compute(quick, **kw)
    wall = time.perf_counter() - t0
    save_data(data, out, name, title=mod.TITLE, groups=mod.GROUPS, quick=quick, wall_time=wall)
    return wall


def _reusable(out, name, quick):
    info = read_info(out, name)
    return (info is not None and info.get("quick") == bool(quick)
            and info.get("dynsys_version") == __version__ and (Path(out) / f"{name}.npz").exists())


def _draw(mod, data, out):
    # matplotlib is imported by dynsys.plotting only, and only when figures are drawn.
    from ..plotting import layout
    try:
        paths = mod.figures(data, out)
    finally:
        layout.close_all()
    return list(paths)


def _summary(claims):
    from .claims import VERDICTS
    n = {v: sum(c["verdict"] == v for c in claims) for v in VERDICTS}
    return ", ".join(f"{k} {v}" for v, k in n.items() if k) or "no claims"


def run(only=None, *, quick=False, out="figures", jobs=1, force=False, mnist=None, log=None) -> dict:
    """Run the selected analyses and write their data, figures and the claims table under ``out``.

    Parameters
    ----------
    only : iterable of str, optional
        Analysis names and paper groups (default: all).
    quick : bool
        Small sizes (minutes in all) instead of the papers' sizes.
    out : path
        Output folder (created if missing).
    jobs : int
        Analyses computed at once, each in its own process with ``cores / jobs`` Numba threads.
    force : bool
        Recompute even when ``out`` holds data of this version and size.
    mnist : path, optional
        A folder with the four MNIST IDX files: the analyses that train on digits
        (``identity_digits``) use them instead of scikit-learn's digits, and are recomputed.
    log : callable, optional
        Called with one line of progress text at a time (the command line passes ``print``).

    Returns
    -------
    dict
        ``claims`` (all rows written), ``figures`` (paths), ``times`` (seconds per analysis computed),
        ``failed`` (analysis name -> error line; the others still run), ``claims_md``, ``claims_json``.
    """
    log = log or _quiet
    mods = select(only)
    out = check_out(out)
    if not isinstance(jobs, int) or jobs < 1:
        raise ReproduceError(f"--jobs must be a positive integer; got {jobs!r}")
    if mnist is not None:
        if not Path(mnist).is_dir():
            raise ReproduceError(f"--mnist must be a folder holding the four MNIST IDX files; {mnist!r} is not "
                                 f"a folder")
        mnist = str(mnist)
    todo = []
    for name in mods:
        if not force and not (mnist is not None and _takes_mnist(mods[name])) and _reusable(out, name, quick):
            log(f"{name}: using the saved data in {out} (--force recomputes)")
            continue
        info = read_info(out, name)
        if info is not None and info.get("dynsys_version") != __version__:
            log(f"{name}: saved data is from dynsys {info.get('dynsys_version')}; recomputing with "
                f"{__version__}")
        todo.append(name)
    times, failed = {}, {}
    n = len(todo)

    def fail(name, exc):
        failed[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        log(f"{name}: FAILED: {failed[name]}")
        log("".join(traceback.format_exception(exc)).rstrip())

    if jobs > 1 and n > 1:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(max_workers=min(jobs, n), mp_context=get_context("spawn")) as ex:
            futs = {name: ex.submit(_compute_and_save, name, quick, str(out), threads, mnist)
                    for name in todo}
            for i, name in enumerate(todo, 1):
                log(f"[{i}/{n}] {name}: waiting ({mods[name].TITLE})")
                try:
                    times[name] = futs[name].result()
                except Exception as exc:  # one analysis failing must not lose the others
                    fail(name, exc)
                    continue
                log(f"[{i}/{n}] {name}: computed in {times[name]:.1f} s")
    else:
        for i, name in enumerate(todo, 1):
            log(f"[{i}/{n}] {name}: {mods[name].TITLE} ...")
            try:
                times[name] = _compute_and_save(name, quick, out, 0, mnist)
            except Exception as exc:  # one analysis failing must not lose the others
                fail(name, exc)
                continue
            log(f"[{i}/{n}] {name}: computed in {times[name]:.1f} s")
    figures, claims = [], []
    for name, mod in mods.items():
        if name in failed:
            continue
        try:
            data = load_data(out, name)
            figures += _draw(mod, data, out)
            rows = [check_claim(c, name) for c in mod.claims(data)]
        except Exception as exc:  # a drawing or claims bug: report it, keep the other analyses
            fail(name, exc)
            continue
        claims += rows
        log(f"{name}: {len(rows)} claims ({_summary(rows)})")
    claims = _all_claims(out, claims, set(mods))
    md, js = write_claims(claims, out, quick=_quick_flag(out))
    return {"claims": claims, "figures": figures, "times": times, "failed": failed, "claims_md": md,
            "claims_json": js}


def _all_claims(out, rows, done):
    """``rows`` plus the claims of every other analysis with usable saved data in ``out``."""
    rows = list(rows)
    for name, mod in analyses().items():
        if name in done:
            continue
        try:
            data = load_data(out, name)
            rows += [check_claim(c, name) for c in mod.claims(data)]
        except Exception:  # noqa: BLE001  (stale or old-format data: that analysis is simply not listed)
            continue
    return rows


def _quick_flag(out):
    flags = {info.get("quick") for name in analyses() if (info := read_info(out, name))}
    return flags.pop() if len(flags) == 1 else None


def redraw(only=None, *, out="figures", log=None) -> dict:
    """Draw the figures and rewrite the claims table from the data saved in ``out``.

    Data that is missing is skipped with a message; data from another dynsys version is recomputed
    (at the size it was saved with) and said so.
    """
    log = log or _quiet
    mods = select(only)
    out = check_out(out)
    figures, claims = [], []
    for name, mod in mods.items():
        info = read_info(out, name)
        if info is None:
            log(f"{name}: no saved data in {out} (run dynsys reproduce --only {name})")
            continue
        try:
            data = load_data(out, name)
        except StaleDataError as exc:
            log(f"{name}: {exc}; recomputing")
            _compute_and_save(name, bool(info.get("quick")), out, 0)
            data = load_data(out, name)
        figures += _draw(mod, data, out)
        claims += [check_claim(c, name) for c in mod.claims(data)]
        log(f"{name}: redrawn")
    claims = _all_claims(out, claims, set(mods))
    md, js = write_claims(claims, out, quick=_quick_flag(out))
    return {"claims": claims, "figures": figures, "claims_md": md, "claims_json": js}
