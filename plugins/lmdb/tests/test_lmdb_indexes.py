"""Index use: queries pinned by an id or an indexed field decode only the documents that can match (stats count
decoded documents), and index entries follow merges and deletes."""

from __future__ import annotations

import pytest


def _tasks(wf: str, n: int, **extra) -> list[dict]:
    return [{"type": "task", "task_id": f"{wf}-{i}", "workflow_id": wf, "status": "RUNNING", **extra} for i in range(n)]


@pytest.fixture
def store(make_store):
    s = make_store()
    s.upsert("tasks", _tasks("wf-a", 50, campaign_id="c1") + _tasks("wf-b", 70, campaign_id="c1"))
    s.upsert("tasks", _tasks("wf-c", 30, campaign_id="c2", activity_id="train"))
    s.stats.update(decoded=0, index_reads=0, full_scans=0)
    return s


def test_query_pinned_by_workflow_id_reads_only_that_workflows_documents(store):
    got = store.find("tasks", {"workflow_id": "wf-a"})
    assert len(got) == 50 and {d["workflow_id"] for d in got} == {"wf-a"}
    assert store.stats == {"decoded": 50, "index_reads": 1, "full_scans": 0}


def test_query_pinned_by_task_id_reads_one_document(store):
    assert store.find("tasks", {"task_id": "wf-b-3", "status": "RUNNING"})[0]["workflow_id"] == "wf-b"
    assert store.stats["decoded"] == 1 and store.stats["full_scans"] == 0


def test_in_and_and_pins_use_the_index_and_intersect(store):
    assert len(store.find("tasks", {"workflow_id": {"$in": ["wf-a", "wf-c"]}})) == 80
    assert store.stats["decoded"] == 80
    store.stats["decoded"] = 0
    assert len(store.find("tasks", {"$and": [{"campaign_id": "c1"}, {"workflow_id": "wf-b"}]})) == 70
    assert store.stats["decoded"] == 70
    store.stats["decoded"] = 0
    assert store.find("tasks", {"campaign_id": "c2", "workflow_id": "wf-a"}) == []
    assert store.stats["decoded"] == 0 and store.stats["full_scans"] == 0


def test_count_answered_by_the_index_decodes_nothing(store):
    assert store.count("tasks", {"workflow_id": "wf-b"}) == 70
    assert store.count("tasks", {"workflow_id": {"$in": ["wf-a", "wf-c"]}, "campaign_id": "c1"}) == 50
    assert store.stats["decoded"] == 0
    assert store.count("tasks", {"workflow_id": "wf-b", "status": "RUNNING"}) == 70  # status is not indexed
    assert store.stats["decoded"] == 70 and store.stats["full_scans"] == 0


def test_count_by_id_counts_only_stored_documents(store):
    assert store.count("tasks", {"task_id": "nope"}) == 0
    assert store.count("tasks", {"task_id": {"$in": ["wf-a-1", "nope", "wf-c-2"]}}) == 2
    assert store.stats["decoded"] == 0


def test_unpinned_query_scans_the_collection(store):
    assert store.count("tasks", {"status": "RUNNING"}) == 150
    assert store.stats == {"decoded": 150, "index_reads": 0, "full_scans": 1}


def test_pin_on_none_falls_back_to_a_scan_and_matches_missing_fields(store):
    store.upsert("tasks", [{"task_id": "orphan", "status": "RUNNING"}])
    assert [d["task_id"] for d in store.find("tasks", {"workflow_id": None})] == ["orphan"]
    assert store.stats["full_scans"] == 1


def test_changed_indexed_value_moves_the_index_entry(store):
    store.upsert("tasks", [{"task_id": "wf-a-0", "workflow_id": "wf-z"}])
    store.stats["decoded"] = 0
    assert (
        len(store.find("tasks", {"workflow_id": "wf-a"})) == 49 and store.count("tasks", {"workflow_id": "wf-a"}) == 49
    )
    assert [d["task_id"] for d in store.find("tasks", {"workflow_id": "wf-z"})] == ["wf-a-0"]
    assert store.stats["decoded"] == 50


def test_delete_removes_index_entries(store):
    assert store.delete("tasks", {"workflow_id": "wf-b", "task_id": {"$in": ["wf-b-1", "wf-b-2"]}}) == 2
    store.stats["decoded"] = 0
    assert len(store.find("tasks", {"workflow_id": "wf-b"})) == 68 and store.stats["decoded"] == 68
    assert store.count("tasks", {"workflow_id": "wf-b"}) == 68
    assert store.delete("tasks", {}) == 148 and store.count("tasks") == 0
    store.stats["decoded"] = 0
    assert store.find("tasks", {"campaign_id": "c1"}) == [] and store.stats["decoded"] == 0
    assert store.count("tasks", {"workflow_id": "wf-c"}) == 0


def test_list_valued_and_numeric_indexed_fields_match_like_mongodb(make_store):
    store = make_store()
    store.upsert("tasks", [{"task_id": "l", "parent_task_id": ["p1", "p2"]}, {"task_id": "n", "campaign_id": 7}])
    assert [d["task_id"] for d in store.find("tasks", {"parent_task_id": "p2"})] == ["l"]
    assert [d["task_id"] for d in store.find("tasks", {"campaign_id": 7.0})] == ["n"]
    assert store.find("tasks", {"campaign_id": "7"}) == []


