"""Throughput of the LMDB store: upserts as the DocumentInserter sends them, then indexed and full-scan queries.

    python plugins/lmdb/bench_lmdb.py [--tasks 100000] [--batch 1000] [--big 1000000] [--path DIR]

1. upsert (new): --tasks start messages of workflow A, --batch documents a call (none stored yet: insert path).
2. upsert (merge): their end messages, --batch a call, merged into the stored start documents.
3. The same for workflow B, then find({"workflow_id": A}): --tasks of 2 x --tasks stored.
4. Start messages of more workflows of 1,000 tasks each until --big documents are stored (~150 MB at 1M), then
   find({"workflow_id": one of them}) -> 1,000 of --big, and a full scan: find({"used.i": {"$gte": ...}}) sorted
   by used.lr descending, limit 100.
Every upsert call is one write transaction with fsync, as in production.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from flowcept_lmdb.store import LMDBStore

from flowcept_core.plugin import Settings


def _start(wf: str, i: int) -> dict:
    return {
        "type": "task",
        "task_id": f"{wf}-{i}",
        "workflow_id": wf,
        "campaign_id": "bench",
        "activity_id": "step",
        "status": "RUNNING",
        "started_at": 1000.0 + i,
        "used": {"i": i, "lr": (i * 7919 % 10007) / 10007, "name": f"in-{i}"},
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


def load(store: LMDBStore, make, wf: str, ids: range, batch: int) -> tuple[int, float]:
    """Upsert make(wf, i) for i in ids, batch documents a call; returns (documents sent, seconds).

    The documents are built before the clock starts: this measures the store, not the dict literals.
    """
    batches = [[make(wf, i) for i in ids[lo : lo + batch]] for lo in range(0, len(ids), batch)]
    t0 = time.perf_counter()
    for docs in batches:
        store.upsert("tasks", docs)
    return len(ids), time.perf_counter() - t0


def timed(fn, repeat: int = 3) -> tuple[object, float]:
    best, out = float("inf"), None
    for _ in range(repeat):
        out = None  # the previous result is freed here, not inside the timed call
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--big", type=int, default=1_000_000, help="documents stored for the 1M figures (0: skip)")
    ap.add_argument("--path", default=None, help="LMDB directory (default: a new temporary one, removed after)")
    args = ap.parse_args()
    path = args.path or tempfile.mkdtemp(prefix="bench-lmdb-")
    store = LMDBStore(Settings({"databases": {"lmdb": {"enabled": True, "path": path}}}))
    n, b = args.tasks, args.batch
    try:
        sent, secs = load(store, _start, "wf-A", range(n), b)
        print(f"upsert new:   {sent} docs in batches of {b}: {secs:.2f} s, {sent / secs:,.0f} docs/s")
        sent, secs = load(store, _end, "wf-A", range(n), b)
        print(f"upsert merge: {sent} docs in batches of {b}: {secs:.2f} s, {sent / secs:,.0f} docs/s")
        load(store, _start, "wf-B", range(n), b)
        load(store, _end, "wf-B", range(n), b)
        total = store.count("tasks")
        docs, secs = timed(lambda: store.find("tasks", {"workflow_id": "wf-A"}))
        print(f"find(workflow_id=A) -> {len(docs)} of {total}: {secs:.3f} s ({len(docs) / secs:,.0f} docs/s)")
        assert len(docs) == n and docs[0]["status"] == "FINISHED"
        docs, secs = timed(
            lambda: store.find(
                "tasks", {"workflow_id": "wf-A"}, projection=["task_id"], limit=100, sort=[("ended_at", -1)]
            )
        )
        print(f"find(workflow_id=A, sort ended_at desc, limit 100, projection) -> {len(docs)}: {secs:.3f} s")
        (doc,), secs = timed(lambda: store.find("tasks", {"task_id": "wf-A-4242"}))
        print(f"find(task_id=...) -> 1 doc: {secs * 1e6:.0f} us; merged status={doc['status']}")
        if args.big > total:
            t0, k = time.perf_counter(), 0
            while total < args.big:
                step = min(1000, args.big - total)
                base = 2 * n + 1000 * k  # used.i distinct over the whole store
                store.upsert("tasks", [_start(f"wf-C{k}", base + i) for i in range(step)])
                total += step
                k += 1
            print(f"(stored {total} docs in {time.perf_counter() - t0:.1f} s more)")
            docs, secs = timed(lambda: store.find("tasks", {"workflow_id": "wf-C17"}), repeat=5)
            print(f"find(workflow_id=C17) -> {len(docs)} of {total}: {secs * 1e3:.1f} ms")
            flt = {"used.i": {"$gte": total // 2}}
            docs, secs = timed(lambda: store.find("tasks", flt, sort=[("used.lr", -1)], limit=100), repeat=1)
            print(
                f"find(used.i >= {total // 2}, sort used.lr desc, limit 100), full scan of {total}: "
                f"-> {len(docs)}: {secs:.2f} s; top used.lr={docs[0]['used']['lr']:.4f}"
            )
        size = os.path.getsize(os.path.join(path, "data.mdb"))
        print(f"data.mdb: {size / 2**20:.0f} MiB, map size {store._env().map_size() / 2**20:.0f} MiB")
    finally:
        store.close()
        if args.path is None:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
