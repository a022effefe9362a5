"""Compare the CUDA loss/gradient kernels (both shapes) with the CPU kernels, case by case.

Run by ``tests/test_cuda.py`` in a subprocess with ``NUMBA_ENABLE_CUDASIM=1`` (the simulator must be
chosen before numba is imported), where it prints one JSON report on its last line; imported directly
by the ``cuda``-marked test on a real GPU with larger sizes (``cases("gpu")``). With ``--ptx`` (and no
simulator) it instead compiles the real kernels to PTX through NVVM (:func:`ptx_check`).

Tolerance scale (mathematics, not measurement): with ``S = sum_j |a_j| |v_j| + sum_q |a*_q| |t_q|``
every term of the loss is at most ``S^2`` in size and every term of ``dL/dw_j`` at most ``|a_j| S``
(``kappa_a(u, v) <= (1 + alpha^2) |u||v| / 2`` and ``|g1| <= |v|``, docs/math.md section 1), so the
rounding error of any evaluation order is a few ulps of these, not of the (possibly tiny) results.
"""

from __future__ import annotations

import json
import sys

import numpy as np

RTOL = {"float64": 1e-12, "float32": 1e-4}


def _state_scales(W, model):
    """Per state: ``S^2`` (loss scale) and ``|a_j| S`` (gradient row scale), see module docstring."""
    A = model.arrays
    V = W if A.U.shape[0] == 0 else W + A.U
    V = np.where(np.isfinite(V), V, 0.0)
    S = np.abs(model.a) @ np.linalg.norm(V, axis=2).T + np.abs(model.a_star) @ A.tn
    return S**2, np.abs(model.a)[None, :, None] * S[:, None, None]


def _rounded(model, dtype):
    """The model with its parameters rounded to ``dtype`` (what the kernel sees, up to the rounding
    of ``T = W* + U`` and of the constant): else a state on the singular set in float32 (``W = -U``)
    would be near-singular but regular for the float64 reference."""
    if dtype == "float64":
        return model
    from dynsys import TeacherStudent

    r = lambda x: None if x is None else np.asarray(x, dtype=dtype).astype(np.float64)  # noqa: E731
    return TeacherStudent(r(model.W_star), k=model.k, alpha=model.alpha, a=r(model.a), a_star=r(model.a_star),
                          residual=r(model.residual))


def compare(model, W, dtype="float64", want_grad=True, **kw):
    """Errors of the CUDA kernel (``field_cuda.loss_grad`` with ``kw``) against the CPU kernels.

    Returns a dict: ``loss_err`` and ``grad_err`` (max error over the ok states, in units of the
    tolerance scale), ``status_equal``, ``bad_zeroed`` (bad states have loss 0 and G 0 exactly),
    ``dtype_ok`` (outputs in W's dtype), ``status``.
    """
    from dynsys.kernels.cuda import field as field_cuda

    A = model.arrays
    Wd = np.asarray(W, dtype=dtype)
    W64 = Wd.astype(np.float64)  # the reference sees exactly the values the kernel sees
    ref = _rounded(model, dtype)
    (L0, G0), s0 = ref.loss_and_grad(W64, backend="parallel", return_status=True)
    L, G, s = field_cuda.loss_grad(Wd, A.U, A.T, A.tn, A.a, A.a_star, A.alpha, A.const, A.tol,
                                   want_grad, **kw)
    ok = s0 == 0
    sl, sg = _state_scales(W64, model)
    loss_err = float(np.max(np.abs(L[ok] - L0[ok]) / sl[ok], initial=0.0))
    if want_grad:
        grad_err = float(np.max(np.abs(G[ok] - G0[ok]) / sg[ok], initial=0.0))
        shape_ok = G.shape == W64.shape
    else:
        grad_err = 0.0
        shape_ok = G.shape == (W64.shape[0], 0, 0)
    bad = ~ok
    zeroed = bool(np.all(L[bad] == 0) and (not want_grad or np.all(G[bad] == 0)))
    return dict(loss_err=loss_err, grad_err=grad_err, status_equal=bool(np.array_equal(s, s0)),
                bad_zeroed=zeroed, dtype_ok=bool(L.dtype == Wd.dtype and G.dtype == Wd.dtype and shape_ok
                                                 and s.dtype == np.int8),
                status=[int(x) for x in s], n_ok=int(ok.sum()))


