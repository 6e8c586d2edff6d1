"""StoreContract: what every store must do, as a pytest class to subclass.

Set ``store_name`` and provide a ``store`` fixture yielding an EMPTY store (fresh path / database per test) bound to
a real database. The same message stream must give the same documents in every store.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

__all__ = ["StoreContract", "SAMPLE_STREAM", "expected_documents"]

_WF = "wf-contract"
SAMPLE_STREAM: list[dict] = [
    {"type": "workflow", "workflow_id": _WF, "name": "contract", "status": "RUNNING", "started_at": 10.0,
     "used": {"epochs": 3}},
    {"type": "task", "task_id": "t1", "workflow_id": _WF, "activity_id": "train", "status": "RUNNING",
     "started_at": 11.0, "used": {"x": 1, "lr": 0.1}, "custom_metadata": {"owner": "a"}},
    {"type": "task", "task_id": "t2", "workflow_id": _WF, "activity_id": "eval", "status": "FINISHED",
     "started_at": 12.0, "ended_at": 13.0, "used": {"x": 2}, "generated": {"acc": 0.9}, "tags": ["t"],
     "parent_task_id": "t1", "unknown_field": {"kept": True}},
    {"type": "task", "task_id": "t1", "workflow_id": _WF, "status": "FINISHED", "ended_at": 14.0,
     "generated": {"loss": 0.5}, "custom_metadata": {"gpu": "a100"}},
    # the same end message delivered twice, and a late RUNNING that must not reopen a finished task
    {"type": "task", "task_id": "t1", "workflow_id": _WF, "status": "FINISHED", "ended_at": 14.0,
     "generated": {"loss": 0.5}, "custom_metadata": {"gpu": "a100"}},
    {"type": "task", "task_id": "t2", "workflow_id": _WF, "status": "RUNNING", "started_at": 12.0},
    {"type": "task", "task_id": "u1", "workflow_id": "wf-other", "activity_id": "naïve ☃ 数据", "status": "ERROR",
     "stderr": "ValueError: ü", "used": {"text": "x" * 200_000, "nested": {"deep": [1, {"a": None}]}}},
    {"type": "workflow", "workflow_id": _WF, "status": "FINISHED", "ended_at": 20.0},
]


def expected_documents() -> dict[tuple[str, str], dict]:
    """What SAMPLE_STREAM must become, per (collection, id)."""
    from flowcept_core.documents import ID_FIELDS, collection_of, merge_documents

    docs: dict[tuple[str, str], dict] = {}
    for msg in SAMPLE_STREAM:
        coll = collection_of(msg)
        key = (coll, msg[ID_FIELDS[coll]])
        docs[key] = merge_documents(docs.get(key), msg)
    return docs


def _load(store: Any, stream: list[dict], batch: int = 1) -> None:
    from flowcept_core.documents import collection_of

    for i in range(0, len(stream), batch):
        by_coll: dict[str, list[dict]] = {}
        for msg in stream[i:i + batch]:
            by_coll.setdefault(collection_of(msg), []).append(msg)
        for coll, docs in by_coll.items():
            store.upsert(coll, docs)


class StoreContract:
    """Subclass in a store plugin's tests; set store_name and define the ``store`` fixture (empty store)."""

    store_name: str = ""

    @pytest.fixture
    def store(self) -> Any:  # pragma: no cover - must be overridden
        raise NotImplementedError("define a store fixture yielding an empty store")

    def test_liveness_test_is_true(self, store: Any) -> None:
        assert store.liveness_test() is True

    @pytest.mark.parametrize("batch", [1, 3, 100])
    def test_message_stream_merges_into_the_expected_documents(self, store: Any, batch: int) -> None:
        _load(store, SAMPLE_STREAM, batch)
        for (coll, ident), want in expected_documents().items():
            from flowcept_core.documents import ID_FIELDS

            got = store.find(coll, {ID_FIELDS[coll]: ident})
            assert got == [want], (coll, ident)

    def test_merge_keeps_start_fields_and_takes_end_fields(self, store: Any) -> None:
        _load(store, SAMPLE_STREAM)
        (t1,) = store.find("tasks", {"task_id": "t1"})
        assert t1["status"] == "FINISHED" and t1["started_at"] == 11.0 and t1["ended_at"] == 14.0
        assert t1["used"] == {"x": 1, "lr": 0.1} and t1["generated"] == {"loss": 0.5}
        assert t1["custom_metadata"] == {"owner": "a", "gpu": "a100"} and t1["activity_id"] == "train"
        (t2,) = store.find("tasks", {"task_id": "t2"})
        assert t2["status"] == "FINISHED" and t2["unknown_field"] == {"kept": True}

    def test_out_of_order_delivery_gives_the_same_documents(self, store: Any) -> None:
        _load(store, list(reversed(SAMPLE_STREAM)))
        (t1,) = store.find("tasks", {"task_id": "t1"})
        assert t1["status"] == "FINISHED" and t1["started_at"] == 11.0 and t1["ended_at"] == 14.0
        assert t1["used"] == {"x": 1, "lr": 0.1} and t1["generated"] == {"loss": 0.5}

    def test_duplicates_leave_one_document(self, store: Any) -> None:
        _load(store, SAMPLE_STREAM + SAMPLE_STREAM)
        assert store.count("tasks") == 3 and store.count("workflows") == 1
        assert store.count("tasks", {"workflow_id": _WF}) == 2

    def test_unicode_large_and_nested_values_round_trip(self, store: Any) -> None:
        _load(store, SAMPLE_STREAM)
        (u1,) = store.find("tasks", {"task_id": "u1"})
        assert u1["activity_id"] == "naïve ☃ 数据" and u1["stderr"] == "ValueError: ü"
        assert len(u1["used"]["text"]) == 200_000 and u1["used"]["nested"] == {"deep": [1, {"a": None}]}

    def test_binary_data_round_trips(self, store: Any) -> None:
        store.upsert("tasks", [{"type": "task", "task_id": "b1", "data": b"\x00\xffraw"}])
        (b1,) = store.find("tasks", {"task_id": "b1"})
        assert b1["data"] == b"\x00\xffraw"

    def test_dead_letters_are_stored_and_found_by_task_id(self, store: Any) -> None:
        from flowcept_core.deadletter import dead_letter

        letters = [dead_letter("used=5 must be a dict", {"type": "task", "task_id": "d1", "used": 5}),
                   dead_letter("undecodable batch", b"\xc1\x00raw", source="wire")]
        store.upsert("dead_letters", letters)
        store.upsert("dead_letters", letters[:1])  # delivered twice: one dead letter
        assert store.count("dead_letters") == 2
        (d1,) = store.find("dead_letters", {"task_id": "d1"})
        assert d1["raw"] == {"type": "task", "task_id": "d1", "used": 5} and d1["source"] == "message"
        (wire,) = store.find("dead_letters", {"source": "wire"})
        assert wire["raw"] == b"\xc1\x00raw"

    def test_find_filters_projects_sorts_and_limits(self, store: Any) -> None:
        _load(store, SAMPLE_STREAM)
        assert {d["task_id"] for d in store.find("tasks", {"workflow_id": _WF})} == {"t1", "t2"}
        assert [d["task_id"] for d in store.find("tasks", {"used.x": {"$gt": 1}})] == ["t2"]
        assert store.find("tasks", {"task_id": "t1"}, projection=["task_id", "used.x"]) == [
            {"task_id": "t1", "used": {"x": 1}}]
        ordered = store.find("tasks", {"workflow_id": _WF}, sort=[("started_at", -1)])
        assert [d["task_id"] for d in ordered] == ["t2", "t1"]
        assert len(store.find("tasks", {}, limit=2)) == 2
        assert store.find("tasks", {"task_id": "nope"}) == []

    def test_delete_removes_matching_documents(self, store: Any) -> None:
        _load(store, SAMPLE_STREAM)
        assert store.delete("tasks", {"workflow_id": _WF}) == 2
        assert store.count("tasks") == 1 and store.find("tasks", {"workflow_id": _WF}) == []

    def test_concurrent_writers_lose_nothing(self, store: Any) -> None:
        def write(k: int) -> None:
            for i in range(0, 400, 20):
                store.upsert("tasks", [{"type": "task", "task_id": f"c{k}-{j}", "workflow_id": "wc", "used": {"j": j}}
                                       for j in range(i, i + 20)])

        threads = [threading.Thread(target=write, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.count("tasks", {"workflow_id": "wc"}) == 1200

    def test_no_store_specific_fields_are_returned(self, store: Any) -> None:
        _load(store, SAMPLE_STREAM)
        for d in store.find("tasks") + store.find("workflows"):
            assert "_id" not in d
