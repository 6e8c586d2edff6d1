"""The mongodb store chosen through settings.yaml: open_store, Flowcept.db (DBAPI) and a captured workflow."""

from __future__ import annotations

import pytest
import yaml

from flowcept_core.registry import reset_registry
from flowcept_core.settings import get_settings, reset_settings
from flowcept_core.stores import close_stores, open_store, read_store_name

pytest.importorskip("pymongo", reason="pymongo is not installed: pip install -e plugins/mongodb")


@pytest.fixture
def mongodb_settings_file(tmp_path, monkeypatch, mongo_server, db_name):
    """A settings.yaml enabling only the mongodb store on the test server (fresh database), in force for the test."""
    path = tmp_path / "settings.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
                "mq": {"type": "memory"},
                "db_buffer": {"insertion_buffer_time_secs": 0.2},
                "databases": {
                    "lmdb": {"enabled": False},
                    "mongodb": {"enabled": True, "uri": mongo_server.uri, "db": db_name},
                },
            }
        )
    )
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    reset_settings()
    reset_registry()
    close_stores()
    yield path
    close_stores()
    reset_settings()
    reset_registry()


def test_open_store_returns_the_mongodb_store_from_settings_yaml(mongodb_settings_file, db_name):
    from flowcept_mongodb.store import MongoDBStore

    settings = get_settings()
    assert read_store_name(settings) == "mongodb"
    store = open_store(settings, "mongodb")
    assert isinstance(store, MongoDBStore) and store.config.db == db_name
    assert open_store(settings, "mongodb") is store


def test_flowcept_db_inserts_merges_and_queries_through_mongodb(mongodb_settings_file):
    from flowcept import Flowcept, TaskObject, WorkflowObject

    db = Flowcept.db
    assert db.liveness_test() is True
    assert db.insert_or_update_workflow(WorkflowObject(workflow_id="wf-db", name="db-test", used={"n": 2}))
    assert db.insert_or_update_task(
        TaskObject(
            task_id="t-db", workflow_id="wf-db", activity_id="step", status="RUNNING", started_at=1.0, used={"x": 1}
        )
    )
    assert db.insert_or_update_task(
        {"task_id": "t-db", "workflow_id": "wf-db", "status": "FINISHED", "ended_at": 2.0, "generated": {"y": 2}}
    )
    (task,) = db.task_query({"workflow_id": "wf-db"})
    assert task["status"] == "FINISHED" and task["used"] == {"x": 1} and task["generated"] == {"y": 2}
    assert task["started_at"] == 1.0 and task["ended_at"] == 2.0 and "_id" not in task
    assert db.task_query({"activity_id": "step"}, projection=["task_id"]) == [{"task_id": "t-db"}]
    assert [w["name"] for w in db.workflow_query({"workflow_id": "wf-db"})] == ["db-test"]
    wf = db.get_workflow_object("wf-db")
    assert wf.workflow_id == "wf-db" and wf.name == "db-test" and wf.used == {"n": 2}
    assert db.get_workflow_object("nope") is None


def test_captured_workflow_lands_in_mongodb_as_merged_documents(mongodb_settings_file):
    from flowcept import Flowcept, flowcept_task

    @flowcept_task
    def square(x):
        return x * x

    with Flowcept(workflow_name="mongo-e2e") as f:
        for i in range(5):
            square(i)
        wf_id = f.current_workflow_id
    tasks = Flowcept.db.task_query({"workflow_id": wf_id}, sort=[("started_at", 1)])
    assert len(tasks) == 5
    assert all(t["status"] == "FINISHED" and "started_at" in t and "ended_at" in t for t in tasks)
    (wf,) = Flowcept.db.workflow_query({"workflow_id": wf_id})
    assert wf["name"] == "mongo-e2e"
