"""Fuzz harness over the public API: bad and edge inputs, each call under a watchdog.

Every generated call is one public function (or model method) with valid arguments of a small size,
of which hypothesis mutates one: NaN, Inf, zero and near-zero rows, collinear and antiparallel rows,
huge and tiny scales, wrong shapes and dtypes, empty batches, negative or zero tolerances and steps,
unknown options and keywords. Calls run in a worker subprocess (restarted after a crash or a hang);
the verdict of each is one of

- ``ok``: a result, with no NaN/Inf unless the result carries a non-zero status;
- ``error``: ``ValueError`` or ``TypeError`` (the documented errors);
- ``bad_exception``: any other exception type;
- ``silent_nonfinite``: NaN/Inf in a result whose statuses are all 0 (or that has none);
- ``bad_result``: a result that breaks its own contract (labels outside the documented set, basin
  fractions not summing to 1, a certificate certified with no finite radius);
- ``hang``: over ``CALL_TIMEOUT_S``;
- ``crash``: the worker died.

Run ``python tests/fuzz.py N [seed [name,name,...]]`` for a report; ``tests/test_fuzz.py`` runs it under pytest.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import traceback
from collections import Counter

import numpy as np

CALL_TIMEOUT_S = 30.0
COMPILE_ALLOWANCE_S = 180.0   # extra time, once, for a call that hung: it may have been compiling
MODEL = "__model__"      # an argument built in the worker: ("__model__", W_star, kwargs)
FAMILY = "__family__"    # ("__family__", name in dynsys.families, model, kwargs)
CRITSET = "__critset__"  # ("__critset__", model, seeds, kwargs): find_critical_points in the worker
CALLABLE = "__callable__"  # ("__callable__", name, model): a p -> system callable
TMP = "__tmp__"          # ("__tmp__", name): a fresh path in a new temporary folder
TMPFILE = "__tmpfile__"  # ("__tmpfile__",): an existing plain file
K2 = "__k2__"            # ("__k2__", part): the K = 2 bisector branch over the teacher angle (d = 2),
                         # with its symmetric branch point; part in family, branch, event, of_pq

I3 = np.eye(3)
R3 = np.random.default_rng(1).normal(size=(3, 3))
_X = np.random.default_rng(4).normal(size=(18, 4))
_Y = np.arange(18) % 10

# functions whose NaN/Inf result is itself the documented flag (no status field): NaN at a state that
# is not finite or where the gradient is undefined, +inf at W = W*
NONFINITE_DOCUMENTED = {"aux_function", "convexity_margin"}

# the base calls whose unmutated call raises its documented error
EXPECTED_ERROR = {"load": "FileNotFoundError", "warmup": "ValueError", "PointSystem": "TypeError"}

# ------------------------------------------------------------------ the calls and their bad values
_BAD_SCALARS = [np.nan, np.inf, -np.inf, 0, 0.0, -1, -1e-3, 1e300, 1e-300, 5e-324, 2**63, -2**63, True,
                "bogus", None, 1.5, 1j, [], np.float32(0.5), np.int8(3)]


def _bad_states(shape):
    k, d = shape
    out = []
    for s in (1e155, 1e-170, 1e150, 1e-150, 1e12, 1e-12):
        out.append(s * R3[:k, :d] if (k, d) == (3, 3) else s * np.ones(shape))
    W = np.ones(shape)
    out.append(W * 0.0)                                   # all rows zero
    Z = R3[:k, :d].copy() if (k, d) == (3, 3) else np.ones(shape)
    Z[0] = 0.0
    out.append(Z)                                          # one zero row
    Z = Z.copy(); Z[0] = 1e-13
    out.append(Z)                                          # near-zero row
    C = np.tile(np.arange(1.0, d + 1.0), (k, 1))
    out.append(C)                                          # collinear rows
    A = C.copy(); A[1::2] *= -1.0
    out.append(A)                                          # antiparallel rows
    N = np.ones(shape); N[0, 0] = np.nan
    out.append(N)
    F = np.ones(shape); F[-1, -1] = np.inf
    out.append(F)
    out += [np.ones((0, k, d)), np.ones((k + 1, d)), np.ones((d + 1,)), np.ones((2, 2, k, d)),
            np.ones(shape, dtype=complex), np.ones(shape, dtype=bool), np.full(shape, "x"),
            np.ones(shape, dtype=np.float32), [[1, 2], [3]], None]
    return out


def base_calls():
    """``name -> (callable name, args, kwargs, {argument: kind})``; kind "state" takes bad states."""
    m = (MODEL, I3, {})
    mk = (MODEL, I3, {"k": 4})
    W4 = np.random.default_rng(2).normal(size=(4, 3))
    Wb = np.random.default_rng(3).normal(size=(2, 3, 3))
    return {
        "TeacherStudent": ("TeacherStudent", (I3,), {"k": 3, "alpha": 0.0}, {"W_star": 0, "k": "k", "alpha": "alpha"}),
        "loss": ("m.loss", (m, R3), {"return_status": True}, {"W": 1}),
        "loss_and_grad": ("m.loss_and_grad", (m, Wb), {"return_status": True}, {"W": 1}),
        "hessian": ("m.hessian", (m, R3), {"return_status": True}, {"W": 1}),
        "hvp": ("m.hvp", (m, R3, R3), {"return_status": True}, {"W": 1, "V": 2}),
        "grad_a": ("m.grad_a", (m, R3), {"return_status": True}, {"W": 1}),
        "flow": ("flow", (m, R3), {"max_steps": 500, "step": 0.1}, {
            "W0": 1, "step": "step", "t1": "t1", "gtol": "gtol", "max_steps": "max_steps", "method": "opt",
            "save": "save", "rtol": "gtol", "atol": "gtol", "norm": "opt", "chunk_size": "max_steps"}),
        "flow_dopri": ("flow", (m, Wb), {"method": "dopri5", "max_steps": 500, "polish": True}, {
            "W0": 1, "rtol": "gtol", "atol": "gtol", "gtol": "gtol"}),
        "monte_carlo": ("monte_carlo", (m, R3, 256), {}, {"W": 1, "n_samples": 2, "sampler": "opt",
                                                           "seed": "k", "chunk_size": "max_steps"}),
        "monte_carlo_gating": ("monte_carlo_gating", (I3[0], R3[0], 256), {}, {"e": 0, "w": 1, "n_samples": 2}),
        "sgd": ("sgd", (m, R3), {"n_samples": 16, "epochs": 2}, {
            "W0": 1, "n_samples": "k", "batch_size": "k", "lr": "step", "epochs": "max_steps",
            "record_every": "k", "project": "opt", "seed": "k"}),
        "sgd_dataset": ("sgd_dataset", (16, 3), {}, {"n_samples": 0, "d": 1, "seed": "k"}),
        "reduced_field": ("rd.field", (3, 0.5, 0.1), {}, {"K": 0, "x": 1, "y": 2}),
        "reduced_integrate": ("rd.integrate", (3, 0.5, 0.1, 2.0), {"max_steps": 2000}, {
            "K": 0, "x0": 1, "y0": 2, "t1": 3, "t_eval": "t_eval", "rtol": "gtol", "method": "opt"}),
        "reduced_fixed_points": ("rd.fixed_points", (3,), {"n_radial": 4, "n_angular": 8}, {
            "K": 0, "n_radial": "k", "n_angular": "k", "ftol": "gtol", "max_iter": "k"}),
        "k2_saddle_families": ("k2_saddle_families", (1.0, 1.0, 1.0), {"n_grid": 64}, {
            "norm1": 0, "norm2": 1, "theta12": 2, "n_grid": "k"}),
        "normal_matrices": ("normal_matrices", (R3, I3), {}, {"W": 0, "W_star": 1}),
        "L_jjp": ("L_jjp", (I3[:2], np.array([0.6, 0.8, 0.0]), 0, 1), {}, {"E": 0, "e_star": 1, "j": 2, "jp": 3}),
        "L12": ("L12", (1.0, 0.5), {}, {"t": 0, "phi": 1, "dps": "k"}),
        "conjecture1_scan": ("conjecture1_scan", (16,), {"high_precision": False}, {"N": 0, "grid": "opt"}),
        "classify": ("classify", (m, I3), {}, {"W": 1, "gtol": "gtol", "eig_method": "opt", "max_steps": "k",
                                               "eig_rtol": "gtol", "n_eig": "k"}),
        "find_critical_points": ("find_critical_points", (m, Wb), {"max_steps": 30}, {
            "seeds": 1, "gtol": "gtol", "max_steps": "k", "method": "opt", "dedup_tol": "gtol"}),
        "same_point": ("same_point", (m, I3, I3[[1, 0, 2]]), {}, {"W1": 1, "W2": 2, "tol": "gtol"}),
        "saddle_between": ("saddle_between", (m, I3, I3[[1, 0, 2]]), {"max_iter": 200, "n_images": 5}, {
            "W_a": 1, "W_b": 2, "n_images": "k", "spring": "step", "ftol": "gtol", "step": "step",
            "method": "opt", "max_iter": "k"}),
        "eigenvector_following": ("eigenvector_following", (m, I3), {"n_directions": 1, "max_iter": 50}, {
            "W_min": 1, "trust": "step", "gtol": "gtol", "max_iter": "k", "index": "k", "n_directions": "k"}),
        "census": ("census", (mk, 8), {"max_steps": 3000}, {
            "n_runs": 1, "step": "step", "gtol": "gtol", "max_steps": "max_steps", "init": "opt",
            "chunk_size": "k", "class_rtol": "gtol"}),
        "census_sweep": ("census_sweep", ([2], 4), {"max_steps": 2000}, {"ks": 0, "n_runs": 1, "step": "step"}),
        "wilson_interval": ("wilson_interval", (3, 10), {}, {"count": 0, "n": 1, "z": "step"}),
        "trace_manifold": ("trace_manifold", ((MODEL, I3, {"alpha": 1.0}), I3), {"max_points": 5}, {
            "W0": 1, "step": "step", "max_points": "k", "gtol": "gtol", "newton_steps": "k"}),
        "load": ("load", ("/nonexistent.npz",), {}, {"path": 0}),
        # ---- continuation, certificates, the landscape graph
        "continuation": ("continuation", ((FAMILY, "leaky_slope", m, {}), I3, 0.0, 0.3), {"max_points": 12}, {
            "family": 0, "W0": 1, "p0": 2, "p_end": 3, "step": "step", "step_min": "step", "step_max": "step",
            "max_points": "k", "gtol": "gtol", "eig_rtol": "gtol", "n_eig": "k", "p_tol": "gtol",
            "refine": "opt", "parallel_atol": "gtol", "kinds": "opt", "path": "opt"}),
        "continuation_general": ("continuation", ((FAMILY, "top_weight_scale", m, {}), I3, 1.0, 1.2), {
            "max_points": 8, "path": "general"}, {"W0": 1, "p0": 2, "p_end": 3, "step": "step", "max_points": "k"}),
        "continuation_angle": ("continuation", ((FAMILY, "teacher_angle", (MODEL, I3[:2, :2], {}), {}),
                                                I3[:2, :2], np.pi / 2, 1.4), {"max_points": 8}, {
            "family": 0, "W0": 1, "p0": 2, "p_end": 3, "step": "step", "gtol": "gtol"}),
        "continuation_norm": ("continuation", ((FAMILY, "teacher_norm", (MODEL, I3[:2, :2], {}), {}),
                                               I3[:2, :2], 1.0, 1.3), {"max_points": 8}, {
            "W0": 1, "p0": 2, "p_end": 3, "p_tol": "gtol"}),
        "continuation_residual": ("continuation", ((FAMILY, "residual_scale", m, {}), I3, 0.0, 0.2),
                                  {"max_points": 8}, {
            "W0": 1, "p0": 2, "p_end": 3, "step_max": "step"}),
        "continuation_path": ("continuation", ((FAMILY, "teacher_path", m, {"W_star_end": 1.2 * I3}), I3, 0.0, 0.5),
                              {"max_points": 8}, {"family": 0, "W0": 1, "p0": 2, "p_end": 3}),
        "switch_branch": ("continuation.switch_branch", ((K2, "family"), (K2, "branch"), (K2, "event"), 2.6),
                          {"max_points": 8}, {
            "family": 0, "branch": 1, "event": 2, "p_end": 3, "dp": "step", "dedup_tol": "gtol",
            "sym_tol": "gtol", "conjugates": "opt", "max_points": "k", "step": "step"}),
        "isotropy": ("continuation.isotropy", ((K2, "family"), (K2, "branch"), (K2, "event")), {}, {
            "family": 0, "branch": 1, "event": 2, "sym_tol": "gtol", "gtol": "gtol"}),
        "follow_event": ("continuation.follow_event", ((K2, "of_pq"), (K2, "event"), 1.0, 1.1), {
            "own_nullity": 1, "max_points": 6}, {
            "of_pq": 0, "event": 1, "q0": 2, "q_end": 3, "own_nullity": "k", "step": "step", "max_points": "k",
            "gtol": "gtol", "names": "opt"}),
        "family_leaky_slope": ("families.leaky_slope", (m,), {"hi": 0.9}, {"model": 0, "hi": "step"}),
        "family_top_weight_scale": ("families.top_weight_scale", (m,), {"rows": [0, 1]}, {"model": 0, "rows": "rows"}),
        "family_teacher_angle": ("families.teacher_angle", (m,), {"rows": (0, 1)}, {"model": 0, "rows": "rows"}),
        "family_teacher_norm": ("families.teacher_norm", (m,), {"row": 1}, {"model": 0, "row": "k"}),
        "family_teacher_path": ("families.teacher_path", (m, 1.2 * I3), {}, {"model": 0, "W_star_end": 1}),
        "Family": ("Family", ((CALLABLE, "alpha_of", m),), {"domain": (0.0, 0.9), "name": "alpha"}, {
            "of_p": 0, "dgrad_dp": "opt", "domain": "save", "name": "opt", "quadratic": "opt"}),
        "certify": ("certify", (m, I3), {}, {"point_or_set": 1, "gtol": "gtol"}),
        "certify_batch": ("certify", (m, np.stack([I3, I3[[1, 0, 2]]])), {}, {"point_or_set": 1}),
        "certify_set": ("certify", (m, (CRITSET, m, Wb, {"max_steps": 30})), {}, {"gtol": "gtol"}),
        "landscape_graph": ("landscape_graph", (m, (CRITSET, m, np.stack([I3, I3[[1, 0, 2]]]), {"max_steps": 30})), {
            "max_searches": 2, "n_images": 5}, {"max_searches": "k", "eps": "gtol", "match_rtol": "gtol",
                                               "dedup_tol": "gtol", "n_images": "k", "connect": "opt",
                                               "permute_rows": "opt"}),
        # ---- basin maps and their samplers
        "basins": ("basins", (m, Wb), {"max_steps": 2000, "entry": None}, {
            "W0": 1, "method": "opt", "step": "step", "gtol": "gtol", "norm": "opt", "max_steps": "max_steps",
            "rtol": "gtol", "atol": "gtol", "backend": "opt", "chunk_size": "k", "entry": "opt", "store": "store"}),
        "basins_entry": ("basins", (m, Wb), {"max_steps": 2000, "entry": True}, {"W0": 1, "step": "step"}),
        "basins_no_entry": ("basins", (m, Wb), {"max_steps": 2000, "entry": False}, {"W0": 1, "gtol": "gtol"}),
        "basins_store": ("basins", (m, Wb), {"max_steps": 2000, "store": (TMP, "b.zarr")}, {
            "W0": 1, "store": "store", "chunk_size": "k"}),
        "s.Grid": ("s.Grid", (m, I3, np.eye(3)[[1, 0, 2]] - I3, R3, (0.0, 1.0), (0.0, 1.0), (2, 2)), {}, {
            "origin": 1, "u": 2, "v": 3, "s": (4, "save"), "t": (5, "save"), "shape": (6, "rows"), "name": "opt"}),
        "s.teacher_slice": ("s.teacher_slice", (m, m, [1, 0, 2]), {"shape": (2, 2)}, {
            "model": 1, "perm": (2, "rows"), "s": "save", "t": "save", "shape": "rows"}),
        "s.reduced_plane": ("s.reduced_plane", (m, m), {"shape": (2, 2)}, {
            "model": 1, "x": "save", "y": "save", "shape": "rows"}),
        "s.Xavier": ("s.Xavier", (m, 3), {}, {"n": 1, "seed": "k", "uniform": "opt"}),
        "s.Gaussian": ("s.Gaussian", (m, 3), {"std": 0.5}, {"n": 1, "std": "step", "seed": "k", "mean": "step"}),
        "s.Ball": ("s.Ball", (m, 3), {"radius": 2.0}, {"n": 1, "radius": "step", "seed": "k"}),
        "s.TeacherNoise": ("s.TeacherNoise", (m, 3), {}, {"n": 1, "scale": "step", "noise": "step", "seed": "k"}),
        "s.Spheres": ("s.Spheres", (m, 3), {}, {"n": 1, "radius": "step", "seed": "k"}),
        "census_store": ("census", (mk, 6), {"max_steps": 3000, "store": (TMP, "c.zarr")}, {
            "n_runs": 1, "store": "store", "chunk_size": "k", "seed": "k", "certify": "opt"}),
        # ---- the two-phase analysis, paper 002's classifier
        "aux_function": ("aux_function", (m, R3), {}, {"W": 1, "reading": "opt"}),
        "convexity_margin": ("convexity_margin", (m, R3), {}, {"W": 1}),
        "two_phase_verdict": ("two_phase_verdict", (np.array([[3.0, 2.0, 1.0]]), np.array([[0.0, 0.5, 1.0]]),
                                                    np.array([[2.0, 1.0, 0.5]]), 0.1), {}, {
            "f_A": 0, "margin": 1, "dist": 2, "delta": 3, "failed": "opt", "dist_floor": "gtol"}),
        "gd_trace": ("gd_trace", (m, Wb), {"step": 0.1, "n_steps": 20, "delta": 0.01}, {
            "W0": 1, "step": "step", "n_steps": "max_steps", "delta": "gtol", "every": "k", "chunk": "k"}),
        "sgd_trace": ("sgd_trace", (m, R3), {"step": 0.05, "epochs": 2, "delta": 0.01, "n_samples": 16}, {
            "W0": 1, "step": "step", "epochs": "max_steps", "delta": "gtol", "n_samples": "step"}),
        "train_classifier": ("train_classifier", (_X[:12], _Y[:12], _X[12:], _Y[12:]), {
            "epochs": 2, "repeats": 1, "batch_size": 4}, {
            "X_train": 0, "y_train": 1, "X_test": 2, "y_test": 3, "activation": "opt", "identity": "opt",
            "init": "opt", "learn_alpha": "opt", "step": "step", "batch_size": "k", "epochs": "k",
            "repeats": "k", "seed": "k"}),
        "PointSystem": ("PointSystem", (), {}, {}),
        "warmup": ("warmup", (("no_such_group",),), {}, {"groups": "groups"}),
    }


def _value(kind, draw_index, state_shape):
    """The pool of bad values for an argument kind."""
    pool = list(_BAD_SCALARS)
    if kind == "state":
        pool = _bad_states(state_shape) + pool
    elif kind == "opt":
        pool = ["bogus", "", None, 3, "GD", "lanczos", "dense", "uniform", "rk4", "dopri5", "fro"] + pool
    elif kind == "save":
        pool = [1, 10**9, [0.0, 0.1], [0.1, 0.0], [np.nan], np.array([]), [-1.0]] + pool
    elif kind == "t_eval":
        pool = [[np.nan], [], [0.0, 1.0], [2.0, 1.0], [1e300], np.ones((2, 2))] + pool
    elif kind == "store":
        pool = [(TMP, "x.zarr"), (TMPFILE,), "", "/proc/no_such_dir/x.zarr", 3, b"x", (TMP, "a/b/c")] + pool
    elif kind == "rows":
        pool = [[0, 0], [0, 5], [-1, 0], [2, 2], (1,), (0, 1, 2, 3), [0.5, 1], np.array([[0, 1]]),
                (0, 0), (-2, 3), (0, 2)] + pool
    elif kind == "groups":
        pool = [("no_such_group",), "bogus", ["field", "bogus"], [1], [None], ("",), b"field", 3, 1.5, None,
                ["FIELD"], {"x": 1}, [["field"]]]
        return pool[draw_index % len(pool)]
    elif kind in ("k", "max_steps"):
        pool = [0, 1, 2, 10**9, 2**31, 2**64, -5, 3.0, np.int64(4)] + pool
    return pool[draw_index % len(pool)]


# ------------------------------------------------------------------ building and checking one call
def build(name, mutation):
    """The (function name, args, kwargs) of a base call with one mutation applied.

    ``mutation`` is (argument, kind, index) or ("__unknown__", None, 0) or None.
    """
    fname, args, kwargs, params = base_calls()[name]
    args, kwargs = list(args), dict(kwargs)
    if mutation is not None:
        arg, kind, idx = mutation
        if arg == "__unknown__":
            kwargs["no_such_option"] = 1
        else:
            where = params[arg]
            if isinstance(where, tuple):        # (position, kind): a positional argument of that kind
                args[where[0]] = _value(where[1], idx, (3, 3))
            elif isinstance(where, int):
                cur = args[where]
                if _marker(cur) == MODEL:
                    cur = cur[1]
                elif _marker(cur) is not None or isinstance(cur, (str, tuple, list)):
                    cur = None       # a built object, a path, a list of names: scalar bad values
                shape = np.shape(cur)[-2:] if np.ndim(cur) >= 2 else (3, 3)
                k = "state" if np.ndim(cur) >= 1 else "scalar"
                args[where] = _value(k, idx, shape)
            else:
                kwargs[arg] = _value(where, idx, (3, 3))
    return fname, tuple(args), kwargs


def _marker(a):
    """The marker of an argument built in the worker, else None."""
    if isinstance(a, tuple) and a and isinstance(a[0], str) and a[0] in (MODEL, FAMILY, CRITSET, CALLABLE,
                                                                          TMP, TMPFILE, K2):
        return a[0]
    return None


_SCRATCH = []    # temporary folders of the current call, removed after it
_K2 = {}         # the K = 2 bisector setup, built once per worker


def _k2(part):
    """``part`` of the K = 2 bisector setup (its branch is computed once per worker)."""
    import dynsys as ds
    from dynsys.theory.k2_saddles import k2_saddle_families
    if not _K2:
        fam0 = k2_saddle_families(1.0, 1.0, 2.0)[0]
        model = ds.TeacherStudent(fam0.teacher(2))
        family = ds.families.teacher_angle(model)
        branch = ds.continuation(family, fam0.W(0.3), 2.0, 2.6)
        _K2.update(family=family, branch=branch, event=branch.events[0],
                   of_pq=lambda p, q: ds.families.teacher_norm(family(p), 1)(q))
    return _K2[part]


def _build_arg(a):
    import tempfile

    import dynsys as ds
    kind = _marker(a)
    if kind == MODEL:
        return ds.TeacherStudent(a[1], **a[2])
    if kind == FAMILY:
        return getattr(ds.families, a[1])(_build_arg(a[2]), **a[3])
    if kind == CRITSET:
        return ds.find_critical_points(_build_arg(a[1]), a[2], **a[3])
    if kind == CALLABLE:
        model = _build_arg(a[2])
        return {"alpha_of": lambda p: model.replace(alpha=p)}[a[1]]
    if kind == TMP:
        _SCRATCH.append(tempfile.mkdtemp(prefix="dynsys_fuzz_"))
        return os.path.join(_SCRATCH[-1], a[1])
    if kind == K2:
        return _k2(a[1])
    if kind == TMPFILE:
        _SCRATCH.append(tempfile.mkdtemp(prefix="dynsys_fuzz_"))
        path = os.path.join(_SCRATCH[-1], "file")
        open(path, "wb").close()
        return path
    return a


def _resolve(fname, args, kwargs=None):
    """The callable and its built positional (and keyword) arguments."""
    import dynsys as ds
    args = [_build_arg(a) for a in args]
    kwargs = {key: _build_arg(val) for key, val in (kwargs or {}).items()}
    if fname.startswith("m."):
        return getattr(args[0], fname[2:]), args[1:], kwargs
    if fname.startswith("rd."):
        return getattr(ds.ReducedDynamics(args[0]), fname[3:]), args[1:], kwargs
    if fname.startswith("families."):
        return getattr(ds.families, fname[9:]), args, kwargs
    if fname.startswith("continuation."):
        import importlib
        return getattr(importlib.import_module("dynsys.continuation"), fname[13:]), args, kwargs
    if fname.startswith("s."):
        # a sampler (built from the arguments after the model) mapped by a short basin map
        maker, model = getattr(ds, fname[2:]), args[0]
        def sampled(*a, **kw):
            return ds.basins(model, maker(*a, **kw), max_steps=2000)
        return sampled, args[1:], kwargs
    return getattr(ds, fname), args, kwargs


def _floats_and_status(obj, depth=0):
    """All float arrays in a result (fields, tuples) and whether any status is non-zero."""
    floats, flagged = [], False
    if depth > 3 or obj is None:
        return floats, flagged
    if isinstance(obj, (float, np.floating)):
        return [np.asarray(obj)], False
    if isinstance(obj, np.ndarray):
        return ([obj] if obj.dtype.kind == "f" else []), False
    if isinstance(obj, (tuple, list)):
        items = list(obj)
        # (value, status) pairs of the model's return_status=True
        if len(items) == 2 and isinstance(items[1], (int, np.integer, np.ndarray)) and \
                np.asarray(items[1]).dtype.kind in "iu":
            flagged = bool(np.any(np.asarray(items[1]) != 0))
            items = items[:1]
        for it in items:
            f, s = _floats_and_status(it, depth + 1)
            floats += f
            flagged |= s
        return floats, flagged
    fields = {}
    if dataclasses.is_dataclass(obj):
        fields = {f.name: getattr(obj, f.name, None) for f in dataclasses.fields(obj)}
    elif hasattr(obj, "__dict__"):
        fields = dict(vars(obj))
    for key, val in fields.items():
        if key == "certified":
            flagged |= not bool(val)           # a failed certificate's radius is inf or NaN by design
            continue
        if key in ("status", "statuses", "labels") or key.endswith("_status"):
            # statuses: 0 is fine; census/basin labels: negative values say a run has no end point
            try:
                codes = np.asarray(val, dtype=np.int64)
                flagged |= bool(np.any(codes < 0) if key == "labels" else np.any(codes != 0))
            except (TypeError, ValueError):
                pass
            continue
        if key == "reserved_intervals":
            val = np.asarray(val)[:-1]        # the row of label -5 (not computed) is NaN by design
        f, s = _floats_and_status(val, depth + 1)
        floats += f
        flagged |= s
    return floats, flagged


def _inconsistent(out):
    """What is wrong with a result beyond non-finite values (None if nothing): the documented label sets,
    fractions summing to 1, a certified radius that is finite."""
    import dynsys as ds
    name = type(out).__name__
    if name == "BasinResult":
        allowed = {a.label for a in out.attractors} | set(range(-5, 0))
        bad = set(np.unique(out.labels).tolist()) - allowed
        if bad:
            return f"BasinResult labels {sorted(bad)} outside the attractors and -1..-5"
        if out.n_done and abs(sum(out.fractions.values()) - 1.0) > 1e-12:
            return f"BasinResult fractions sum to {sum(out.fractions.values())}"
    elif name == "Census":
        allowed = set(range(len(out.classes))) | set(range(-5, 0))
        bad = set(np.unique(out.labels).tolist()) - allowed
        if bad:
            return f"Census labels {sorted(bad)} outside the classes and -1..-5"
    elif name == "Certificate":
        if out.certified and not (np.isfinite(out.radius) and out.radius >= 0.0):
            return f"certified with radius {out.radius}"
    elif name == "CertificateSet":
        for c in out:
            why = _inconsistent(c)
            if why:
                return why
    elif name == "Branch":
        if out.status == ds.Status.CONVERGED:
            for f in ("p", "W", "loss"):
                val = getattr(out, f, None)
                if val is not None and not np.all(np.isfinite(val)):
                    return f"CONVERGED branch with non-finite {f}"
    elif isinstance(out, tuple):
        for it in out:
            why = _inconsistent(it)
            if why:
                return why
    return None


def run_call(fname, args, kwargs):
    """(verdict, detail) of one call, in this process."""
    import shutil
    try:
        fn, a, kw = _resolve(fname, args, kwargs)
        out = fn(*a, **kw)
    except Exception as exc:  # noqa: BLE001 - the point is to see every other type
        # documented: ValueError, TypeError; load's FileNotFoundError; a store that cannot be written
        if isinstance(exc, (ValueError, TypeError, FileNotFoundError)) or type(exc).__name__ == "StoreWriteError":
            return "error", f"{type(exc).__name__}: {exc}"[:300]
        return "bad_exception", "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]
    finally:
        while _SCRATCH:
            shutil.rmtree(_SCRATCH.pop(), ignore_errors=True)
    floats, flagged = _floats_and_status(out)
    if any(not np.all(np.isfinite(f)) for f in floats) and not flagged and fname not in NONFINITE_DOCUMENTED:
        return "silent_nonfinite", type(out).__name__
    why = _inconsistent(out)
    if why:
        return "bad_result", why
    return "ok", type(out).__name__


# ------------------------------------------------------------------ the worker and its watchdog
def _worker():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import warnings
    warnings.simplefilter("ignore")
    # The replies go to a private copy of stdout; whatever a call prints (progress lines) goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    while True:
        head = inp.read(8)
        if len(head) < 8:
            return
        call = pickle.loads(inp.read(struct.unpack("<Q", head)[0]))
        res = pickle.dumps(run_call(*call))
        out.write(struct.pack("<Q", len(res)) + res)
        out.flush()


class Runner:
    """A worker subprocess; a call that outlives the timeout or kills the worker restarts it."""

    def __init__(self, timeout=CALL_TIMEOUT_S):
        self.timeout = timeout
        self.proc = None

    def _start(self):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
        # in a scratch folder: a store or path argument such as "bogus" is created relative to it
        self.cwd = tempfile.mkdtemp(prefix="dynsys_fuzz_cwd_")
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], env=env,
                                     cwd=self.cwd,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def close(self):
        import shutil
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            shutil.rmtree(self.cwd, ignore_errors=True)

    def __call__(self, call, timeout=None):
        import select
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        msg = pickle.dumps(call)
        try:
            self.proc.stdin.write(struct.pack("<Q", len(msg)) + msg)
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.close()
            return "crash", "worker died on input"
        # The first call of a fresh worker also imports dynsys and may compile: allow for it.
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout or self.timeout)
        if not ready:
            self.close()
            return "hang", f"over {timeout or self.timeout} s"
        head = self.proc.stdout.read(8)
        if len(head) < 8:
            rc = self.proc.wait()
            self.proc = None
            return "crash", f"worker exit code {rc}"
        return pickle.loads(self.proc.stdout.read(struct.unpack("<Q", head)[0]))


def mutations(names=None):
    """Every (call name, mutation) the harness draws from (of the base calls ``names``, default all)."""
    out = []
    for name, (_f, _a, _k, params) in base_calls().items():
        if names is not None and name not in names:
            continue
        out.append((name, None))
        out.append((name, ("__unknown__", None, 0)))
        for arg, where in params.items():
            out.append((name, (arg, where, None)))
    return out


def fuzz(n_calls, seed=0, runner=None, report=None, names=None):
    """Run ``n_calls`` hypothesis-drawn calls (of the base calls ``names``, default all); return a
    ``Counter`` of verdicts and the failures."""
    from hypothesis import HealthCheck, Phase, given, settings, strategies as st

    muts = mutations(names)
    own = runner is None
    runner = runner or Runner()
    counts, failures = Counter(), []

    @settings(max_examples=n_calls, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(i=st.integers(0, len(muts) - 1), j=st.integers(0, 10**6))
    def one(i, j):
        # i + j: hypothesis favours the ends of a range, which alone left some calls 30 times as often
        name, mut = muts[(i + j + seed * 7919) % len(muts)]
        if mut is not None and mut[0] != "__unknown__":
            mut = (mut[0], mut[1], j + seed)
        call = build(name, mut)
        verdict, detail = runner(call, timeout=CALL_TIMEOUT_S + (60 if runner.proc is None else 0))
        if verdict == "hang":
            # a first call down a new path may compile kernels (tens of seconds on a loaded machine):
            # allow for that once, then the call must finish within the limit with its kernels cached
            if runner(call, timeout=CALL_TIMEOUT_S + COMPILE_ALLOWANCE_S)[0] != "hang":
                verdict, detail = runner(call)
        counts[verdict] += 1
        if verdict not in ("ok", "error"):
            failures.append((name, mut, verdict, detail))
            if report:
                report(name, mut, verdict, detail)

    try:
        one()
    finally:
        if own:
            runner.close()
    return counts, failures


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        _worker()
    else:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
        s = int(sys.argv[2]) if len(sys.argv) > 2 else 0
        only = sys.argv[3].split(",") if len(sys.argv) > 3 else None   # base call names, comma-separated
        c, fails = fuzz(n, s, report=lambda *x: print("FAIL", *x, flush=True), names=only)
        print(dict(c))
