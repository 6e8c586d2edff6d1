"""Document merge rules and the MongoDB-style filter evaluator used by stores without a query engine."""

from __future__ import annotations

import pytest

from flowcept_core.documents import collection_of, merge_documents
from flowcept_core.filters import FilterError, compile_filter, equality_keys, project, sort_documents

DOCS = [
    {"task_id": "a", "workflow_id": "w1", "status": "FINISHED", "used": {"x": 1, "tags": ["p", "q"]}, "n": 5,
     "activity_id": "train_epoch"},
    {"task_id": "b", "workflow_id": "w1", "status": "ERROR", "used": {"x": 7}, "n": 2.5, "activity_id": "eval"},
    {"task_id": "c", "workflow_id": "w2", "status": "FINISHED", "used": {"x": None}, "activity_id": "Train_final"},
]


def ids(flt):
    f = compile_filter(flt)
    return [d["task_id"] for d in DOCS if f(d)]


def test_start_and_end_messages_merge_whatever_the_order():
    start = {"task_id": "t", "status": "RUNNING", "started_at": 1.0, "used": {"x": 1}, "custom_metadata": {"a": 1}}
    end = {"task_id": "t", "status": "FINISHED", "ended_at": 2.0, "generated": {"y": 2}, "custom_metadata": {"b": 2}}
    forward = merge_documents(merge_documents(None, start), end)
    backward = merge_documents(merge_documents(None, end), start)
    assert forward == backward
    assert forward["status"] == "FINISHED" and forward["custom_metadata"] == {"a": 1, "b": 2}
    assert merge_documents(forward, end) == forward  # duplicates change nothing


def test_error_is_never_downgraded_and_inputs_are_not_mutated():
    old = {"task_id": "t", "status": "ERROR"}
    new = {"task_id": "t", "status": "FINISHED"}
    assert merge_documents(old, new)["status"] == "ERROR"
    assert old == {"task_id": "t", "status": "ERROR"} and new["status"] == "FINISHED"


def test_collection_of_message_types():
    assert [collection_of({"type": t}) for t in ("task", "workflow", "flowcept_control")] == ["tasks", "workflows",
                                                                                            None]


@pytest.mark.parametrize("flt, want", [
    ({"workflow_id": "w1"}, ["a", "b"]),
    ({"used.x": {"$gt": 1}}, ["b"]),
    ({"used.x": {"$gte": 1, "$lt": 7}}, ["a"]),
    ({"n": {"$lte": 2.5}}, ["b"]),
    ({"status": {"$ne": "FINISHED"}}, ["b"]),
    ({"status": {"$in": ["ERROR", "X"]}}, ["b"]),
    ({"status": {"$nin": ["ERROR"]}}, ["a", "c"]),
    ({"n": {"$exists": False}}, ["c"]),
    ({"used.x": None}, ["c"]),
    ({"used.tags": "q"}, ["a"]),
    ({"activity_id": {"$regex": "^train", "$options": "i"}}, ["a", "c"]),
    ({"used.x": {"$not": {"$gt": 1}}}, ["a", "c"]),
    ({"$or": [{"task_id": "a"}, {"workflow_id": "w2"}]}, ["a", "c"]),
    ({"$and": [{"workflow_id": "w1"}, {"status": "ERROR"}]}, ["b"]),
    ({"$nor": [{"workflow_id": "w1"}]}, ["c"]),
    ({"used.x": {"$gt": "1"}}, []),  # comparisons across kinds are false, as in MongoDB
    ({}, ["a", "b", "c"]),
])
def test_filters_match_like_mongodb(flt, want):
    assert ids(flt) == want


@pytest.mark.parametrize("flt, words", [
    ({"x": {"$foo": 1}}, ["$foo", "allowed"]),
    ({"$where": "1"}, ["$where"]),
    ({"$or": {"a": 1}}, ["$or", "list"]),
    ({"x": {"$in": 3}}, ["$in", "list"]),
    ({"x": {"$regex": "("}}, ["$regex", "regular expression"]),
    ([1, 2], ["dict"]),
])
def test_malformed_filters_name_the_problem(flt, words):
    with pytest.raises(FilterError) as exc:
        compile_filter(flt)
    for w in words:
        assert w in str(exc.value)


def test_equality_keys_find_index_candidates():
    assert equality_keys({"workflow_id": "w", "used.x": 1}, ["workflow_id"]) == {"workflow_id": ["w"]}
    assert equality_keys({"$and": [{"campaign_id": {"$in": ["c1", "c2"]}}]}, ["campaign_id"]) == {
        "campaign_id": ["c1", "c2"]}
    assert equality_keys({"workflow_id": {"$gt": "a"}}, ["workflow_id"]) == {}


def test_projection_and_sort():
    assert project(DOCS[0], ["task_id", "used.x"]) == {"task_id": "a", "used": {"x": 1}}
    assert "used" not in project(DOCS[0], {"used": 0})
    with pytest.raises(FilterError):
        project(DOCS[0], {"a": 1, "b": 0})
    assert [d["task_id"] for d in sort_documents(DOCS, [("n", -1)])] == ["a", "b", "c"]
    assert [d["task_id"] for d in sort_documents(DOCS, [("workflow_id", 1), ("task_id", -1)])] == ["b", "a", "c"]
