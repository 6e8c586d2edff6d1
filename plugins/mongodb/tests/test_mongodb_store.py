"""Behaviour of the mongodb store beyond the contract: bad settings and documents, outages, indexes, and queries that
must give exactly what flowcept_core.filters gives even where MongoDB servers disagree with it."""

from __future__ import annotations

import time
import uuid

import pytest

from flowcept_core.filters import FilterError, compile_filter, project, sort_documents
from flowcept_core.settings import Settings
from flowcept_core.stores import StoreError, StoreUnavailableError

pytest.importorskip("pymongo", reason="pymongo is not installed: pip install -e plugins/mongodb")

from flowcept_mongodb.store import MongoDBStore as mongodb_factory  # noqa: E402


def _settings(**mongodb: object) -> Settings:
    return Settings({"databases": {"mongodb": {"enabled": True, **mongodb}}})


def test_unreachable_server_raises_store_unavailable_naming_host_and_port_within_six_seconds(unused_port):
    port = unused_port
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailableError) as err:
        mongodb_factory(_settings(host="127.0.0.1", port=port))
    assert time.monotonic() - t0 < 6.5
    msg = str(err.value)
    assert "databases.mongodb.host='127.0.0.1'" in msg and f"databases.mongodb.port={port}" in msg


def test_unreachable_uri_error_masks_the_password(unused_port):
    uri = f"mongodb://flowuser:s3cr%40Pw-x@127.0.0.1:{unused_port}/admin"
    with pytest.raises(StoreUnavailableError) as err:
        mongodb_factory(_settings(uri=uri))
    msg = str(err.value)
    assert "databases.mongodb.uri=" in msg and "flowuser:***@" in msg
    assert "s3cr" not in msg and "Pw-x" not in msg


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("port", "27017", "databases.mongodb.port='27017'"),
        ("port", 70000, "databases.mongodb.port=70000"),
        ("db", "bad.name", "databases.mongodb.db='bad.name'"),
        ("db", "", "databases.mongodb.db=''"),
        ("uri", "http://u:topsecret@h/", "databases.mongodb.uri='http://u:***@h/'"),
        ("create_collection_index", "yes", "databases.mongodb.create_collection_index='yes'"),
    ],
)
def test_bad_settings_raise_store_error_naming_key_and_value(key, value, shown):
    with pytest.raises(StoreError) as err:
        mongodb_factory(_settings(**{key: value}))
    assert not isinstance(err.value, StoreUnavailableError)
    assert shown in str(err.value) and "topsecret" not in str(err.value)


def test_unique_and_query_indexes_exist_after_creation(make_store, mongo_server, db_name):
    make_store()
    client = mongo_server.client()
    try:
        db = client[db_name]
        expected = {
            "tasks": {"task_id", "workflow_id", "campaign_id", "parent_task_id", "activity_id"},
            "workflows": {"workflow_id", "campaign_id", "parent_workflow_id"},
            "objects": {"object_id"},
            "agents": {"agent_id"},
        }
        for coll, keys in expected.items():
            info = db[coll].index_information().values()
            indexed = {ix["key"][0][0] for ix in info}
            assert keys <= indexed, coll
            unique = {ix["key"][0][0] for ix in info if ix.get("unique")}
            assert {"tasks": "task_id", "workflows": "workflow_id", "objects": "object_id", "agents": "agent_id"}[
                coll
            ] in unique
    finally:
        client.close()


def test_create_collection_index_false_creates_no_indexes(make_store, mongo_server, db_name):
    store = make_store(create_collection_index=False)
    store.upsert("tasks", [{"task_id": "a"}])
    client = mongo_server.client()
    try:
        keys = {ix["key"][0][0] for ix in client[db_name]["tasks"].index_information().values()}
        assert keys <= {"_id"}
    finally:
        client.close()


def test_docs_with_the_same_id_in_one_call_merge_in_order(make_store):
    store = make_store()
    store.upsert(
        "tasks",
        [
            {"task_id": "m", "status": "RUNNING", "started_at": 5.0, "used": {"a": 1}},
            {"task_id": "m", "status": "FINISHED", "ended_at": 9.0, "generated": {"b": 2}, "used": {"c": 3}},
            {"task_id": "m", "status": "RUNNING", "started_at": 7.0},
        ],
    )
    assert store.find("tasks", {"task_id": "m"}) == [
        {
            "task_id": "m",
            "status": "FINISHED",
            "started_at": 5.0,
            "used": {"a": 1, "c": 3},
            "ended_at": 9.0,
            "generated": {"b": 2},
        }
    ]


def test_doc_without_id_fails_the_whole_call(make_store):
    store = make_store()
    with pytest.raises(StoreError, match="task_id"):
        store.upsert("tasks", [{"task_id": "ok1"}, {"activity_id": "no id"}])
    assert store.count("tasks") == 0


