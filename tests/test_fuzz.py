"""The fuzz harness (tests/fuzz.py) under pytest: a seeded subset by default, 10^4 calls when slow."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import fuzz  # noqa: E402

GOOD = ("ok", "error")


@pytest.fixture(scope="module")
def runner():
    r = fuzz.Runner()
    yield r
    r.close()


def test_every_base_call_is_valid(runner):
    """Unmutated, every call returns a result: the mutations below start from valid calls."""
    for name in fuzz.base_calls():
        verdict, detail = runner(fuzz.build(name, None), timeout=fuzz.CALL_TIMEOUT_S + 120)
        # load's names a missing file, warmup's an unknown group, PointSystem is abstract: their errors
        if name in fuzz.EXPECTED_ERROR:
            assert verdict == "error" and detail.startswith(fuzz.EXPECTED_ERROR[name]), (name, detail)
        else:
            assert verdict == "ok", (name, verdict, detail)


def test_unknown_keyword_is_type_error(runner):
    for name in fuzz.base_calls():
        verdict, detail = runner(fuzz.build(name, ("__unknown__", None, 0)), timeout=fuzz.CALL_TIMEOUT_S + 120)
        assert verdict == "error" and detail.startswith("TypeError"), (name, detail)


def test_watchdog_reports_hang_and_crash():
    r = fuzz.Runner(timeout=3.0)
    try:
        # a warm worker first (its import may take long), then the 3 s limit, then a fresh worker
        assert r(("m.loss", (("__model__", fuzz.I3, {}), fuzz.R3), {}), timeout=120)[0] == "ok"
        assert r(("rd.integrate", (3, 0.5, 0.1, 1e300), {"max_steps": 10**9}))[0] == "hang"
        assert r(("m.loss", (("__model__", fuzz.I3, {}), fuzz.R3), {}), timeout=120)[0] == "ok"
    finally:
        r.close()


def test_fuzz_seeded_subset(runner):
    counts, failures = fuzz.fuzz(200, seed=0, runner=runner)
    assert sum(counts.values()) == 200
    assert not failures, failures[:10]


@pytest.mark.slow
def test_fuzz_full():
    counts, failures = fuzz.fuzz(10_000, seed=1)
    assert sum(counts.values()) == 10_000
    assert not failures, failures[:20]
