"""Upstream names behave as upstream's do: Flowcept.buffer, Flowcept(agent_name=...), FlowceptTask(capture_telemetry=
...), WorkflowObject.workflow_is_finished / to_dict / enrich, the polling helpers, and DocumentInserter with
upstream's constructor storing into the default store."""

from __future__ import annotations

import time

import pytest

from flowcept import Flowcept, FlowceptTask, Status, WorkflowObject, flowcept_task
from flowcept.commons.utils import assert_by_querying_tasks_until, evaluate_until
from flowcept_core.stores import close_stores
from tests._util import tasks, use_settings

ONLINE = {"project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}}, "telemetry_capture": {},
          "log": {"log_stream_level": "error", "log_file_level": "disable"}}


@flowcept_task
def double(x):
    return 2 * x


@pytest.fixture
def offline(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)


@pytest.fixture
def online_lmdb(tmp_path, monkeypatch):
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    close_stores()
    use_settings(tmp_path, monkeypatch, {"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}},
                 base=ONLINE)
    yield
    close_stores()


def test_flowcept_buffer_holds_the_running_workflows_messages(offline):
    assert Flowcept.buffer is None  # nothing running
    with Flowcept(workflow_name="buffered") as fc:
        double(2)
        double(3)
        assert [t["used"] for t in tasks(Flowcept.buffer)] == [{"x": 2}, {"x": 3}]
        assert tasks(fc.buffer) == tasks(fc.get_buffer())
    assert Flowcept.buffer is None


def test_agent_name_and_description_are_recorded_in_the_workflow(offline):
    from flowcept_core import __version__

    with Flowcept(workflow_name="w", workflow_description="what it does", agent_id="a-1", agent_name="planner") as fc:
        pass
    (wf,) = [m for m in fc.get_buffer() if m["type"] == "workflow"]
    assert (wf["agent_id"], wf["agent_name"], wf["description"]) == ("a-1", "planner", "what it does")
    assert wf["flowcept_version"] == __version__


def test_capture_telemetry_false_leaves_a_task_without_telemetry(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"telemetry_capture": {"cpu": True, "mem": True}})
    with Flowcept() as fc:  # the first tasks may end before the sampler's first reading: they take that one
        FlowceptTask(activity_id="with").end()
        FlowceptTask(activity_id="without", capture_telemetry=False).end()
    msgs = fc.get_buffer()
    (with_tel,), (without,) = tasks(msgs, "with"), tasks(msgs, "without")
    assert "telemetry_at_start" in with_tel and "telemetry_at_end" in with_tel
    assert "telemetry_at_start" not in without and "telemetry_at_end" not in without


def test_workflow_is_finished():
    assert WorkflowObject(status=Status.FINISHED).workflow_is_finished()
    assert WorkflowObject.from_dict({"workflow_id": "w", "status": "ERROR"}).workflow_is_finished()
    assert not WorkflowObject(status=Status.RUNNING).workflow_is_finished()
    assert not WorkflowObject().workflow_is_finished()


def test_workflow_to_dict_masks_the_secrets_of_its_settings_snapshot():
    wf = WorkflowObject.from_dict({"workflow_id": "w", "flowcept_settings": {
        "mq": {"password": "hunter2", "host": "h"}, "agent": {"api_key": "sk-123"},
        "databases": {"mongodb": {"uri": "mongodb://u:pw@db:27017/x"}}}})
    text = str(wf.to_dict())
    assert "hunter2" not in text and "sk-123" not in text and ":pw@" not in text
    assert wf.to_dict()["flowcept_settings"]["mq"]["host"] == "h"


def test_enrich_fills_the_version():
    from flowcept_core import __version__

    wf = WorkflowObject(workflow_id="w")
    wf.enrich("adapter-1")
    assert (wf.flowcept_version, wf.adapter_id) == (__version__, "adapter-1")


def test_evaluate_until_is_true_when_met_and_false_in_time():
    calls = []
    assert evaluate_until(lambda: calls.append(1) or len(calls) >= 3, max_trials=5) is True
    t0 = time.monotonic()
    assert evaluate_until(lambda: False, max_trials=30, max_time=0.3) is False
    assert time.monotonic() - t0 < 2


def test_assert_by_querying_tasks_until_sees_stored_tasks(online_lmdb):
    with Flowcept() as fc:
        double(21)
    wf = fc.current_workflow_id
    assert assert_by_querying_tasks_until({"workflow_id": wf}, lambda docs: docs[0]["generated"], max_trials=5)
    assert assert_by_querying_tasks_until({"workflow_id": "nothing-here"}, max_trials=1, max_time=0.3) is False


def test_upstream_document_inserter_constructor_stores_what_producers_send(online_lmdb):
    from flowcept.flowceptor.consumers.document_inserter import DocumentInserter

    inserter = DocumentInserter(check_safe_stops=False, bundle_exec_id="b").start()
    try:
        with Flowcept(start_persistence=False, check_safe_stops=False) as fc:
            for i in range(5):
                double(i)
        assert assert_by_querying_tasks_until({"workflow_id": fc.current_workflow_id},
                                              lambda docs: len(docs) == 5, max_trials=10)
    finally:
        inserter.stop("b")
    assert not inserter.is_running
