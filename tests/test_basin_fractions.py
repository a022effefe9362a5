"""The basin_fractions analysis at a tiny size: fractions per class sum to 1, intervals hold them, the
store under the output folder resumes to the same data, and the figure and claims draw from saved data."""

import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import dynsys as ds  # noqa: E402
from dynsys import plotting  # noqa: E402
from dynsys.reproduce import store  # noqa: E402
from dynsys.reproduce.analyses import basin_fractions as bf  # noqa: E402


def _wilson(c, n, z=1.959963984540054):
    """95% Wilson score interval, written out (Wilson 1927)."""
    p = c / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("bf")
    mp = pytest.MonkeyPatch()
    mp.setitem(bf.SIZES, "quick", ((6,), 50))
    try:
        yield out, bf.compute(True, out=out), bf.compute(True)
    finally:
        mp.undo()


def test_fractions_sum_to_one_inside_their_intervals(tiny):
    _, data, _ = tiny
    n = data["n"]
    assert list(data["k"]) == [6] and list(n) == [50]
    cnt, f, iv = data["class_count"], data["class_fraction"], data["class_interval"]
    total = cnt.sum(axis=1) + data["reserved"].sum(axis=1)
    assert np.array_equal(total, n)
    assert np.allclose(f.sum(axis=1) + data["reserved"].sum(axis=1) / n, 1.0, atol=1e-12)
    assert np.all((iv[..., 0] <= f) & (f <= iv[..., 1]))
    for c in range(cnt.shape[1]):
        assert np.allclose(iv[0, c], _wilson(int(cnt[0, c]), 50), atol=1e-12)
    # class 0 is the global minima, every other class a spurious one; the spurious total is theirs
    assert not data["class_spurious"][0, 0] and data["class_spurious"][0, 1:].all()
    assert math.isclose(data["spurious"][0], f[0, 1:].sum(), abs_tol=1e-12)
    assert data["spurious_interval"][0, 0] <= data["spurious"][0] <= data["spurious_interval"][0, 1]
    assert data["class_loss"][0, 0] < 1e-12 < data["class_loss"][0, 1]
    assert list(data["reserved_labels"]) == [-1, -2, -3, -4]
    assert data["published"][0] == bf.PUBLISHED[6]


def test_store_resumes_to_the_same_data(tiny):
    out, data, plain = tiny
    assert (Path(out) / "basin_fractions_stores" / "k6_n50.zarr" / "zarr.json").exists()
    again = bf.compute(True, out=out)  # every chunk is in the store: nothing is recomputed
    for key in ("class_count", "class_interval", "class_loss", "reserved", "spurious"):
        assert np.array_equal(again[key], data[key], equal_nan=True), key
        assert np.array_equal(plain[key], data[key], equal_nan=True), key


def test_figure_and_claims_from_saved_data(tiny, tmp_path):
    _, data, _ = tiny
    store.save_data(data, tmp_path, bf.NAME, title=bf.TITLE, groups=bf.GROUPS, quick=True)
    loaded = store.load_data(tmp_path, bf.NAME)
    paths = bf.figures(loaded, tmp_path)
    assert {Path(p).suffix for p in paths} == {".png", ".pdf"}
    rows = bf.claims(loaded)
    assert len(rows) == 1 and rows[0]["paper"] == "SS18"
    lo, hi = loaded["spurious_interval"][0]
    assert rows[0]["verdict"] == ("reproduced" if lo <= bf.PUBLISHED[6] / 100 <= hi else "not reproduced")


def test_fractions_plot_by_class():
    rs = [ds.basins(ds.TeacherStudent(np.eye(k)), ds.Xavier(20, seed=1)) for k in (3, 4)]
    ax = plotting.basin_fractions([3, 4], rs, by="class")
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names[0] == "class 0 (global minimum)"
    with pytest.raises(ValueError, match="'class'"):
        plotting.basin_fractions([3, 4], rs, by="kinds")
    matplotlib.pyplot.close(ax.figure)
