"""What the neo4j store makes of a workflow: the PROV nodes and paths, merged start/end messages, redelivery that
changes nothing, and lineage answers equal to LMDB's. Checked with Cypher on a real Bolt server."""

from __future__ import annotations

import pytest

WF = "wf-graph"
DATASET = {"data_id": "file:///data/train.csv", "rows": 100}


def _stream() -> list[dict]:
    """A workflow: load generates a dataset; train (start and end messages) uses it and generates a model; two
    nested steps of train; eval uses the model. Each task's start and end arrive as separate messages."""
    return [
        {"type": "workflow", "workflow_id": WF, "name": "graph", "campaign_id": "camp-1", "user": "ana",
         "started_at": 1.0, "machine_info": {"hostname": "node7"}},
        {"type": "task", "task_id": "load", "workflow_id": WF, "activity_id": "load", "status": "RUNNING",
         "started_at": 2.0, "used": {"path": "/data"}, "user": "ana", "hostname": "node7"},
        {"type": "task", "task_id": "load", "workflow_id": WF, "status": "FINISHED", "ended_at": 3.0,
         "generated": {"dataset": DATASET}},
        {"type": "task", "task_id": "train", "workflow_id": WF, "activity_id": "train", "status": "RUNNING",
         "started_at": 4.0, "used": {"dataset": DATASET, "lr": 0.1}, "user": "ana"},
        {"type": "task", "task_id": "step-1", "workflow_id": WF, "activity_id": "step", "status": "FINISHED",
         "started_at": 4.1, "ended_at": 4.2, "parent_task_id": "train", "used": {"i": 1}, "generated": {"g": 0.5}},
        {"type": "task", "task_id": "step-2", "workflow_id": WF, "activity_id": "step", "status": "FINISHED",
         "started_at": 4.3, "ended_at": 4.4, "parent_task_id": "train", "used": {"i": 2, "g": 0.5}},
        {"type": "task", "task_id": "train", "workflow_id": WF, "status": "FINISHED", "ended_at": 5.0,
         "generated": {"model": {"data_id": "model-v1"}, "loss": 0.25}},
        {"type": "task", "task_id": "eval", "workflow_id": WF, "activity_id": "eval", "status": "FINISHED",
         "started_at": 6.0, "ended_at": 7.0, "used": {"model": {"data_id": "model-v1"}}, "generated": {"acc": 0.9}},
    ]


def _load(store, stream: list[dict], batch: int = 1) -> None:
    for i in range(0, len(stream), batch):
        part = stream[i:i + batch]
        for coll, kind in (("workflows", "workflow"), ("tasks", "task")):
            docs = [m for m in part if m["type"] == kind]
            if docs:
                store.upsert(coll, docs)


def _shape(graph) -> tuple[int, int]:
    return (graph.cypher("MATCH (n) RETURN count(n) AS n")[0]["n"],
            graph.cypher("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"])


@pytest.mark.parametrize("batch", [1, 3, 100])
def test_workflow_with_nested_tasks_and_data_flow_gives_the_prov_nodes_and_paths(make_store, graph, batch):
    _load(make_store(), _stream(), batch)
    tasks = graph.cypher("MATCH (t:Task) RETURN t.task_id AS id, t.status AS status ORDER BY id")
    assert tasks == [{"id": i, "status": "FINISHED"} for i in ("eval", "load", "step-1", "step-2", "train")]
    assert graph.cypher("MATCH (t:Task)-[:PART_OF]->(w:Workflow {workflow_id: $wf})-[:PART_OF]->(c:Campaign) "
                        "RETURN count(t) AS n, c.campaign_id AS c", wf=WF) == [{"n": 5, "c": "camp-1"}]
    nested = graph.cypher("MATCH (s:Task)-[:WAS_STARTED_BY]->(p:Task) RETURN s.task_id AS s, p.task_id AS p "
                          "ORDER BY s")
    assert nested == [{"s": "step-1", "p": "train"}, {"s": "step-2", "p": "train"}]
    # data flow through the entities, by explicit data id and by content hash (g = 0.5)
    flow = graph.cypher("MATCH (c:Task)-[u:USED]->(e:Entity)-[:WAS_GENERATED_BY]->(g:Task) "
                        "RETURN c.task_id AS c, u.name AS name, e.entity_id AS e, g.task_id AS g ORDER BY c")
    assert [(f["c"], f["name"], f["g"]) for f in flow] == [
        ("eval", "model", "train"), ("step-2", "g", "step-1"), ("train", "dataset", "load")]
    assert flow[0]["e"] == "data:model-v1" and flow[1]["e"].startswith("sha256:")
    informed = graph.cypher("MATCH (c:Task)-[:WAS_INFORMED_BY]->(g:Task) RETURN c.task_id AS c, g.task_id AS g "
                            "ORDER BY c")
    assert informed == [{"c": "eval", "g": "train"}, {"c": "step-2", "g": "step-1"}, {"c": "train", "g": "load"}]
    path = graph.cypher("MATCH p = (:Task {task_id: 'eval'})-[:WAS_INFORMED_BY*]->(:Task {task_id: 'load'}) "
                        "RETURN length(p) AS hops")
    assert path == [{"hops": 2}]
    agents = graph.cypher("MATCH (t:Task {task_id: 'load'})-[:WAS_ASSOCIATED_WITH]->(a:Agent) "
                          "RETURN a.kind AS kind, a.agent_id AS id ORDER BY kind")
    assert agents == [{"kind": "host", "id": "node7"}, {"kind": "user", "id": "ana"}]
    assert graph.cypher("MATCH (w:Workflow)-[:WAS_ASSOCIATED_WITH]->(a:Agent {key: 'host:node7'}) "
                        "RETURN w.workflow_id AS w") == [{"w": WF}]
    # one node per entity, however many tasks refer to it
    assert graph.cypher("MATCH (e:Entity {entity_id: 'data:model-v1'}) RETURN count(e) AS n") == [{"n": 1}]


