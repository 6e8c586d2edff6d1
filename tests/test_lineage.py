"""Lineage queries (Flowcept.db.get_lineage): parent links and data flow, the same answer from LMDB and MongoDB."""

from __future__ import annotations

import pytest

from flowcept_core.lineage import LineageError, UnknownTaskError, get_lineage
from flowcept_core.prov_mapping import value_entity_id
from flowcept_core.settings import Settings

# prep -> train (uses prep's output) -> [nested: step1 -> step2]; evaluate uses train's model (an explicit data id);
# report uses evaluate's score. other is unrelated (uses a value nobody generated).
_TASKS = [
    {"task_id": "prep", "workflow_id": "w", "activity_id": "prep", "used": {"path": "raw.csv"},
     "generated": {"table": [1, 2, 3]}, "status": "FINISHED"},
    {"task_id": "train", "workflow_id": "w", "activity_id": "train", "used": {"data": [1, 2, 3], "lr": 0.1},
     "status": "RUNNING"},
    {"task_id": "train", "generated": {"model": {"data_id": "models/m1.pt", "bytes": 10}}, "status": "FINISHED"},
    {"task_id": "step1", "workflow_id": "w", "parent_task_id": "train", "activity_id": "step",
     "used": {"i": 1}, "generated": {"loss": 0.5}},
    {"task_id": "step2", "workflow_id": "w", "parent_task_id": "step1", "activity_id": "step",
     "used": {"i": 2}, "generated": {"loss": 0.25}},
    {"task_id": "evaluate", "workflow_id": "w", "activity_id": "evaluate",
     "used": {"m": {"data_id": "models/m1.pt"}}, "generated": {"score": 0.93}},
    {"task_id": "report", "workflow_id": "w", "activity_id": "report", "used": {"s": 0.93}},
    {"task_id": "other", "workflow_id": "w", "activity_id": "other", "used": {"seed": 12345}},
]


def _ids(result: dict) -> dict[str, int]:
    return {t["task_id"]: t["depth"] for t in result["tasks"]}