def test_unencodable_value_fails_the_whole_call_and_keeps_old_documents(make_store):
    store = make_store()
    store.upsert("tasks", [{"task_id": "old", "used": {"x": 1}}])
    with pytest.raises(StoreError, match="task_id='bad'") as err:
        store.upsert("tasks", [{"task_id": "old", "used": {"x": 2}}, {"task_id": "bad", "used": {"s": object()}}])
    assert not isinstance(err.value, StoreUnavailableError)
    assert store.find("tasks") == [{"task_id": "old", "used": {"x": 1}}]


def test_too_large_document_fails_the_whole_call(make_store):
    store = make_store()
    with pytest.raises(StoreError, match="over the server's limit"):
        store.upsert("tasks", [{"task_id": "small"}, {"task_id": "huge", "blob": b"x" * (17 * 1024 * 1024)}])
    assert store.count("tasks") == 0


def test_unknown_collection_is_refused_with_the_allowed_names(make_store):
    store = make_store()
    with pytest.raises(StoreError, match="'runs' is not one of"):
        store.upsert("runs", [{"task_id": "a"}])
    with pytest.raises(StoreError, match="'runs' is not one of"):
        store.find("runs")


def test_bad_filter_projection_and_sort_raise_filter_error(make_store):
    store = make_store()
    with pytest.raises(FilterError, match=r"\$where"):
        store.find("tasks", {"x": {"$where": 1}})
    with pytest.raises(FilterError):
        store.find("tasks", {}, projection={"a": 1, "b": 0})
    with pytest.raises(FilterError):
        store.find("tasks", {}, sort=[("a", 2)])


def test_id_is_never_returned_even_when_projected(make_store):
    store = make_store()
    store.upsert("tasks", [{"task_id": "p", "x": 1}])
    assert store.find("tasks", {}, projection={"_id": 1, "task_id": 1}) == [{"task_id": "p"}]
    assert store.find("tasks", {}, projection={"_id": 0}) == [{"task_id": "p", "x": 1}]


_MIXED = [
    {"task_id": f"k{i}", "i": i, **({"x": x} if x != "MISSING" else {})}
    for i, x in enumerate(
        [1, "1", 2.5, None, "MISSING", [1, 5], True, {"a": 1}, "abc", [{"a": 2}, {"a": 3}], b"\x01", 0, -3]
    )
]
_QUERIES = [
    {"x": 1},
    {"x": "1"},
    {"x": {"$gt": 1}},
    {"x": {"$gte": 1}},
    {"x": {"$lt": 3}},
    {"x": None},
    {"x": {"$ne": None}},
    {"x": {"$exists": False}},
    {"x": {"$in": [1, None]}},
    {"x": {"$nin": [1]}},
    {"x": {"$regex": "^a"}},
    {"x": {"$regex": "B", "$options": "i"}},
    {"x.a": 2},
    {"x.a": {"$gt": 1}},
    {"x": {"$not": {"$gt": 1}}},
    {"$or": [{"x": 1}, {"i": 4}]},
    {"$nor": [{"x": 1}]},
    {"x": {"a": 1}},
    {"x": b"\x01"},
    {"x.0": 1},
    {"$and": [{"task_id": {"$in": ["k1", "k2", "k3"]}}, {"x": {"$gt": 0}}]},
    {"task_id": "k8"},
]


@pytest.mark.parametrize("flt", _QUERIES, ids=[repr(q) for q in _QUERIES])
def test_find_and_count_give_exactly_what_flowcept_core_filters_give(make_store, flt):
    store = make_store()
    store.upsert("tasks", _MIXED)
    want = [d for d in _MIXED if compile_filter(flt)(d)]
    got = store.find("tasks", flt, sort=[("i", 1)])
    assert got == want
    assert store.count("tasks", flt) == len(want)
    assert store.find("tasks", flt, projection=["i", "x.a"], sort=[("i", -1)], limit=2) == [
        project(d, ["i", "x.a"]) for d in sorted(want, key=lambda d: -d["i"])[:2]
    ]


def test_sort_over_mixed_kinds_follows_flowcept_core_filters(make_store):
    store = make_store()
    store.upsert("tasks", _MIXED)
    for direction in (1, -1):
        got = [d["i"] for d in store.find("tasks", {}, sort=[("x", direction), ("i", 1)])]
        assert got == [d["i"] for d in sort_documents(_MIXED, [("x", direction), ("i", 1)])]


def test_delete_with_a_filter_evaluated_in_python_removes_only_matches(make_store):
    store = make_store()
    store.upsert("tasks", _MIXED)
    want = sum(1 for d in _MIXED if compile_filter({"x": {"$gt": 1}})(d))
    assert store.delete("tasks", {"x": {"$gt": 1}}) == want
    assert store.count("tasks") == len(_MIXED) - want


