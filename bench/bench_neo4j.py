"""Throughput of the neo4j graph store: 100k tasks into the graph, tasks/s, beside the bare server's ceiling.

    python bench/bench_neo4j.py [--uri bolt://127.0.0.1:7688 --user root --password PW --database prov]
                                [--tasks 100000] [--batch 5000] [--runs 3] [--split]

The workload is a typical workflow: calls nested ten to an outer call (each outer call's message comes after its
nine nested ones, as flowcept sends a task when it ends), every task with user and host, using the previous task's
output x and a shared parameter lr, and generating its output y (so the graph has data flow and one value that every
task uses). Written with Neo4jStore.upsert in batches (the DocumentInserter writes up to 20k documents at once under
load); --split sends each task as a start and an end message in separate batches (the second message merges into a
stored node). Each run writes a new workflow with its own values; the figure is the median of the runs.

The ceiling beside it: the same nodes (properties and stored document included) and relationships for the same
tasks, written by the bare server with the fewest statements that make them (new nodes CREATEd with their workflow
and agent links, the other relationships CREATEd between element ids returned by the creates, one transaction per
batch), from rows prepared before timing: no flowcept code, no reads, no merging. It bounds what any store code can
reach on that server with the relationships the PROV mapping requires.

Without --uri it starts a private ArcadeDB Bolt server (pip install arcadedb-embedded; see
flowcept_neo4j.testserver) in a temporary folder and stops it by its PID at the end. The graph is emptied first
(and left as written at the end).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict

from flowcept_core.plugin import Settings

GROUP = 10  # an outer call and its nested calls


def _task(wf: str, i: int, base: int = 0) -> dict:
    """Task i (nested in the call i - i % GROUP unless it is that call) uses x (the value task i - 1 generated)
    and lr, and generates y."""
    doc = {"type": "task", "task_id": f"{wf}-{i}", "workflow_id": wf, "activity_id": f"act{i % GROUP}",
           "status": "FINISHED", "started_at": 1_700_000_000.0 + i, "ended_at": 1_700_000_000.5 + i,
           "user": "bench", "hostname": "node1", "used": {"x": base + i, "lr": 0.01}, "generated": {"y": base + i + 1}}
    if i % GROUP:
        doc["parent_task_id"] = f"{wf}-{i - i % GROUP}"
    return doc


def _workflow(wf: str, n: int, base: int) -> list[dict]:
    """The tasks in the order their messages come: each outer call after its nested calls."""
    order = [j for g in range(0, n, GROUP) for j in [*range(g + 1, min(g + GROUP, n)), g]]
    return [_task(wf, j, base) for j in order]


def _split(doc: dict) -> tuple[dict, dict]:
    start = {k: v for k, v in doc.items() if k not in ("ended_at", "generated")} | {"status": "RUNNING"}
    end = {"type": "task", "task_id": doc["task_id"], "workflow_id": doc["workflow_id"], "status": "FINISHED",
           "ended_at": doc["ended_at"], "generated": doc["generated"]}
    return start, end


def _empty(store) -> None:
    with store._session() as session:
        while session.run("MATCH (n) WITH n LIMIT 20000 DETACH DELETE n RETURN count(n) AS n").single()["n"]:
            pass


def _store_run(store, docs: list[dict], batch: int, split: bool) -> float:
    start = time.perf_counter()
    if split:
        pairs = [_split(d) for d in docs]
        for i in range(0, len(docs), batch):
            store.upsert("tasks", [p[0] for p in pairs[i:i + batch]])
        for i in range(0, len(docs), batch):
            store.upsert("tasks", [p[1] for p in pairs[i:i + batch]])
    else:
        for i in range(0, len(docs), batch):
            store.upsert("tasks", docs[i:i + batch])
    return time.perf_counter() - start


class _BarePlan:
    """The graph the store makes of docs, as rows for bare CREATE statements (labels Bare*, so it sits beside the
    store's graph): per batch the entities first seen in it, the tasks, and the relationships by type."""

    def __init__(self, docs: list[dict], batch: int):
        from flowcept_neo4j.graph import INFORMED_BY_MAX_DEGREE, node_properties, pack, relations

        self.hubs: dict[tuple[str, str], dict] = {}
        self.batches = []
        seen: set[str] = set()
        generators, consumers = defaultdict(list), defaultdict(list)
        for i in range(0, len(docs), batch):
            tasks, entities, links = [], [], defaultdict(list)
            for doc in docs[i:i + batch]:
                key, hubs = doc["task_id"], []
                for rel in sorted(relations("tasks", doc), key=lambda r: (r.type, r.other_key)):
                    if rel.other_label in ("Workflow", "Agent"):
                        self.hubs[(rel.other_label, rel.other_key)] = dict(rel.other_props)
                        hubs.append((rel.type, rel.other_label, rel.other_key))
                    elif rel.other_label == "Task":
                        links[("WAS_STARTED_BY", "")].append((key, rel.other_key, None))
                    else:
                        if rel.other_key not in seen:
                            seen.add(rel.other_key)
                            entities.append({"k": rel.other_key, "op": {"entity_id": rel.other_key,
                                                                        **dict(rel.other_props)}})
                        name = dict(rel.props)["name"]
                        if rel.type == "USED":
                            links[("USED", "name")].append((key, rel.other_key, name))
                            consumers[rel.other_key].append(key)
                        else:
                            links[("WAS_GENERATED_BY", "name")].append((rel.other_key, key, name))
                            generators[rel.other_key].append(key)
                tasks.append({"id": key, "props": node_properties("tasks", doc), "doc": pack(doc), "hubs": hubs})
            self.batches.append((tasks, entities, links))
        # data flow, as the store links it: each consumer to each generator of a value made by at most 100 tasks
        first_batch = {d["task_id"]: i // batch for i, d in enumerate(docs)}
        for entity, gens in generators.items():
            if len(gens) <= INFORMED_BY_MAX_DEGREE:
                for c in consumers.get(entity, ()):
                    for g in gens:
                        if c != g:
                            b = max(first_batch[c], first_batch[g])
                            self.batches[b][2][("WAS_INFORMED_BY", "")].append((c, g, None))

    def run(self, session) -> float:
        start = time.perf_counter()
        eids: dict[str, str] = {}
        with session.begin_transaction() as tx:
            for (label, key), props in self.hubs.items():
                prop = "workflow_id" if label == "Workflow" else "key"
                rec = tx.run(f"MERGE (h:Bare{label} {{{prop}: $k}}) SET h += $p RETURN elementId(h) AS e", k=key,
                             p=props).single()
                eids[key] = rec["e"]
            keys = [e["k"] for _, entities, _ in self.batches for e in entities]
            rec = tx.run("UNWIND $keys AS k MATCH (e:BareEntity {entity_id: k}) "
                         "RETURN collect(k) AS k, collect(elementId(e)) AS e", keys=keys).single()
            eids.update(zip(rec["k"], rec["e"], strict=True))  # values an earlier run made (lr)
            tx.commit()
        for tasks, entities, links in self.batches:
            with session.begin_transaction() as tx:
                entities = [e for e in entities if e["k"] not in eids]
                if entities:
                    rec = tx.run("UNWIND $rows AS r CREATE (e:BareEntity) SET e = r.op "
                                 "RETURN collect(r.k) AS k, collect(elementId(e)) AS e", rows=entities).single()
                    eids.update(zip(rec["k"], rec["e"], strict=True))
                groups = defaultdict(list)
                for t in tasks:
                    groups[tuple(t["hubs"])].append({"id": t["id"], "props": t["props"], "doc": t["doc"]})
                for hubs, rows in groups.items():
                    found = " ".join(f"MATCH (h{j}) WHERE elementId(h{j}) = $hubs[{j}]" for j in range(len(hubs)))
                    made = ", ".join(f"(n)-[:{t}]->(h{j})" for j, (t, _, _) in enumerate(hubs))
                    rec = tx.run(f"{found} UNWIND $rows AS r CREATE (n:BareTask {{task_id: r.id}}) "
                                 f"SET n += r.props, n._doc = r.doc CREATE {made} "
                                 "RETURN collect(r.id) AS k, collect(elementId(n)) AS e", rows=rows,
                                 hubs=[eids[k] for _, _, k in hubs]).single()
                    eids.update(zip(rec["k"], rec["e"], strict=True))
                for (rel_type, prop), rows in links.items():
                    made = f"[:{rel_type} {{{prop}: r.p}}]" if prop else f"[:{rel_type}]"
                    tx.run(f"UNWIND $rows AS r MATCH (s) WHERE elementId(s) = r.s MATCH (e) WHERE elementId(e) = r.e "
                           f"CREATE (s)-{made}->(e)",
                           rows=[{"s": eids[s], "e": eids[e], "p": p} for s, e, p in rows]).consume()
                tx.commit()
        return time.perf_counter() - start


def _bare_schema(store) -> None:
    with store._session() as session:
        for label, key in (("BareTask", "task_id"), ("BareEntity", "entity_id"), ("BareWorkflow", "workflow_id"),
                           ("BareAgent", "key")):
            session.run(f"CREATE CONSTRAINT bench_{label.lower()} IF NOT EXISTS "
                        f"FOR (n:{label}) REQUIRE n.{key} IS UNIQUE").consume()
        for key in ("workflow_id", "parent_task_id"):  # the store's indexes on tasks
            session.run(f"CREATE INDEX bench_baretask_{key} IF NOT EXISTS FOR (n:BareTask) ON (n.{key})").consume()


def _load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def run(settings: Settings, n: int, batch: int, runs: int, split: bool) -> None:
    from flowcept_neo4j.store import Neo4jStore

    store = Neo4jStore(settings)
    try:
        _empty(store)
        _bare_schema(store)
        mode = "start+end messages" if split else "one message per task"
        rates, bare_rates = [], []
        for k in range(runs):
            base = (k + 1) * 10_000_000  # values of their own, so runs share no data flow
            docs = _workflow(f"wf-bench-{k}", n, base)
            took = _store_run(store, docs, batch, split)
            rates.append(n / took)
            nodes = store._read("MATCH (t:Task {workflow_id: $wf}) RETURN count(t) AS n", wf=f"wf-bench-{k}")[0]["n"]
            rels = store._read("MATCH (t:Task {workflow_id: $wf})-[r]-() RETURN count(r) AS n",
                               wf=f"wf-bench-{k}")[0]["n"]
            print(f"run {k + 1}: neo4j store {n} tasks ({mode}), batches of {batch}: {took:.1f} s, "
                  f"{n / took:,.0f} tasks/s ({nodes} tasks, {rels} relationships at tasks; {_load()})", flush=True)
            plan = _BarePlan(_workflow(f"bare-{k}", n, base + 5_000_000), batch)
            with store._session() as session:
                bare = plan.run(session)
            bare_rates.append(n / bare)
            print(f"run {k + 1}: bare server, the same graph with minimal CREATE statements: {bare:.1f} s, "
                  f"{n / bare:,.0f} tasks/s ({_load()})", flush=True)
        store_median, bare_median = statistics.median(rates), statistics.median(bare_rates)
        print(f"neo4j store: {store_median:,.0f} tasks/s (median of {runs}); bare server ceiling: "
              f"{bare_median:,.0f} tasks/s (median of {runs}); the store reaches {store_median / bare_median:.0%} "
              f"of the ceiling ({_load()})")
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
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--split", action="store_true")
    args = parser.parse_args()
    if args.uri:
        section = {"enabled": True, "uri": args.uri, "user": args.user, "password": args.password,
                   "database": args.database}
        run(Settings({"databases": {"neo4j": section}}), args.tasks, args.batch, args.runs, args.split)
        return
    from flowcept_neo4j.testserver import BoltTestServer

    with tempfile.TemporaryDirectory() as root, BoltTestServer(root) as server:
        run(Settings({"databases": {"neo4j": server.settings()}}), args.tasks, args.batch, args.runs, args.split)


if __name__ == "__main__":
    main()
