"""Throughput of the LMDB store: upserts as the DocumentInserter sends them, then an indexed workflow query.

    python plugins/lmdb/bench_lmdb.py [--tasks 100000] [--batch 500] [--path DIR]

Phase 1 upserts --tasks task documents of workflow A: for each block of --batch tasks, one call with their start
messages, then one call with their end messages (merged into the stored start documents), --batch documents a call.
Phase 2 stores as many tasks of workflow B the same way, then times find({"workflow_id": A}) among both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from flowcept_lmdb.store import LMDBStore

from flowcept_core.settings import Settings


def _start(wf: str, i: int) -> dict:
    return {
        "type": "task",
        "task_id": f"{wf}-{i}",
        "workflow_id": wf,
        "campaign_id": "bench",
        "activity_id": "step",
        "status": "RUNNING",
        "started_at": 1000.0 + i,
        "used": {"i": i, "lr": 0.01, "name": f"in-{i}"},
        "hostname": "node-1",
        "telemetry_at_start": {"cpu": {"percent_all": 12.5}, "memory": {"used": 123456}},
    }


def _end(wf: str, i: int) -> dict:
    return {
        "type": "task",
        "task_id": f"{wf}-{i}",
        "workflow_id": wf,
        "status": "FINISHED",
        "ended_at": 1001.0 + i,
        "generated": {"loss": 1.0 / (i + 1), "out": f"out-{i}"},
        "telemetry_at_end": {"cpu": {"percent_all": 40.0}, "memory": {"used": 654321}},
    }


def load(store: LMDBStore, wf: str, tasks: int, batch: int) -> tuple[int, float]:
    """Upsert start then end messages per block of batch tasks; returns (documents sent, seconds)."""
    sent, t0 = 0, time.perf_counter()
    for lo in range(0, tasks, batch):
        ids = range(lo, min(lo + batch, tasks))
        store.upsert("tasks", [_start(wf, i) for i in ids])
        store.upsert("tasks", [_end(wf, i) for i in ids])
        sent += 2 * len(ids)
    return sent, time.perf_counter() - t0


def timed(fn, repeat: int = 3) -> tuple[object, float]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--path", default=None, help="LMDB directory (default: a new temporary one, removed after)")
    args = ap.parse_args()
    path = args.path or tempfile.mkdtemp(prefix="bench-lmdb-")
    store = LMDBStore(Settings({"databases": {"lmdb": {"enabled": True, "path": path}}}))
    try:
        sent, secs = load(store, "wf-A", args.tasks, args.batch)
        print(
            f"upsert: {args.tasks} tasks = {sent} documents (start+end) in batches of {args.batch}: {secs:.2f} s, "
            f"{sent / secs:,.0f} docs/s, {args.tasks / secs:,.0f} tasks/s"
        )
        sent_b, secs_b = load(store, "wf-B", args.tasks, args.batch)
        print(f"upsert (second workflow, {store.count('tasks')} stored after): {sent_b / secs_b:,.0f} docs/s")
        store.stats.update(decoded=0)
        docs, secs = timed(lambda: store.find("tasks", {"workflow_id": "wf-A"}))
        print(
            f"find(workflow_id=A) -> {len(docs)} of {store.count('tasks')} docs: {secs:.3f} s "
            f"({len(docs) / secs:,.0f} docs/s; decoded {store.stats['decoded'] // 3} per query via the index)"
        )
        n, secs = timed(lambda: store.count("tasks", {"workflow_id": "wf-A", "status": "FINISHED"}))
        print(f"count(workflow_id=A, status=FINISHED) -> {n}: {secs:.3f} s")
        docs, secs = timed(
            lambda: store.find(
                "tasks", {"workflow_id": "wf-A"}, projection=["task_id"], limit=100, sort=[("ended_at", -1)]
            )
        )
        print(f"find(workflow_id=A, sort ended_at desc, limit 100, projection) -> {len(docs)}: {secs:.3f} s")
        docs, secs = timed(lambda: store.find("tasks", {"used.i": {"$lt": 1000}}), repeat=1)
        print(f"find(used.i < 1000), full scan of {store.count('tasks')} docs -> {len(docs)}: {secs:.3f} s")
        (doc,), secs = timed(lambda: store.find("tasks", {"task_id": "wf-A-4242"}))
        print(f"find(task_id=...) -> 1 doc: {secs * 1e6:.0f} us; merged status={doc['status']}")
        size = os.path.getsize(os.path.join(path, "data.mdb"))
        print(f"data.mdb: {size / 2**20:.0f} MiB, map size {store._env().map_size() / 2**20:.0f} MiB")
    finally:
        store.close()
        if args.path is None:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
