#!/usr/bin/env python3
"""Whole runs with default settings (no settings file, empty HOME), ours beside upstream Flowcept 1.0.3's default.

    .venv/bin/python bench/bench_default.py [--n 1000000] [--big 0] [--reps 3] [--upstream PY] [--skip-upstream]
                                            [--only run,start,offline,offline+dumps,light+dumps]

Scenarios (each repetition a fresh process in a fresh directory; medians printed):
  run N       N @flowcept_task calls in ``with Flowcept():``, until stop() returns: total seconds, peak RSS, RSS
              just before stop, tasks/s end to end (ours: into LMDB, with CPU/memory telemetry and the buffer file)
  run BIG     the same with --big calls (e.g. 10000000): peak RSS must stay near the N figure (flat memory)
  start       Flowcept().start() alone (ms), median of 5 in one process after a warm-up process
  offline     100k calls offline incl. get_buffer() and stop()
  offline+dumps, light+dumps
              the shared harness' scenarios b and d offline (e2e_s): 100k @flowcept_task (or
              @lightweight_flowcept_task) calls, get_buffer(), dump_buffer(path), and stop() writing the buffer file

Upstream runs with its own default (its bundled settings: no telemetry, no store). --upstream names its Python
(default: ~/.cache/flowcept-bench/upstream-1.0.3/bin/python, created by bench/run_compare.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
UPSTREAM = os.path.join(os.path.expanduser("~"), ".cache", "flowcept-bench", "upstream-1.0.3", "bin", "python")
MARK = "@@DEFAULT@@"

_RUN = """
import json, resource, time
from flowcept import Flowcept, flowcept_task

@flowcept_task
def f(x):
    return x + 1

t0 = time.perf_counter()
with Flowcept(workflow_name="bench_default"):
    for i in range({n}):
        f(i)
    t1 = time.perf_counter()
    rss = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
total = time.perf_counter() - t0
print("{mark}" + json.dumps({{"total_s": total, "calls_s": t1 - t0, "peak_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss // 1024, "rss_before_stop_mb": rss, "tasks_per_s": {n} / total}}))
"""

_START = """
import json, statistics, time
from flowcept import Flowcept
times = []
for _ in range(5):
    fc = Flowcept()
    t0 = time.perf_counter()
    fc.start()
    times.append(time.perf_counter() - t0)
    fc.stop()
print("{mark}" + json.dumps({{"start_ms": statistics.median(times) * 1e3, "first_start_ms": times[0] * 1e3}}))
"""

_OFFLINE = """
import json, time
from flowcept import Flowcept, flowcept_task

@flowcept_task
def f(x):
    return x + 1

t0 = time.perf_counter()
with Flowcept(workflow_name="bench_offline") as fc:
    for i in range({n}):
        f(i)
    buf = fc.get_buffer()  # kept until timed, as the harness does (freeing 100k dicts is the caller's cost)
t1 = time.perf_counter()
print("{mark}" + json.dumps({{"e2e_s": t1 - t0, "buffer": len(buf)}}))
"""

_DUMPS = """
import json, os, time
from flowcept import Flowcept, {deco}

@{deco}
def f(x):
    return x + 1

t0 = time.perf_counter()
with Flowcept(workflow_name="bench_dumps", start_persistence=False) as fc:
    for i in range({n}):
        f(i)
    buf = fc.get_buffer()
    fc.dump_buffer(os.path.abspath("explicit_dump.jsonl"))
t1 = time.perf_counter()
print("{mark}" + json.dumps({{"e2e_s": t1 - t0, "buffer": len(buf)}}))
"""

_DUMPS_SETTINGS = """
project:
  db_flush_mode: offline
  enrich_messages: false
  dump_buffer: {enabled: true, path: auto_dump.jsonl, append_id_to_path: false, delete_previous_file: true}
telemetry_capture: {}
mq: {enabled: false}
databases: {lmdb: {enabled: false}, mongodb: {enabled: false}}
log: {log_stream_level: error, log_file_level: disable}
"""

_OFFLINE_SETTINGS = """
project:
  db_flush_mode: offline
  enrich_messages: false
  dump_buffer: {enabled: false, path: unused.jsonl}
telemetry_capture: {}
mq: {enabled: false}
databases: {lmdb: {enabled: false}, mongodb: {enabled: false}}
log: {log_stream_level: error, log_file_level: disable}
"""


def _once(python: str, code: str, settings: str | None = None, timeout: float = 1800) -> dict:
    work = tempfile.mkdtemp(prefix="fc-default-")
    env = {k: v for k, v in os.environ.items() if k not in ("FLOWCEPT_SETTINGS_PATH", "PYTHONDONTWRITEBYTECODE")}
    env["HOME"] = work
    if settings is not None:
        path = os.path.join(work, "settings.yaml")
        with open(path, "w") as f:
            f.write(settings)
        env["FLOWCEPT_SETTINGS_PATH"] = path
    p = subprocess.run([python, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    subprocess.run(["rm", "-rf", work], check=False)
    for line in p.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return {"error": (p.stderr or p.stdout).strip()[-300:]}


def _median(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    return {k: statistics.median(r[k] for r in ok) for k in ok[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=0, help="also a run of this many calls (flat memory check)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ours", default=sys.executable)
    ap.add_argument("--upstream", default=UPSTREAM)
    ap.add_argument("--skip-upstream", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated scenario names to run (run, start, offline, "
                    "offline+dumps, light+dumps); default all")
    args = ap.parse_args()
    sides = [("ours", args.ours)]
    if not args.skip_upstream:
        if os.path.exists(args.upstream):
            sides.append(("upstream", args.upstream))
        else:
            print(f"(no upstream interpreter at {args.upstream}; run bench/run_compare.py once to create it)")
    results: dict[str, dict[str, dict]] = {name: {} for name, _ in sides}
    plan = [(f"run {args.n:,}", textwrap.dedent(_RUN.format(n=args.n, mark=MARK)), None, args.reps)]
    if args.big:
        plan.append((f"run {args.big:,}", textwrap.dedent(_RUN.format(n=args.big, mark=MARK)), None, 1))
    plan += [("start", textwrap.dedent(_START.format(mark=MARK)), None, args.reps),
             ("offline 100k", textwrap.dedent(_OFFLINE.format(n=100_000, mark=MARK)), _OFFLINE_SETTINGS, args.reps)]
    for label, deco in (("offline+dumps", "flowcept_task"), ("light+dumps", "lightweight_flowcept_task")):
        plan.append((label, textwrap.dedent(_DUMPS.format(n=100_000, mark=MARK, deco=deco)), _DUMPS_SETTINGS,
                     args.reps))
    if args.only:
        wanted = {w.strip() for w in args.only.split(",")}
        plan = [p for p in plan if p[0].split(" ")[0] in wanted]
    for label, code, settings, reps in plan:
        for name, python in sides:
            if label == "start":
                _once(python, code, settings)  # warm-up: byte-code caches written
            runs = [_once(python, code, settings) for _ in range(reps)]
            results[name][label] = _median(runs)
            print(f"{label:<16} {name:<9} {json.dumps(results[name][label])}", flush=True)
    print("\n| scenario | metric | upstream 1.0.3 default | flowcept default |\n| --- | --- | ---: | ---: |")
    for label, *_ in plan:
        ours = results["ours"].get(label, {})
        up = results.get("upstream", {}).get(label, {})
        for metric in ours:
            if metric == "error":
                continue
            u = up.get(metric)
            print(f"| {label} | {metric} | {'' if u is None else f'{u:,.2f}'} | {ours[metric]:,.2f} |")


if __name__ == "__main__":
    main()
