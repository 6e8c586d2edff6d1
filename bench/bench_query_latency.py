#!/usr/bin/env python3
"""How long after a task ends it can be found through Flowcept.db, while the run goes on, on the defaults.

    .venv/bin/python bench/bench_query_latency.py [--samples 10] [--gap 0.3] [--settings FILE]

A fresh process with no settings file (in-process MQ -> DocumentInserter -> LMDB in a temporary directory; or the
given settings file) runs a workflow: every ``--gap`` seconds one task ends and the run polls
``Flowcept.db.task_query({"task_id": ...})`` every 5 ms until the task is there. Prints the latency of each sample
and the median / max, in seconds. What decides it: mq.insertion_buffer_time_secs (how long a producer holds
messages before publishing) plus db_buffer.insertion_buffer_time_secs (how long the DocumentInserter holds
documents before writing), when fewer than mq.buffer_size / db_buffer.buffer_size are waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MARK = "@@LATENCY@@"


def worker(samples: int, gap: float) -> None:
    from flowcept import Flowcept, FlowceptTask

    latencies = []
    with Flowcept(workflow_name="bench_query_latency"):
        for i in range(samples):
            time.sleep(gap)
            task = FlowceptTask(activity_id="probe", used={"i": i})
            task.end(generated={"i": i})
            tid = task.get_id()
            t0 = time.perf_counter()
            while not Flowcept.db.task_query({"task_id": tid}):
                if time.perf_counter() - t0 > 30:
                    break
                time.sleep(0.005)
            latencies.append(time.perf_counter() - t0)
    print(MARK + json.dumps(latencies), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--gap", type=float, default=0.3)
    ap.add_argument("--settings", help="a settings file instead of the built-in defaults")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.samples, args.gap)
        return
    env = {k: v for k, v in os.environ.items() if k != "FLOWCEPT_SETTINGS_PATH"}
    with tempfile.TemporaryDirectory() as d:
        env["HOME"] = d  # no ~/.flowcept/settings.yaml: the built-in defaults
        if args.settings:
            env["FLOWCEPT_SETTINGS_PATH"] = os.path.abspath(args.settings)
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", "--samples", str(args.samples),
                              "--gap", str(args.gap)], cwd=d, env=env, capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith(MARK))
    lat = json.loads(line[len(MARK):])
    print("query latency after a task ends (s):", " ".join(f"{x:.3f}" for x in lat))
    print(f"median {statistics.median(lat):.3f} s, max {max(lat):.3f} s over {len(lat)} tasks")


if __name__ == "__main__":
    main()
