"""Golden outputs: a fixed list of public calls whose results must not change under refactoring.

Every name in ``dynsys.__all__`` that computes is called here on small fixed inputs, on each CPU
backend; the CUDA backend (float64 and the float32 path) runs in the simulator in a subprocess
(``NUMBA_ENABLE_CUDASIM`` must be set before numba is imported). Each result is flattened into named
arrays (dataclass fields, tuples, enums and strings included), so a changed field, a changed
status or a changed class count all show up.

Use::

    python tests/golden.py save OUT.npz            # this tree's outputs
    python tests/golden.py diff A.npz B.npz        # bitwise (exit 1 on any difference)
    python tests/golden.py diff A.npz B.npz --rtol 1e-12

``tests/data/golden.npz`` is the committed reference; ``tests/test_golden.py`` compares this tree
with it to ``1e-12`` relative (fastmath bits depend on the CPU). A refactoring slice is checked
bitwise: ``save`` from the old commit (a ``git worktree``) and from the new tree, on one machine,
then ``diff`` without ``--rtol``. Run ``save`` twice in each tree and keep the second: a fastmath
kernel compiled in-process can round differently from the same kernel loaded from Numba's cache
(measured here: up to 1e-15 in census losses), so compare cache loads with cache loads.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "data", "golden.npz")


# ----------------------------------------------------------------------------- flattening
#: Wall-clock fields: measured, not computed.
TIMINGS = ("flow_time", "classify_time", "wall_time", "kernel_time", "mp_time")


def flatten(obj, prefix, out, depth=0):
    """Write ``obj`` into ``out`` as ``{prefix.path: ndarray}`` (strings as unicode arrays)."""
    if depth > 8:
        raise RuntimeError(f"{prefix}: nesting too deep")
    if obj is None:
        out[prefix] = np.array("<None>")
    elif isinstance(obj, enum.Enum):
        out[prefix] = np.array(f"{type(obj).__name__}.{obj.name}")
    elif isinstance(obj, (str, bytes)):
        out[prefix] = np.array(str(obj))
    elif isinstance(obj, (bool, int, float, complex, np.generic)):
        out[prefix] = np.asarray(obj)
    elif isinstance(obj, np.ndarray):
        out[prefix] = obj.astype(str) if obj.dtype == object else obj
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.name in TIMINGS:
                continue
            flatten(getattr(obj, f.name), f"{prefix}.{f.name}", out, depth + 1)
    elif isinstance(obj, tuple) and hasattr(obj, "_fields"):
        for name in obj._fields:
            flatten(getattr(obj, name), f"{prefix}.{name}", out, depth + 1)
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            flatten(obj[key], f"{prefix}[{key}]", out, depth + 1)
    elif isinstance(obj, (list, tuple)):
        out[f"{prefix}.len"] = np.asarray(len(obj))
        for i, x in enumerate(obj):
            flatten(x, f"{prefix}[{i}]", out, depth + 1)
    elif callable(obj):
        pass
    elif type(obj).__module__.startswith("dynsys"):
        out[prefix] = np.array(repr(obj))  # models and toys: their repr says what they are
    else:
        raise TypeError(f"{prefix}: cannot flatten {type(obj).__name__}")


# ----------------------------------------------------------------------------- the calls
def _models(ds):
    rng = np.random.default_rng(20261205)
    plain = ds.TeacherStudent(np.eye(4))
    leaky = ds.TeacherStudent(rng.normal(size=(3, 4)), k=4, alpha=0.2, a=[1.0, -0.5, 2.0, 1.0],
                              a_star=[1.0, 0.7, -1.2])
    resid = ds.TeacherStudent(0.3 * rng.normal(size=(4, 4)), residual=np.eye(4))
    return {"plain": plain, "leaky": leaky, "resid": resid}


def _batch(model, n, scale, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=scale, size=(n, model.k, model.d))


def cpu_cases(ds):
    """name -> zero-argument callable. Sizes are tiny: compile time dominates."""
    models = _models(ds)
    cases = {}
    for mname, m in models.items():
        W = _batch(m, 6, 0.6, 1)
        V = _batch(m, 6, 1.0, 2)
        for backend in ("parallel", "cpu"):
            key = f"field.{mname}.{backend}"
            cases[f"{key}.loss_and_grad"] = lambda m=m, W=W, b=backend: m.loss_and_grad(W, backend=b)
            cases[f"{key}.loss1"] = lambda m=m, W=W, b=backend: m.loss(W[0], backend=b)
            cases[f"{key}.hessian"] = lambda m=m, W=W, b=backend: m.hessian(W, backend=b)
            cases[f"{key}.hvp"] = lambda m=m, W=W, V=V, b=backend: m.hvp(W, V, backend=b)
            cases[f"{key}.grad_a"] = lambda m=m, W=W, b=backend: m.grad_a(W, backend=b)
        Wbad = W.copy()
        Wbad[1, 0] = 0.0 if m.residual is None else -m.residual[0]
        Wbad[2, 1, 1] = np.nan
        cases[f"field.{mname}.status"] = lambda m=m, W=Wbad: m.loss_and_grad(W, return_status=True)

    plain, leaky, resid = models["plain"], models["leaky"], models["resid"]
    starts = _batch(plain, 12, 0.5, 3)
    for method, kw in (("gd", {}), ("euler", {"t1": 3.0}), ("rk4", {"step": 0.2, "save": 7}),
                       ("dopri5", {"gtol": 1e-7, "save": np.linspace(0.0, 2.0, 5), "polish": False}),
                       ("dopri5", {"polish": True})):
        tag = f"flow.{method}" + (".polish" if kw.get("polish") else "")
        for backend in ("parallel", "cpu"):
            cases[f"{tag}.{backend}"] = (lambda method=method, kw=kw, b=backend:
                                         ds.flow(plain, starts, method=method, backend=b,
                                                 max_steps=20000, **kw))
    cases["flow.fro.leaky"] = lambda: ds.flow(leaky, _batch(leaky, 5, 0.5, 4), norm="fro",
                                              max_steps=3000)
    cases["flow.resid.single"] = lambda: ds.flow(resid, _batch(resid, 1, 0.1, 5)[0], step=0.2)
    cases["flow.diverged"] = lambda: ds.flow(plain, starts[:3], step=50.0, max_steps=200)

    cases["sgd.batch"] = lambda: ds.sgd(resid, _batch(resid, 3, 0.1, 6), n_samples=200,
                                        batch_size=8, step=0.1, epochs=3, seed=1)
    cases["sgd.fresh.project"] = lambda: ds.sgd(leaky, _batch(leaky, 2, 0.5, 7), n_samples=64,
                                                batch_size=4, step=0.05, epochs=2, seed=2, fresh=True,
                                                project=("fro", 3.0))
    cases["sgd_dataset"] = lambda: ds.sgd_dataset(50, 4, seed=3, run=2)
    cases["monte_carlo"] = lambda: ds.monte_carlo(leaky, _batch(leaky, 1, 0.5, 8)[0], 20000, seed=4)
    rng = np.random.default_rng(9)
    e, w = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    cases["monte_carlo_gating"] = lambda: ds.monte_carlo_gating(e, w, 20000, seed=5)

    near = np.eye(4)[[1, 0, 2, 3]] + 0.05 * _batch(plain, 1, 1.0, 10)[0]
    cases["classify.near_teacher"] = lambda: ds.classify(plain, near)
    cases["classify.leaky"] = lambda: ds.classify(leaky, _batch(leaky, 1, 0.7, 11)[0])
    cases["classify.no_refine"] = lambda: ds.classify(plain, near, refine=False)
    cases["classify.lanczos"] = lambda: ds.classify(plain, near, eig_method="lanczos", n_eig=6)
    from dynsys.systems import toys

    cases["classify.toy"] = lambda: ds.classify(toys.DoubleWell(), np.array([0.9, 0.1]))
    seeds = np.concatenate([np.eye(4)[None] + 0.1 * _batch(plain, 4, 1.0, 12),
                            _batch(plain, 8, 0.5, 13)])
    cases["find_critical_points"] = lambda: ds.find_critical_points(plain, seeds)
    cases["find_critical_points.deflation"] = lambda: ds.find_critical_points(plain, seeds[:4],
                                                                              deflation=True)
    cases["same_point"] = lambda: ds.same_point(plain, np.eye(4), np.eye(4)[[2, 1, 0, 3]])

    m2 = ds.TeacherStudent(np.eye(2))
    cases["saddle_between.neb"] = lambda: ds.saddle_between(m2, np.eye(2), np.eye(2)[::-1])
    cases["saddle_between.string"] = lambda: ds.saddle_between(m2, np.eye(2), np.eye(2)[::-1],
                                                               method="string")
    cases["eigenvector_following"] = lambda: ds.eigenvector_following(m2, np.eye(2), n_directions=2)

    m5 = ds.TeacherStudent(np.eye(5))
    cases["census"] = lambda: ds.census(m5, 40, seed=3)
    cases["census_sweep"] = lambda: ds.census_sweep([3, 4], 20, seed=1)
    cases["wilson_interval"] = lambda: [ds.wilson_interval(c, 10) for c in range(11)]

    rd = ds.ReducedDynamics(4)
    cases["reduced.fixed_points"] = lambda: rd.fixed_points()
    cases["reduced.integrate"] = lambda: rd.integrate(0.3, 0.2, 5.0, t_eval=np.linspace(0, 5, 6))
    cases["reduced.field"] = lambda: (rd.field(0.3, 0.2), rd.jacobian(0.3, 0.2), rd.saddle)
    cases["k2_saddle_families"] = lambda: ds.k2_saddle_families(1.0, 5.0, 3.0)
    cases["k2_equal_norm_threshold"] = lambda: ds.k2_equal_norm_threshold()
    Wn = _batch(plain, 1, 0.5, 14)[0]
    cases["normal_matrices"] = lambda: ds.normal_matrices(Wn, np.eye(4))
    E = np.eye(3)
    cases["L_jjp"] = lambda: ds.L_jjp(E, np.array([0.5, 0.6, 0.62]), 0, 1)
    cases["L12"] = lambda: ds.L12(1.0, 0.4)
    cases["conjecture1_scan"] = lambda: ds.conjecture1_scan(60)
    return cases


def cuda_sim_outputs() -> dict:
    """The CUDA backend's outputs, from the simulator in a subprocess (empty if it cannot run)."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"golden_cuda_{os.getpid()}.npz")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "_cuda", out], env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"CUDA simulator run failed:\n{proc.stderr[-4000:]}")
    with np.load(out) as f:
        data = {k: f[k] for k in f.files}
    os.remove(out)
    return data


