"""With the built-in defaults (no settings file: in-process MQ -> DocumentInserter -> LMDB), a task can be found
through Flowcept.db within 1 s of ending while the run goes on."""

from __future__ import annotations

import time

import pytest

from flowcept import Flowcept, FlowceptTask, flowcept_task
from flowcept_core.registry import reset_registry
from flowcept_core.settings import get_settings, reset_settings
from flowcept_core.stores import close_stores


@flowcept_task
def square(x):
    return x * x


@pytest.fixture
def defaults(tmp_path, monkeypatch):
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    monkeypatch.delenv("FLOWCEPT_SETTINGS_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.flowcept/settings.yaml
    for name in ("MQ_TYPE", "MQ_INSERTION_BUFFER_TIME", "DB_FLUSH_MODE", "LMDB_ENABLED", "LMDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    close_stores()
    reset_settings()
    reset_registry()
    assert get_settings().source is None
    yield
    close_stores()


def _found_within(task_id: str, limit: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 <= limit:
        if Flowcept.db.task_query({"task_id": task_id}):
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def test_a_task_is_queryable_within_a_second_of_ending_while_the_run_goes_on(defaults):
    with Flowcept(workflow_name="live") as fc:
        for i in range(3):
            with FlowceptTask(activity_id="probe", used={"i": i}) as task:
                square(i)
            waited = _found_within(task.get_id(), 1.0)
            assert waited is not None, f"task {i} not queryable within 1 s of ending"
        children = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id, "activity_id": "square"})
        assert len(children) == 3  # the decorated calls ended before their probes: already there too
        assert fc.is_started
