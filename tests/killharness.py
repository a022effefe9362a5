"""Kill-and-resume harness: a census and a basin map written to stores by a subprocess that is
SIGKILLed at seeded random moments, resumed, and compared with an unbroken run, array by array.

Also the same for a dask LocalCluster whose worker is killed mid-job, and the measured cost of a
kill: the work lost (the wall seconds since the last chunk marker, over the unbroken job's).

Every process loads the kernels from one warm Numba cache (the caller's ``NUMBA_CACHE_DIR``; the
unbroken reference run fills it when empty), since who compiled a kernel can change its last bits
(docs/engine.md). The job warms its kernels and its store path on a tiny problem (stores of its own) before it says
``ready``, so the kill moments fall in the job's own work, not in imports or cache loading.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

JOB = """
import json, sys, time
import numpy as np
import dynsys as ds
from dynsys.basins import basins, teacher_slice

spec = json.loads(sys.argv[2])
out = sys.argv[1]
m = ds.TeacherStudent(np.eye(spec["k"]))
perm = list(range(1, spec["k"])) + [0]
# warm the kernels (cache load) and the store path (zarr's import, the chunk writer) outside the
# measured stores: a kill before the first chunk would otherwise count their loading as lost work
ds.census(m, 2, seed=10**6, max_steps=spec["max_steps"], store=out + "/warm/census", progress=False)
basins(m, teacher_slice(m, perm, shape=(2, 2)), store=out + "/warm/basins", progress=False)
print("ready", time.time(), flush=True)
if spec["n_runs"]:
    ds.census(m, spec["n_runs"], seed=spec["seed"], max_steps=spec["max_steps"], chunk_size=spec["census_chunk"],
              store=out + "/census", progress=False)
if spec["grid"]:
    basins(m, teacher_slice(m, perm, shape=(spec["grid"], spec["grid"])), chunk_size=spec["basins_chunk"],
           store=out + "/basins", progress=False)
