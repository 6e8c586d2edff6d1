#!/usr/bin/env python3
"""get_lineage on a large LMDB store: the first query after many fresh writes (with and without an idle period
before it), the steady state 10 levels deep (upstream, downstream, both), and what indexing costs per task.

    .venv/bin/python bench/bench_lineage.py [--n 1000000] [--fresh 100000] [--depth 10] [--reps 50]
                                            [--codec json|msgpack] [--store DIR] [--quick] [--hold S]

--quick is --n 100000 --fresh 20000 --reps 20. The store (a fresh directory, default
/tmp/flowcept_bench_lineage_<n>) is written by direct upserts of 5000-task batches, as the inserter writes them
(``upsert_json`` with each document's JSON, as the default pipeline, or ``upsert``: msgpack values): tasks in chains
of 25, task i uses the value task i-1 generated (data flow), and every 5th task of a chain is a nested call of the
chain's first task (parent link). Values are unique per chain, so a lineage answer holds only its chain.

Prints, with the load average:

1. the first query right after writing the n tasks: it indexes them all (the query path's catch-up; the background
   indexer waits for an idle period, which has not come), and that catch-up per task;
2. the median and 95th percentile of --reps queries per direction, max_depth=--depth, on the open store;
3. --fresh more tasks written, then an idle period: how long after the last write the background indexer had them
   indexed, the first query then, and how long a write waited that came in during a background catch-up;
4. --fresh more tasks written and queried at once (no idle period): the first query indexes them itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time

CHAIN = 25


def _task(i: int) -> dict:
    pos, head = i % CHAIN, i - i % CHAIN
    doc = {
        "task_id": f"t{i:08d}",
        "workflow_id": f"w{i // 100_000}",
        "activity_id": f"step{pos}",
        "used": {"x": f"value-{i - 1}" if pos else f"input-{i}", "lr": 0.001 * (i % 1000)},
        "generated": {"y": f"value-{i}"},
        "status": "FINISHED",
        "started_at": 1.8e9 + i,
        "ended_at": 1.8e9 + i + 1,
    }
    if pos and pos % 5 == 0:
        doc["parent_task_id"] = f"t{head:08d}"
    return doc


def write(store, start: int, n: int, codec: str) -> float:
    """Upsert tasks start..start+n in 5000-task batches; returns the seconds taken."""
    import orjson

    t0 = time.perf_counter()
    for first in range(start, start + n, 5000):
        docs = [_task(i) for i in range(first, min(start + n, first + 5000))]
        if codec == "json":
            store.upsert_json("tasks", docs, [orjson.dumps(d)[:-1] for d in docs])  # heads: without the closing brace
        else:
            store.upsert("tasks", docs)
    return time.perf_counter() - t0


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.2f}"


def _first_query(store, task_id: str) -> float:
    from flowcept_core.lineage import get_lineage

    t0 = time.perf_counter()
    get_lineage(store, task_id, "downstream", 1)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--fresh", type=int, default=100_000)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--codec", choices=("json", "msgpack"), default="json")
    ap.add_argument("--store")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--hold", type=float, help="seconds a background step's write transaction aims at")
    args = ap.parse_args()
    if args.quick:
        args.n, args.fresh, args.reps = 100_000, 20_000, 20
    from flowcept_lmdb import _lineage

    if args.hold is not None:
        _lineage.BACKGROUND_HOLD_S = args.hold
    from flowcept_lmdb.store import LMDBStore

    from flowcept_core.lineage import get_lineage
    from flowcept_core.settings import Settings

    path = args.store or f"/tmp/flowcept_bench_lineage_{args.n}"
    shutil.rmtree(path, ignore_errors=True)
    store = LMDBStore(Settings({"databases": {"lmdb": {"enabled": True, "path": path}}}))
    indexer = store.lineage_indexer
    print(f"LMDB store {path}, tasks written with {args.codec}; {_load()}")
    took = write(store, 0, args.n, args.codec)
    print(f"  wrote {args.n} tasks in {took:.1f} s")

    # 1. right after the writes: the query catches up itself
    c0 = time.process_time()
    took = _first_query(store, f"t{CHAIN * 2 + 2:08d}")
    cpu = time.process_time() - c0
    print(
        f"  first query right after writing {args.n} tasks (no idle period): {took:.2f} s; catch-up "
        f"{took / args.n * 1e6:.1f} us/task wall, {cpu / args.n * 1e6:.1f} us/task CPU; {_load()}"
    )

    # 2. steady state
    chain = (args.n // CHAIN // 2) * CHAIN  # a chain in the middle of the store
    for label, task_id, direction in (
        ("upstream", f"t{chain + args.depth + 2:08d}", "upstream"),
        ("downstream", f"t{chain + 2:08d}", "downstream"),
        ("both", f"t{chain + 12:08d}", "both"),
    ):
        result = get_lineage(store, task_id, direction, args.depth)
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            get_lineage(store, task_id, direction, args.depth)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        depth = max(t["depth"] for t in result["tasks"])
        print(
            f"  {label:10s} max_depth={args.depth}: {len(result['tasks']) - 1} tasks (deepest {depth}), "
            f"{len(result['values'])} values, {len(result['edges'])} edges: median {statistics.median(times):.1f} ms,"
            f" p95 {times[int(len(times) * 0.95) - 1]:.1f} ms ({args.n} tasks; {_load()})"
        )

    # 3. fresh writes, then an idle period: the background indexer catches up
    start = args.n
    indexer.idle.clear()
    write(store, start, args.fresh, args.codec)
    t_end = time.perf_counter()
    steps0 = indexer.steps
    if not indexer.idle.wait(600):
        print("  the background indexer did not finish within 600 s")
    done = time.perf_counter() - t_end
    took = _first_query(store, f"t{start + 2:08d}")
    print(
        f"  {args.fresh} more tasks, then idle: indexed in the background {done:.2f} s after the last write "
        f"({indexer.idle_s:.2f} s idle wait + {indexer.steps - steps0} steps); "
        f"first query "
        f"then {took * 1000:.1f} ms; {_load()}"
    )
    alone = []
    for k in range(5):  # the same write with nothing else running
        t0 = time.perf_counter()
        write(store, start + args.fresh + 100 + k, 1, args.codec)
        alone.append((time.perf_counter() - t0) * 1000)
    waits = []
    for k in range(5):  # a write arriving while a background catch-up runs
        start += args.fresh
        write(store, start, args.fresh, args.codec)
        steps = indexer.steps
        while indexer.steps < steps + 2 and not indexer.idle.is_set():
            time.sleep(0.001)
        t0 = time.perf_counter()
        write(store, start + args.fresh + 10 + k, 1, args.codec)
        waits.append((time.perf_counter() - t0) * 1000)
        start += 1
    print(
        f"  a one-task write arriving during a background catch-up took: median {statistics.median(waits):.1f} ms,"
        f" max {max(waits):.1f} ms (5 tries; alone: median {statistics.median(alone):.1f} ms, max "
        f"{max(alone):.1f} ms); {_load()}"
    )

    # 4. fresh writes queried at once: the query catches up itself
    _first_query(store, f"t{start + 2:08d}")  # what the tries above left pending
    start += args.fresh + 10
    write(store, start, args.fresh, args.codec)
    took = _first_query(store, f"t{start + 2:08d}")
    print(
        f"  {args.fresh} more tasks, queried at once (no idle period): first query {took * 1000:.0f} ms "
        f"({took / args.fresh * 1e6:.1f} us/task); {_load()}"
    )
    t0 = time.perf_counter()
    store.close()
    print(
        f"  close: {(time.perf_counter() - t0) * 1000:.1f} ms (background steps after {_lineage.IDLE_S} s idle, "
        f"sized for {_lineage.BACKGROUND_HOLD_S * 1000:.0f} ms write transactions)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
