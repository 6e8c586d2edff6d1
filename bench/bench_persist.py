#!/usr/bin/env python3
"""Persistence end to end: N @flowcept_task calls inside ``with Flowcept(...)``, until every task is stored.

    .venv/bin/python bench/bench_persist.py [--modes redis,memory,default,mongo-wire] [--n 100000] [--reps 5]
                                            [--mongo-n 20000]

Modes (each repetition is a fresh process; medians are printed):
  redis       Redis MQ (127.0.0.1:6379) -> DocumentInserter -> LMDB, with the settings of the shared harness'
              scenario h (no telemetry, no enrichment, no buffer file; db_buffer 50 documents / 5 s)
  memory      the same with the in-process MQ instead of Redis
  default     the zero-configuration default: no settings file at all (in-process MQ -> DocumentInserter -> LMDB
              in the working directory, CPU and memory telemetry at start and end of every task, host enrichment,
              the buffer file written at stop)
  mongo-wire  as memory, storing into MongoDB on a private MongoDB-wire server (NX-27017, started and stopped
              here) instead of LMDB; server-bound, so --mongo-n tasks

tasks/s = N / (loop + stop): stop() returns once the DocumentInserter stored everything; found = the workflow's
tasks read back with Flowcept.db.task_query.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MARK = "@@PERSIST@@"


def worker(n: int) -> None:
    from flowcept import Flowcept, flowcept_task

    def bench_inc(x):
        return x + 1

    fn = flowcept_task(bench_inc)
    wf = str(uuid.uuid4())
    with Flowcept(workflow_name="bench_persist", workflow_id=wf):
        t1 = time.perf_counter()
        for i in range(n):
            fn(i)
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    docs = Flowcept.db.task_query(filter={"workflow_id": wf})
    out = {"loop_s": t2 - t1, "stop_s": t3 - t2, "e2e_s": t3 - t1, "tasks_per_s": n / (t3 - t1),
           "found": len({d["task_id"] for d in docs}), "query_s": time.perf_counter() - t3}
    print(MARK + json.dumps(out), flush=True)


def _settings(path: str, mode: str, d: str, uri: str | None) -> None:
    import yaml

    s: dict = {"project": {"enrich_messages": False, "dump_buffer": {"enabled": False}},
               "telemetry_capture": {},
               "mq": {"type": "memory"},
               "db_buffer": {"buffer_size": 50, "insertion_buffer_time_secs": 5.0},
               "log": {"log_path": os.path.join(d, "flowcept.log"), "log_file_level": "disable",
                       "log_stream_level": "error"},
               "databases": {"lmdb": {"enabled": True, "path": os.path.join(d, "lmdb")}}}
    if mode == "redis":
        s["mq"] = {"type": "redis", "host": "127.0.0.1", "port": 6379, "channel": f"bench-{uuid.uuid4().hex[:8]}",
                   "buffer_size": 50, "insertion_buffer_time_secs": 5.0}
    elif mode == "mongo-wire":
        s["databases"] = {"lmdb": {"enabled": False},
                          "mongodb": {"enabled": True, "uri": uri, "db": f"bench_{uuid.uuid4().hex[:8]}"}}
    with open(path, "w") as f:
        yaml.safe_dump(s, f)


def run_rep(python: str, mode: str, n: int, uri: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"persist-{mode}-") as d:
        env = dict(os.environ, HOME=d)  # no ~/.flowcept/settings.yaml of the user's
        env.pop("FLOWCEPT_SETTINGS_PATH", None)
        if mode != "default":
            path = os.path.join(d, "settings.yaml")
            _settings(path, mode, d, uri)
            env["FLOWCEPT_SETTINGS_PATH"] = path
        r = subprocess.run([python, os.path.abspath(__file__), "--worker", str(n)], cwd=d, env=env,
                           capture_output=True, text=True, timeout=900)
        for line in r.stdout.splitlines():
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
        return {"error": (r.stderr or r.stdout)[-1500:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="redis,memory,default,mongo-wire")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--mongo-n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--python", default=os.path.join(REPO, ".venv", "bin", "python"))
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker)
        return
    for mode in a.modes.split(","):
        uri, server, n = None, None, a.n
        if mode == "mongo-wire":
            from pathlib import Path

            from flowcept_mongodb.testserver import start_mongo_wire

            tmp = tempfile.mkdtemp(prefix="nx-")
            server, uri = start_mongo_wire(Path(tmp))
            if server is None:
                print(f"{mode}: skipped ({uri})")
                continue
            n = a.mongo_n
        try:
            reps = [run_rep(a.python, mode, n, uri) for _ in range(a.reps)]
        finally:
            if server is not None:
                from flowcept_mongodb.testserver import stop_server

                stop_server(server)
        bad = [r["error"] for r in reps if "error" in r]
        if bad:
            print(f"{mode}: {len(bad)} of {len(reps)} repetitions failed:\n{bad[0]}")
            continue

        def med(key: str, reps: list[dict] = reps) -> float:
            return statistics.median(r[key] for r in reps)

        print(f"{mode:10s} n={n}: {med('tasks_per_s'):>9,.0f} tasks/s (median of {len(reps)}; "
              f"min {min(r['tasks_per_s'] for r in reps):,.0f} max {max(r['tasks_per_s'] for r in reps):,.0f}), "
              f"loop {med('loop_s'):.3f} s, stop {med('stop_s'):.3f} s, found {min(r['found'] for r in reps)}/{n} "
              f"in every rep: {all(r['found'] == n for r in reps)}, read back in {med('query_s'):.3f} s")


if __name__ == "__main__":
    main()
