"""Provenance browser (flowcept ui) on a 1M-task LMDB store: first view of a 100k-task workflow, task pages, the
task list's p99, and the live view's latency.

    .venv/bin/python bench/bench_ui.py [--tasks 1000000] [--big 100000] [--store /tmp/flowcept_ui_bench_lmdb]

The store is built once with direct upserts (DBAPI.insert path: LMDBStore.upsert in batches) and kept under /tmp
(rebuilt when its size differs). Each figure is measured over HTTP on 127.0.0.1 against a UIServer in this process:

- first view: the page HTML, app.js, app.css, then the API calls the page makes (/api/workflows/{id} and /charts
  together, then /tasks?limit=100), on a fresh server (nothing in memory), with the workflow's rows and figures kept
  beside the LMDB store by an earlier server and with nothing kept (the workflow's first view ever: every task read
  and decoded), each with this process's CPU time; then again on one server (figures kept while the count holds);
  with headless Chromium present, also the browser's time from navigation to the page drawn. A store built by this
  run is measured once its lineage indexer has caught up (it would compete for the CPU).
- tasks?limit=100: p50/p99 over 200 requests (default order), and with sort=-started_at.
- task page: HTML + assets + /api/tasks/{id} (document, parent, children, lineage) for 50 tasks.
- live view: a task stored into the big workflow while /events is open; time until the event announcing it; with
  headless Chromium, until the page shows the new count and until it has appended the task (no redraw).
- campaign page: the HTML, assets and /api/campaigns/{id}?limit=50 of the campaign holding every workflow.

Each figure is printed beside its target (the provenance browser's performance requirements) with the load average
at the time: the machine may be shared, and a loaded machine slows every figure.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import threading
import time
import urllib.request

from _ui_browser import browser_live, browser_view, cold_view, keeping_done, lineage_idle, store_live_task

BATCH = 5000


def _settings(path: str):
    from flowcept_core.settings import load_settings

    return load_settings(
        overrides={"databases.lmdb.enabled": True, "databases.lmdb.path": path, "databases.mongodb.enabled": False}
    )


def _task(i: int, workflow: str, local: int) -> dict:
    start = 1_800_000_000.0 + i * 0.01
    activity = ("load", "train_epoch", "evaluate", "save", "preprocess")[local % 5]
    doc = {
        "type": "task",
        "task_id": f"bench-{i:08d}",
        "workflow_id": workflow,
        "campaign_id": "bench-campaign",
        "activity_id": activity,
        "status": "ERROR" if local % 997 == 0 else "FINISHED",
        "started_at": start,
        "ended_at": start + 0.005 + (local % 7) * 0.001,
        "hostname": "node-1",
        # values that are not also another task's output: data-flow lineage stays within a task's family
        "used": {"epoch": local, "lr": 0.0125, "seed": i},
        "generated": {"loss": 1.0 / (local + 1) + 1e-7},
        "telemetry_at_end": {
            "timestamp": start + 0.006,
            "cpu": {"percent_all": float(local % 100)},
            "memory": {"virtual": {"percent": 40.0 + local % 10}},
        },
    }
    if local % 10:
        doc["parent_task_id"] = f"bench-{i - local % 10:08d}"
    if doc["status"] == "ERROR":
        doc["stderr"] = f"RuntimeError: step {local} diverged"
    return doc


def build(path: str, total: int, big: int, settings=None, name: str = "lmdb") -> str:
    """The store (LMDB at path, or the given settings' store name, its marker file in path) with total tasks, big
    of them in workflow 'bench-big' (others: 1000 per workflow)."""
    from flowcept_core.query import open_store

    settings = settings or _settings(path)
    marker = os.path.join(path, f".bench2-{total}-{big}")
    # the big workflow is the most recently started one (what a user opens first, and what the server warms)
    workflows = [
        {
            "workflow_id": "bench-big",
            "name": "bench big run",
            "campaign_id": "bench-campaign",
            "status": "FINISHED",
            "started_at": 1_800_000_000.0 + total * 0.01,
            "user": "bench",
        }
    ]
    workflows += [
        {
            "workflow_id": f"bench-wf-{n:05d}",
            "name": f"bench run {n}",
            "campaign_id": "bench-campaign",
            "status": "FINISHED",
            "started_at": 1_800_000_000.0 + (big + n * 1000) * 0.01,
            "user": "bench",
        }
        for n in range((total - big + 999) // 1000)
    ]
    if os.path.exists(marker):
        open_store(settings, name).upsert("workflows", workflows)
        return "bench-big"
    if name == "lmdb":
        if os.path.isdir(path):
            import shutil

            shutil.rmtree(path)
        os.makedirs(path)
    store = open_store(settings, name)
    if name != "lmdb":
        store.delete("tasks", {})
        store.delete("workflows", {})
    t0 = time.perf_counter()
    batch: list[dict] = []
    for i in range(total):
        if i < big:
            workflow, local = "bench-big", i
        else:
            n = (i - big) // 1000
            workflow, local = f"bench-wf-{n:05d}", (i - big) % 1000
        batch.append(_task(i, workflow, local))
        if len(batch) >= BATCH:
            store.upsert("tasks", batch)
            batch = []
    if batch:
        store.upsert("tasks", batch)
    store.upsert("workflows", workflows)
    open(marker, "w").close()
    print(f"built {total} tasks ({big} in bench-big, {len(workflows)} workflows) in {time.perf_counter() - t0:.1f} s")
    return "bench-big"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read()


def _timed(url: str) -> float:
    t0 = time.perf_counter()
    _get(url)
    return time.perf_counter() - t0


def first_view(base: str, wid: str) -> float:
    t0 = time.perf_counter()
    for path in (f"workflows/{wid}", "static/app.js", "static/app.css"):
        _get(base + path)
    both = [
        threading.Thread(target=_get, args=(base + p,)) for p in (f"api/workflows/{wid}", f"api/workflows/{wid}/charts")
    ]
    for t in both:
        t.start()
    for t in both:
        t.join()
    _get(base + f"api/workflows/{wid}/tasks?limit=100")
    return time.perf_counter() - t0


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def report(label: str, value: float, target: float | None, unit: str = "s", extra: str = "") -> None:
    """One figure beside its target and the load average."""
    shown = f"{value * 1000:.1f} ms" if unit == "ms" else f"{value:.3f} s"
    if target is None:
        verdict = "no target"
    else:
        goal = f"{target * 1000:.0f} ms" if unit == "ms" else f"{target:g} s"
        verdict = f"target <= {goal}: {'met' if value <= target else 'NOT met'}"
    print(f"{label}: {shown}{extra}  [{verdict}; {_load()}]", flush=True)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def live_latency(server, base: str, wid: str, db, rounds: int = 10) -> list[float]:
    got: queue.Queue = queue.Queue()

    def listen() -> None:
        import orjson

        with urllib.request.urlopen(base + f"api/workflows/{wid}/events", timeout=600) as r:
            for line in r:
                if line.startswith(b"data: "):
                    got.put((time.perf_counter(), orjson.loads(line[6:])))

    threading.Thread(target=listen, daemon=True).start()
    count = got.get(timeout=60)[1]["task_count"]
    out = []
    for n in range(rounds):
        time.sleep(0.35)
        store_live_task(db, wid, n)
        stored = time.perf_counter()
        while True:
            at, state = got.get(timeout=60)
            if state["task_count"] > count:
                count = state["task_count"]
                out.append(at - stored)
                break
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument(
        "--store",
        default=None,
        help="LMDB directory (default /tmp/flowcept_ui_bench_lmdb), or with --mongodb the MongoDB-wire "
        "server's data directory (default /tmp/flowcept_ui_bench_nx)",
    )
    parser.add_argument("--mongodb", action="store_true", help="MongoDB-wire (NX-27017, started here) instead of LMDB")
    args = parser.parse_args()
    print(f"{_load()} at start ({os.cpu_count()} cores)")
    from flowcept_ui.server import UIServer

    from flowcept_core.query import DBAPI

    mongo = None
    if args.mongodb:
        from pathlib import Path

        from flowcept_mongodb.testserver import start_mongo_wire

        from flowcept_core.settings import load_settings

        path = args.store or "/tmp/flowcept_ui_bench_nx"
        mongo, uri = start_mongo_wire(Path(path))
        if mongo is None:
            print(f"no MongoDB-wire server: {uri}")
            return 1
        settings = load_settings(
            overrides={
                "databases.mongodb.enabled": True,
                "databases.mongodb.uri": uri,
                "databases.mongodb.db": "ui_bench",
                "databases.lmdb.enabled": False,
            }
        )
        wid = build(path, args.tasks, args.big, settings, "mongodb")
    else:
        path = args.store or "/tmp/flowcept_ui_bench_lmdb"
        settings = _settings(path)
        wid = build(path, args.tasks, args.big, settings)
    print(f"store: {'MongoDB-wire (NX-27017)' if mongo else 'LMDB'} {path}")
    if not mongo:
        lineage_idle(settings)
    nothing = [cold_view(settings, wid, first_view, path if not mongo else None) for _ in range(3)]
    colds = [cold_view(settings, wid, first_view) for _ in range(3)] if not mongo else []
    server = UIServer(settings, port=0).start()  # no warming: the first view computes the figures
    base = server.url
    try:
        for label, runs in (
            ("a server just started, the workflow's rows and figures kept beside the store", colds),
            ("a server just started, nothing kept: the workflow's first view ever", nothing),
        ):
            if runs:
                report(
                    f"first view of the {args.big}-task workflow, cold (HTML + assets + every API call the page "
                    f"makes; {label}), median of 3",
                    statistics.median(w for w, _ in runs),
                    1.0,
                    extra=f" (CPU {statistics.median(c for _, c in runs):.3f} s; each wall/CPU: "
                    f"{', '.join(f'{w:.3f}/{c:.3f}' for w, c in runs)})",
                )
        first_view(base, wid)
        again = [first_view(base, wid) for _ in range(5)]
        report("  the same, figures kept (count unchanged), median of 5", statistics.median(again), 1.0)
        seen = browser_view(base, wid)
        if seen is not None:
            report("  headless Chromium, navigation to the page drawn (figures kept)", seen, 1.0)
        server.browser._figures.clear()
        seen = browser_view(base, wid)
        if seen is not None and not mongo:
            report("  headless Chromium, navigation to the page drawn (figures not in memory, kept on disk)", seen, 1.0)
        keeping_done()
        if not mongo:
            import shutil

            shutil.rmtree(os.path.join(path, "derived"), ignore_errors=True)
        server.browser._figures.clear()
        seen = browser_view(base, wid)
        if seen is not None:
            report("  headless Chromium, navigation to the page drawn (nothing kept)", seen, 1.0)
        keeping_done()
        server.browser.figures(wid)
        cases = (
            ("default order, figures kept", "", False, 200),
            ("sort=-started_at, figures kept", "&sort=-started_at", False, 200),
            ("offset=50000, figures kept", "&offset=50000", False, 200),
            ("status=FINISHED: from the store", "&status=FINISHED", False, 50),
            ("default order, figures dropped: from the store", "", True, 50),
        )
        for label, query, drop, n in cases:
            times = []
            for _ in range(n):
                if drop:
                    server.browser._figures.clear()
                times.append(_timed(base + f"api/workflows/{wid}/tasks?limit=100{query}"))
            report(
                f"/api/workflows/{{id}}/tasks?limit=100 ({label}), p99",
                _pct(times, 0.99),
                0.1,
                "ms",
                f" (p50 {_pct(times, 0.5) * 1000:.1f} ms, {len(times)} requests)",
            )
        ids = [f"bench-{i:08d}" for i in range(0, args.big, max(1, args.big // 50))][:50]
        t0 = time.perf_counter()
        DBAPI(settings).get_lineage(ids[0], "both", 1)
        print(
            f"lineage index brought up to date by the first lineage query: {time.perf_counter() - t0:.2f} s "
            "(LMDB computes the entity ids of tasks written since the last lineage query, all of them the first "
            "time)"
        )
        pages = []
        for tid in ids:
            t0 = time.perf_counter()
            for path in (f"tasks/{tid}", "static/app.js", "static/app.css", f"api/tasks/{tid}"):
                _get(base + path)
            pages.append(time.perf_counter() - t0)
        report(
            "task page (HTML + assets + /api/tasks/{id} with parent, children, lineage), p50",
            _pct(pages, 0.5),
            0.2,
            "ms",
            f" (max {max(pages) * 1000:.1f} ms, {len(pages)} tasks)",
        )
        camp = []
        for _ in range(5):
            t0 = time.perf_counter()
            for path in (
                "campaigns/bench-campaign",
                "static/app.js",
                "static/app.css",
                "api/campaigns/bench-campaign?limit=50",
            ):
                _get(base + path)
            camp.append(time.perf_counter() - t0)
        report(
            f"campaign page (HTML + assets + /api/campaigns/{{id}}?limit=50; {args.tasks} tasks in it), median",
            statistics.median(camp),
            None,
        )
        lat = live_latency(server, base, wid, DBAPI(settings))
        report(
            "live view: task stored -> event received, max",
            max(lat),
            1.0,
            extra=f" (median {statistics.median(lat) * 1000:.0f} ms, {len(lat)} tasks; poll every "
            f"{server.poll_secs} s)",
        )
        seen = browser_live(base, wid, DBAPI(settings))
        if seen:
            report(
                "  headless Chromium: task stored -> new count on the page, max",
                max(c for c, _ in seen),
                1.0,
                extra=f" (median {statistics.median(c for c, _ in seen):.3f} s)",
            )
            report(
                "  headless Chromium: task stored -> task appended to the timeline and list (no redraw), max",
                max(r for _, r in seen),
                1.0,
                extra=f" (median {statistics.median(r for _, r in seen):.3f} s, {len(seen)} tasks)",
            )
    finally:
        server.stop()
        if mongo is not None:
            from flowcept_mongodb.testserver import stop_server

            stop_server(mongo)
    print(f"{_load()} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
