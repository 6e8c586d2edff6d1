"""FlowceptTask end/send rules and FlowceptLoop / FlowceptLightweightLoop iteration capture."""

from __future__ import annotations

import itertools as it
import random
from time import sleep
from uuid import uuid4

import pytest

from flowcept import Flowcept, FlowceptLightweightLoop, FlowceptLoop, FlowceptTask, Status, flowcept_task
from flowcept.instrumentation.loop import FlowceptLightweightLoop as DeepLightweightLoop
from flowcept.instrumentation.task import FlowceptTask as DeepTask
from tests._util import tasks, use_settings


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)


def test_seeds_custom_task_example_leaves_four_messages_in_the_buffer_file():
    flowcept = Flowcept(start_persistence=False, save_workflow=True, workflow_name="MyFirstWorkflow")
    flowcept.start()
    agent1 = uuid4()
    FlowceptTask(activity_id="super_func1", used={"x": 1}, agent_id=agent1, tags=["tag1"]).send()
    with FlowceptTask(activity_id="super_func2", used={"y": 1}, agent_id=agent1, tags=["tag2"]) as t2:
        sleep(0.05)
        t2.end(generated={"o": 3})
    t3 = FlowceptTask(activity_id="super_func3", used={"z": 1}, agent_id=agent1, tags=["tag3"])
    t3.end(generated={"w": 1})
    flowcept.stop()
    msgs = Flowcept.read_buffer_file()
    assert len(msgs) == 4
    by = {m.get("activity_id"): m for m in msgs}
    assert by["super_func1"]["ended_at"] == by["super_func1"]["started_at"] and "status" not in by["super_func1"]
    assert by["super_func2"]["generated"] == {"o": 3} and by["super_func2"]["status"] == "FINISHED"
    assert by["super_func2"]["ended_at"] - by["super_func2"]["started_at"] >= 0.04
    assert by["super_func3"]["agent_id"] == str(agent1) and by["super_func3"]["tags"] == ["tag3"]
    assert [m["type"] for m in msgs].count("workflow") == 1


def test_seeds_context_managed_task_with_data():
    with Flowcept(workflow_name="custom_tasks") as fc:
        with DeepTask(activity_id="download", used={"url": "https://example.org"}) as t:
            data = b"\x00binary"
            t.end(data=data, generated={"bytes": len(data)})
        task = FlowceptTask(activity_id="parse", used={"bytes": len(data)})
        task.end({"records": 42})
        task.send()  # already ended: no second message
    dl, parse = tasks(fc.get_buffer())
    assert dl["generated"] == {"bytes": 7}
    assert dl["data"]["$binary"]["base64"]  # bytes survive JSON as extended JSON
    assert parse["generated"] == {"records": 42}


def test_end_like_arguments_at_construction_end_the_task_at_once():
    with Flowcept() as fc:
        FlowceptTask(activity_id="a", generated={"r": 1})
        FlowceptTask(activity_id="b", status=Status.ERROR, stderr="failed")
        FlowceptTask(activity_id="c", used={"never": "ended"})  # not ended, not sent: not published
    a, b = tasks(fc.get_buffer())
    assert a["status"] == "FINISHED" and a["generated"] == {"r": 1}
    assert b["status"] == "ERROR" and b["stderr"] == "failed"


def test_exception_in_task_block_is_recorded_as_error_and_propagates():
    with Flowcept() as fc:
        with pytest.raises(ZeroDivisionError):
            with FlowceptTask(activity_id="risky"):
                _ = 1 / 0
    (t,) = tasks(fc.get_buffer())
    assert t["status"] == "ERROR" and "ZeroDivisionError" in t["stderr"]


def test_decorated_calls_inside_a_task_block_get_it_as_parent():
    @flowcept_task
    def step(x):
        return x

    with Flowcept() as fc:
        with FlowceptTask(activity_id="stage") as stage:
            step(1)
        step(2)
    msgs = fc.get_buffer()
    s1, s2 = tasks(msgs, "step")
    assert s1["parent_task_id"] == stage.get_id()
    assert "parent_task_id" not in s2


def test_end_twice_publishes_once_and_bad_status_is_a_clear_error():
    with Flowcept() as fc:
        t = FlowceptTask(activity_id="once")
        t.end(generated={"a": 1})
        t.end(generated={"a": 2})
        with pytest.raises(ValueError, match="status='DONE'.*FINISHED"):
            FlowceptTask(activity_id="bad").end(status="DONE")
    assert [x["generated"] for x in tasks(fc.get_buffer(), "once")] == [{"a": 1}]


def test_task_without_active_flowcept_is_a_no_op():
    with FlowceptTask(activity_id="x", used={"a": 1}) as t:
        t.end(generated={"b": 2})
    assert t.get_id() is None


def test_getters_return_ids():
    with Flowcept(campaign_id="camp1") as fc:
        t = FlowceptTask(task_id="my-id", activity_id="g", agent_id="ag")
        assert t.get_id() == "my-id" and t.get_workflow_id() == fc.current_workflow_id
        assert t.get_campaign_id() == "camp1" and t.get_agent_id() == "ag"
        assert t._task.activity_id == "g"
        t.send()


