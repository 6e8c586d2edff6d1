"""What the Dask adapter adds to a run of many trivial tasks: 10k ``client.map`` tasks on a LocalCluster with two
worker processes (one thread each), without flowcept and with ``Flowcept(interceptors=["dask"])``, alternating.

    .venv/bin/python bench/bench_dask.py [--tasks 10000] [--runs 5]

For each mode: the median wall time of map -> gather (the workload as the user waits for it), and, with the
adapter, of start -> stop (the run until every task is in the store: in-process MQ and LMDB in a temporary
directory). Prints the added wall time in percent of the plain workload. One cluster serves every run (its start is
not timed); a warm-up run of each mode comes first. Keys are unique per run (pure=False), so nothing is reused.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def inc(x):
    return x + 1


def _scheduler_tasks(dask_scheduler=None) -> int:
    return len(dask_scheduler.tasks)


def _idle(client) -> None:
    """Wait until the scheduler forgot the previous run's tasks (their release must not be timed in the next run)."""
    deadline = time.monotonic() + 120
    while client.run_on_scheduler(_scheduler_tasks) and time.monotonic() < deadline:
        time.sleep(0.1)


def _workload(client, n: int) -> float:
    _idle(client)
    t0 = time.perf_counter()
    futures = client.map(inc, range(n), pure=False)
    results = client.gather(futures)
    elapsed = time.perf_counter() - t0
    assert results[-1] == n
    del futures
    return elapsed


def _with_adapter(client, n: int) -> tuple[float, float, int]:
    from flowcept import Flowcept

    _idle(client)
    t0 = time.perf_counter()
    with Flowcept(interceptors=["dask"], dask_client=client) as fc:
        work = _workload(client, n)
    run = time.perf_counter() - t0
    stored = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id, "adapter_id": "dask"},
                               projection=["task_id"]) or []
    return work, run, len(stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each mode (alternating)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    settings = tmp / "settings.yaml"
    settings.write_text(yaml.safe_dump({
        "log": {"log_stream_level": "error", "log_file_level": "disable"},
        "project": {"dump_buffer": {"enabled": False}},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp / "lmdb")}},
    }))
    os.environ["FLOWCEPT_SETTINGS_PATH"] = str(settings)
    os.chdir(tmp)

    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1")
    client = Client(cluster)
    try:
        _workload(client, args.tasks)
        _with_adapter(client, args.tasks)
        plain, work, run = [], [], []
        for i in range(args.runs):
            plain.append(_workload(client, args.tasks))
            w, r, stored = _with_adapter(client, args.tasks)
            work.append(w)
            run.append(r)
            assert stored == args.tasks, f"run {i}: {stored} of {args.tasks} tasks stored"
            print(f"run {i + 1}: plain {plain[-1]:.2f} s, with adapter {w:.2f} s (start -> stop {r:.2f} s)",
                  flush=True)
    finally:
        client.close()
        cluster.close()
    p, w, r = statistics.median(plain), statistics.median(work), statistics.median(run)
    print(f"\n{args.tasks} tasks, LocalCluster(2 workers x 1 thread, processes), medians of {args.runs} runs")
    print(f"  plain Dask, map -> gather:            {p:7.2f} s  ({p / args.tasks * 1e3:.3f} ms/task)")
    print(f"  with the adapter, map -> gather:      {w:7.2f} s  added {100 * (w - p) / p:+.1f}%")
    print(f"  with the adapter, start -> stop:      {r:7.2f} s  added {100 * (r - p) / p:+.1f}% "
          "(every task stored)")


if __name__ == "__main__":
    main()
