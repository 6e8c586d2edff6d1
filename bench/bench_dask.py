"""What the Dask adapter adds to a run of many trivial tasks: 10k ``client.map`` tasks on a LocalCluster with two
worker processes (one thread each), in three modes, alternating: plain Dask, inside a Flowcept run without the
adapter (``interceptors=["instrumentation"]``), and inside one with it (``interceptors=["instrumentation", "dask"]``).

    .venv/bin/python bench/bench_dask.py [--tasks 10000] [--runs 5] [--set KEY=VALUE ...] [--upstream VENV]

``--set``: an ``adapters.dask`` setting for the runs with the adapter, e.g. ``--set worker_should_send_running=false
--set scheduler_should_send_submitted=false`` (final messages only).

``--upstream VENV``: also run the same workload, in the same invocation, with upstream flowcept 1.0.3's Dask
adapter in its own virtual environment (its pinned ``dask[distributed]==2024.10.0``; upstream's worker plugin sends
to Redis, so a Redis server must answer on 127.0.0.1:6379), as the anchor: plain Dask 2024.10 and Dask 2024.10 with
upstream's adapter, alternating. Make the environment with
``python3.11 -m venv VENV && VENV/bin/pip install "flowcept[dask,lmdb,redis]==1.0.3" "dask[distributed]==2024.10.0"``.

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


_UPSTREAM = r'''
import os, statistics, sys, time
import yaml
tmp = sys.argv[3]
settings = os.path.join(tmp, "upstream_settings.yaml")
with open(settings, "w") as f:
    yaml.safe_dump({"project": {"db_flush_mode": "online", "debug": False, "enrich_messages": False,
                                "dump_buffer": {"enabled": False}},
                    "log": {"log_path": "default", "log_file_level": "disable", "log_stream_level": "error"},
                    "telemetry_capture": {"gpu": None, "cpu": False, "per_cpu": False, "process_info": False,
                                          "mem": False, "disk": False, "network": False, "machine_info": False},
                    "instrumentation": {"enabled": True},
                    "mq": {"enabled": True, "type": "redis", "host": "127.0.0.1", "port": 6379,
                           "channel": "bench-dask-upstream", "buffer_size": 50, "insertion_buffer_time_secs": 1},
                    "kv_db": {"enabled": True, "host": "127.0.0.1", "port": 6379},
                    "db_buffer": {"insertion_buffer_time_secs": 1, "buffer_size": 50, "stop_max_trials": 600,
                                  "stop_trials_sleep": 0.1},
                    "databases": {"lmdb": {"enabled": True, "path": os.path.join(tmp, "upstream_lmdb")},
                                  "mongodb": {"enabled": False}},
                    "adapters": {"dask": {"kind": "dask", "worker_should_get_input": True,
                                          "worker_should_get_output": True, "scheduler_should_get_input": True,
                                          "scheduler_create_timestamps": True, "worker_create_timestamps": False}}},
                   f)
os.environ["FLOWCEPT_SETTINGS_PATH"] = settings
os.chdir(tmp)
from distributed import Client, LocalCluster
from flowcept import Flowcept
from flowcept.flowceptor.adapters.dask.dask_plugins import FlowceptDaskWorkerAdapter

def inc(x):
    return x + 1

def idle(client):
    while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
        time.sleep(0.1)

def workload(client, n):
    idle(client)
    t0 = time.perf_counter()
    futures = client.map(inc, range(n), pure=False)
    assert client.gather(futures)[-1] == n
    return time.perf_counter() - t0

def with_adapter(client, n):
    client.register_plugin(FlowceptDaskWorkerAdapter(), name="flowcept-upstream")
    idle(client)
    t0 = time.perf_counter()
    fc = Flowcept("dask", dask_client=client).start()
    work = workload(client, n)
    fc.stop()
    run = time.perf_counter() - t0
    client.unregister_worker_plugin("flowcept-upstream")
    stored = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id}) or []
    return work, run, len([t for t in stored if t.get("task_id")])

n, runs = int(sys.argv[1]), int(sys.argv[2])
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1")
client = Client(cluster)
workload(client, n)
with_adapter(client, n)
plain, work, whole = [], [], []
for i in range(runs):
    plain.append(workload(client, n))
    w, r, stored = with_adapter(client, n)
    work.append(w)
    whole.append(r)
    print(f"upstream run {i + 1}: plain {plain[-1]:.2f} s, with upstream's adapter {w:.2f} s "
          f"(start -> stop {r:.2f} s, {stored} of {n} tasks stored)", flush=True)
client.close()
cluster.close()
p, w, r = statistics.median(plain), statistics.median(work), statistics.median(whole)
print(f"RESULT {p} {w} {r}")
'''


def _upstream(venv: str, n: int, runs: int) -> tuple[float, float, float] | None:
    """Medians (plain, with upstream's adapter map -> gather, start -> stop) from upstream 1.0.3 in venv."""
    import subprocess

    python = Path(venv) / "bin" / "python"
    tmp = tempfile.mkdtemp(prefix="bench-dask-upstream-")
    proc = subprocess.run([str(python), "-c", _UPSTREAM, str(n), str(runs), tmp], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("upstream run"):
            print(line)
        elif line.startswith("RESULT"):
            p, w, r = map(float, line.split()[1:])
            return p, w, r
    print(f"upstream run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return None


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
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an adapters.dask setting for the runs with the adapter (YAML value), e.g. "
                             "--set worker_should_send_running=false")
    parser.add_argument("--upstream", metavar="VENV", help="also run upstream flowcept 1.0.3's adapter from VENV")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    settings = tmp / "settings.yaml"
    settings.write_text(yaml.safe_dump({
        "log": {"log_stream_level": "error", "log_file_level": "disable"},
        "project": {"dump_buffer": {"enabled": False}},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp / "lmdb")}},
        "adapters": {"dask": {"kind": "dask", **{k: yaml.safe_load(v) for k, _, v in
                                                 (item.partition("=") for item in args.set)}}},
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
    if args.upstream:
        anchor = _upstream(args.upstream, args.tasks, args.runs)
        if anchor is not None:
            p, w, r = anchor
            print(f"  upstream 1.0.3 on dask 2024.10 (anchor): plain {p:.2f} s, with its adapter {w:.2f} s "
                  f"({100 * (w - p) / p:+.1f}%), start -> stop {r:.2f} s ({100 * (r - p) / p:+.1f}%)")


if __name__ == "__main__":
    main()
