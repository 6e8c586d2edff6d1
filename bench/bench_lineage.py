#!/usr/bin/env python3
"""get_lineage on a large LMDB store: a task 10 levels deep, upstream, downstream and both.

    .venv/bin/python bench/bench_lineage.py [--n 1000000] [--depth 10] [--reps 50] [--store DIR] [--rebuild]

The store (cached in --store, default /tmp/flowcept_bench_lineage_<n>; built once by direct upserts of 5000-task
batches, as the inserter writes them) holds n tasks in chains of 25: task i uses the
value task i-1 generated (data flow), and every 5th task of a chain is a nested call of the chain's first task
(parent link). Values are unique per chain, so a lineage answer holds only its chain. Prints the build time once,
the first query's time (it computes the entity ids of every value written since the last lineage query), then the
median and 95th percentile of --reps queries per direction, each a fresh ``get_lineage`` call on the open
store (the page cache is warm after the first).
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
    doc = {"task_id": f"t{i:08d}", "workflow_id": f"w{i // 100_000}", "activity_id": f"step{pos}",
           "used": {"x": f"value-{i - 1}" if pos else f"input-{i}", "lr": 0.001 * (i % 1000)},
           "generated": {"y": f"value-{i}"}, "status": "FINISHED", "started_at": 1.8e9 + i, "ended_at": 1.8e9 + i + 1}
    if pos and pos % 5 == 0:
        doc["parent_task_id"] = f"t{head:08d}"
    return doc


def build(path: str, n: int) -> float:
    from flowcept_lmdb.store import LMDBStore

    from flowcept_core.settings import Settings

    shutil.rmtree(path, ignore_errors=True)
    store = LMDBStore(Settings({"databases": {"lmdb": {"enabled": True, "path": path}}}))
    t0 = time.perf_counter()
    batch = 5000
    for start in range(0, n, batch):
        store.upsert("tasks", [_task(i) for i in range(start, min(n, start + batch))])
        if start and start % 200_000 == 0:
            print(f"  {start} tasks stored, {time.perf_counter() - t0:.0f} s", flush=True)
    took = time.perf_counter() - t0
    store.close()
    with open(os.path.join(path, "BUILT"), "w") as f:
        f.write(str(n))
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--store")
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    path = args.store or f"/tmp/flowcept_bench_lineage_{args.n}"
    marker = os.path.join(path, "BUILT")
    if args.rebuild or not os.path.exists(marker) or open(marker).read() != str(args.n):
        print(f"building a {args.n}-task LMDB store in {path} ...", flush=True)
        print(f"built in {build(path, args.n):.1f} s")
    from flowcept_lmdb.store import LMDBStore

    from flowcept_core.lineage import get_lineage
    from flowcept_core.settings import Settings

    store = LMDBStore(Settings({"databases": {"lmdb": {"enabled": True, "path": path}}}))
    chain = (args.n // CHAIN // 2) * CHAIN  # a chain in the middle of the store
    deep = f"t{chain + args.depth + 2:08d}"  # depth+2 tasks before it in its chain
    first = f"t{chain + 2:08d}"
    print(f"store {path}: {args.n} tasks; load average {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    get_lineage(store, first, "downstream", 1)  # the first query after writes indexes the values written since
    print(f"  first lineage query after the writes (brings the value index up to date): "
          f"{time.perf_counter() - t0:.1f} s")
    for label, task_id, direction in (("upstream", deep, "upstream"), ("downstream", first, "downstream"),
                                      ("both", f"t{chain + 12:08d}", "both")):
        result = get_lineage(store, task_id, direction, args.depth)
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            get_lineage(store, task_id, direction, args.depth)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        depth = max(t["depth"] for t in result["tasks"])
        print(f"  {label:10s} max_depth={args.depth}: {len(result['tasks']) - 1} tasks (deepest {depth}), "
              f"{len(result['values'])} values, {len(result['edges'])} edges: median {statistics.median(times):.1f} ms,"
              f" p95 {times[int(len(times) * 0.95) - 1]:.1f} ms")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
