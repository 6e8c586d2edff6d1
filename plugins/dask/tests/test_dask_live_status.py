"""Live task states: while a run goes on, a task that waits on a dependency is stored SUBMITTED and a long task
RUNNING; both end FINISHED in one document each (the store merges the messages of one task_id)."""

from __future__ import annotations

import time
from typing import Any

import dask_tasks


def _poll(workflow_id: str, key: str, check: Any, timeout: float = 60.0) -> dict:
    """The stored document of task key once check(doc) is true (the last one seen after timeout)."""
    from flowcept import Flowcept

    deadline = time.monotonic() + timeout
    doc: dict = {}
    while time.monotonic() < deadline:
        found = Flowcept.db.query(filter={"workflow_id": workflow_id, "task_id": key}) or []
        if found:
            doc = found[0]
            if check(doc):
                return doc
        time.sleep(0.1)
    return doc


def test_a_long_task_is_stored_running_and_its_dependent_submitted_while_the_run_goes_on(
        dask_client, write_settings, tmp_path):
    from flowcept import Flowcept

    release = tmp_path / "release"
    workers = set(dask_client.scheduler_info()["workers"])
    with Flowcept(interceptors=["dask"], dask_client=dask_client) as fc:
        wf = fc.current_workflow_id
        slow = dask_client.submit(dask_tasks.wait_for_file, str(release), 120.0, pure=False)
        after = dask_client.submit(dask_tasks.add, slow, y="!", pure=False)
        running = _poll(wf, slow.key, lambda d: d.get("status") == "RUNNING")
        waiting = _poll(wf, after.key, lambda d: d.get("status") == "SUBMITTED")
        release.write_text("go")
        assert after.result(timeout=120) == "released!"
    assert running["status"] == "RUNNING"
    assert running["activity_id"] == "wait_for_file"
    assert running["address"] in workers
    assert isinstance(running["hostname"], str) and running["hostname"]
    assert running["submitted_at"] <= running["started_at"]
    assert waiting["status"] == "SUBMITTED"
    assert waiting["activity_id"] == "add"
    assert waiting["dependencies"] == [slow.key]
    assert waiting["used"]["y"] == "!"
    assert not waiting.get("started_at")

    docs = dask_tasks.tasks_of(wf, expected=2)
    stored = Flowcept.db.query(filter={"workflow_id": wf}) or []
    assert sorted(d["task_id"] for d in stored) == sorted([slow.key, after.key])  # one document per task
    final = docs[slow.key]
    assert final["status"] == "FINISHED"
    assert final["generated"] == {"arg_0": "released"}
    assert final["started_at"] == running["started_at"] <= final["ended_at"]
    dependent = docs[after.key]
    assert dependent["status"] == "FINISHED"
    assert dependent["used"] == {"x": "released", "y": "!"}
    assert dependent["generated"] == {"arg_0": "released!"}
    assert dependent["dependencies"] == [slow.key]
    assert dependent["submitted_at"] == waiting["submitted_at"] <= dependent["started_at"]


def test_running_messages_can_be_turned_off(dask_client, write_settings, tmp_path):
    write_settings(adapters={"dask": {"worker_should_send_running": False}})
    release = tmp_path / "release"
    with __import__("flowcept").Flowcept(interceptors=["dask"], dask_client=dask_client) as fc:
        wf = fc.current_workflow_id
        slow = dask_client.submit(dask_tasks.wait_for_file, str(release), 120.0, pure=False)
        submitted = _poll(wf, slow.key, lambda d: d.get("status") == "SUBMITTED")
        time.sleep(1.0)  # several batches leave while it runs; none says RUNNING
        seen = _poll(wf, slow.key, lambda d: True)
        release.write_text("go")
        assert slow.result(timeout=120) == "released"
    assert submitted["status"] == "SUBMITTED"
    assert seen["status"] == "SUBMITTED"
    assert dask_tasks.tasks_of(wf, expected=1)[slow.key]["status"] == "FINISHED"


def test_with_both_live_messages_off_a_task_is_stored_when_it_ends(dask_client, write_settings, tmp_path):
    from flowcept import Flowcept

    write_settings(adapters={"dask": {"worker_should_send_running": False, "scheduler_should_send_submitted": False}})
    release = tmp_path / "release"
    with Flowcept(interceptors=["dask"], dask_client=dask_client) as fc:
        wf = fc.current_workflow_id
        slow = dask_client.submit(dask_tasks.wait_for_file, str(release), 120.0, pure=False)
        after = dask_client.submit(dask_tasks.add, slow, y="!", pure=False)
        time.sleep(1.5)  # several batches leave while both wait or run
        seen = Flowcept.db.query(filter={"workflow_id": wf}) or []
        release.write_text("go")
        assert after.result(timeout=120) == "released!"
    assert [d for d in seen if d.get("task_id")] == []
    docs = dask_tasks.tasks_of(wf, expected=2)
    assert docs[slow.key]["status"] == docs[after.key]["status"] == "FINISHED"
    assert docs[after.key]["submitted_at"] <= docs[after.key]["started_at"]