@pytest.fixture
def lmdb_store(tmp_path):
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    from flowcept_lmdb.store import LMDBStore

    store = LMDBStore(Settings({"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "lmdb")}}}))
    for doc in _TASKS:  # one call per message, as the start and end messages of a task arrive
        store.upsert("tasks", [dict(doc)])
    yield store
    store.close()


@pytest.fixture
def mongo_store(mongo_uri):
    import uuid

    from flowcept_mongodb.store import MongoDBStore

    db = f"lineage_{uuid.uuid4().hex[:12]}"
    store = MongoDBStore(Settings({"databases": {"mongodb": {"enabled": True, "uri": mongo_uri, "db": db}}}))
    for doc in _TASKS:
        store.upsert("tasks", [dict(doc)])
    yield store
    store.close()


def test_upstream_follows_parent_links_and_data_flow_to_the_first_inputs(lmdb_store):
    result = get_lineage(lmdb_store, "step2", "upstream")
    assert _ids(result) == {"step2": 0, "step1": 1, "train": 2, "prep": 3}
    edges = {(e["from"], e["to"], e["relation"]) for e in result["edges"]}
    table = value_entity_id([1, 2, 3])
    assert ("step2", "step1", "wasStartedBy") in edges and ("step1", "train", "wasStartedBy") in edges
    assert ("train", table, "used") in edges and (table, "prep", "wasGeneratedBy") in edges
    names = {v["name"] for v in result["values"]}
    assert {"i", "data", "lr", "path"} <= names  # what every task on the way used, including raw inputs


def test_downstream_follows_nested_calls_and_consumers_of_generated_values(lmdb_store):
    result = get_lineage(lmdb_store, "prep", "downstream")
    assert _ids(result) == {"prep": 0, "train": 1, "step1": 2, "evaluate": 2, "step2": 3, "report": 3}
    edges = {(e["from"], e["to"], e["relation"]) for e in result["edges"]}
    assert ("evaluate", "data:models/m1.pt", "used") in edges  # explicit data id links train and evaluate
    assert ("data:models/m1.pt", "train", "wasGeneratedBy") in edges
    assert "other" not in _ids(result)


def test_max_depth_limits_the_steps_and_zero_gives_the_task_alone(lmdb_store):
    assert _ids(get_lineage(lmdb_store, "prep", "downstream", max_depth=1)) == {"prep": 0, "train": 1}
    alone = get_lineage(lmdb_store, "train", "upstream", max_depth=0)
    assert _ids(alone) == {"train": 0}
    assert {v["name"] for v in alone["values"]} == {"data", "lr"}


def test_both_directions_give_ancestors_and_descendants_marked_by_direction(lmdb_store):
    result = get_lineage(lmdb_store, "evaluate", "both")
    directions = {t["task_id"]: t["direction"] for t in result["tasks"]}
    assert directions == {"evaluate": "self", "train": "upstream", "prep": "upstream", "report": "downstream"}


def test_a_task_document_in_the_answer_is_the_stored_document(lmdb_store):
    result = get_lineage(lmdb_store, "report", "upstream")
    stored = {d["task_id"]: d for d in lmdb_store.find("tasks", {})}
    for entry in result["tasks"]:
        assert entry["document"] == stored[entry["task_id"]]


def test_bad_arguments_and_unknown_tasks_give_clear_errors(lmdb_store):
    with pytest.raises(LineageError, match="direction='sideways'"):
        get_lineage(lmdb_store, "prep", "sideways")
    with pytest.raises(LineageError, match="max_depth=-1"):
        get_lineage(lmdb_store, "prep", "upstream", -1)
    with pytest.raises(UnknownTaskError, match="nope"):
        get_lineage(lmdb_store, "nope")


def test_a_store_without_an_entity_index_gives_the_same_answer(lmdb_store):
    class PlainStore:  # only find(): lineage.py computes the entity ids itself
        def find(self, collection, filter=None, projection=None, limit=0, sort=None):
            return lmdb_store.find(collection, filter, projection, limit, sort)

    for direction in ("upstream", "downstream", "both"):
        assert get_lineage(PlainStore(), "train", direction) == get_lineage(lmdb_store, "train", direction)


@pytest.mark.parametrize("which", ["lmdb_store", "mongo_store"])
def test_a_value_changed_by_a_later_message_no_longer_links_the_task(which, request):
    store = request.getfixturevalue(which)
    store.upsert("tasks", [{"task_id": "report", "used": {"s": 0.5}}])  # no longer uses evaluate's score
    assert "report" not in _ids(get_lineage(store, "evaluate", "downstream"))


def test_lmdb_and_mongodb_give_the_same_lineage(lmdb_store, mongo_store):
    for task_id in ("prep", "train", "step2", "evaluate", "report"):
        for direction in ("upstream", "downstream", "both"):
            for depth in (None, 1, 2):
                expected = get_lineage(lmdb_store, task_id, direction, depth)
                assert get_lineage(mongo_store, task_id, direction, depth) == expected, (task_id, direction, depth)


def test_mongodb_task_documents_are_unchanged_by_the_lineage_index(mongo_store):
    (doc,) = mongo_store.find("tasks", {"task_id": "evaluate"})
    assert doc == {"task_id": "evaluate", "workflow_id": "w", "activity_id": "evaluate",
                   "used": {"m": {"data_id": "models/m1.pt"}}, "generated": {"score": 0.93}}


def test_an_lmdb_store_written_before_the_value_index_is_indexed_by_its_first_lineage_query(tmp_path):
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    import lmdb
    from flowcept_lmdb.store import LMDBStore

    settings = Settings({"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "old")}}})
    store = LMDBStore(settings)
    store.upsert("tasks", [dict(d) for d in _TASKS])
    store.close()
    env = lmdb.open(str(tmp_path / "old"), max_dbs=32, subdir=True)
    with env.begin(write=True) as txn:  # as a store written before the index existed
        for name in (b"lx:pending", b"lx:used", b"lx:generated"):
            txn.drop(env.open_db(name, txn=txn, dupsort=name != b"lx:pending"), delete=True)
    env.close()
    reopened = LMDBStore(settings)
    try:
        assert _ids(get_lineage(reopened, "step2", "upstream")) == {"step2": 0, "step1": 1, "train": 2, "prep": 3}
    finally:
        reopened.close()


@pytest.mark.parametrize("which", ["lmdb_store", "mongo_store"])
def test_tasks_written_after_a_lineage_query_are_found_by_the_next_one(which, request):
    store = request.getfixturevalue(which)
    assert _ids(get_lineage(store, "report", "downstream")) == {"report": 0}
    store.upsert("tasks", [{"task_id": "report", "generated": {"pdf": {"data_id": "r.pdf"}}}])
    store.upsert("tasks", [{"task_id": "mail", "workflow_id": "w", "used": {"a": {"data_id": "r.pdf"}}}])
    assert _ids(get_lineage(store, "report", "downstream")) == {"report": 0, "mail": 1}
    assert _ids(get_lineage(store, "mail", "upstream"))["prep"] == 4


def test_a_run_captured_into_mongodb_answers_lineage_through_flowcept_db(tmp_path, monkeypatch, mongo_uri):
    import uuid

    from flowcept import Flowcept, flowcept_task
    from flowcept_core.stores import close_stores
    from tests._util import use_settings

    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {"type": "memory"},
        "databases": {"lmdb": {"enabled": False},
                      "mongodb": {"enabled": True, "uri": mongo_uri, "db": f"lin_{uuid.uuid4().hex[:8]}"}}})
    close_stores()

    @flowcept_task
    def make(n):
        return {"rows": list(range(n))}

    @flowcept_task
    def total(rows):
        return sum(rows)

    try:
        with Flowcept(workflow_name="lineage-mongo") as fc:
            total(make(3)["rows"])
        tasks = {t["activity_id"]: t for t in Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})}
        up = Flowcept.db.get_lineage(tasks["total"]["task_id"], "upstream")
        assert [(t["document"]["activity_id"], t["depth"]) for t in up["tasks"]] == [("total", 0), ("make", 1)]
        down = Flowcept.db.get_lineage(tasks["make"]["task_id"], "downstream", max_depth=1)
        assert [t["document"]["activity_id"] for t in down["tasks"]] == ["make", "total"]
    finally:
        close_stores()


def test_a_store_with_its_own_lineage_answers_for_itself_after_the_arguments_are_checked(lmdb_store):
    asked = []

    class GraphLike:  # a store that walks its own paths (as a graph store does)
        def get_lineage(self, task_id, direction, max_depth):
            asked.append((task_id, direction, max_depth))
            return get_lineage(lmdb_store, task_id, direction, max_depth)

    assert get_lineage(GraphLike(), "train", "both", 2) == get_lineage(lmdb_store, "train", "both", 2)
    assert asked == [("train", "both", 2)]
    with pytest.raises(LineageError):
        get_lineage(GraphLike(), "train", "up")
    assert len(asked) == 1


def test_an_lmdb_index_built_in_many_small_steps_gives_the_same_answers(tmp_path, monkeypatch):
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    import lmdb
    from flowcept_lmdb import _lineage
    from flowcept_lmdb.store import LMDBStore

    class PlainStore:  # only find(): the answers without any index
        def __init__(self, store):
            self.find = store.find

    monkeypatch.setattr(_lineage, "_STEP", 2)  # a write transaction per two tasks
    settings = Settings({"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "s")}}})
    store = LMDBStore(settings)
    for doc in _TASKS:
        store.upsert("tasks", [dict(doc)])
    store.close()
    env = lmdb.open(str(tmp_path / "s"), max_dbs=32, subdir=True)
    with env.begin(write=True) as txn:  # never indexed: the first query scans every task, two per step
        txn.delete(b"\xffbuilt", db=env.open_db(b"lx:pending", txn=txn))
    env.close()
    store = LMDBStore(settings)
    try:
        for task_id in ("prep", "step2", "report"):
            for direction in ("upstream", "downstream", "both"):
                assert get_lineage(store, task_id, direction) == get_lineage(PlainStore(store), task_id, direction)
        for i in range(5):  # five pending entries, indexed two per step
            store.upsert("tasks", [{"task_id": f"late{i}", "used": {"s": 0.93}}])
        assert {f"late{i}" for i in range(5)} <= set(_ids(get_lineage(store, "evaluate", "downstream")))
    finally:
        store.close()
