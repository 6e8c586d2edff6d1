"""Loop iterations nest under the parent_task_id given to the loop, or under the enclosing task; the loop record is
their sibling (same parent) and shares its group_id with them. Checked in the buffer, across the wire format, and
through Flowcept.db on the default store."""

from __future__ import annotations

import pytest

from flowcept import Flowcept, FlowceptLightweightLoop, FlowceptLoop, FlowceptTask, flowcept_task
from flowcept_core.stores import close_stores
from tests._util import tasks, use_settings

LOOPS = [FlowceptLoop, FlowceptLightweightLoop]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)


@pytest.mark.parametrize("cls", LOOPS)
def test_iterations_nest_under_the_given_parent_task_id(cls):
    with Flowcept() as fc:
        with FlowceptTask(activity_id="training") as parent:
            pass
        loop = cls(range(3), loop_name="epochs", parent_task_id=parent.get_id())
        for i in loop:
            loop.end_iter({"loss": i})
    msgs = fc.get_buffer()
    iters = tasks(msgs, "epochs_iteration")
    (whole,) = tasks(msgs, "epochs")
    assert len(iters) == 3
    assert {t["parent_task_id"] for t in iters} == {parent.get_id()}
    assert whole["parent_task_id"] == parent.get_id()  # a sibling of its iterations, not their parent
    assert {t["group_id"] for t in iters} == {whole["task_id"]} == {whole["group_id"]}
    assert all(t["task_id"] != whole["task_id"] for t in iters)


@pytest.mark.parametrize("cls", LOOPS)
def test_iterations_nest_under_the_enclosing_task_when_no_parent_is_given(cls):
    @flowcept_task
    def train():
        for _ in cls(2, loop_name="steps"):
            pass

    with Flowcept() as fc:
        train()
    msgs = fc.get_buffer()
    (outer,) = tasks(msgs, "train")
    assert [t["parent_task_id"] for t in tasks(msgs, "steps_iteration")] == [outer["task_id"]] * 2
    assert tasks(msgs, "steps")[0]["parent_task_id"] == outer["task_id"]


@pytest.mark.parametrize("cls", LOOPS)
def test_top_level_iterations_have_no_parent(cls):
    with Flowcept() as fc:
        list(cls(2, loop_name="top"))
    msgs = fc.get_buffer()
    iters = tasks(msgs, "top_iteration")
    assert len(iters) == 2 and all("parent_task_id" not in t for t in iters)
    assert "parent_task_id" not in tasks(msgs, "top")[0]


def test_the_parent_survives_the_wire_format():
    from flowcept_core.capture.context import STATE
    from flowcept_core.packed import pack
    from flowcept_core.wire import decode_batch, encode_batch

    with Flowcept():
        run = STATE.run
        run._stop.set()  # keep the flusher away: this test drains by hand
        if getattr(run, "_thread", None) is not None:
            run._thread.join()
        for _ in FlowceptLoop(2, loop_name="wired", parent_task_id="p-1"):
            pass
        raw = list(run.items)
        expanded = decode_batch(encode_batch([pack(run, raw)]))
    iters = tasks(expanded, "wired_iteration")
    assert [t["parent_task_id"] for t in iters] == ["p-1", "p-1"]


def test_a_query_for_the_children_of_a_task_finds_the_iterations(tmp_path, monkeypatch):
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    close_stores()
    use_settings(tmp_path, monkeypatch, base={
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}}, "telemetry_capture": {},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "lmdb")}}})
    try:
        with Flowcept() as fc:
            with FlowceptTask(activity_id="campaign_step") as parent:
                pass
            for _ in FlowceptLoop(4, loop_name="sweep", parent_task_id=parent.get_id()):
                pass
        children = Flowcept.db.task_query({"parent_task_id": parent.get_id(), "workflow_id": fc.current_workflow_id})
        assert sorted(t["activity_id"] for t in children) == ["sweep"] + ["sweep_iteration"] * 4
    finally:
        close_stores()
