#!/usr/bin/env python3
"""Per-call overhead of @telemetry_flowcept_task (and @flowcept_task) with telemetry on, ours and upstream's.

    .venv/bin/python bench/bench_telemetry.py [--n 20000] [--reps 5] [--upstream PY]

Each repetition is a fresh process: offline mode, telemetry_capture cpu+mem+process_info on, a trivial function
called n times undecorated then decorated; prints the overhead per call (decorated minus plain, median of --reps)
and the time stop() takes. --upstream runs the same script under upstream Flowcept's interpreter, alternating sides.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.path.join(os.path.dirname(HERE), ".venv", "bin", "python")

_CHILD = r"""
import json, sys, time
import flowcept
from flowcept import Flowcept
name, n = sys.argv[1], int(sys.argv[2])
decorator = getattr(flowcept, name)
def plain(x):
    return x + 1
wrapped = decorator(plain)
t0 = time.perf_counter()
for i in range(n):
    plain(i)
base = time.perf_counter() - t0
fc = Flowcept(workflow_name="bench")
fc.start()
time.sleep(0.2)  # let start-up work settle on both sides
t0 = time.perf_counter()
for i in range(n):
    wrapped(i)
took = time.perf_counter() - t0
t1 = time.perf_counter()
fc.stop()
print(json.dumps({"ns": (took - base) / n * 1e9, "stop_s": time.perf_counter() - t1,
                  "version": flowcept.__version__}))
"""

SETTINGS = """project:
  db_flush_mode: offline
  enrich_messages: true
  dump_buffer: {enabled: false, path: unused.jsonl}
log: {log_stream_level: error, log_file_level: disable}
telemetry_capture: {cpu: true, mem: true, process_info: true, per_cpu: false, disk: false, network: false,
                    machine_info: true, gpu: null}
mq: {enabled: false}
kv_db: {enabled: false}
databases: {lmdb: {enabled: false}, mongodb: {enabled: false}}
"""


def one(python: str, name: str, n: int, tmp: str) -> dict | None:
    env = {**os.environ, "FLOWCEPT_SETTINGS_PATH": os.path.join(tmp, "settings.yaml")}
    proc = subprocess.run([python, "-c", _CHILD, name, str(n)], capture_output=True, text=True, cwd=tmp, env=env,
                          timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        sys.stderr.write(f"{python} {name} failed: {(proc.stderr or proc.stdout)[-400:]}\n")
        return None
    return json.loads(lines[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--upstream", help="python of a venv with flowcept==1.0.3")
    args = ap.parse_args()
    sides = [("upstream", args.upstream)] if args.upstream else []
    sides.append(("ours", OURS))
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "settings.yaml"), "w") as f:
            f.write(SETTINGS)
        for name in ("telemetry_flowcept_task", "flowcept_task"):
            results: dict[str, list[dict]] = {side: [] for side, _ in sides}
            for _ in range(args.reps):
                for side, python in sides:  # alternate sides so both see similar machine load
                    r = one(python, name, args.n, tmp)
                    if r is not None:
                        results[side].append(r)
            for side, runs in results.items():
                if runs:
                    print(f"{side:8s} {name:24s} overhead {statistics.median(r['ns'] for r in runs):9.0f} ns/call"
                          f"   stop {statistics.median(r['stop_s'] for r in runs) * 1e3:8.1f} ms   "
                          f"({args.n} calls, median of {len(runs)}, flowcept {runs[0].get('version')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
