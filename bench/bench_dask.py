"""What the Dask adapter adds to a run of many trivial tasks: 10k ``client.map`` tasks on a LocalCluster with two
worker processes (one thread each), in three modes, alternating: plain Dask, inside a Flowcept run without the
adapter (``interceptors=["instrumentation"]``), and inside one with it (``interceptors=["instrumentation", "dask"]``).

    .venv/bin/python bench/bench_dask.py [--tasks 10000] [--runs 5]

For each mode: the median wall time of map -> gather (the workload as the user waits for it) and of start -> stop
(with the adapter: until every task is in the store; in-process MQ and LMDB in a temporary directory), the CPU time
of this process and the workers (less sensitive than wall time to other load on the machine), and the
garbage collections the client process ran (LocalCluster's scheduler lives there, so flowcept's pauses of the
collector while it drains batches also speed the scheduler up). Prints the added wall time in percent. One cluster
serves every run (its start is not timed); a warm-up run of each mode comes first; before each run the scheduler has
forgotten the previous run's tasks. Keys are unique per run (pure=False), so nothing is reused.
"""

from __future__ import annotations

import argparse
import gc
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


def _collections() -> int:
    return sum(s["collections"] for s in gc.get_stats())


def _process_cpu() -> float:
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def _cpu(client) -> float:
    """CPU seconds used so far by this process (client and scheduler) and the worker processes: less sensitive to
    other load on the machine than wall time."""
    return _process_cpu() + sum(client.run(_process_cpu).values())


def _in_run(client, n: int, adapter: bool) -> tuple[float, float, int, int, float]:
    """(map -> gather, start -> stop, tasks stored, garbage collections, CPU seconds) of one run inside Flowcept."""
    from flowcept import Flowcept

    names = ["instrumentation", "dask"] if adapter else ["instrumentation"]
    kwargs = {"dask_client": client} if adapter else {}
    _idle(client)
    collections, cpu = _collections(), _cpu(client)
    t0 = time.perf_counter()
    with Flowcept(interceptors=names, **kwargs) as fc:
        work = _workload(client, n)
    run = time.perf_counter() - t0
    collections, cpu = _collections() - collections, _cpu(client) - cpu
    stored = 0
    if adapter:
        stored = len(Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id, "adapter_id": "dask"},
                                       projection=["task_id"]) or [])
    return work, run, stored, collections, cpu


def _plain(client, n: int) -> tuple[float, float, int, int, float]:
    _idle(client)
    collections, cpu = _collections(), _cpu(client)
    work = _workload(client, n)
    return work, work, 0, _collections() - collections, _cpu(client) - cpu


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
    modes = {"plain Dask": lambda: _plain(client, args.tasks),
             "Flowcept without the adapter": lambda: _in_run(client, args.tasks, False),
             "Flowcept with the adapter": lambda: _in_run(client, args.tasks, True)}
    results: dict[str, list[tuple[float, float, int, int, float]]] = {name: [] for name in modes}
    try:
        for run in modes.values():
            run()  # warm-up
        for i in range(args.runs):
            for name, run in modes.items():
                results[name].append(run())
            line = ", ".join(f"{name} {r[-1][0]:.2f} s" for name, r in results.items())
            print(f"run {i + 1}: {line}", flush=True)
            stored = results["Flowcept with the adapter"][-1][2]
            assert stored == args.tasks, f"run {i + 1}: {stored} of {args.tasks} tasks stored"
    finally:
        client.close()
        cluster.close()
    base = statistics.median(r[0] for r in results["plain Dask"])
    base_cpu = statistics.median(r[4] for r in results["plain Dask"])
    print(f"\n{args.tasks} tasks, LocalCluster(2 workers x 1 thread, processes), medians of {args.runs} runs")
    print(f"  {'mode':30} {'map->gather':>12} {'start->stop':>12} {'vs plain':>9} {'CPU s':>7} {'CPU vs plain':>13} "
          f"{'gc runs':>8}")
    for name, rows in results.items():
        work = statistics.median(r[0] for r in rows)
        whole = statistics.median(r[1] for r in rows)
        cpu = statistics.median(r[4] for r in rows)
        gcs = statistics.median(r[3] for r in rows)
        print(f"  {name:30} {work:10.2f} s {whole:10.2f} s {100 * (work - base) / base:+8.1f}% {cpu:7.2f} "
              f"{100 * (cpu - base_cpu) / base_cpu:+12.1f}% {gcs:8.0f}")
    print(f"  (plain Dask: {base / args.tasks * 1e3:.3f} ms of wall time per task; CPU: this process, which holds the "
          "scheduler, plus both workers)")


if __name__ == "__main__":
    main()
