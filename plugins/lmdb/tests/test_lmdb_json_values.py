"""upsert_json: documents given with their JSON (the default pipeline encodes a task once) are stored as JSON values
with their telemetry snapshots stored once and referenced, and read back exactly as upsert() would give them, beside
msgpack documents; an id stored before is merged the usual way."""

from __future__ import annotations

import orjson

SNAP = {"timestamp": 1.5, "cpu": {"percent_all": 12.5}, "memory": {"virtual": {"used": 10, "percent": 3.0}}}
LATER = {"timestamp": 2.5, "cpu": {"percent_all": 50.0}, "memory": {"virtual": {"used": 11, "percent": 3.1}}}


def _task(i: int, snap0: dict = SNAP, snap1: dict = SNAP) -> dict:
    return {
        "type": "task",
        "task_id": f"t{i}",
        "workflow_id": "wf",
        "activity_id": "f",
        "used": {"x": i},
        "generated": {"arg_0": [i, "NaN"]},
        "status": "FINISHED",
        "registered_at": 9.0,
        "telemetry_at_start": snap0,
        "telemetry_at_end": snap1,
    }


def _head(doc: dict) -> bytes:
    skip = ("telemetry_at_start", "telemetry_at_end", "registered_at")
    return orjson.dumps({k: v for k, v in doc.items() if k not in skip})[:-1]


def test_json_documents_read_back_as_given_with_snapshots_stored_once(make_store):
    store = make_store()
    docs = [_task(i, SNAP, SNAP if i % 2 else LATER) for i in range(100)]
    store.upsert_json("tasks", docs, [_head(d) for d in docs])
    store.upsert("tasks", [_task(1000)])  # a msgpack document beside them
    got = {d["task_id"]: d for d in store.find("tasks", {"workflow_id": "wf"})}
    assert len(got) == 101
    for d in [*docs, _task(1000)]:
        assert got[d["task_id"]] == d
    assert store.find("tasks", {"task_id": "t7"}, projection=["telemetry_at_end"])[0]["telemetry_at_end"] == SNAP
    assert store.count("tasks", {"activity_id": "f"}) == 101  # index entries written
    with store._env().env.begin() as txn:
        assert txn.stat(store._env().snapshots)["entries"] == 2  # two distinct snapshots, each stored once
        raw = txn.get(b"t3", db=store._env().docs["tasks"])
    assert raw.startswith(b"{") and b"percent_all" not in raw  # JSON, snapshots by reference


def test_an_id_stored_before_or_given_twice_is_merged(make_store):
    store = make_store()
    store.upsert("tasks", [{"task_id": "t1", "workflow_id": "wf", "status": "RUNNING", "custom_metadata": {"a": 1}}])
    docs = [_task(1), _task(2), {**_task(2), "status": "ERROR"}]
    store.upsert_json("tasks", docs, [_head(d) for d in docs])
    t1 = store.find("tasks", {"task_id": "t1"})[0]
    assert t1["status"] == "FINISHED" and t1["custom_metadata"] == {"a": 1} and t1["telemetry_at_end"] == SNAP
    assert store.find("tasks", {"task_id": "t2"})[0]["status"] == "ERROR"