def test_generated_task_ids_are_strings_everywhere_and_int_ids_given_stay_apart():
    with Flowcept() as fc:
        t = FlowceptTask(activity_id="auto")
        auto_id = t.get_id()
        assert isinstance(auto_id, str) and auto_id and t._task.task_id == auto_id
        with t:
            FlowceptTask(activity_id="child").end()
        FlowceptTask(task_id=7, activity_id="given").end()
    by_activity = {m["activity_id"]: m for m in tasks(fc.get_buffer())}
    assert by_activity["auto"]["task_id"] == auto_id
    assert by_activity["child"]["parent_task_id"] == auto_id
    assert isinstance(by_activity["child"]["task_id"], str) and by_activity["child"]["task_id"] != auto_id
    assert by_activity["given"]["task_id"] == "7"


def test_loop_records_each_iteration_with_item_and_end_iter_values():
    with Flowcept(workflow_name="telemetry_stream") as fc:
        loop = FlowceptLoop(range(5), loop_name="train_loop", item_name="epoch")
        ids = []
        for epoch in loop:
            ids.append(loop.get_current_iteration_id())
            loop.end_iter({"loss": 0.1 * (5 - epoch)})
    msgs = fc.get_buffer()
    iters = tasks(msgs, "train_loop_iteration")
    (whole,) = tasks(msgs, "train_loop")
    assert [t["used"] for t in iters] == [{"i": i, "epoch": i} for i in range(5)]
    assert [round(t["generated"]["loss"], 2) for t in iters] == [0.5, 0.4, 0.3, 0.2, 0.1]
    assert [t["task_id"] for t in iters] == ids
    assert all(t["group_id"] == whole["task_id"] and t["status"] == "FINISHED" for t in iters)
    assert all("parent_task_id" not in t for t in iters + [whole])
    assert all(t["started_at"] <= t["ended_at"] for t in iters)
    assert whole["used"]["iterations"] == 5


def test_lightweight_loop_publishes_all_iterations_at_the_end():
    data = [0, 1, 2, 3, 4]
    with Flowcept(workflow_name="batched_publish") as fc:
        loop = FlowceptLightweightLoop(data, loop_name="eval_loop", item_name="batch")
        for batch in loop:
            loop.end_iter({"metric": batch * 2})
            if batch == 2:
                assert tasks(fc.get_buffer(), "eval_loop_iteration") == []  # nothing published yet
    iters = tasks(fc.get_buffer(), "eval_loop_iteration")
    assert [t["generated"]["metric"] for t in iters] == [0, 2, 4, 6, 8]
    assert [t["used"]["batch"] for t in iters] == data


def test_iterators_of_unknown_length():
    stream = it.islice(it.count(), 0, 100)
    with Flowcept(workflow_name="iterators") as fc:
        loop_a = FlowceptLoop(stream, loop_name="loop_a", item_name="i", items_length=100)
        for i in loop_a:
            loop_a.end_iter({"v": i * i})
        loop_m = FlowceptLoop(iter([1, 2, 3]), loop_name="loop_m")  # materialized
        assert len(loop_m) == 3
        list(loop_m)
        stream2 = it.islice(it.count(), 0, 100)
        loop_b = DeepLightweightLoop(stream2, loop_name="loop_b", item_name="i", items_length=100)
        for i in loop_b:
            loop_b.end_iter({"v": i * i})
        with pytest.raises(ValueError, match="items_length"):
            FlowceptLightweightLoop(iter([1, 2]))
    msgs = fc.get_buffer()
    assert len(tasks(msgs, "loop_a_iteration")) == 100 and len(tasks(msgs, "loop_b_iteration")) == 100
    assert tasks(msgs, "loop_b_iteration")[99]["generated"] == {"v": 99 * 99}
    assert len(tasks(msgs, "loop_m_iteration")) == 3


def test_breaking_out_of_a_loop_still_records_what_ran():
    with Flowcept() as fc:
        for cls, name in ((FlowceptLoop, "a"), (FlowceptLightweightLoop, "b")):
            loop = cls(10, loop_name=name)
            for i in loop:
                loop.end_iter({"i": i})
                if i == 3:
                    break
    msgs = fc.get_buffer()
    for name in ("a", "b"):
        iters = tasks(msgs, f"{name}_iteration")
        assert [t["generated"]["i"] for t in iters] == [0, 1, 2, 3], name
        assert tasks(msgs, name)[0]["used"]["iterations"] == 4


def test_disabled_capture_makes_loops_plain_iterators():
    with Flowcept() as fc:
        loop = FlowceptLoop([1, 2], capture_enabled=False)
        assert [x for x in loop] == [1, 2]
        loop.end_iter({"ignored": True})
        assert loop.get_current_iteration_id() is None
    assert [x for x in FlowceptLightweightLoop(range(3))] == [0, 1, 2]  # no Flowcept running
    assert tasks(fc.get_buffer()) == []


def test_loop_iterations_nest_under_an_enclosing_task():
    @flowcept_task
    def train():
        for _ in FlowceptLoop(2, loop_name="epochs"):
            random.random()

    with Flowcept() as fc:
        train()
    msgs = fc.get_buffer()
    assert tasks(msgs, "epochs")[0]["parent_task_id"] == tasks(msgs, "train")[0]["task_id"]


def test_bad_loop_items_are_a_clear_error():
    with pytest.raises(TypeError, match="items=3.5"):
        FlowceptLoop(3.5)
    with pytest.raises(ValueError, match="negative"):
        FlowceptLoop(-1)
