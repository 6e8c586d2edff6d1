"""Through settings.yaml: open_store picks this plugin, and Flowcept.db (flowcept_core.query.DBAPI) works on it."""

from __future__ import annotations

from flowcept_core.settings import get_settings
from flowcept_core.stores import open_store


def test_open_store_returns_the_lmdb_store_once_per_configuration(lmdb_settings_file):
    from flowcept_lmdb.store import LMDBStore

    settings = get_settings()
    store = open_store(settings, "lmdb")
    assert isinstance(store, LMDBStore) and store.liveness_test() is True
    assert open_store(settings, "lmdb") is store
    assert (lmdb_settings_file / "data.mdb").is_file()


def test_flowcept_db_inserts_queries_and_builds_workflow_objects(lmdb_settings_file):
    from flowcept import Flowcept
    from flowcept_core.schema import TaskObject, WorkflowObject

    db = Flowcept.db
    assert db.insert_or_update_workflow(
        {"workflow_id": "wf1", "name": "demo", "status": "RUNNING", "used": {"epochs": 2}}
    )
    task = TaskObject(
        task_id="t1", workflow_id="wf1", activity_id="train", status="RUNNING", started_at=1.0, used={"x": 1}
    )
    assert db.insert_or_update_task(task)
    assert db.insert_or_update_task(
        {"task_id": "t1", "workflow_id": "wf1", "status": "FINISHED", "ended_at": 2.0, "generated": {"y": b"\x00bytes"}}
    )
    assert db.insert_or_update_task({"task_id": "t2", "workflow_id": "wf2", "status": "ERROR"})

    (t1,) = db.task_query({"workflow_id": "wf1"})
    assert t1["status"] == "FINISHED" and t1["started_at"] == 1.0 and t1["ended_at"] == 2.0
    assert t1["used"] == {"x": 1} and t1["generated"] == {"y": b"\x00bytes"}
    assert db.task_query({"status": {"$in": ["ERROR"]}}, projection=["task_id"]) == [{"task_id": "t2"}]
    assert [d["task_id"] for d in db.task_query({}, sort=[("task_id", -1)], limit=1)] == ["t2"]
    assert [w["name"] for w in db.workflow_query({"workflow_id": "wf1"})] == ["demo"]

    wf = db.get_workflow_object("wf1")
    assert isinstance(wf, WorkflowObject) and wf.workflow_id == "wf1" and wf.used == {"epochs": 2}
    assert db.get_workflow_object("missing") is None
    assert db.liveness_test() is True


def test_captured_tasks_reach_the_lmdb_store_through_the_document_inserter(lmdb_settings_file):
    from flowcept import Flowcept, flowcept_task

    @flowcept_task
    def double(x: int) -> int:
        return 2 * x

    with Flowcept(workflow_name="lmdb-e2e"):
        for i in range(5):
            double(i)
        workflow_id = Flowcept.current_workflow_id
    tasks = Flowcept.db.task_query({"workflow_id": workflow_id})
    assert len(tasks) == 5 and {t["status"] for t in tasks} == {"FINISHED"}
    assert Flowcept.db.get_workflow_object(workflow_id).name == "lmdb-e2e"