def _cuda_cases(ds):
    models = _models(ds)
    cases = {}
    for mname in ("plain", "resid"):
        m = models[mname]
        W = _batch(m, 4, 0.6, 1)
        for dtype in (np.float64, np.float32):
            tag = f"cuda.{mname}.{np.dtype(dtype).name}"
            cases[f"{tag}.loss_and_grad"] = lambda m=m, W=W.astype(dtype): m.loss_and_grad(W, backend="cuda")
    plain = models["plain"]
    starts = _batch(plain, 3, 0.5, 3)  # 40 steps each: the simulator runs threads in Python
    for method in ("gd", "rk4", "dopri5"):
        for dtype in (np.float64, np.float32):
            cases[f"cuda.flow.{method}.{np.dtype(dtype).name}"] = (
                lambda method=method, s=starts.astype(dtype): ds.flow(
                    plain, s, method=method, backend="cuda", step=0.2, max_steps=40))
    return cases


def run(cases) -> dict:
    out = {}
    for name, call in cases.items():
        flatten(call(), name, out)
    return out


def collect(with_cuda=True) -> dict:
    import dynsys as ds

    out = run(cpu_cases(ds))
    if with_cuda:
        out.update(cuda_sim_outputs())
    return out


# ----------------------------------------------------------------------------- comparison
#: Outputs that are not isolated, with the tolerance ``compare`` allows them when ``rtol > 0``: the
#: K = 2 index-1 saddles lie on one-parameter families (docs/math.md section 4), so where along the
#: family a search ends moves with the last bit of any earlier step (measured: 2.5e-8 between a
#: kernel compiled in-process and the same kernel loaded from Numba's cache).
LOOSE = {"eigenvector_following[": 1e-6, "saddle_between.": 1e-6}
#: Absolute floor of the ``rtol`` comparison: losses and gradient norms at converged points are
#: rounding noise of about 1e-16 (a global minimum's loss is a constant minus pair sums), which no
#: relative tolerance of their own scale can hold.
ATOL = 1e-13


