"""Throughput of the mongodb store: upsert 100k tasks (a start then an end message each, in batches of 500 as the
DocumentInserter writes them), then find() one workflow's 100k tasks among 200k stored.

    python plugins/mongodb/bench_mongodb.py [--uri mongodb://127.0.0.1:27018/] [--tasks 100000] [--batch 500]

Without --uri it starts a private NX-27017 server (pip install nx-27017) in a temporary folder and stops it (by its
process id) at the end. A fresh database is used and dropped afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from flowcept_mongodb.store import MongoDBStore as mongodb_factory
from flowcept_mongodb.testserver import start_mongo_wire, stop_server

from flowcept_core.plugin import Settings


def _messages(wf: str, i: int) -> tuple[dict, dict]:
    start = {
        "type": "task",
        "task_id": f"{wf}-{i}",
        "workflow_id": wf,
        "activity_id": f"act{i % 10}",
        "status": "RUNNING",
        "started_at": 1000.0 + i,
        "used": {"i": i, "lr": 0.01},
        "hostname": "bench",
    }
    end = {
        "type": "task",
        "task_id": f"{wf}-{i}",
        "workflow_id": wf,
        "status": "FINISHED",
        "ended_at": 1001.0 + i,
        "generated": {"loss": 1.0 / (i + 1)},
    }
    return start, end


def _load(store, wf: str, n: int, batch: int, with_end: bool) -> float:
    """Upsert n tasks of wf: per group of `batch` tasks, one call with their start messages, one with their ends."""
    t0 = time.perf_counter()
    for lo in range(0, n, batch):
        pairs = [_messages(wf, i) for i in range(lo, min(lo + batch, n))]
        store.upsert("tasks", [s for s, _ in pairs])
        if with_end:
            store.upsert("tasks", [e for _, e in pairs])
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uri", help="an existing MongoDB server (default: start a private NX-27017)")
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    proc, tmp = None, None
    uri = args.uri
    if not uri:
        tmp = tempfile.mkdtemp(prefix="bench_mongodb_")
        proc, uri = start_mongo_wire(Path(tmp))
        if proc is None:
            raise SystemExit(uri)
    db = f"bench_{uuid.uuid4().hex[:12]}"
    store = mongodb_factory(Settings({"databases": {"mongodb": {"enabled": True, "uri": uri, "db": db}}}))
    try:
        n = args.tasks
        secs = _load(store, "wf-a", n, args.batch, with_end=True)
        print(f"server: {uri}  ({'private NX-27017' if proc else 'given'})")
        print(
            f"upsert {n} tasks = {2 * n} messages (start+end, batches of {args.batch}): {secs:.1f} s, "
            f"{2 * n / secs:,.0f} messages/s, {n / secs:,.0f} tasks/s"
        )
        other = _load(store, "wf-b", n, args.batch, with_end=False)
        print(f"upsert {n} more tasks of another workflow (start only): {other:.1f} s, {n / other:,.0f} docs/s")
        assert store.count("tasks") == 2 * n
        t0 = time.perf_counter()
        docs = store.find("tasks", {"workflow_id": "wf-a"})
        t_find = time.perf_counter() - t0
        assert len(docs) == n and all(d["status"] == "FINISHED" for d in docs)
        print(
            f"find({{'workflow_id': 'wf-a'}}): {len(docs)} of {2 * n} docs in {t_find:.2f} s "
            f"({len(docs) / t_find:,.0f} docs/s)"
        )
        t0 = time.perf_counter()
        c = store.count("tasks", {"workflow_id": "wf-a"})
        print(f"count({{'workflow_id': 'wf-a'}}) = {c}: {time.perf_counter() - t0:.3f} s")
        t0 = time.perf_counter()
        one = store.find("tasks", {"task_id": f"wf-a-{n // 2}"})
        print(f"find one by task_id: {len(one)} doc in {(time.perf_counter() - t0) * 1000:.1f} ms")
    finally:
        try:
            store._client.drop_database(db)
        finally:
            store.close()
            if proc is not None:
                stop_server(proc)
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
