"""Chunks of a long job on dask workers (``basins(..., executor=client)``, ``census(..., executor=client)``).

The driver sends the plan to every worker once (``Client.scatter``) and submits one task per missing
chunk. With a store (:mod:`dynsys.chunkstore`), each task writes its chunk and marker itself and
returns only its range; the driver then reads the store. Without one, tasks return their chunks.
Results are packaged from all chunks at once, so they are the local run's. A worker that dies loses
only its running chunks, which dask reschedules (``distributed.scheduler.allowed-failures`` times).

Workers run Numba's parallel kernels: give each worker process one thread
(``LocalCluster(processes=True, threads_per_worker=1)``) and let Numba use the cores, since two
parallel kernels started from two threads of one process compete for one thread pool.
"""

from __future__ import annotations

import secrets

from . import progress as _progress


def check_client(client):
    """Raise unless ``client`` is a ``dask.distributed.Client`` (and dask.distributed is installed)."""
    try:
        from distributed import Client
    except ImportError as exc:  # the "distributed" extra is not installed
        raise ImportError("executor= needs dask.distributed: pip install 'dynsys[distributed]'") from exc
    if not isinstance(client, Client):
        raise TypeError(f"executor must be a dask.distributed.Client (e.g. Client(LocalCluster(...)) or "
                        f"Client('tcp://scheduler:8786')); got {type(client).__name__}")


def _task(run_chunk, plan, lo, hi, store):
    chunk = run_chunk(plan, lo, hi)
    if store is None:
        return chunk
    store.write(chunk)
    return (lo, hi)


def run_chunks(client, run_chunk, plan, todo, store, progress, desc="job", unit="it"):
    """Run ``run_chunk(plan, lo, hi)`` for the ranges ``todo`` on ``client``'s workers.

    ``run_chunk`` is a module-level function (workers import it by name); ``store`` has
    ``write(chunk)``, or is None. Returns ``(chunks, interrupted)``: the chunks (empty when a store
    holds them) and whether Ctrl-C stopped the wait (the unfinished tasks are cancelled).
    """
    check_client(client)
    from distributed import as_completed

    bar = _progress.reporter(progress, sum(hi - lo for lo, hi in todo), f"{desc} (dask)", unit)
    if not todo:
        bar.close()
        return [], False
    tag = secrets.token_hex(4)
    plan_f = client.scatter(plan, broadcast=True)
    futs = [client.submit(_task, run_chunk, plan_f, lo, hi, store, key=f"{desc}-{tag}-{lo}", pure=False)
            for lo, hi in todo]
    chunks = []
    interrupted = False
    try:
        for fut in as_completed(futs):
            out = fut.result()
            if store is None:
                chunks.append(out)
                bar.update(out.hi - out.lo)
            else:
                bar.update(out[1] - out[0])
    except KeyboardInterrupt:  # the chunks finished so far; the rest are cancelled
        interrupted = True
        client.cancel(futs)
    finally:
        bar.close()
    return chunks, interrupted


__all__ = ["check_client", "run_chunks"]