print("done", flush=True)
"""

#: A small job: a k = 4 census of 96 runs in 16 chunks and a 14 x 14 basin slice in 13 chunks.
SMALL = {"k": 4, "n_runs": 96, "seed": 5, "max_steps": 2400, "census_chunk": 6, "grid": 14, "basins_chunk": 16}
#: The full job (slow): chunks of 1% of the work (default chunk sizes give at least 1%).
FULL = {"k": 4, "n_runs": 3200, "seed": 5, "max_steps": 2400, "census_chunk": 32, "grid": 80,
        "basins_chunk": 64}

STORES = ("census", "basins")


@dataclasses.dataclass
class Kill:
    """One SIGKILL: when (seconds after ``ready``), the chunks stored by then, the compute seconds lost."""

    at_s: float
    chunks_done: int
    lost_s: float


def markers(store: Path) -> list:
    return sorted((store / "done").glob("*.json")) if (store / "done").is_dir() else []


def _all_markers(out: Path) -> list:
    return [p for s in STORES for p in markers(out / s)]


def n_chunks(spec: dict) -> int:
    """Chunks of the job's census and basin map together."""
    return -(-spec["n_runs"] // spec["census_chunk"]) - (-(spec["grid"] ** 2) // spec["basins_chunk"])


def work_seconds(out: Path) -> float:
    """Compute seconds of every stored chunk (their markers' flow and classification times)."""
    tot = 0.0
    for p in _all_markers(out):
        m = json.loads(p.read_text())
        tot += m["flow_time"] + m["classify_time"]
    return tot


def _script(tmp: Path) -> Path:
    p = tmp / "killjob.py"
    if not p.exists():
        p.write_text(JOB)
    return p


def _start(tmp, out, spec, env):
    return subprocess.Popen([sys.executable, str(_script(tmp)), str(out), json.dumps(spec)], env=env,
                            stdout=subprocess.PIPE, text=True)


def run_job(tmp: Path, out: Path, spec: dict, env=None, timeout=600) -> float:
    """Run the job to its end (creating or resuming the stores at ``out``); its seconds after ``ready``."""
    proc = _start(tmp, out, spec, env or dict(os.environ))
    try:
        t_ready = _ready(proc, timeout)
        if proc.wait(timeout) != 0:
            raise RuntimeError(f"the job failed with exit code {proc.returncode}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return time.time() - t_ready


def _ready(proc, timeout):
    line = proc.stdout.readline()  # the job's imports and warm-up (bounded by the caller's timeout)
    if not line.startswith("ready"):
        proc.wait(timeout)
        raise RuntimeError(f"the job did not start (exit code {proc.returncode})")
    return float(line.split()[1])


def kill_and_resume(tmp: Path, out: Path, spec: dict, n_kills: int, span_s: float, seed: int, env=None):
    """Start the job, SIGKILL it ``uniform(0, span_s)`` seconds after ``ready`` (seeded), ``n_kills``
    times or until a run ends on its own, then run it to completion. Returns the kills.

    ``span_s`` is the unbroken job's duration; each later kill draws from the share of it left."""
    env = env or dict(os.environ)
    rng = np.random.default_rng(seed)
    total = n_chunks(spec)
    kills = []
    for _ in range(n_kills):
        left = 1.0 - len(_all_markers(out)) / total
        proc = _start(tmp, out, spec, env)
        t_ready = _ready(proc, 600)
        delay = float(rng.uniform(0.0, span_s * left))
        try:
            proc.wait(delay)
            break  # the job ended before the kill moment: nothing left to kill
        except subprocess.TimeoutExpired:
            pass
        t_kill = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        ms = _all_markers(out)
        # the job's work since its last stored chunk (or since ready) is what the kill loses
        last = max([t_ready] + [p.stat().st_mtime for p in ms])
        kills.append(Kill(at_s=t_kill - t_ready, chunks_done=len(ms), lost_s=max(0.0, t_kill - last)))
    run_job(tmp, out, spec, env)
    return kills


def assert_same_stores(a: Path, b: Path):
    """Both stores of two job folders hold bitwise the same arrays and the same completed chunks."""
    import zarr

    for s in STORES:
        if not (a / s).exists() and not (b / s).exists():
            continue
        ga, gb = zarr.open_group(str(a / s), mode="r"), zarr.open_group(str(b / s), mode="r")
        assert dict(ga.attrs) == dict(gb.attrs), s
        with warnings.catch_warnings():  # zarr notes the markers folder, which is not an array
            warnings.simplefilter("ignore")
            names = sorted(ga.array_keys())
            assert names == sorted(gb.array_keys()) and names, s
        for n in names:
            x, y = ga[n][:], gb[n][:]
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), f"{s}/{n}"
        assert [p.name for p in markers(a / s)] == [p.name for p in markers(b / s)], s


def assert_same_results(spec: dict, a: Path, b: Path):
    """The packaged census and basin map of two job folders are bitwise the same."""
    import dynsys as ds
    from dynsys.basins import basins, teacher_slice

    m = ds.TeacherStudent(np.eye(spec["k"]))
    perm = list(range(1, spec["k"])) + [0]
    if spec["n_runs"]:
        ca, cb = (ds.census(m, spec["n_runs"], seed=spec["seed"], max_steps=spec["max_steps"], store=p / "census",
                            progress=False) for p in (a, b))
        for f in ("labels", "loss", "grad_norm", "lambda_min", "steps"):
            assert np.array_equal(getattr(ca, f), getattr(cb, f), equal_nan=True), f
        assert [(c.kind, c.count, c.loss) for c in ca.classes] == [(c.kind, c.count, c.loss) for c in cb.classes]
    if spec["grid"]:
        g = teacher_slice(m, perm, shape=(spec["grid"], spec["grid"]))
        ra, rb = (basins(m, g, store=p / "basins", progress=False) for p in (a, b))
        for f in ("labels", "loss", "lambda_min", "steps", "status"):
            assert np.array_equal(getattr(ra, f), getattr(rb, f), equal_nan=True), f


def dask_kill_worker(client, cluster, store: Path, min_chunks: int, timeout_s=120.0):
    """Start a thread that SIGKILLs one worker process of ``cluster`` once ``store`` has
    ``min_chunks`` completed chunks; returns ``(thread, killed_at)`` (the count of chunks at the kill)."""
    killed_at = []

    def kill_one():
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s and len(markers(store)) < min_chunks:
            time.sleep(0.01)
        nanny = next(iter(cluster.workers.values()))
        killed_at.append(len(markers(store)))
        os.kill(nanny.process.process.pid, signal.SIGKILL)

    client.run(lambda: None)  # workers up
    th = threading.Thread(target=kill_one)
    th.start()
    return th, killed_at


def recompute_fraction(kills, total_s: float) -> list:
    """Per kill, the share of the unbroken job's seconds (after ``ready``, stores included) that the
    kill threw away: an upper bound on the work recomputed, since the lost seconds also count the
    store's reads and the second job's start."""
    return [k.lost_s / total_s for k in kills]
