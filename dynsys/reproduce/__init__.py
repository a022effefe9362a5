"""Reproduce the figures and numeric claims of the papers dynsys follows.

Each study is one module of :mod:`dynsys.reproduce.analyses` (found by :func:`analyses`, no registry
to edit) with the constants ``NAME``, ``GROUPS`` (paper ids), ``TITLE`` and three functions:
``compute(quick) -> dict`` (arrays and scalars, plus a JSON-able ``"meta"``), ``figures(data, out)``
(draws from the data only) and ``claims(data)`` (one dict per claim: ``paper``, ``where``, ``says``,
``measured``, ``verdict``, ``reason``). :func:`run` computes, saves (``NAME.npz`` + ``NAME.json``),
draws and writes ``claims.md`` and ``claims.json``; :func:`redraw` draws again from saved data.
``dynsys reproduce`` and ``dynsys figures`` are the command-line faces of the two.
"""

from .claims import VERDICTS, write_claims
from .registry import ReproduceError, UnknownAnalysis, analyses, select
from .runner import estimate, redraw, run
from .store import load_data, save_data

__all__ = ["ReproduceError", "UnknownAnalysis", "analyses", "select", "run", "redraw", "estimate", "write_claims",
           "VERDICTS", "save_data",
           "load_data"]
