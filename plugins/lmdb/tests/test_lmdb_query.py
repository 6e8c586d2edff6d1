"""The fast paths give what flowcept_core gives: the guarded filter equals compile_filter, top-k equals a full sort
(ties in order), batched upserts keep indexes right, large finds leave the garbage collector as they found it."""

from __future__ import annotations

import gc
import itertools
import random
from collections import OrderedDict

import pytest

from flowcept_core.documents import merge_documents
from flowcept_core.filters import compile_filter, sort_documents


class _Sub(str):
    pass


_VALUES = [
    0,
    1,
    2,
    2.5,
    -1,
    True,
    False,
    None,
    "a",
    "b",
    "",
    "10",
    [1, 3],
    ["a", 5],
    [],
    {"x": 1},
    _Sub("a"),
    float("inf"),
]


def _docs(n: int = 300) -> list[dict]:
    rnd = random.Random(7)
    docs = []
    for i in range(n):
        d: dict = {"task_id": f"t{i}", "n": i}
        for field in ("a", "b"):
            if rnd.random() < 0.85:
                d[field] = rnd.choice(_VALUES)
        kind = rnd.random()
        if kind < 0.6:
            d["used"] = {"x": rnd.choice(_VALUES), "y": {"z": rnd.choice(_VALUES)}}
        elif kind < 0.7:
            d["used"] = [{"x": rnd.choice(_VALUES)}, {"x": 3}]
        elif kind < 0.8:
            d["used"] = OrderedDict(x=rnd.choice(_VALUES))
        elif kind < 0.9:
            d["used"] = "scalar"
        docs.append(d)
    return docs


_FILTERS = [
    {"a": 1},
    {"a": "a"},
    {"a": 2.5},
    {"a": {"$eq": 1}},
    {"a": {"$ne": "a"}},
    {"a": {"$ne": 1}},
    {"used.x": {"$gt": 0}},
    {"used.x": {"$gte": 1, "$lt": 2.5}},
    {"used.x": {"$lte": "b"}},
    {"used.x": "a"},
    {"used.y.z": {"$lt": 1}},
    {"used.y.z": {"$ne": 0}},
    {"used.x": {"$gt": 0}, "a": {"$ne": 2}},
    {"a": 1, "b": "b"},
    {"b": {"$gt": -5}, "used.x": 1},
    {"used.missing.deep": {"$ne": 1}},
    {"a": {"$gte": ""}},
    {"used.0.x": 3},
    {"a": {"$in": [1, "a"]}},
    {"a": None},
    {"a": {"$exists": False}},
    {"$or": [{"a": 1}, {"b": 2}]},
]


@pytest.mark.parametrize("flt", _FILTERS, ids=[str(f) for f in _FILTERS])
def test_fast_predicate_agrees_with_compile_filter(flt):
    from flowcept_lmdb._query import fast_predicate

    exact = compile_filter(flt)
    fast = fast_predicate(flt, exact)
    for d in _docs():
        assert fast(d) == exact(d), (flt, d)


_SORTS = [
    [("a", 1)],
    [("a", -1)],
    [("used.x", -1)],
    [("used.y.z", 1)],
    {"a": 1, "b": 1},
    [("a", -1), ("b", -1)],
    [("a", 1), ("b", -1)],
    "b",
    [("missing", 1)],
    [("used.0.x", -1)],
]


@pytest.mark.parametrize("sort", _SORTS, ids=[str(s) for s in _SORTS])
@pytest.mark.parametrize("limit", [0, 1, 7, 1000])
def test_sort_and_limit_equals_a_full_sort(sort, limit):
    from flowcept_lmdb._query import sort_and_limit

    docs = _docs()
    want = sort_documents(docs, sort)
    want = want[:limit] if limit else want
    assert [d["n"] for d in sort_and_limit(iter(docs), sort, limit)] == [d["n"] for d in want]


def test_bad_sort_still_raises_filter_error(make_store):
    from flowcept_core.filters import FilterError

    store = make_store()
    with pytest.raises(FilterError, match="sort direction"):
        store.find("tasks", {}, sort=[("a", 2)], limit=3)


def _truth(stream: list[dict]) -> dict[str, dict]:
    docs: dict[str, dict] = {}
    for d in stream:
        docs[d["task_id"]] = merge_documents(docs.get(d["task_id"]), d)
    return docs


def test_batches_mixing_new_stored_and_repeated_ids_keep_documents_and_indexes_right(make_store):
    store = make_store()
    rnd = random.Random(3)
    wfs = ["w1", "w2", 7, ["w1", "w3"], "", "é" * 600, None]
    stream = []
    for _ in range(8):
        batch = [
            {
                "task_id": f"t{rnd.randrange(60)}",
                "workflow_id": rnd.choice(wfs),
                "status": "RUNNING",
                "used": {"i": rnd.randrange(5)},
            }
            for _ in range(40)
        ]
        store.upsert("tasks", batch)
        stream += batch
    truth = _truth(stream)
    assert sorted(d["task_id"] for d in store.find("tasks")) == sorted(truth)
    assert {d["task_id"]: d for d in store.find("tasks")} == truth
    for wf in ["w1", "w2", "w3", 7, "", "é" * 600]:
        want = sorted(k for k, d in truth.items() if compile_filter({"workflow_id": wf})(d))
        assert sorted(d["task_id"] for d in store.find("tasks", {"workflow_id": wf})) == want, wf
        assert store.count("tasks", {"workflow_id": wf}) == len(want)


