"""Finding the analysis modules and selecting them by name or paper group."""

from __future__ import annotations

import importlib
import pkgutil

from . import analyses as _pkg

class ReproduceError(ValueError):
    """Bad input to ``dynsys reproduce`` (an unknown analysis or group, a bad --jobs); the message
    says the fix."""


class UnknownAnalysis(ReproduceError):
    """A name given to ``--only`` that is neither an analysis nor a paper group."""


_REQUIRED = ("NAME", "GROUPS", "TITLE", "compute", "figures", "claims")


def analyses() -> dict:
    """Every analysis module of :mod:`dynsys.reproduce.analyses`, by name, in name order.

    Returns
    -------
    dict of str to module

    Raises
    ------
    TypeError
        A module lacks one of ``NAME``, ``GROUPS``, ``TITLE``, ``compute``, ``figures``, ``claims``, or
        its ``NAME`` is not its module name.
    """
    out = {}
    for info in sorted(pkgutil.iter_modules(_pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{_pkg.__name__}.{info.name}")
        missing = [a for a in _REQUIRED if not hasattr(mod, a)]
        if missing:
            raise TypeError(f"analysis module {mod.__name__} lacks {', '.join(missing)} (see "
                            f"dynsys.reproduce.analyses)")
        if mod.NAME != info.name:
            raise TypeError(f"analysis module {mod.__name__} has NAME = {mod.NAME!r}; it must equal its "
                            f"module name {info.name!r}")
        out[info.name] = mod
    return out


def groups(mods=None) -> list:
    """The paper ids that some analysis belongs to, sorted."""
    mods = analyses() if mods is None else mods
    return sorted({g for m in mods.values() for g in m.GROUPS})


def select(only=None) -> dict:
    """The analyses named by ``only`` (names or paper groups such as ``"001"``); all when empty.

    Parameters
    ----------
    only : iterable of str, optional

    Returns
    -------
    dict of str to module, in name order

    Raises
    ------
    ValueError
        An entry is neither an analysis name nor a group; the message lists the valid ones.
    """
    mods = analyses()
    if not only:
        return mods
    gs = groups(mods)
    chosen = set()
    for item in only:
        if item in mods:
            chosen.add(item)
        elif item in gs:
            chosen.update(n for n, m in mods.items() if item in m.GROUPS)
        else:
            raise UnknownAnalysis(f"--only {item!r} is neither an analysis nor a paper group. Analyses: "
                             f"{', '.join(mods)}. Groups: {', '.join(gs)}.")
    return {n: m for n, m in mods.items() if n in chosen}
