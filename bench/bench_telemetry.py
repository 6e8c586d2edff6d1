#!/usr/bin/env python3
"""Per-call overhead of @telemetry_flowcept_task and @flowcept_task with telemetry on, and the drain cost.

    .venv/bin/python bench/bench_telemetry.py [--n 20000] [--reps 5]

Prints ns per call (decorated minus undecorated), median of --reps, with telemetry_capture cpu+mem+process_info on
(sampled by the background thread), offline mode, and the time stop() takes to build the messages.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import yaml


def _settings(tmp: str) -> None:
    path = os.path.join(tmp, "settings.yaml")
    tree = {"project": {"db_flush_mode": "offline", "dump_buffer": {"enabled": False}},
            "telemetry_capture": {"cpu": True, "mem": True, "process_info": True},
            "log": {"log_stream_level": "error", "log_file_level": "disable"}}
    with open(path, "w") as f:
        yaml.safe_dump(tree, f)
    os.environ["FLOWCEPT_SETTINGS_PATH"] = path


def _one(decorator_name: str, n: int) -> tuple[float, float]:
    import flowcept
    from flowcept import Flowcept

    decorator = getattr(flowcept, decorator_name)

    def plain(x):
        return x + 1

    wrapped = decorator(plain)
    t0 = time.perf_counter()
    for i in range(n):
        plain(i)
    base = time.perf_counter() - t0
    fc = Flowcept(workflow_name="bench").start()
    t0 = time.perf_counter()
    for i in range(n):
        wrapped(i)
    took = time.perf_counter() - t0
    t1 = time.perf_counter()
    fc.stop()
    return (took - base) / n * 1e9, time.perf_counter() - t1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        _settings(tmp)
        for name in ("telemetry_flowcept_task", "flowcept_task"):
            runs = [_one(name, args.n) for _ in range(args.reps)]
            ns = statistics.median(r[0] for r in runs)
            stop = statistics.median(r[1] for r in runs)
            print(f"{name:26s} overhead {ns:8.0f} ns/call   stop {stop * 1e3:7.1f} ms ({args.n} calls, "
                  f"median of {args.reps})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
