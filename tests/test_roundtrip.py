"""Data moves between files and stores unchanged: buffer JSONL -> LMDB -> JSONL -> MongoDB -> JSONL."""

from __future__ import annotations

import pytest

from flowcept import Flowcept, FlowceptTask, flowcept_task
from flowcept_core.files import read_jsonl
from flowcept_core.query import DBAPI
from flowcept_core.settings import Settings
from flowcept_core.stores import close_stores
from tests._util import use_settings
from tests.services import start_mongo_wire, stop_server

pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
pytest.importorskip("flowcept_mongodb", reason="the mongodb plugin is not installed")


@flowcept_task(output_names="y")
def work(x, note="ünïcode ☃"):
    return {"y": x * 2, "nested": {"l": [x, None, 1.5]}}


def _by_id(docs):
    return {(d["type"], d.get("task_id") or d.get("workflow_id")): d for d in docs}


def test_jsonl_lmdb_mongodb_round_trip_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)  # offline: the run goes to flowcept_buffer.jsonl
    with Flowcept(workflow_name="roundtrip"):
        for i in range(200):
            work(i)
        with FlowceptTask(activity_id="blob", used={"n": 3}) as t:
            t.end(data=b"\x00\x01\xffbytes", generated={"ok": True})
    original = read_jsonl("flowcept_buffer.jsonl")
    assert len(original) == 202

    proc, uri = start_mongo_wire(tmp_path / "nx")
    if proc is None:
        pytest.skip(f"MongoDB-wire server could not start: {uri}")
    try:
        close_stores()
        lmdb_api = DBAPI(Settings({"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "lmdb")},
                                                 "mongodb": {"enabled": False}}}))
        assert lmdb_api.import_file("flowcept_buffer.jsonl") == {"workflows": 1, "tasks": 201}
        lmdb_api.dump_to_file("tasks", output_file=str(tmp_path / "t1.jsonl"), export_format="jsonl")
        lmdb_api.dump_to_file("workflows", output_file=str(tmp_path / "w1.jsonl"), export_format="jsonl")
        mongo_api = DBAPI(Settings({"databases": {"lmdb": {"enabled": False},
                                                  "mongodb": {"enabled": True, "uri": uri, "db": "roundtrip"}}}))
        mongo_api.import_file(str(tmp_path / "t1.jsonl"))
        mongo_api.import_file(str(tmp_path / "w1.jsonl"))
        mongo_api.dump_to_file("tasks", output_file=str(tmp_path / "t2.jsonl"), export_format="jsonl")
        mongo_api.dump_to_file("workflows", output_file=str(tmp_path / "w2.jsonl"), export_format="jsonl")
        final = read_jsonl(str(tmp_path / "t2.jsonl")) + read_jsonl(str(tmp_path / "w2.jsonl"))
        blob = mongo_api.task_query({"activity_id": "blob"})[0]
        assert blob["data"] == b"\x00\x01\xffbytes"
    finally:
        close_stores()
        stop_server(proc)
    assert _by_id(final) == _by_id(original)


def test_import_streams_in_batches_and_merges_across_them(tmp_path, monkeypatch):
    import orjson

    from flowcept_core import query

    monkeypatch.setattr(query, "_IMPORT_BATCH", 50)
    lines = [{"type": "workflow", "workflow_id": "wf-imp", "name": "imp"}]
    lines += [{"type": "task", "task_id": f"t{i}", "workflow_id": "wf-imp", "activity_id": "a", "status": "RUNNING",
               "used": {"x": i}, "started_at": float(i)} for i in range(120)]
    lines += [{"type": "task", "task_id": f"t{i}", "workflow_id": "wf-imp", "status": "FINISHED",
               "generated": {"y": 2 * i}, "ended_at": i + 0.5} for i in range(120)]
    path = tmp_path / "imp.jsonl"
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in lines))
    close_stores()
    try:
        api = DBAPI(Settings({"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "lmdb")},
                                            "mongodb": {"enabled": False}}}))
        assert api.import_file(str(path)) == {"workflows": 1, "tasks": 240}
        tasks = {t["task_id"]: t for t in api.task_query({"workflow_id": "wf-imp"})}
        assert len(tasks) == 120
        assert all(t["status"] == "FINISHED" and t["used"]["x"] * 2 == t["generated"]["y"] for t in tasks.values())
        assert api.workflow_query({"workflow_id": "wf-imp"})[0]["name"] == "imp"
    finally:
        close_stores()