def test_start_and_end_messages_end_as_one_node_with_merged_properties(make_store, graph):
    store = make_store()
    store.upsert("tasks", [{"type": "task", "task_id": "t1", "workflow_id": WF, "activity_id": "fit",
                            "status": "RUNNING", "started_at": 10.0, "used": {"x": 1}}])
    store.upsert("tasks", [{"type": "task", "task_id": "t1", "workflow_id": WF, "status": "FINISHED",
                            "ended_at": 12.0, "generated": {"y": 2}}])
    store.upsert("tasks", [{"type": "task", "task_id": "t1", "status": "RUNNING", "started_at": 10.0}])  # late
    (node,) = graph.cypher("MATCH (t:Task {task_id: 't1'}) RETURN t.activity_id AS activity_id, "
                           "t.status AS status, t.started_at AS started_at, t.ended_at AS ended_at, "
                           "t.workflow_id AS workflow_id")
    assert node == {"activity_id": "fit", "status": "FINISHED", "started_at": 10.0, "ended_at": 12.0,
                    "workflow_id": WF}
    rels = graph.cypher("MATCH (t:Task {task_id: 't1'})-[r]-(o) RETURN type(r) AS type, r.name AS name "
                        "ORDER BY type")
    assert rels == [{"type": "PART_OF", "name": None}, {"type": "USED", "name": "x"},
                    {"type": "WAS_GENERATED_BY", "name": "y"}]
    (doc,) = store.find("tasks", {"task_id": "t1"})
    assert doc["used"] == {"x": 1} and doc["generated"] == {"y": 2} and doc["status"] == "FINISHED"


def test_redelivered_messages_change_no_node_or_relationship(make_store, graph):
    store = make_store()
    _load(store, _stream(), 3)
    before = _shape(graph)
    _load(store, _stream(), 1)
    _load(store, list(reversed(_stream())), 100)
    assert _shape(graph) == before
    assert graph.cypher("MATCH (t:Task) RETURN count(t) AS n") == [{"n": 5}]


def test_a_changed_value_moves_the_relationship_to_the_new_entity(make_store, graph):
    store = make_store()
    store.upsert("tasks", [{"type": "task", "task_id": "t1", "used": {"x": 1}}])
    store.upsert("tasks", [{"type": "task", "task_id": "t1", "used": {"x": 2}}])
    used = graph.cypher("MATCH (:Task {task_id: 't1'})-[u:USED]->(e:Entity) RETURN u.name AS name, e.value AS v")
    assert used == [{"name": "x", "v": 2}]


def test_deleted_workflow_tasks_leave_the_graph(make_store, graph):
    store = make_store()
    _load(store, _stream(), 100)
    assert store.delete("tasks", {"workflow_id": WF}) == 5
    assert store.count("tasks") == 0 and store.count("workflows") == 1
    assert graph.cypher("MATCH (t:Task) RETURN count(t) AS n") == [{"n": 0}]
    assert graph.cypher("MATCH ()-[r:USED|WAS_GENERATED_BY|WAS_INFORMED_BY|WAS_STARTED_BY]->() "
                        "RETURN count(r) AS n") == [{"n": 0}]