def test_long_empty_and_integer_ids_are_distinct_documents(make_store):
    store = make_store()
    long_id = "é" * 1000
    store.upsert(
        "workflows",
        [
            {"workflow_id": long_id, "n": 1},
            {"workflow_id": "", "n": 2},
            {"workflow_id": 5, "n": 3},
            {"workflow_id": "5", "n": 4},
            {"workflow_id": "x", "parent_workflow_id": long_id, "n": 5},
        ],
    )
    assert store.count("workflows") == 5
    assert store.find("workflows", {"workflow_id": long_id}) == [{"workflow_id": long_id, "n": 1}]
    assert store.find("workflows", {"workflow_id": ""})[0]["n"] == 2
    assert store.find("workflows", {"workflow_id": 5})[0]["n"] == 3
    assert store.find("workflows", {"workflow_id": "5"})[0]["n"] == 4
    assert store.find("workflows", {"parent_workflow_id": long_id})[0]["n"] == 5


def test_same_id_twice_in_one_call_merges_in_order(make_store):
    store = make_store()
    store.upsert(
        "tasks",
        [
            {"task_id": "t", "status": "RUNNING", "started_at": 2.0, "used": {"a": 1}},
            {"task_id": "t", "status": "FINISHED", "ended_at": 3.0, "generated": {"b": 2}},
            {"task_id": "t", "status": "RUNNING", "started_at": 1.0},
        ],
    )
    assert store.find("tasks") == [
        {
            "task_id": "t",
            "status": "FINISHED",
            "started_at": 1.0,
            "ended_at": 3.0,
            "used": {"a": 1},
            "generated": {"b": 2},
        }
    ]


def test_mongodb_id_is_neither_stored_nor_returned(make_store):
    store = make_store()
    store.upsert("tasks", [{"_id": "abc", "task_id": "t", "data": b"\x00\x01"}])
    assert store.find("tasks") == [{"task_id": "t", "data": b"\x00\x01"}]


def test_limit_without_sort_stops_reading_early(store):
    assert len(store.find("tasks", {"status": "RUNNING"}, limit=5)) == 5
    assert store.stats["decoded"] == 5


def test_posting_lists_span_chunks_trickled_batches_and_removals(make_store):
    """One value held by more documents than a chunk takes, written in one big batch and then in small ones; keys
    taken out of a middle chunk by merges and deletes; every lookup still exact."""
    s = make_store()
    s.upsert("tasks", _tasks("big", 9000, campaign_id="c"))  # three chunks at once
    for start in range(9000, 9600, 40):  # trickling batches top up the last chunk
        s.upsert(
            "tasks", [{"type": "task", "task_id": f"big-{i}", "workflow_id": "big"} for i in range(start, start + 40)]
        )
    assert s.count("tasks", {"workflow_id": "big"}) == 9600
    moved = [{"task_id": f"big-{i}", "workflow_id": "other"} for i in range(4000, 4100)]  # out of the 1st/2nd chunk
    s.upsert("tasks", moved)
    assert s.count("tasks", {"workflow_id": "big"}) == 9500
    assert sorted(d["task_id"] for d in s.find("tasks", {"workflow_id": "other"})) == sorted(
        d["task_id"] for d in moved
    )
    assert s.delete("tasks", {"task_id": {"$in": [f"big-{i}" for i in range(0, 9600, 3)]}}) == 3200
    expected = {f"big-{i}" for i in range(9600) if i % 3 and not 4000 <= i < 4100}
    assert {d["task_id"] for d in s.find("tasks", {"workflow_id": "big"})} == expected
    assert s.count("tasks", {"campaign_id": "c"}) == len([i for i in range(9000) if i % 3])
    assert s.delete("tasks", {"workflow_id": "big"}) == len(expected)
    assert (
        s.count("tasks", {"workflow_id": "big"}) == 0 and s.count("tasks", {"workflow_id": "other"}) == 67
    )  # 33 of 4000..4099 deleted


def test_values_sharing_a_prefix_with_nul_do_not_mix(make_store):
    s = make_store()
    a, b = "wf", "wf\x00\x00\x00\x00\x01"  # b's key starts with a's chunk-key prefix
    s.upsert("tasks", _tasks(a, 5) + _tasks(b, 7))
    assert {d["workflow_id"] for d in s.find("tasks", {"workflow_id": a})} == {a}
    assert s.count("tasks", {"workflow_id": a}) == 5 and s.count("tasks", {"workflow_id": b}) == 7
    s.upsert("tasks", _tasks(a, 9))  # tops up a's chunk, never b's
    assert s.count("tasks", {"workflow_id": a}) == 9 and s.count("tasks", {"workflow_id": b}) == 7


def test_an_environment_with_the_old_per_document_index_is_reindexed_on_open(tmp_path, make_store):
    """Environments written with one dupsort entry per document and field get posting lists built at open."""
    import lmdb
    import msgpack

    path = tmp_path / "old"
    env = lmdb.open(str(path), max_dbs=32, map_size=1 << 24)
    with env.begin(write=True) as txn:
        docs = env.open_db(b"tasks", txn=txn)
        old_idx = env.open_db(b"idx:tasks:workflow_id", txn=txn, dupsort=True)
        for d in _tasks("wf-old", 12, activity_id="a"):
            txn.put(d["task_id"].encode(), msgpack.packb(d), db=docs)
            txn.put(b"wf-old", d["task_id"].encode(), db=old_idx)
    env.close()
    s = make_store("old")
    assert s.count("tasks", {"workflow_id": "wf-old"}) == 12 and s.count("tasks", {"activity_id": "a"}) == 12
    assert s.stats["full_scans"] == 0
    s.close()
    env = lmdb.open(str(path), max_dbs=32)
    with env.begin() as txn:
        names = {bytes(k) for k, _ in txn.cursor()}
    env.close()
    assert b"idx:tasks:workflow_id" not in names and b"ix:tasks:workflow_id" in names
