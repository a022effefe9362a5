"""A basin map described by a TOML file: model, sampler, flow, and where to write (``dynsys basins``).

Example (``analyses/configs/reduced_plane_k6.toml``)::

    [model]
    teacher = "identity"      # W* = I_K; or a nested list of rows
    K = 6                     # teacher rows (identity teacher)
    # d = 6, k = 6, alpha = 0.0

    [sampler]
    kind = "reduced_plane"    # reduced_plane, teacher_slice, grid, xavier, gaussian, ball,
    x = [-1.0, 1.5]           #   teacher_noise, spheres (arguments as in dynsys.basins.samplers)
    y = [-0.5, 1.5]
    shape = [200, 200]

    [flow]                    # any argument of dynsys.basins (method, step, gtol, max_steps, ...)
    step = 0.1

    [output]                  # paths relative to this file
    store = "reduced_plane_k6.zarr"
    result = "reduced_plane_k6.npz"
    figure = "reduced_plane_k6.png"

:func:`run_config` runs it (resuming the store when it exists) and saves the result; the figure is
drawn by the caller (``dynsys basins``, ``analyses/basin_map.py``): this layer does not draw.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from ..model import TeacherStudent
from . import samplers as S
from .run import basins

_SECTIONS = {"model", "sampler", "flow", "output"}
_MODEL_KEYS = {"teacher", "K", "d", "k", "alpha"}
_OUTPUT_KEYS = {"store", "result", "figure", "chunk_size"}
_FLOW_KEYS = {"method", "step", "gtol", "norm", "max_steps", "rtol", "atol", "backend", "critical_gtol",
              "eig_rtol", "loss_rtol", "parallel_atol", "point_rtol", "class_rtol"}
_SAMPLERS = {"reduced_plane", "teacher_slice", "grid", "xavier", "gaussian", "ball", "teacher_noise", "spheres"}


class ConfigError(ValueError):
    """A basin config that cannot be run (the message names the file, the key and the fix)."""


def load_config(path) -> dict:
    """The TOML file at ``path`` as a dict, with its sections and keys checked."""
    path = Path(path)
    try:
        cfg = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    bad = set(cfg) - _SECTIONS
    if bad:
        raise ConfigError(f"{path}: unknown sections {sorted(bad)}; a basin config has {sorted(_SECTIONS)}")
    for sec, keys in (("model", _MODEL_KEYS), ("flow", _FLOW_KEYS), ("output", _OUTPUT_KEYS)):
        bad = set(cfg.get(sec, {})) - keys
        if bad:
            raise ConfigError(f"{path}: unknown keys {sorted(bad)} in [{sec}]; allowed: {sorted(keys)}")
    if "model" not in cfg or "sampler" not in cfg:
        raise ConfigError(f"{path}: a basin config needs a [model] and a [sampler] section")
    return cfg


def build_model(m: dict) -> TeacherStudent:
    """The model of a ``[model]`` section."""
    teacher = m.get("teacher", "identity")
    if isinstance(teacher, str):
        if teacher != "identity":
            raise ConfigError(f"[model] teacher must be 'identity' or a list of rows; got {teacher!r}")
        if "K" not in m:
            raise ConfigError("[model] an identity teacher needs K (its number of rows)")
        K = int(m["K"])
        W_star = np.eye(K, int(m.get("d", K)))
    else:
        W_star = np.array(teacher, dtype=float)
    return TeacherStudent(W_star, k=m.get("k"), alpha=float(m.get("alpha", 0.0)))


def build_sampler(model, s: dict):
    """The sampler of a ``[sampler]`` section (``kind`` and the sampler's own arguments)."""
    s = dict(s)
    kind = s.pop("kind", None)
    if kind not in _SAMPLERS:
        raise ConfigError(f"[sampler] kind must be one of {sorted(_SAMPLERS)}; got {kind!r}")
    tup = {key: tuple(val) if isinstance(val, list) else val for key, val in s.items()}
    try:
        if kind == "reduced_plane":
            return S.reduced_plane(model, **tup)
        if kind == "teacher_slice":
            return S.teacher_slice(model, s.pop("perm"), **{k_: v_ for k_, v_ in tup.items() if k_ != "perm"})
        if kind == "grid":
            return S.Grid(np.array(s["origin"], dtype=float), np.array(s["u"], dtype=float),
                          np.array(s["v"], dtype=float), tuple(s["s"]), tuple(s["t"]), tuple(s["shape"]),
                          s.get("name", "slice"))
        cls = {"xavier": S.Xavier, "gaussian": S.Gaussian, "ball": S.Ball, "teacher_noise": S.TeacherNoise,
               "spheres": S.Spheres}[kind]
        return cls(**tup)
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"[sampler] kind = {kind!r}: bad or missing argument ({exc}); see "
                          f"dynsys.basins.samplers") from exc


def run_config(path, *, executor=None, progress=None):
    """Run the basin map of the config at ``path``; save its result; return ``(result, outputs)``.

    ``outputs`` maps ``"store"``, ``"result"``, ``"figure"`` to absolute paths (or None), resolved
    against the config's folder. A store that exists is resumed (only missing chunks are computed).
    """
    path = Path(path)
    cfg = load_config(path)
    base = path.resolve().parent
    try:
        model = build_model(cfg["model"])
        sampler = build_sampler(model, cfg["sampler"])
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise ConfigError(f"{path}: {exc}") from exc
        raise ConfigError(f"{path}: {exc}") from exc
    out = cfg.get("output", {})
    outputs = {key: (None if out.get(key) is None else base / out[key]) for key in ("store", "result", "figure")}
    res = basins(model, sampler, store=outputs["store"], chunk_size=out.get("chunk_size"), executor=executor,
                 progress=progress, **cfg.get("flow", {}))
    if outputs["result"] is not None:
        res.save(outputs["result"], model=model, meta={"config": str(path)})
    return res, outputs


__all__ = ["ConfigError", "build_model", "build_sampler", "load_config", "run_config"]
