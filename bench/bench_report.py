#!/usr/bin/env python3
"""Report generation: Markdown card and PDF report of an N-task buffer file, ours and (optionally) upstream's.

    .venv/bin/python bench/bench_report.py [--n 100000] [--reps 3] [--upstream PY] [--upstream-reps 1]
                                           [--stream-n 1000000]

Writes one synthetic buffer file (a workflow message, then N tasks of 4 activities with used/generated values,
nested parents, 1% errors and sampled telemetry snapshots), then times, each in a fresh process (median of --reps):
``Flowcept.generate_report`` markdown and pdf, for this project and, with --upstream, for upstream's interpreter
on the same file (--upstream-reps runs of it: upstream's PDF takes minutes). Runs of the two sides alternate, and the
load average is printed with each figure. --stream-n also reports peak RSS of a markdown card over a file that large.
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

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.path.join(os.path.dirname(HERE), ".venv", "bin", "python")

_CHILD = r"""
import json, resource, sys, time
from flowcept import Flowcept
path, fmt, out = sys.argv[1], sys.argv[2], sys.argv[3]
kind = "workflow_card" if fmt == "markdown" else "provenance_report"  # the name both accept
t0 = time.perf_counter()
try:
    Flowcept.generate_report(report_type=kind, format=fmt, input_jsonl_path=path, output_path=out)
    ok = True
except Exception as e:
    ok = repr(e)[:300]
took = time.perf_counter() - t0
import flowcept
print(json.dumps({"s": took, "ok": ok, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "version": flowcept.__version__}))
"""


def write_buffer(path: str, n: int) -> None:
    """The synthetic run: one workflow, then n tasks (children before their parents, as decorators write them)."""
    import orjson

    wid, t = "wf-bench", 1_800_000_000.0
    snap = None
    with open(path, "wb") as f:
        f.write(
            orjson.dumps(
                {
                    "type": "workflow",
                    "workflow_id": wid,
                    "name": "bench",
                    "started_at": t,
                    "user": "bench",
                    "campaign_id": "c1",
                }
            )
            + b"\n"
        )
        epoch = 0
        for i in range(n):
            if i % 1000 == 0:
                snap = {
                    "timestamp": t,
                    "cpu": {"percent_all": 40.0 + i % 50},
                    "memory": {"virtual": {"percent": 30.0 + (i % 700) / 100, "used": 1e9 + i * 10}},
                }
            act = ("load", "train_batch", "validate", "checkpoint")[i % 4]
            err = i % 100 == 99
            msg = {
                "type": "task",
                "task_id": f"t{i}",
                "activity_id": act,
                "workflow_id": wid,
                "campaign_id": "c1",
                "used": {"batch": i, "lr": 0.01, "path": f"/data/shard-{i % 64}.bin"},
                "started_at": t,
                "ended_at": t + 0.002 + (i % 7) / 1000,
                "status": "ERROR" if err else "FINISHED",
                "parent_task_id": f"e{epoch}",
                "hostname": "node1",
                "telemetry_at_start": snap,
                "telemetry_at_end": snap,
            }
            if err:
                msg["stderr"] = f"ValueError: batch {i} has NaN"
            else:
                msg["generated"] = {"loss": 1.0 / (1 + i / 1000), "acc": min(0.99, i / n)}
            f.write(orjson.dumps(msg) + b"\n")
            t += 0.003
            if i % 1000 == 999:
                f.write(
                    orjson.dumps(
                        {
                            "type": "task",
                            "task_id": f"e{epoch}",
                            "activity_id": "epoch",
                            "workflow_id": wid,
                            "used": {"epoch": epoch},
                            "started_at": t - 3,
                            "ended_at": t,
                            "status": "FINISHED",
                        }
                    )
                    + b"\n"
                )
                epoch += 1


def run(python: str, path: str, fmt: str, out: str) -> dict:
    # cwd: the output's directory, never the repository (python -c puts the cwd first on sys.path)
    # and an empty HOME without FLOWCEPT_SETTINGS_PATH: a settings file of the user's must not change what runs
    env = {k: v for k, v in os.environ.items() if k != "FLOWCEPT_SETTINGS_PATH"}
    env["HOME"] = os.path.dirname(out)
    proc = subprocess.run(
        [python, "-c", _CHILD, path, fmt, out],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=os.path.dirname(out),
        env=env,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"s": float("nan"), "ok": (proc.stderr or proc.stdout)[-300:], "rss_mb": float("nan")}
    return json.loads(lines[-1])


def report(label: str, fmt: str, runs: list[dict]) -> None:
    ok = [r for r in runs if r["ok"] is True]
    if not ok:
        print(f"{label:9s} {fmt:8s} failed: {runs[0]['ok'] if runs else 'not run'}")
        return
    times = sorted(r["s"] for r in ok)
    print(
        f"{label:9s} {fmt:8s} {statistics.median(times):8.2f} s  (min {times[0]:.2f}, max {times[-1]:.2f})   "
        f"peak RSS {statistics.median(r['rss_mb'] for r in ok):7.0f} MB   ({len(ok)}/{len(runs)} runs, flowcept "
        f"{ok[0].get('version')}, load {statistics.median(r['load'] for r in ok):.1f})"
    )


def measure(sides: list[tuple[str, str, int]], path: str, fmt: str, tmp: str) -> None:
    """Runs each side (label, python, reps) alternately, one run at a time, and prints each side's figures."""
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in sides}
    for i in range(max(reps for _, _, reps in sides)):
        for label, python, reps in sides:
            if i < reps:
                load = os.getloadavg()[0]
                runs[label].append({**run(python, path, fmt, os.path.join(tmp, f"{label}.{fmt}")), "load": load})
    for label, _, _ in sides:
        report(label, fmt, runs[label])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--upstream", help="python of a venv with flowcept==1.0.3 (its report extras installed)")
    ap.add_argument("--upstream-reps", type=int, default=0, help="runs of upstream's (default: --reps)")
    ap.add_argument("--stream-n", type=int, default=0, help="also report a card of a file of this many tasks")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "buffer.jsonl")
        t0 = time.perf_counter()
        write_buffer(path, args.n)
        print(
            f"buffer file: {args.n} tasks, {os.path.getsize(path) / 1e6:.0f} MB (written in "
            f"{time.perf_counter() - t0:.1f} s)"
        )
        for fmt in ("markdown", "pdf"):
            sides = [("ours", OURS, args.reps)]
            if args.upstream:
                sides.insert(0, ("upstream", args.upstream, args.upstream_reps or args.reps))
            measure(sides, path, fmt, tmp)
        if args.stream_n:
            big = os.path.join(tmp, "big.jsonl")
            write_buffer(big, args.stream_n)
            print(f"buffer file: {args.stream_n} tasks, {os.path.getsize(big) / 1e6:.0f} MB")
            measure([("ours", OURS, 1)], big, "markdown", tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
