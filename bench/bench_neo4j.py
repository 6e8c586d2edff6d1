"""Throughput of the neo4j graph store: 100k tasks into the graph, tasks/s.

    python bench/bench_neo4j.py [--uri bolt://127.0.0.1:7688 --user root --password PW --database prov]
                                [--tasks 100000] [--batch 5000] [--split]

Each task is what a decorated call gives: ids, activity, status, times, user and host, one used and one generated
value (the next task uses the previous task's output, so the graph has data flow). Written with Neo4jStore.upsert in
batches (the DocumentInserter writes up to 20k documents at once under load); --split sends each task as a start and
an end message in separate batches (the slower path: the second message merges into a stored node). For comparison
it also times the server alone: the same nodes with one ``UNWIND ... MERGE ... SET`` per batch and nothing else.

Without --uri it starts a private ArcadeDB Bolt server (pip install arcadedb-embedded; see
flowcept_neo4j.testserver) in a temporary folder and stops it by its PID at the end. The graph is emptied first
(and left as written at the end).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from flowcept_core.plugin import Settings


def _task(wf: str, i: int) -> dict:
    """Task i uses x=i and generates y=i+1: the value task i+1 uses (the same entity by content hash)."""
    return {"type": "task", "task_id": f"{wf}-{i}", "workflow_id": wf, "activity_id": f"act{i % 10}",
            "status": "FINISHED", "started_at": 1_700_000_000.0 + i, "ended_at": 1_700_000_000.5 + i,
            "user": "bench", "hostname": "node1", "used": {"x": i}, "generated": {"y": i + 1}}


def _split(doc: dict) -> tuple[dict, dict]:
    start = {k: v for k, v in doc.items() if k not in ("ended_at", "generated")} | {"status": "RUNNING"}
    end = {"type": "task", "task_id": doc["task_id"], "workflow_id": doc["workflow_id"], "status": "FINISHED",
           "ended_at": doc["ended_at"], "generated": doc["generated"]}
    return start, end


def _empty(store) -> None:
    with store._session() as session:
        while session.run("MATCH (n) WITH n LIMIT 20000 DETACH DELETE n RETURN count(n) AS n").single()["n"]:
            pass


def _server_alone(store, docs: list[dict], batch: int) -> float:
    rows = [{"id": "raw-" + d["task_id"], "props": {k: d[k] for k in ("activity_id", "status", "started_at",
                                                                      "ended_at", "workflow_id")}} for d in docs]
    start = time.perf_counter()
    with store._session() as session:
        for i in range(0, len(rows), batch):
            session.execute_write(lambda tx, part=rows[i:i + batch]: tx.run(
                "UNWIND $rows AS r MERGE (t:RawTask {task_id: r.id}) SET t += r.props", rows=part).consume())
    return time.perf_counter() - start


def _client_side(docs: list[dict]) -> float:
    """Seconds this process spends per write besides waiting for the server: merge, mapping, relationship diff."""
    from flowcept_neo4j.graph import node_properties, pack, relations

    from flowcept_core.plugin import merge_documents

    start = time.perf_counter()
    for d in docs:
        doc = merge_documents(None, d)
        node_properties("tasks", doc)
        pack(doc)
        relations("tasks", doc) - relations("tasks", None)
    return time.perf_counter() - start


def run(settings: Settings, n: int, batch: int, split: bool) -> None:
    from flowcept_neo4j.store import Neo4jStore

    store = Neo4jStore(settings)
    try:
        _empty(store)
        with store._session() as session:
            session.run("CREATE CONSTRAINT bench_raw_task IF NOT EXISTS FOR (n:RawTask) REQUIRE n.task_id IS UNIQUE")
        docs = [_task("wf-bench", i) for i in range(n)]
        start = time.perf_counter()
        if split:
            pairs = [_split(d) for d in docs]
            for i in range(0, n, batch):
                store.upsert("tasks", [p[0] for p in pairs[i:i + batch]])
            for i in range(0, n, batch):
                store.upsert("tasks", [p[1] for p in pairs[i:i + batch]])
        else:
            for i in range(0, n, batch):
                store.upsert("tasks", docs[i:i + batch])
        took = time.perf_counter() - start
        stored = store.count("tasks")
        nodes = store._read("MATCH (n) RETURN count(n) AS n")[0]["n"]
        rels = store._read("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
        informed = store._read("MATCH (:Task)-[r:WAS_INFORMED_BY]->(:Task) RETURN count(r) AS n")[0]["n"]
        client = _client_side(docs)
        alone = _server_alone(store, docs, batch)
        mode = "start+end messages" if split else "one message per task"
        print(f"neo4j store, {n} tasks ({mode}), batches of {batch}: {took:.1f} s, {n / took:,.0f} tasks/s; "
              f"graph: {nodes} nodes ({stored} tasks), {rels} relationships ({informed} WAS_INFORMED_BY), "
              f"{rels / took:,.0f} relationships/s")
        print(f"of which in this process (merge, PROV mapping, packing; measured alone): {client:.1f} s, "
              f"{client / n * 1e6:.0f} us/task")
        print(f"server alone, UNWIND MERGE SET of the same {n} Task nodes without relationships: {alone:.1f} s, "
              f"{n / alone:,.0f} nodes/s")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri")
    parser.add_argument("--user", default="root")
    parser.add_argument("--password")
    parser.add_argument("--database", default="prov")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--split", action="store_true")
    args = parser.parse_args()
    if args.uri:
        section = {"enabled": True, "uri": args.uri, "user": args.user, "password": args.password,
                   "database": args.database}
        run(Settings({"databases": {"neo4j": section}}), args.tasks, args.batch, args.split)
        return
    from flowcept_neo4j.testserver import BoltTestServer

    with tempfile.TemporaryDirectory() as root, BoltTestServer(root) as server:
        run(Settings({"databases": {"neo4j": server.settings()}}), args.tasks, args.batch, args.split)


if __name__ == "__main__":
    main()