@pytest.mark.parametrize("direction", ["upstream", "downstream", "both"])
@pytest.mark.parametrize("max_depth", [None, 0, 1, 2])
def test_lineage_from_the_graph_equals_lmdb(make_store, tmp_path, direction, max_depth):
    lmdb_store = pytest.importorskip("flowcept_lmdb.store")
    from flowcept_core.lineage import get_lineage
    from flowcept_core.settings import Settings

    lmdb = lmdb_store.LMDBStore(Settings({"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "l")}}}))
    try:
        graph_store = make_store()
        _load(graph_store, _stream(), 2)
        _load(lmdb, _stream(), 2)
        for task_id in ("load", "train", "step-1", "step-2", "eval"):
            want = get_lineage(lmdb, task_id, direction, max_depth)
            assert graph_store.get_lineage(task_id, direction, max_depth) == want, task_id
    finally:
        lmdb.close()


def test_lineage_walks_the_graph_through_nested_calls_and_data_flow(make_store):
    store = make_store()
    _load(store, _stream(), 100)
    up = store.get_lineage("eval", "upstream")
    assert [(t["task_id"], t["depth"]) for t in up["tasks"]] == [("eval", 0), ("train", 1), ("load", 2)]
    down = store.get_lineage("train", "downstream", max_depth=1)
    assert [t["task_id"] for t in down["tasks"]] == ["train", "eval", "step-1", "step-2"]
    assert {"from": "step-1", "to": "train", "relation": "wasStartedBy"} in down["edges"]


def test_a_value_generated_by_many_tasks_adds_no_quadratic_data_flow_links(make_store, graph, monkeypatch):
    import flowcept_neo4j.writes as writes

    monkeypatch.setattr(writes, "INFORMED_BY_MAX_DEGREE", 3)
    store = make_store()
    store.upsert("tasks", [{"type": "task", "task_id": f"p{i}", "generated": {"ok": True}} for i in range(5)])
    store.upsert("tasks", [{"type": "task", "task_id": f"c{i}", "used": {"flag": True}} for i in range(5)])
    store.upsert("tasks", [{"type": "task", "task_id": "s1", "generated": {"v": 0.25}},
                           {"type": "task", "task_id": "s2", "used": {"v": 0.25}}])
    informed = graph.cypher("MATCH (c:Task)-[:WAS_INFORMED_BY]->(g:Task) RETURN c.task_id AS c, g.task_id AS g")
    assert informed == [{"c": "s2", "g": "s1"}]  # not the 25 links through the shared value True
    assert graph.cypher("MATCH (:Task)-[:USED]->(e:Entity)-[:WAS_GENERATED_BY]->(:Task) WHERE e.value = true "
                        "RETURN count(*) AS n") == [{"n": 25}]
    assert [t["task_id"] for t in store.get_lineage("c0", "upstream")["tasks"]] == ["c0", "p0", "p1", "p2", "p3",
                                                                                    "p4"]


def test_two_writers_merging_into_the_same_tasks_lose_no_update(make_store):
    """Two stores (as two processes would have) write the start and the end messages of the same tasks at the same
    time; every task ends with both. A write refused as unavailable (a conflict the server reports) is retried, as
    the DocumentInserter does."""
    import threading

    from flowcept_core.plugin import StoreUnavailableError

    stores = [make_store(), make_store()]
    errors: list[BaseException] = []

    def write(k: int) -> None:
        for i in range(0, 60, 10):
            if k == 0:
                docs = [{"type": "task", "task_id": f"t{j}", "status": "RUNNING", "started_at": 1.0,
                         "used": {"a": j}} for j in range(i, i + 10)]
            else:
                docs = [{"type": "task", "task_id": f"t{j}", "status": "FINISHED", "ended_at": 2.0,
                         "generated": {"b": j}} for j in range(i, i + 10)]
            for _ in range(20):
                try:
                    stores[k].upsert("tasks", docs)
                    break
                except StoreUnavailableError as e:
                    errors.append(e)
            else:
                raise AssertionError(f"writer {k} could not write: {errors[-1]}")

    threads = [threading.Thread(target=write, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    docs = {d["task_id"]: d for d in stores[0].find("tasks", {})}
    assert len(docs) == 60
    for j in range(60):
        d = docs[f"t{j}"]
        assert (d["used"], d["generated"], d["status"], d["started_at"], d["ended_at"]) == (
            {"a": j}, {"b": j}, "FINISHED", 1.0, 2.0), d


def test_a_changed_value_moves_the_data_flow_link_too(make_store, graph):
    store = make_store()
    store.upsert("tasks", [{"type": "task", "task_id": "a", "generated": {"out": 1}},
                           {"type": "task", "task_id": "b", "generated": {"out": 2}},
                           {"type": "task", "task_id": "c", "used": {"x": 1, "y": 3}}])
    informed = "MATCH (c:Task)-[:WAS_INFORMED_BY]->(g:Task) RETURN c.task_id AS c, g.task_id AS g ORDER BY g"
    assert graph.cypher(informed) == [{"c": "c", "g": "a"}]
    store.upsert("tasks", [{"type": "task", "task_id": "c", "used": {"x": 2}}])  # x: 1 -> 2, now from b
    assert graph.cypher(informed) == [{"c": "c", "g": "b"}]
    store.upsert("tasks", [{"type": "task", "task_id": "b", "generated": {"out": 5}}])  # b no longer makes 2
    assert graph.cypher(informed) == []