def test_server_outage_raises_store_unavailable_and_liveness_false(spawn_server):
    uri, stop = spawn_server()
    store = mongodb_factory(_settings(uri=uri, db=f"o_{uuid.uuid4().hex[:8]}"))
    try:
        store.upsert("tasks", [{"task_id": "before"}])
        stop()
        assert store.liveness_test() is False
        with pytest.raises(StoreUnavailableError, match=uri.split("//")[1].rstrip("/")):
            store.upsert("tasks", [{"task_id": "during"}])
        with pytest.raises(StoreUnavailableError):
            store.find("tasks")
    finally:
        store.close()


def test_closed_store_refuses_operations_and_close_is_idempotent(make_store):
    store = make_store()
    store.close()
    store.close()
    assert store.liveness_test() is False
    with pytest.raises(StoreError, match="closed"):
        store.find("tasks")


class _StaleReads:
    """A collection whose first `times` find() calls see nothing: as if another writer inserted in between."""

    def __init__(self, coll, times: int):
        self._coll, self.times = coll, times

    def find(self, *args, **kwargs):
        if self.times > 0:
            self.times -= 1
            return iter([])
        return self._coll.find(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._coll, name)


def test_concurrent_first_insert_of_an_id_is_undone_and_retried_so_both_merges_survive(make_store, monkeypatch):
    store = make_store()
    store.upsert("tasks", [{"task_id": "r", "status": "RUNNING", "used": {"a": 1}}])  # the other inserter's doc
    stale = _StaleReads(store._db["tasks"], times=1)
    monkeypatch.setattr(store, "_collection", lambda name: stale)
    store.upsert("tasks", [{"task_id": "n1", "x": 1}, {"task_id": "r", "status": "FINISHED", "used": {"b": 2}}])
    monkeypatch.undo()
    assert store.find("tasks", {"task_id": "r"}) == [{"task_id": "r", "status": "FINISHED", "used": {"a": 1, "b": 2}}]
    assert store.find("tasks", {"task_id": "n1"}) == [{"task_id": "n1", "x": 1}]


def test_a_call_failing_after_partial_writes_is_rolled_back_entirely(make_store, monkeypatch):
    store = make_store()
    store.upsert("tasks", [{"task_id": "r", "used": {"a": 1}}, {"task_id": "keep", "used": {"k": 1}}])
    stale = _StaleReads(store._db["tasks"], times=99)
    monkeypatch.setattr(store, "_collection", lambda name: stale)
    with pytest.raises(StoreError, match="nothing of this call was written"):
        store.upsert("tasks", [{"task_id": "n1"}, {"task_id": "keep", "used": {"k": 2}}, {"task_id": "r"}])
    monkeypatch.undo()
    assert store.find("tasks", sort=[("task_id", 1)]) == [
        {"task_id": "keep", "used": {"k": 1}},
        {"task_id": "r", "used": {"a": 1}},
    ]


def test_a_writer_thread_and_reader_threads_share_one_store(make_store):
    import threading

    store = make_store()
    errors: list[BaseException] = []
    done = threading.Event()

    def write():
        try:
            for b in range(20):
                store.upsert(
                    "tasks", [{"task_id": f"w{b}-{i}", "workflow_id": "wt", "status": "RUNNING"} for i in range(25)]
                )
                store.upsert("tasks", [{"task_id": f"w{b}-{i}", "status": "FINISHED"} for i in range(25)])
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)
        finally:
            done.set()

    def read():
        try:
            while not done.is_set():
                docs = store.find("tasks", {"workflow_id": "wt"})
                assert all(d["status"] in ("RUNNING", "FINISHED") and "_id" not in d for d in docs)
                store.count("tasks", {"status": {"$ne": "RUNNING"}})
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert store.count("tasks", {"workflow_id": "wt", "status": "FINISHED"}) == 500


def test_missing_pymongo_gives_an_install_hint(monkeypatch):
    import sys

    from flowcept_core.registry import PluginRegistry

    monkeypatch.setitem(sys.modules, "pymongo", None)
    factory = PluginRegistry(env={}).resolve("store", "mongodb").factory
    with pytest.raises(ImportError, match=r"pip install (-e \S+/plugins/mongodb|\"flowcept\[mongodb\]\")"):
        factory(_settings())


def test_store_is_registered_under_mongodb_and_listing_does_not_need_pymongo():
    from flowcept_core.registry import get_registry

    spec = get_registry().resolve("store", "mongodb")
    assert spec.factory.target == "flowcept_mongodb.store:MongoDBStore" and spec.requires == ("pymongo",)
    assert spec.settings.path == "databases.mongodb" and spec.read_preference < 100
