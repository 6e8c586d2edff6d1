#!/usr/bin/env python3
"""PROV export of an N-task workflow: time, and peak memory against the size of the file written.

    .venv/bin/python bench/bench_prov.py [--n 100000] [--format json|provn] [--reps 3] [--validate]

Each repetition runs in a fresh process: it builds N task messages in memory (4 activities, used/generated values
with data flow from each task to the next, a nested call every 10 tasks, telemetry summaries), reads its RSS, then
times ``Flowcept.export_prov(records=...)`` (wall and process CPU time) and reports the peak RSS growth during the
export (ru_maxrss after minus RSS before) next to the file size. The ``jsonl`` row exports the same run from a
buffer file instead (its memory includes the parsed messages). --validate loads the PROV-JSON with the ``prov``
library once and checks its counts (slow: the library needs ~10 s and ~1 GB for 100k tasks).
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
PY = os.path.join(os.path.dirname(HERE), ".venv", "bin", "python")

_CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[5])
from bench_prov import build_run
from flowcept import Flowcept
n, fmt, out, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
if mode == "jsonl":
    src = out + ".jsonl"
    kwargs = {"input_jsonl_path": src}
else:
    kwargs = {"records": build_run(n)}
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
before = rss_mb()
t0, c0 = time.perf_counter(), time.process_time()
result = Flowcept.export_prov(out, format=fmt, **kwargs)
took, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"s": took, "cpu": cpu, "before_mb": before, "peak_mb": peak, "file_mb": os.path.getsize(out) / 2**20,
                  "result": {k: result[k] for k in ("tasks", "activities", "entities", "agents", "relations")}}))
"""


def build_run(n: int) -> list[dict]:
    """One workflow message and n task messages; task i uses what task i-1 generated (data flow)."""
    wid, t = "wf-bench-prov", 1_800_000_000.0
    msgs: list[dict] = [{"type": "workflow", "workflow_id": wid, "name": "bench", "campaign_id": "camp",
                         "user": "bench", "started_at": t, "machine_info": {"hostname": "node-1"}}]
    acts = ("load", "transform", "train", "evaluate")
    for i in range(n):
        msg = {"type": "task", "task_id": f"t{i:07d}", "workflow_id": wid, "campaign_id": "camp",
               "activity_id": acts[i % 4], "used": {"x": i - 1 if i else "seed", "lr": 0.01, "cfg": {"k": i % 7}},
               "generated": {"y": i}, "status": "FINISHED", "started_at": t + i * 0.001,
               "ended_at": t + i * 0.001 + 0.0005, "hostname": "node-1", "user": "bench",
               "telemetry_at_end": {"cpu": {"percent_all": 12.5}, "memory": {"used": 123456789}}}
        if i % 10:
            msg["parent_task_id"] = f"t{i - i % 10:07d}"
        msgs.append(msg)
    return msgs


def _run_child(n: int, fmt: str, out: str, mode: str) -> dict:
    proc = subprocess.run([PY, "-c", _CHILD, str(n), fmt, out, mode, HERE], capture_output=True, text=True,
                          check=False)
    if proc.returncode:
        raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--format", choices=("json", "provn"), default="json")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--validate", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_prov_") as tmp:
        out = os.path.join(tmp, f"run.{args.format}")
        import orjson

        with open(out + ".jsonl", "wb") as f:
            for msg in build_run(args.n):
                f.write(orjson.dumps(msg) + b"\n")
        print(f"PROV export of {args.n} tasks ({args.format}); load average {os.getloadavg()[0]:.2f}")
        for mode in ("records", "jsonl"):
            runs = [_run_child(args.n, args.format, out, mode) for _ in range(args.reps)]
            s = statistics.median(r["s"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            grow = statistics.median(r["peak_mb"] - r["before_mb"] for r in runs)
            file_mb = runs[0]["file_mb"]
            print(f"  {mode:7s}: {s:6.2f} s wall, {cpu:6.2f} s CPU (median of {args.reps}), file {file_mb:7.1f} MB, "
                  f"peak RSS growth {grow:7.1f} MB = {grow / file_mb:4.2f}x the file; {runs[0]['result']}")
        if args.validate and args.format == "json":
            import time

            import prov.model as pm

            t0 = time.perf_counter()
            doc = pm.ProvDocument.deserialize(source=out, format="json")
            acts = sum(len(list(b.get_records(pm.ProvActivity))) for b in (doc, *doc.bundles))
            ents = sum(len(list(b.get_records(pm.ProvEntity))) for b in (doc, *doc.bundles))
            print(f"  prov library read it in {time.perf_counter() - t0:.1f} s: {acts} activities, {ents} entities")


if __name__ == "__main__":
    sys.exit(main())