def _states(rng, n, k, d, special=()):
    """n generic states; ``special`` adds a zero row, a NaN, near-parallel and antiparallel rows."""
    W = rng.standard_normal((n, k, d))
    if "singular" in special:
        W[1, k - 1] = 0.0
    if "nan" in special:
        W[2, 0, d - 1] = np.nan
    if "parallel" in special and k >= 2:  # |cos| > ACOS_SWITCH: the atan2 angle
        W[3, 1] = 1.7 * W[3, 0] + 1e-4 * rng.standard_normal(d)
        W[4, 1] = -0.6 * W[4, 0] + 1e-5 * rng.standard_normal(d)
    return W


def cases(size="tiny"):
    """(name, model, W, dtype) to compare. ``tiny``: n <= 8, k, d <= 4 (simulator)."""
    from dynsys import TeacherStudent

    rng = np.random.default_rng(20240611)
    if size == "tiny":
        n, kd = 6, dict(k=3, ks=3, d=4)
    else:
        n, kd = 2000, dict(k=10, ks=10, d=10)
    k, ks, d = kd["k"], kd["ks"], kd["d"]
    out = []
    Ws = rng.standard_normal((ks, d))
    special = ("singular", "nan", "parallel")
    out.append(("generic_alpha0", TeacherStudent(Ws, alpha=0.0), _states(rng, n, k, d, special)))
    k2, ks2 = (4, 2) if size == "tiny" else (12, 7)
    Ws2 = rng.standard_normal((ks2, d))
    a = rng.uniform(0.3, 1.5, k2) * np.where(np.arange(k2) % 2, -1.0, 1.0)
    a_star = rng.uniform(0.3, 1.5, ks2) * np.where(np.arange(ks2) % 2, 1.0, -1.0)
    a_star[ks2 - 1] = 0.0  # a teacher unit that contributes nothing (a zero teacher row is refused)
    out.append(("k_ne_kstar_mixed_a_alpha0.1", TeacherStudent(Ws2, k=k2, alpha=0.1, a=a, a_star=a_star),
                _states(rng, n, k2, d, special)))
    out.append(("linear_alpha1", TeacherStudent(Ws, k=k, alpha=1.0, a=rng.standard_normal(k)),
                _states(rng, n, k, d, ("singular", "nan"))))
    U = 0.5 * rng.standard_normal((ks, d))
    out.append(("residual_alpha0.1", TeacherStudent(Ws, alpha=0.1, residual=U),
                _states(rng, n, k, d, special) - U))
    return out


def run_all(size="tiny", gpu=False):
    """Every case x dtype x kernel shape (and its launch variants); a list of result dicts."""
    if size == "tiny":
        variants = [("thread", dict(shape="thread", threads=4, blocks=1)),
                    ("thread_unrolled", dict(shape="thread", threads=8, unroll=True)),
                    ("block_shared", dict(shape="block", threads=8, blocks=2, workspace="shared")),
                    ("block_global_unrolled", dict(shape="block", threads=4, blocks=2, workspace="global",
                                                   unroll=True))]
    else:
        variants = [("thread", dict(shape="thread")),
                    ("thread_unrolled_gridstride", dict(shape="thread", threads=64, blocks=3, unroll=True)),
                    ("block_shared", dict(shape="block", workspace="shared")),
                    ("block_global", dict(shape="block", workspace="global", blocks=7)),
                    ("block_shared_unrolled", dict(shape="block", workspace="shared", unroll=True))]
    results = []
    for name, model, W in cases(size):
        for dtype in ("float64", "float32"):
            for vname, kw in variants:
                r = compare(model, W, dtype, **kw)
                results.append(dict(case=name, dtype=dtype, variant=vname, want_grad=True, **r))
    # the loss-only kernels
    name, model, W = cases(size)[1]
    for vname, kw in (variants[0], variants[2]):
        r = compare(model, W, "float64", want_grad=False, **kw)
        results.append(dict(case=name, dtype="float64", variant=vname, want_grad=False, **r))
    return results


def run_model(size="tiny"):
    """End to end through ``TeacherStudent(..., backend="cuda")``, float64 and float32 input."""
    from dynsys import TeacherStudent

    rng = np.random.default_rng(7)
    k, d = (3, 4) if size == "tiny" else (20, 30)
    m = TeacherStudent(rng.standard_normal((k, d)), alpha=0.1)
    W = rng.standard_normal((5, k, d))
    (L0, G0) = m.loss_and_grad(W)
    out = {}
    for dtype in ("float64", "float32"):
        L, G = m.loss_and_grad(W.astype(dtype), backend="cuda")
        sl, sg = _state_scales(W.astype(dtype).astype(np.float64), m)
        out[dtype] = dict(loss_err=float(np.max(np.abs(L - L0) / sl)),
                          grad_err=float(np.max(np.abs(G - G0) / sg)),
                          dtype=str(np.asarray(L).dtype) + "/" + str(G.dtype))
    single = m.loss(W[0], backend="cuda")
    out["single_state_err"] = abs(single - float(L0[0])) / float(sl[0])
    return out


