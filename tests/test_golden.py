"""Every public computation against its saved output (``tests/golden.py``, ``tests/data/golden.npz``).

The reference was written by the code before a refactoring; a refactoring must leave every output
unchanged. Here the comparison allows ``1e-12`` of each array's scale, because fastmath kernels may
round differently on another CPU; on one machine the refactoring is checked bitwise (see
``tests/golden.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

import golden

RTOL = 1e-12


@pytest.fixture(scope="module")
def reference():
    with np.load(golden.REFERENCE) as f:
        return {k: f[k] for k in f.files}


def _part(data, cuda):
    return {k: x for k, x in data.items() if k.startswith("cuda.") == cuda}


def test_cpu_outputs_unchanged(reference):
    import dynsys as ds

    new = golden.run(golden.cpu_cases(ds))
    problems = golden.compare(new, _part(reference, cuda=False), RTOL)
    assert not problems, "\n".join(problems[:40])


def test_cuda_simulator_outputs_unchanged(reference):
    problems = golden.compare(golden.cuda_sim_outputs(), _part(reference, cuda=True), RTOL)
    assert not problems, "\n".join(problems[:40])


def test_compare_catches_changes(reference):
    """The guard itself: a last-bit change fails bitwise, a 1e-9 change fails at RTOL."""
    key = "flow.gd.parallel.W"
    a = reference[key]
    bumped = dict(reference, **{key: np.nextafter(a, np.inf)})
    assert golden.compare(bumped, reference) and not golden.compare(bumped, reference, RTOL)
    moved = dict(reference, **{key: a * (1 + 1e-9)})
    assert golden.compare(moved, reference, RTOL)
    status = "flow.gd.parallel.status"
    assert golden.compare(dict(reference, **{status: reference[status] + 1}), reference, RTOL)
