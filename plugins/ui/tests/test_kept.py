"""A large workflow's rows and figures kept beside the LMDB store: a server started later answers from them, the
same answers, until a task is written or deleted."""

from __future__ import annotations

import shutil
import time

from conftest import lmdb_settings
from flowcept_ui import kept
from flowcept_ui.data import Browser
from test_analysis import _tasks

from flowcept_core.query import open_store


def _answers(browser: Browser, wid: str = "wf") -> list:
    out = [
        browser.workflow(wid),
        browser.workflow_charts(wid),
        browser.tasks(wid, {"limit": "40", "sort": "-started_at"}),
        browser.tasks(wid, {"limit": "40", "offset": "700"}),
    ]
    return [{k: v for k, v in a.items() if k != "generation"} for a in out]


def _kept(store, wid: str = "wf") -> tuple | None:
    at = kept.stamp(store, wid)
    return kept.load(store, wid, at, None) if at is not None else None


def _wait_kept(store, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _kept(store) is None:
        assert time.monotonic() < deadline, "the figures were not kept in time"
        time.sleep(0.05)


def test_a_large_workflows_figures_are_kept_beside_the_store_until_one_of_its_tasks_changes(tmp_path, monkeypatch):
    monkeypatch.setattr("flowcept_ui.kept.KEEP_MIN_TASKS", 100)
    monkeypatch.setattr("flowcept_ui.workflow_figures.KEEP_AFTER", 0.0)
    settings = lmdb_settings(str(tmp_path / "lmdb"))
    store = open_store(settings, "lmdb")
    tasks = _tasks(1500, seed=3)
    tasks[5]["status"] = "RUNNING"
    store.upsert("tasks", tasks)
    computed = _answers(Browser(settings))
    _wait_kept(store)  # saved in the background
    assert _answers(Browser(settings)) == computed

    # a later server answers from the kept figures (here made different, to tell them from computed ones)
    cols, figures = _kept(store)
    marked = {**figures, "errors": [{"task_id": "kept"}]}
    assert kept.save(store, "wf", kept.stamp(store, "wf"), cols, marked)
    assert Browser(settings).workflow_charts("wf")["errors"] == [{"task_id": "kept"}]
    assert Browser(settings).workflow_charts("wf")["errors"] == [{"task_id": "kept"}]

    # a task of the workflow changes (the count stays): they no longer hold
    store.upsert("tasks", [{"task_id": tasks[5]["task_id"], "status": "FINISHED"}])
    again = Browser(settings)
    assert again.workflow_charts("wf")["errors"] == computed[1]["errors"]
    assert again.workflow("wf")["by_status"] == {
        "ERROR": computed[0]["by_status"]["ERROR"],
        "FINISHED": computed[0]["by_status"]["FINISHED"] + 1,
    }

    # kept again, then one task is deleted: computed anew
    _wait_kept(store)  # saved in the background
    assert store.delete("tasks", {"task_id": tasks[0]["task_id"]}) == 1
    assert _kept(store) is None
    assert Browser(settings).workflow("wf")["task_count"] == 1499


def test_figures_loaded_from_disk_take_new_tasks_like_computed_ones(tmp_path, monkeypatch):
    monkeypatch.setattr("flowcept_ui.kept.KEEP_MIN_TASKS", 100)
    monkeypatch.setattr("flowcept_ui.workflow_figures.KEEP_AFTER", 0.0)
    settings = lmdb_settings(str(tmp_path / "lmdb"))
    store = open_store(settings, "lmdb")
    tasks = _tasks(1300, seed=4)
    store.upsert("tasks", tasks[:1200])
    Browser(settings).figures("wf")
    _wait_kept(store)  # saved in the background
    loaded = Browser(settings)
    charts = loaded.workflow_charts("wf")
    assert loaded._figures["wf"][2].keys  # the store keys came back: only new tasks are read from here on
    store.upsert("tasks", tasks[1200:])
    loaded._counts.clear()
    update = loaded.updates("wf", {"since": "1200", "generation": charts["generation"]})
    assert not update["reload"] and update["task_count"] == 1300
    assert sorted(t["task_id"] for t in update["tasks"]) == sorted(t["task_id"] for t in tasks[1200:])
    assert _answers(loaded) == _answers(Browser(settings))


def test_a_captured_runs_figures_kept_beside_the_store_are_those_computed(known_run, tmp_path, monkeypatch):
    """The default pipeline's documents (JSON, telemetry snapshots referenced) come back the same from the disk."""
    monkeypatch.setattr("flowcept_ui.kept.KEEP_MIN_TASKS", 1)
    monkeypatch.setattr("flowcept_ui.workflow_figures.KEEP_AFTER", 0.0)
    shutil.copytree(known_run.lmdb_path, tmp_path / "lmdb")
    settings = lmdb_settings(str(tmp_path / "lmdb"))
    wid = known_run.workflow_id
    computed = _answers(Browser(settings), wid)
    store = open_store(settings, "lmdb")
    deadline = time.monotonic() + 30
    while _kept(store, wid) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _answers(Browser(settings), wid) == computed
    assert computed[1]["telemetry"]["points"] and computed[1]["errors"]
