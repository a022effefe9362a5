"""The claims table: ``claims.md`` (for reading) and ``claims.json`` (for programs).

One row per claim: the paper, where in it (equation, figure or theorem), what it says, what dynsys
measured, a verdict and the reason for the verdict (the choices the paper leaves open are stated there).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .._version import __version__

VERDICTS = ("reproduced", "partly", "not reproduced", "pending")
KEYS = ("paper", "where", "says", "measured", "verdict", "reason")


def check_claim(c, name) -> dict:
    """A validated copy of one claim dict from analysis ``name``, with ``analysis`` added."""
    if not isinstance(c, dict):
        raise TypeError(f"{name}.claims must return dicts; got {type(c).__name__}")
    missing = [k for k in KEYS if k not in c]
    if missing:
        raise ValueError(f"a claim of {name} lacks {', '.join(missing)}: {c}")
    if c["verdict"] not in VERDICTS:
        raise ValueError(f"a claim of {name} has verdict {c['verdict']!r}; use one of {', '.join(VERDICTS)}")
    out = {k: str(c[k]) for k in KEYS}
    out["analysis"] = name
    return out


def _cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def write_claims(rows, out, *, quick=None) -> tuple:
    """Write ``out/claims.md`` and ``out/claims.json``; returns their paths.

    Parameters
    ----------
    rows : list of dict
        Claims as :func:`check_claim` returns them.
    out : path
    quick : bool or None
        Whether the data came from a quick run (stated in the header; None when mixed).
    """
    out = Path(out)
    rows = sorted(rows, key=lambda r: (r["paper"], r["analysis"]))
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    size = {True: "quick sizes (`--quick`)", False: "the papers' sizes", None: "mixed quick and full sizes"}[quick]
    lines = ["# Claims of the papers, as dynsys measures them", "",
             f"dynsys {__version__}, {stamp}, {size}. {len(rows)} claims: "
             + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".", "",
             "Papers: 000 = Tian, ICML 2017; 001 = its ICLR version (reduced system, proofs); "
             "002 = the identity-mapping / PReLU report; SS18 = Safran and Shamir, ICML 2018.", ""]
    for paper in sorted({r["paper"] for r in rows}):
        lines += [f"## Paper {paper}", "",
                  "| where | the paper says | dynsys measured | verdict | reason | analysis |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            if r["paper"] == paper:
                lines.append("| " + " | ".join(_cell(r[k]) for k in
                                                ("where", "says", "measured", "verdict", "reason", "analysis"))
                             + " |")
        lines.append("")
    bad = [r for r in rows if r["verdict"] in ("not reproduced", "partly")]
    if bad:
        lines += ["## Not (fully) reproduced", ""]
        lines += [f"- {r['paper']} {r['where']} ({r['verdict']}): {r['measured']}" for r in bad]
        lines.append("")
    md, js = out / "claims.md", out / "claims.json"
    md.write_text("\n".join(lines))
    js.write_text(json.dumps({"dynsys_version": __version__, "written": stamp, "counts": counts,
                              "claims": rows}, indent=1) + "\n")
    return md, js
