"""The analyses of ``dynsys reproduce``: one module per study (see :mod:`dynsys.reproduce`).

A module here is found automatically; it defines ``NAME`` (its module name), ``GROUPS`` (paper ids such
as ``("000", "001")``), ``TITLE``, ``compute(quick)``, ``figures(data, out)`` and ``claims(data)``, and
may define ``FULL_SECONDS`` (its estimated full-size wall time on 2 cores, used before a first full run).
"""
