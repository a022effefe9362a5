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
- ``hang``: over ``CALL_TIMEOUT_S``;
- ``crash``: the worker died.

Run ``python tests/fuzz.py N [seed]`` for a report; ``tests/test_fuzz.py`` runs it under pytest.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import struct
import subprocess
import sys
import traceback
from collections import Counter

import numpy as np

CALL_TIMEOUT_S = 30.0
MODEL = "__model__"      # an argument built in the worker: ("__model__", W_star, kwargs)

I3 = np.eye(3)
R3 = np.random.default_rng(1).normal(size=(3, 3))

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
            if isinstance(where, int):
                cur = args[where]
                if isinstance(cur, tuple) and cur and cur[0] == MODEL:
                    cur = cur[1]
                shape = np.shape(cur)[-2:] if np.ndim(cur) >= 2 else (3, 3)
                k = "state" if np.ndim(cur) >= 1 else "scalar"
                args[where] = _value(k, idx, shape)
            else:
                kwargs[arg] = _value(where, idx, (3, 3))
    return fname, tuple(args), kwargs


def _resolve(fname, args):
    import dynsys as ds
    args = [ds.TeacherStudent(a[1], **a[2]) if isinstance(a, tuple) and a and a[0] == MODEL else a
            for a in args]
    if fname.startswith("m."):
        return getattr(args[0], fname[2:]), args[1:]
    if fname.startswith("rd."):
        return getattr(ds.ReducedDynamics(args[0]), fname[3:]), args[1:]
    return getattr(ds, fname), args


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
        if key in ("status", "statuses", "labels") or key.endswith("_status"):
            # statuses: 0 is fine; census/basin labels: negative values say a run has no end point
            try:
                codes = np.asarray(val, dtype=np.int64)
                flagged |= bool(np.any(codes < 0) if key == "labels" else np.any(codes != 0))
            except (TypeError, ValueError):
                pass
            continue
        f, s = _floats_and_status(val, depth + 1)
        floats += f
        flagged |= s
    return floats, flagged


def run_call(fname, args, kwargs):
    """(verdict, detail) of one call, in this process."""
    try:
        fn, a = _resolve(fname, args)
        out = fn(*a, **kwargs)
    except (ValueError, TypeError, FileNotFoundError) as exc:  # load: FileNotFoundError, documented
        return "error", f"{type(exc).__name__}: {exc}"[:300]
    except Exception as exc:  # noqa: BLE001 - the point is to see every other type
        return "bad_exception", "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]
    floats, flagged = _floats_and_status(out)
    if any(not np.all(np.isfinite(f)) for f in floats) and not flagged:
        return "silent_nonfinite", type(out).__name__
    return "ok", type(out).__name__


# ------------------------------------------------------------------ the worker and its watchdog
def _worker():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import warnings
    warnings.simplefilter("ignore")
    inp, out = sys.stdin.buffer, sys.stdout.buffer
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
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

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


def mutations():
    """Every (call name, mutation) the harness draws from."""
    out = []
    for name, (_f, _a, _k, params) in base_calls().items():
        out.append((name, None))
        out.append((name, ("__unknown__", None, 0)))
        for arg, where in params.items():
            out.append((name, (arg, where, None)))
    return out


def fuzz(n_calls, seed=0, runner=None, report=None):
    """Run ``n_calls`` hypothesis-drawn calls; return ``Counter`` of verdicts and the failures."""
    from hypothesis import HealthCheck, Phase, given, settings, strategies as st

    muts = mutations()
    own = runner is None
    runner = runner or Runner()
    counts, failures = Counter(), []

    @settings(max_examples=n_calls, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(i=st.integers(0, len(muts) - 1), j=st.integers(0, 10**6))
    def one(i, j):
        name, mut = muts[(i + seed * 7919) % len(muts)]
        if mut is not None and mut[0] != "__unknown__":
            mut = (mut[0], mut[1], j + seed)
        call = build(name, mut)
        verdict, detail = runner(call, timeout=CALL_TIMEOUT_S + (60 if runner.proc is None else 0))
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
        c, fails = fuzz(n, s, report=lambda *x: print("FAIL", *x, flush=True))
        print(dict(c))
