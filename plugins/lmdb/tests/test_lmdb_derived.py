"""Data derived from a workflow's tasks, kept beside the store (flowcept_lmdb._derived): its stamp changes with every
task write and with the workflow's count, files are private and their number bounded."""

from __future__ import annotations

import os
import stat
import time

from flowcept_lmdb import _derived


def _tasks(wid: str, n: int, status: str = "FINISHED") -> list[dict]:
    return [{"task_id": f"{wid}-{i}", "workflow_id": wid, "status": status} for i in range(n)]


def test_the_stamp_changes_with_any_task_write_and_with_the_workflows_count(make_store):
    store = make_store()
    store.upsert("tasks", _tasks("a", 3, "RUNNING") + _tasks("b", 2))
    first = _derived.stamp(store, "a")
    assert first is not None and _derived.stamp(store, "a") == first
    store.upsert("workflows", [{"workflow_id": "a", "name": "not a task"}])
    assert _derived.stamp(store, "a") == first  # the workflow's record is not derived from its tasks
    store.upsert("tasks", [{"task_id": "a-1", "status": "FINISHED"}])  # the count stays 3
    second = _derived.stamp(store, "a")
    assert second != first
    store.upsert("tasks", [{"task_id": "b-9", "workflow_id": "b"}])  # another workflow's task: still a task write
    third = _derived.stamp(store, "a")
    assert third != second
    assert store.delete("tasks", {"task_id": "a-2"}) == 1  # a deletion writes no sequence number: the count tells
    assert _derived.stamp(store, "a") != third


def test_data_is_loaded_only_under_its_stamp_from_private_files_at_most_max_files(make_store, monkeypatch):
    store = make_store()
    store.upsert("tasks", _tasks("a", 2))
    at = _derived.stamp(store, "a")
    assert _derived.load(store, "k", "a", at) is None
    assert _derived.save(store, "k", "a", at, b"derived bytes")
    assert _derived.load(store, "k", "a", at) == b"derived bytes"
    assert _derived.load(store, "other kind", "a", at) is None and _derived.load(store, "k", "b", at) is None
    store.upsert("tasks", _tasks("a", 3))
    assert _derived.load(store, "k", "a", _derived.stamp(store, "a")) is None
    folder = os.path.join(store._cfg.path, "derived")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    (name,) = os.listdir(folder)
    assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o600
    monkeypatch.setattr(_derived, "MAX_FILES", 3)
    for n in range(5):
        assert _derived.save(store, "k", f"w{n}", at, b"x")
        time.sleep(0.02)  # distinct modification times (their granularity may be a few ms)
    assert len(os.listdir(folder)) == 3
    assert _derived.load(store, "k", "w4", at) == b"x" and _derived.load(store, "k", "w0", at) is None