def _patch_for_ptx_without_nvrtc():
    """Let numba-cuda emit PTX on a machine with libNVVM and libdevice but no NVRTC (no GPU needed).

    numba-cuda asks NVRTC only for the architecture option and finds libdevice through the same
    search; both are supplied here. Returns the libdevice path used, or None (numba's own search).
    """
    import glob
    import importlib.metadata
    import os

    # numba's own deprecated CUDA target (what `numba.cuda` is without the numba-cuda package)
    # needs a device even to lower a kernel: raise so the callers report a skip
    importlib.metadata.version("numba-cuda")
    from numba.cuda.cudadrv import nvrtc, nvvm

    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or ""
    found = sorted(glob.glob(os.path.join(home, "nvvm/libdevice/libdevice*.bc")) if home else [])
    found += sorted(glob.glob("/usr/local/cuda*/nvvm/libdevice/libdevice*.bc"))
    try:
        nvrtc.get_supported_ccs()
        return None  # NVRTC works: nothing to supply
    except Exception:
        pass
    if not found:
        return None
    path = found[-1]
    nvrtc.get_arch_option = lambda major, minor: f"compute_{major}{minor}"
    nvvm.get_libdevice = lambda: path

    def _open():
        with open(path, "rb") as fh:
            return fh.read()

    nvvm.open_libdevice = _open
    return path


def ptx_check():
    """Compile a representative set of the real CUDA kernels to PTX for sm_90 (no GPU needed).

    The simulator runs the kernels as Python and never types them; this lowers them through numba-cuda
    and NVVM as a GPU run would, and checks that the float32 kernels move no float64 data and promote
    no float32 value to float64. Returns ``{"skipped": why}`` where NVVM or libdevice is missing.
    """
    try:
        from numba import cuda, types
        from numba.cuda.cudadrv import nvvm

        _patch_for_ptx_without_nvrtc()
        if not nvvm.is_available():
            return dict(skipped="libNVVM not found")
    except Exception as exc:  # numba-cuda internals differ: nothing to check with
        return dict(skipped=f"cannot set up PTX compilation: {type(exc).__name__}: {exc}")
    from dynsys.kernels.cuda import field as fc

    def arr(nf, nd):
        return types.Array(nf, nd, "C")

    def sig(nf, block):
        common = (arr(nf, 2), arr(nf, 2), arr(nf, 1), arr(nf, 1), arr(nf, 1), nf, nf, nf, arr(nf, 1))
        if block:
            return (arr(nf, 2),) + common + (arr(nf, 2), arr(types.int8, 1), arr(nf, 2))
        return (arr(nf, 3),) + common + (arr(nf, 3), arr(types.int8, 1))

    k, d, ks = 3, 4, 2
    # (block?, dtype, residual, want_grad, linear, shared, unroll)
    specs = [(False, "float64", True, True, False, False, False),
             (False, "float32", False, False, False, False, True),
             (False, "float32", False, True, True, False, False),
             (True, "float64", True, True, False, True, False),
             (True, "float32", False, True, False, False, True),
             (True, "float64", False, True, True, False, False)]
    out = dict(compiled=[], bad_f32=[])
    for block, dt, hu, wg, lin, sh, un in specs:
        nf = getattr(types, dt)
        if block:
            kern, _ = fc._loss_grad_batch_cuda_block(k, d, ks, dt, hu, wg, lin, 32, sh, un)
        else:
            kern = fc._loss_grad_batch_cuda_thread(k, d, ks, dt, hu, wg, lin, un)
        ptx, _ = cuda.compile_ptx(kern.py_func, sig(nf, block), cc=(9, 0))
        name = f"{'block' if block else 'thread'} {dt} u={hu} g={wg} lin={lin} shared={sh} unroll={un}"
        out["compiled"].append(name)
        f64_data = ("cvt.f64.f32", ".global.f64", ".shared.f64", ".local.f64")
        if dt == "float32" and any(x in ptx for x in f64_data):
            out["bad_f32"].append(name)
    for dt in ("float64", "float32"):
        nf = getattr(types, dt)
        cuda.compile_ptx(fc._transpose_kernel(dt).py_func, (arr(nf, 2), arr(nf, 2), types.int64), cc=(9, 0))
        out["compiled"].append(f"transpose {dt}")
    return out


if __name__ == "__main__":
    if "--ptx" in sys.argv:
        report = ptx_check()
    else:
        report = dict(results=run_all("tiny"), model=run_model("tiny"))
    print(json.dumps(report))
    sys.stdout.flush()