def test_full_scan_with_sort_and_limit_equals_the_naive_answer(make_store):
    store = make_store()
    docs = [{"task_id": f"t{i:03d}", "used": {"x": i % 17, "y": [i] if i % 5 == 0 else i}} for i in range(200)]
    store.upsert("tasks", docs)
    flt = {"used.x": {"$gte": 3}, "used.y": {"$lt": 150}}
    want = sort_documents([d for d in docs if compile_filter(flt)(d)], [("used.x", -1)])[:10]
    store.stats.update(decoded=0)
    assert store.find("tasks", flt, sort=[("used.x", -1)], limit=10) == want
    assert store.stats["decoded"] == 200 and store.stats["full_scans"] == 1


def test_documents_with_non_string_map_keys_round_trip(make_store):
    store = make_store()
    docs = [{"task_id": f"t{i}", "workflow_id": "w", "used": {1: "one", b"k": 2}} for i in range(3)]
    store.upsert("tasks", docs)
    assert store.find("tasks", {"workflow_id": "w"}) == docs
    store.upsert("tasks", [{"task_id": "t1", "status": "FINISHED"}])
    assert store.find("tasks", {"task_id": "t1"})[0]["used"] == {1: "one", b"k": 2}


@pytest.mark.parametrize("enabled", [True, False])
def test_find_and_upsert_leave_the_garbage_collector_as_they_found_it(make_store, enabled):
    store = make_store()
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        frozen = gc.get_freeze_count()
        store.upsert("tasks", [{"task_id": f"t{i}", "workflow_id": "w"} for i in range(50)])
        store.upsert("tasks", [{"task_id": f"t{i}", "status": "FINISHED"} for i in range(50)])
        assert len(store.find("tasks", {"workflow_id": "w"})) == 50
        assert len(store.find("tasks", {"status": "FINISHED"}, sort=[("task_id", 1)], limit=5)) == 5
        assert gc.isenabled() is enabled and gc.get_freeze_count() == frozen
    finally:
        gc.enable() if was else gc.disable()


def test_ties_keep_store_order_under_limit(make_store):
    store = make_store()
    store.upsert("tasks", [{"task_id": f"t{i}", "g": i % 2} for i in range(20)])
    full = store.find("tasks", sort=[("g", -1)])
    for limit in range(1, 21):
        assert store.find("tasks", sort=[("g", -1)], limit=limit) == full[:limit]
    assert [d["task_id"] for d in itertools.islice(full, 3)] == ["t1", "t11", "t13"]


def test_telemetry_snapshots_are_stored_once_and_documents_read_back_unchanged(make_store, tmp_path):
    """Each distinct snapshot is stored once in the ``snap`` sub-database and referenced by the documents; what a
    query returns (also after reopening, and filtering on telemetry fields) is what was stored."""
    import copy

    tel, other = {"cpu": {"a": 1.5, "b": [1, 2]}, "mem": {"x": 10**12}}, {"cpu": {"a": 2.5}}
    docs = []
    for i in range(40):
        d = {f"k{j}": j for j in range(i % 20)} | {"task_id": f"t{i}", "workflow_id": "w"}
        if i % 3:
            d["telemetry_at_start"] = tel
        if i % 2:
            d["telemetry_at_end"] = tel if i % 4 == 1 else other
        if i % 5 == 0:
            d |= {"hostname": "h", "registered_at": 1.5 + i}  # fields after the snapshots
        docs.append(d)
    docs.append({"task_id": "own", "telemetry_at_start": {"cpu": {"a": 9.0}}, "telemetry_at_end": "not a dict"})
    expected = copy.deepcopy(docs)
    store = make_store()
    store.upsert("tasks", docs[:20])
    store.upsert("tasks", docs[20:])
    store.upsert("tasks", [{"task_id": "t1", "status": "FINISHED"}])  # a merge re-writes a stored document
    expected[1]["status"] = "FINISHED"
    by_id = {d["task_id"]: d for d in store.find("tasks")}
    assert by_id == {d["task_id"]: d for d in expected}
    shared = store._env()
    with shared.env.begin() as txn:
        assert txn.stat(shared.snapshots)["entries"] == 3  # tel, other and own's snapshot
        raw = txn.get(b"t3", db=shared.docs["tasks"])
    assert len(raw) < 100  # references, not the snapshots
    hot = store.find("tasks", {"telemetry_at_end.cpu.a": {"$gt": 2}}, sort=[("task_id", 1)])
    assert [d["task_id"] for d in hot] == sorted(d["task_id"] for d in expected
                                                 if isinstance(d.get("telemetry_at_end"), dict)
                                                 and d["telemetry_at_end"]["cpu"]["a"] > 2)
    a, b = store.find("tasks", {"task_id": {"$in": ["t1", "t5"]}}, sort=[("task_id", 1)])
    assert a["telemetry_at_end"] == b["telemetry_at_end"] and a["telemetry_at_end"] is not b["telemetry_at_end"]
    shared.snapshot_cache.clear()  # read from the sub-database, as another process does
    assert store.find("tasks", {"task_id": "t2"}) == [expected[2]]


def test_a_shared_snapshot_that_cannot_be_stored_names_the_document(make_store):
    from flowcept_core.stores import StoreError

    bad = {"cpu": {1, 2}}  # a set: not storable
    docs = [{"type": "task", "task_id": f"t{i}", "workflow_id": "w", "telemetry_at_start": bad} for i in range(3)]
    store = make_store()
    with pytest.raises(StoreError, match="task_id='t0'"):
        store.upsert("tasks", docs)
    assert store.count("tasks") == 0
