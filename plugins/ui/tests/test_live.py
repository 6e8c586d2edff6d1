"""The live view notices a task already drawn that changes without a new task arriving (a RUNNING task that
finishes), on LMDB and on MongoDB-wire alike."""

from __future__ import annotations

import os

import pytest
from conftest import lmdb_settings
from flowcept_ui.data import Browser

from flowcept_core.query import open_store
from flowcept_core.settings import load_settings


@pytest.fixture(params=["lmdb", "mongodb"])
def settings(request, tmp_path):
    if request.param == "lmdb":
        return lmdb_settings(str(tmp_path / "lmdb"))
    uri = request.getfixturevalue("mongo_uri")
    return load_settings(
        overrides={
            "databases.mongodb.enabled": True,
            "databases.mongodb.uri": uri,
            "databases.mongodb.db": f"ui_live_{os.getpid()}_{tmp_path.name}"[:60],
            "databases.lmdb.enabled": False,
        }
    )


def _task(n: int, status: str, **more) -> dict:
    return {"task_id": f"t-{n}", "workflow_id": "wf", "activity_id": "step", "status": status, "started_at": n, **more}


def test_a_running_task_that_finishes_is_announced_and_sent_as_changed(settings):
    store = open_store(settings, "lmdb" if settings.get("databases.lmdb.enabled") else "mongodb")
    store.upsert("workflows", [{"workflow_id": "wf", "name": "live", "status": "RUNNING"}])
    store.upsert("tasks", [_task(1, "FINISHED", ended_at=1.5), _task(2, "RUNNING"), _task(3, "FINISHED", ended_at=3.5)])
    browser = Browser(settings)
    charts = browser.workflow_charts("wf")
    assert browser.workflow("wf")["by_status"] == {"FINISHED": 2, "RUNNING": 1}
    assert browser.state("wf")["changed"] == 0

    store.upsert("tasks", [_task(2, "ERROR", ended_at=2.5, stderr="ValueError: late")])
    assert browser.state("wf")["changed"] == 1  # the count is unchanged: this is what the page hears
    browser._counts.clear()
    update = browser.updates("wf", {"since": "3", "generation": charts["generation"], "revision": "0"})
    assert not update["reload"] and update["tasks"] == [] and update["revision"] > charts["revision"]
    assert [(t["task_id"], t["status"], t["ended_at"]) for t in update["changed"]] == [("t-2", "ERROR", 2.5)]
    assert update["by_status"] == {"ERROR": 1, "FINISHED": 2} and update["error_count"] == 1
    assert [e["message"] for e in update["errors"]] == ["ValueError: late"]
    assert browser.state("wf")["changed"] == 0  # read again: nothing more to announce
    again = browser.updates(
        "wf", {"since": "3", "generation": charts["generation"], "revision": str(update["revision"])}
    )
    assert again["changed"] == [] and again["revision"] == update["revision"]
    assert browser.workflow("wf")["by_status"] == {"ERROR": 1, "FINISHED": 2}
