"""Basin figures, TOML configs, the analysis script and the `dynsys basins` command."""

import pathlib
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import dynsys as ds  # noqa: E402
from dynsys import plotting  # noqa: E402
from dynsys.basins.config import ConfigError, run_config  # noqa: E402
from dynsys.plotting.basins import attractor_colours, RESERVED  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]

CONFIG = """
[model]
teacher = "identity"
K = 4

[sampler]
kind = "teacher_slice"
perm = [1, 0, 2, 3]
shape = [8, 8]

[flow]
step = 0.1

[output]
store = "m.zarr"
result = "m.npz"
figure = "m.png"
chunk_size = 20
"""


def _inside(fig, artist):
    box = artist.get_window_extent(fig.canvas.get_renderer())
    fb = fig.bbox
    return box.x0 >= fb.x0 - 1 and box.y0 >= fb.y0 - 1 and box.x1 <= fb.x1 + 1 and box.y1 <= fb.y1 + 1


@pytest.fixture(scope="module")
def rmap():
    m = ds.TeacherStudent(np.eye(4))
    return ds.basins(m, ds.teacher_slice(m, [1, 0, 2, 3], shape=(16, 16)))


def test_basin_map_figure(rmap, tmp_path):
    ax = plotting.basin_map(rmap)
    fig = ax.figure
    fig.savefig(tmp_path / "m.png")
    leg = ax.get_legend()
    texts = [t.get_text() for t in leg.get_texts()]
    assert any("teacher perm (1, 0, 2, 3)" in t for t in texts) and any("saddle" in t for t in texts)
    for artist in (ax.xaxis.label, ax.yaxis.label, ax.title, leg):
        assert _inside(fig, artist)
    assert len(ax.collections) >= 1  # the boundaries
    stars = [ln for ln in ax.lines if ln.get_marker() == "*" and len(ln.get_xdata())]
    xy = sorted((float(ln.get_xdata()[0]), float(ln.get_ydata()[0])) for ln in stars)
    assert np.allclose(xy, [(0.0, 1.0), (1.0, 0.0)], atol=1e-6)  # the permuted teacher and the teacher
    plt.close(fig)


def test_colours_are_fixed_by_identity(rmap):
    m = ds.TeacherStudent(np.eye(4))
    other = ds.basins(m, ds.teacher_slice(m, [0, 1, 3, 2], shape=(6, 6)))
    c1, c2 = attractor_colours(rmap), attractor_colours(other)
    assert c1[0] == c2[0]  # the teacher: one colour in both maps
    assert len(set(c1.values())) == len(c1)
    assert not set(c1.values()) & {c for _, c in RESERVED.values()}


def test_fractions_figure(tmp_path):
    rs = [ds.basins(ds.TeacherStudent(np.eye(k)), ds.Xavier(30, seed=1)) for k in (3, 4)]
    ax = plotting.basin_fractions([3, 4], rs)
    assert ax.get_xlabel() == "k" and len(ax.lines) >= 1
    ax.figure.savefig(tmp_path / "f.png")
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="one result per x"):
        plotting.basin_fractions([3], rs)
    with pytest.raises(ValueError, match="Grid"):
        plotting.basin_map(rs[0])


def test_config_runs_and_resumes(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    r, out = run_config(cfg)
    assert out["store"] == tmp_path / "m.zarr" and (tmp_path / "m.zarr" / "zarr.json").exists()
    assert len(list((tmp_path / "m.zarr" / "done").glob("*.json"))) == 4
    loaded = ds.BasinResult.load(tmp_path / "m.npz")
    assert np.array_equal(loaded.labels, r.labels)
    r2, _ = run_config(cfg)
    assert np.array_equal(r2.labels, r.labels)


@pytest.mark.parametrize("text, match", [
    ("[model]\nK = 4\n", "needs a \\[model\\] and a \\[sampler\\]"),
    ("[model]\nK = 4\n[sampler]\nkind = 'xavier'\nn = 3\n[flows]\n", "unknown sections"),
    ("[model]\nK = 4\nkk = 3\n[sampler]\nkind = 'xavier'\nn = 3\n", "unknown keys"),
    ("[model]\nK = 4\n[sampler]\nkind = 'nope'\n", "kind must be one of"),
    ("[model]\nK = 4\n[sampler]\nkind = 'xavier'\nradius = 3\n", "bad or missing argument"),
    ("[model]\nK = 4\n[sampler]\nkind = 'xavier'\nn = 0\n", "n must"),
    ("[model\n", "not valid TOML"),
])
def test_bad_configs(tmp_path, text, match):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=match):
        run_config(cfg)


def test_shipped_configs_parse():
    from dynsys.basins.config import build_model, build_sampler, load_config
    for name in ("reduced_plane_k6.toml", "teacher_slice_k4.toml"):
        cfg = load_config(ROOT / "analyses" / "configs" / name)
        m = build_model(cfg["model"])
        s = build_sampler(m, cfg["sampler"])
        assert s.grid_shape[0] * s.grid_shape[1] == s.n >= 40000


def test_cli_and_analysis_script(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.replace("shape = [8, 8]", "shape = [4, 4]"))
    out = subprocess.run([sys.executable, "-m", "dynsys.cli", "basins", str(cfg)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "teacher" not in out.stderr and "attractors" in out.stdout and (tmp_path / "m.png").exists()
    (tmp_path / "m.png").unlink()
    out = subprocess.run([sys.executable, str(ROOT / "analyses" / "basin_map.py"), str(cfg)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "m.png").exists() and "basin entropy" in out.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\n")
    out = subprocess.run([sys.executable, "-m", "dynsys.cli", "basins", str(bad)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2 and "needs a [model] and a [sampler]" in out.stderr


def test_fractions_by_matched_label(rmap):
    m = ds.TeacherStudent(np.eye(4))
    other = ds.basins(m, ds.teacher_slice(m, [1, 0, 2, 3], s=(0.0, 1.5), shape=(6, 6)), attractors=rmap)
    ax = plotting.basin_fractions([0, 1], [rmap, other], by="label", xlabel="slice")
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names == ["teacher perm (0, 1, 2, 3)", "teacher perm (1, 0, 2, 3)"]
    plt.close(ax.figure)
