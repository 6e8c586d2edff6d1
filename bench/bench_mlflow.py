#!/usr/bin/env python3
"""The mlflow interceptor: how soon a logged metric can be queried, and what the watcher costs while MLflow is idle.

    .venv/bin/python bench/bench_mlflow.py [--samples 50] [--gap 0.2] [--idle 10] [--interval SECS]

In a temporary directory with no settings file (the defaults: in-process MQ -> DocumentInserter -> LMDB; the
watcher reads ``PRAGMA data_version`` every ``adapters.mlflow.watch_interval_sec``, 0.1 s unless --interval), one
MLflow run on a SQLite tracking database is observed by ``Flowcept("mlflow")``:

- latency: every --gap seconds ``mlflow.log_metric("probe", i, step=i)``; from its return, ``Flowcept.db`` is polled
  every 5 ms until the run's task holds ``generated.probe == i``. Prints the median, 90th percentile and max of
  --samples samples, in seconds. What adds up: the watcher's poll interval (half of it on average), its read, the
  producer buffer (mq.insertion_buffer_time_secs) and the DocumentInserter's (db_buffer.insertion_buffer_time_secs).
- idle CPU: then nothing is logged for --idle seconds; prints the CPU time the watcher thread used (its
  /proc/self/task/<tid>/schedstat, nanoseconds on a CPU) and the whole process's (every flowcept thread, telemetry
  included), as % of one core.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time


def _thread_cpu_seconds(native_id: int) -> float:
    """CPU time of one thread of this process (Linux): schedstat's first field is nanoseconds spent running."""
    try:
        with open(f"/proc/self/task/{native_id}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/self/task/{native_id}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run(samples: int, gap: float, idle: float, interval: float | None) -> None:
    import mlflow

    from flowcept import Flowcept

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if interval is not None:
        with open("settings.yaml", "w") as f:
            f.write(f"adapters:\n  mlflow:\n    kind: mlflow\n    watch_interval_sec: {interval}\n")
        os.environ["FLOWCEPT_SETTINGS_PATH"] = os.path.abspath("settings.yaml")
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    mlflow.set_experiment("bench")  # creates the tables before the run, as a user's earlier runs would
    latencies: list[float] = []
    with Flowcept("mlflow", workflow_name="bench_mlflow"):
        with mlflow.start_run() as active:
            run_id = active.info.run_id
            for i in range(samples):
                time.sleep(gap)
                mlflow.log_metric("probe", float(i), step=i)
                t0 = time.perf_counter()
                while True:
                    docs = Flowcept.db.query(filter={"task_id": run_id})
                    if docs and (docs[0].get("generated") or {}).get("probe") == float(i):
                        break
                    if time.perf_counter() - t0 > 30:
                        sys.exit(f"sample {i}: the metric was not queryable within 30 s")
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - t0)
            watcher = next(t for t in threading.enumerate() if t.name == "flowcept-mlflow-watcher")
            time.sleep(1.0)  # let the last delivery settle before the idle window
            w0, p0, t0 = _thread_cpu_seconds(watcher.native_id), time.process_time(), time.perf_counter()
            time.sleep(idle)
            w1, p1, t1 = _thread_cpu_seconds(watcher.native_id), time.process_time(), time.perf_counter()
    latencies.sort()
    p90 = latencies[min(len(latencies) - 1, int(0.9 * len(latencies)))]
    print(f"log_metric -> queryable through Flowcept.db ({samples} samples, every {gap} s, watch interval "
          f"{interval if interval is not None else 'default 0.1'} s): median {statistics.median(latencies):.3f} s, "
          f"p90 {p90:.3f} s, max {latencies[-1]:.3f} s")
    wall = t1 - t0
    print(f"idle {wall:.1f} s: watcher thread {100 * (w1 - w0) / wall:.3f}% of a core; whole process "
          f"{100 * (p1 - p0) / wall:.3f}% of a core")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--gap", type=float, default=0.2, help="seconds between two logged metrics")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle MLflow for the CPU figure")
    ap.add_argument("--interval", type=float, default=None, help="adapters.mlflow.watch_interval_sec")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_mlflow_") as work:
        os.chdir(work)
        os.environ["HOME"] = work  # no ~/.flowcept/settings.yaml
        os.environ.pop("FLOWCEPT_SETTINGS_PATH", None)
        run(args.samples, args.gap, args.idle, args.interval)


if __name__ == "__main__":
    main()