def compare(new: dict, ref: dict, rtol: float = 0.0) -> list:
    """Differences as readable lines (empty when equal). ``rtol = 0``: bitwise (NaN equals NaN).

    With ``rtol > 0`` a float array may differ by ``rtol * max(|ref|) + ATOL`` entrywise: relative
    to the array's scale, since fastmath may move the last bits of values that cancel to near zero.
    """
    problems = []
    for key in sorted(set(new) | set(ref)):
        if key not in new or key not in ref:
            problems.append(f"{key}: only in {'new' if key in new else 'reference'}")
            continue
        a, b = np.asarray(new[key]), np.asarray(ref[key])
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            problems.append(f"{key}: shape/dtype {a.shape} {a.dtype} vs reference {b.shape} {b.dtype}")
            continue
        if a.dtype.kind in "fc" and rtol > 0:
            tol = max([rtol] + [t for p, t in LOOSE.items() if key.startswith(p)])
            nan_a, nan_b = np.isnan(a), np.isnan(b)
            scale = float(np.max(np.abs(b[~nan_b]), initial=0.0))
            bad = (nan_a != nan_b) | (~nan_b & (np.abs(a - b) > tol * scale + ATOL))
            if np.any(bad):
                err = np.max(np.abs(a - b)[~nan_b], initial=0.0)
                problems.append(f"{key}: max |diff| {err:.3g} > {tol:g} x scale {scale:.3g}")
        elif a.dtype.kind in "fc":
            if a.tobytes() != b.tobytes():
                err = float(np.nanmax(np.abs(a - b), initial=0.0)) if a.size else 0.0
                problems.append(f"{key}: not bitwise equal (max |diff| {err:.3g})")
        elif not np.array_equal(a, b):
            problems.append(f"{key}: {a.ravel()[:6]} vs reference {b.ravel()[:6]}")
    return problems


def main(argv):
    if argv[:1] == ["save"] and len(argv) == 2:
        data = collect()
        np.savez_compressed(argv[1], **data)
        print(json.dumps({"saved": argv[1], "arrays": len(data)}))
        return 0
    if argv[:1] == ["_cuda"] and len(argv) == 2:
        import dynsys as ds

        np.savez(argv[1], **run(_cuda_cases(ds)))
        return 0
    if argv[:1] == ["diff"] and len(argv) in (3, 5):
        rtol = float(argv[4]) if len(argv) == 5 and argv[3] == "--rtol" else 0.0
        with np.load(argv[1]) as fa, np.load(argv[2]) as fb:
            problems = compare({k: fa[k] for k in fa.files}, {k: fb[k] for k in fb.files}, rtol)
        print("\n".join(problems) if problems else f"equal ({'bitwise' if rtol == 0 else f'rtol {rtol:g}'})")
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))  # this tree's dynsys, whatever is installed
    sys.exit(main(sys.argv[1:]))
