#!/usr/bin/env python3
"""Queries on a large LMDB store through ``Flowcept.db``: upstream Flowcept 1.0.3 and this project, same data, same run.

    .venv/bin/python bench/bench_query.py [--tasks 1000000] [--workflows 10] [--reps 3] [--upstream PY] [--ours PY]

Each side stores --tasks task documents (--workflows workflows of equal size; documents shaped like the harness'
scenario g: activity_id, workflow_id, campaign_id, used, generated, started_at, ended_at, hostname, status) in its own
LMDB directory with its own store code (ours: the lmdb plugin's upsert; upstream: LMDBDAO.insert_and_update_many_tasks),
then, in a fresh process, after one untimed query that opens the store, times through the public API (median of
--reps):
  wf      Flowcept.db.task_query(filter={"workflow_id": W})                -> --tasks / --workflows documents
  used    Flowcept.db.task_query(filter={"used.x": {"$gte": V}}, sort=[("ended_at", -1)], limit=100)   -> 100
          (upstream's LMDB query reads no dotted paths, sort nor limit: it answers [] after its full scan)
  all     Flowcept.db.task_query(filter={})                                -> every document (a full read)
The upstream interpreter defaults to the venv bench/run_compare.py creates (~/.cache/flowcept-bench/upstream-1.0.3).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
UPSTREAM_PY = os.path.join(os.path.expanduser("~"), ".cache", "flowcept-bench", "upstream-1.0.3", "bin", "python")
MARK = "@@QUERY@@"
BATCH = 5000


def _docs(start: int, stop: int, per_wf: int) -> list[dict]:
    out = []
    for i in range(start, stop):
        st = 1.7e9 + i * 1e-3
        out.append({"type": "task", "task_id": f"task-{i}", "activity_id": "bench_inc",
                    "workflow_id": f"wf-{i // per_wf}", "campaign_id": "bench-campaign", "used": {"x": i},
                    "generated": {"arg_0": i + 1}, "started_at": st, "ended_at": st + 2e-6,
                    "hostname": "node-1", "status": "FINISHED"})
    return out


def w_fill(n: int, workflows: int) -> dict:
    per_wf = n // workflows
    t0 = time.perf_counter()
    try:
        from flowcept_core.settings import get_settings
        from flowcept_core.stores import open_store
    except ImportError:  # upstream
        open_store = None
    if open_store is not None:
        store = open_store(get_settings(), "lmdb")
        for start in range(0, n, BATCH):
            store.upsert("tasks", _docs(start, min(n, start + BATCH), per_wf))
        store.close()
    else:
        from flowcept.commons.daos.docdb_dao.lmdb_dao import LMDBDAO

        dao = LMDBDAO()
        for start in range(0, n, BATCH):
            if not dao.insert_and_update_many_tasks(_docs(start, min(n, start + BATCH), per_wf), "task_id"):
                raise RuntimeError("upstream insert_and_update_many_tasks failed")
    return {"fill_s": time.perf_counter() - t0}


def w_query(kind: str, n: int, workflows: int) -> dict:
    from flowcept import Flowcept

    Flowcept.db.task_query(filter={"task_id": "task-0"})  # opens the store (not timed)
    t0 = time.perf_counter()
    if kind == "wf":
        docs = Flowcept.db.task_query(filter={"workflow_id": f"wf-{workflows // 2}"})
    elif kind == "used":
        docs = Flowcept.db.task_query(filter={"used.x": {"$gte": n // 2}}, sort=[("ended_at", -1)], limit=100)
    else:
        docs = Flowcept.db.task_query(filter={})
    dt = time.perf_counter() - t0
    first = docs[0].get("task_id") if docs else None
    return {"s": dt, "rows": len(docs) if docs is not None else None, "first": first}


def _run(python: str, settings: str, cwd: str, *args: str) -> dict:
    env = dict(os.environ, FLOWCEPT_SETTINGS_PATH=settings, HOME=cwd)
    r = subprocess.run([python, os.path.abspath(__file__), "--worker", *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=3600)
    for line in r.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"{python} {' '.join(args)} failed:\n{(r.stderr or r.stdout)[-2000:]}")


def _settings(d: str) -> str:
    path = os.path.join(d, "settings.yaml")
    with open(path, "w") as f:
        f.write(f"""project:
  db_flush_mode: online
log:
  log_path: {os.path.join(d, "flowcept.log")}
  log_file_level: disable
  log_stream_level: error
mq:
  enabled: false
kv_db:
  enabled: false
databases:
  lmdb:
    enabled: true
    path: {os.path.join(d, "lmdb")}
  mongodb:
    enabled: false
""")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--workflows", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ours", default=os.path.join(REPO, ".venv", "bin", "python"))
    ap.add_argument("--upstream", default=UPSTREAM_PY)
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        what, n, wfs = a.worker[0], int(a.worker[1]), int(a.worker[2])
        out = w_fill(n, wfs) if what == "fill" else w_query(what, n, wfs)
        print(MARK + json.dumps(out), flush=True)
        return
    sides = {"ours": a.ours}
    if os.path.exists(a.upstream):
        sides = {"upstream": a.upstream, "ours": a.ours}
    else:
        print(f"upstream interpreter {a.upstream} missing (python bench/run_compare.py --setup-only creates it)")
    args = (str(a.tasks), str(a.workflows))
    dirs = {side: tempfile.mkdtemp(prefix=f"query-{side}-") for side in sides}
    results: dict[str, dict] = {side: {} for side in sides}
    try:
        for side, py in sides.items():
            settings = _settings(dirs[side])
            fill = _run(py, settings, dirs[side], "fill", *args)
            results[side]["fill_s"] = fill["fill_s"]
            print(f"{side}: stored {a.tasks} tasks in {fill['fill_s']:.1f} s", flush=True)
        for kind in ("wf", "used", "all"):
            for _ in range(a.reps):  # sides alternate, so both see the same machine load
                for side, py in sides.items():
                    r = _run(py, os.path.join(dirs[side], "settings.yaml"), dirs[side], kind, *args)
                    results[side].setdefault(kind, []).append(r)
    finally:
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)
    print(f"\n{a.tasks} tasks in {a.workflows} workflows; median of {a.reps} fresh processes per query\n")
    print("| query | " + " | ".join(f"{s} s (rows)" for s in sides) + (" | ratio |" if len(sides) == 2 else " |"))
    print("| --- | " + " | ".join("---:" for _ in sides) + (" | ---: |" if len(sides) == 2 else " |"))
    for kind in ("wf", "used", "all"):
        meds = {s: statistics.median(r["s"] for r in results[s][kind]) for s in sides}
        rows = {s: results[s][kind][0]["rows"] for s in sides}
        cells = " | ".join(f"{meds[s]:.3f} ({rows[s]})" for s in sides)
        ratio = f" | {meds['upstream'] / meds['ours']:.1f}x |" if len(sides) == 2 else " |"
        print(f"| {kind} | {cells}{ratio}")


if __name__ == "__main__":
    main()
