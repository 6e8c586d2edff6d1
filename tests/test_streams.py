"""StreamTracker: every producer of a run is done when each one that started has sent its end marker."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest

from flowcept import (
    BaseConsumer,
    Flowcept,
    FlowceptLightweightLoop,
    FlowceptLoop,
    FlowceptTask,
    flowcept_task,
    lightweight_flowcept_task,
)
from flowcept_core.capture.context import STATE
from flowcept_core.consumers.document_inserter import DocumentInserter
from flowcept_core.consumers.streams import StreamTracker, count_by_workflow
from flowcept_core.packed import pack
from flowcept_core.settings import get_settings
from flowcept_core.stores import close_stores
from flowcept_core.wire import decode_batch, encode_batch
from tests._util import use_settings


def test_tracker_waits_for_every_started_producer():
    t = StreamTracker()
    assert not t.done("wf")
    for p in ("p1", "p2"):
        t.observe({"type": "flowcept_control", "info": "start_of_stream", "producer_id": p, "workflow_id": "wf"})
    assert t.observe({"type": "task", "task_id": "x"}) is False
    t.observe(
        {
            "type": "flowcept_control",
            "info": "end_of_stream",
            "producer_id": "p1",
            "workflow_id": "wf",
            "message_count": 3,
        }
    )
    assert not t.done("wf")
    t.observe(
        {
            "type": "flowcept_control",
            "info": "end_of_stream",
            "producer_id": "p2",
            "workflow_id": "wf",
            "message_count": 5,
        }
    )
    assert t.done("wf") and not t.done("other")
    assert t.producers("wf") == {"p1": 3, "p2": 5}


def test_consumer_knows_when_threads_producing_one_workflow_are_all_done(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(
        tmp_path,
        monkeypatch,
        {
            "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
            "mq": {"type": "memory", "insertion_buffer_time_secs": 0.1},
        },
    )

    @flowcept_task
    def work(i):
        return i

    tracker = StreamTracker()
    seen = []
    finished = threading.Event()

    class Keeper(BaseConsumer):
        def message_handler(self, msg_obj):
            if not tracker.observe(msg_obj):
                seen.append(msg_obj)
            if tracker.done("shared-wf"):
                finished.set()
                return False
            return True

    keeper = Keeper().start(daemon=True)
    producer1 = Flowcept(workflow_id="shared-wf", save_workflow=False).start()
    producer1._wait_started()  # its start marker is published before producer 2's stream, however loaded the host
    with Flowcept(workflow_id="shared-wf", save_workflow=False):  # producer 2, nested
        for i in range(100):
            work(i)
    time.sleep(0.3)
    assert not finished.is_set()  # producer 1 is still open
    producer1.stop()
    assert finished.wait(10)
    keeper.stop_consumption()
    assert len([m for m in seen if m.get("type") == "task"]) == 100


def _end(producer: str, workflow_id: str, count: int) -> dict:
    return {
        "type": "flowcept_control",
        "info": "end_of_stream",
        "producer_id": producer,
        "workflow_id": workflow_id,
        "message_count": count,
    }


def test_messages_of_a_workflow_with_no_stream_count_for_its_producer():
    """A run that also publishes messages of another workflow (a model's own workflow) has lost nothing."""
    tracker = StreamTracker()
    tracker.observe({"type": "flowcept_control", "info": "start_of_stream", "producer_id": "p", "workflow_id": "w"})
    tracker.arrived["w"] += 3
    tracker.arrived["model-w"] = 2
    tracker.observe(_end("p", "w", 6))
    assert tracker.shortfall("w") == 0


def test_a_loss_is_reported_when_the_start_marker_was_lost_with_the_first_messages():
    """The workflow whose start marker was lost is not 'a workflow with no stream': its missing messages count."""
    tracker = StreamTracker()
    tracker.arrived["w"] = 1499  # the start marker and 500 tasks were lost by the broker
    tracker.observe(_end("p", "w", 2000))
    assert tracker.shortfall("w") == 501 and tracker.missing == {"w": 501}


def _start(producer: str, workflow_id: str) -> dict:
    return {"type": "flowcept_control", "info": "start_of_stream", "producer_id": producer, "workflow_id": workflow_id}


def _counted_end(producer: str, workflow_id: str, counts: dict[str, int]) -> dict:
    return {**_end(producer, workflow_id, sum(counts.values())), "workflow_counts": [[w, n] for w, n in counts.items()]}


def _arrive(tracker: StreamTracker, workflow_id: str, n: int) -> None:
    tracker.arrived[workflow_id] = tracker.arrived.get(workflow_id, 0) + n  # as the DocumentInserter counts them


def test_a_nested_run_publishing_messages_of_another_stream_reports_no_loss():
    """The outer run's producer also published a message of the nested run's workflow: nothing is lost."""
    tracker = StreamTracker()
    tracker.observe(_start("outer", "A"))
    tracker.observe(_start("inner", "B"))
    _arrive(tracker, "B", 3)
    _arrive(tracker, "A", 4)
    _arrive(tracker, "B", 1)  # published by the outer producer
    tracker.observe(_counted_end("inner", "B", {"B": 4}))
    assert tracker.shortfall("B") == 0
    tracker.observe(_counted_end("outer", "A", {"A": 5, "B": 1}))
    assert tracker.shortfall("A") == 0 and tracker.missing == {}


def test_a_lost_start_marker_is_reported_and_hides_no_other_workflows_loss():
    """A's start marker was lost: A is reported short by it, and A's messages are not credited to B's loss."""
    tracker = StreamTracker()
    tracker.observe(_start("p2", "B"))
    _arrive(tracker, "A", 3)  # its start marker never came
    _arrive(tracker, "B", 3)  # two of its tasks never came
    tracker.observe(_counted_end("p2", "B", {"B": 6}))
    assert tracker.shortfall("B") == 2
    tracker.observe(_counted_end("p1", "A", {"A": 4}))
    assert tracker.shortfall("A") == 1
    assert tracker.missing == {"A": 1, "B": 2}


def test_a_lost_task_of_one_of_two_interleaved_workflows_is_reported_for_that_workflow():
    """p2 (workflow B) also published one message of A; one of p1's tasks of A was lost."""
    tracker = StreamTracker()
    tracker.observe(_start("p1", "A"))
    tracker.observe(_start("p2", "B"))
    _arrive(tracker, "A", 3)  # p1's fifth message of A (its start marker and 4 tasks) is lost
    _arrive(tracker, "B", 3)
    _arrive(tracker, "A", 1)  # from p2
    tracker.observe(_counted_end("p2", "B", {"B": 4, "A": 1}))
    assert tracker.shortfall("B") == 0  # A's surplus so far is p1's, still open
    tracker.observe(_counted_end("p1", "A", {"A": 5}))
    assert tracker.shortfall("A") == 1 and tracker.missing == {"A": 1}


def test_messages_of_a_workflow_with_no_stream_count_per_workflow():
    tracker = StreamTracker()
    tracker.observe(_start("p", "w"))
    _arrive(tracker, "w", 3)
    _arrive(tracker, "model-w", 1)
    tracker.observe(_counted_end("p", "w", {"w": 4, "model-w": 2}))
    assert tracker.shortfall("w") == 1 and tracker.missing == {"model-w": 1}


def test_markers_without_or_with_malformed_workflow_counts_are_estimated_from_message_count():
    for counts in (None, "many", [["w", -1]], [["w"]], [[3, 1]], [["w", 1.5]]):
        tracker = StreamTracker()
        tracker.observe(_start("p", "w"))
        _arrive(tracker, "w", 3)
        end = _end("p", "w", 6)
        if counts is not None:
            end["workflow_counts"] = counts
        tracker.observe(end)
        assert tracker.counted == {} and tracker.shortfall("w") == 2 and tracker.missing == {"w": 2}, counts


def test_an_end_marker_delivered_twice_is_announced_once():
    tracker = StreamTracker()
    tracker.observe(_start("p", "w"))
    _arrive(tracker, "w", 1)
    tracker.observe(_counted_end("p", "w", {"w": 3}))
    tracker.observe(_counted_end("p", "w", {"w": 3}))
    assert tracker.announced == {"w": 3} and tracker.shortfall("w") == 1


@flowcept_task
def step(x, **kw):
    return x


@flowcept_task
def step_in(x, workflow_id=None):
    return x


@flowcept_task(workflow_id="decorated-wf")
def step_of_decorated(x):
    return x


@lightweight_flowcept_task
def light_step(x, **kw):
    return x


def test_a_producer_counts_packed_messages_under_the_workflows_the_consumer_sees(tmp_path, monkeypatch):
    """Every way a message gets a workflow other than the run's, in one packed batch: counted as expanded."""
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)
    with Flowcept(workflow_id="run-wf") as fc:
        fc._wait_started()
        run = STATE.run
        run._stop.set()  # keep the flusher away: this test drains by hand
        run._thread.join()
        for i in range(5):
            step(i)
        step(1, workflow_id="kw-wf")
        step(2, workflow_id="")  # empty: the run's workflow
        step_in(3, "positional-wf")
        step_in(4)
        step_of_decorated(5)
        light_step(6, workflow_id="light-wf")
        for _ in FlowceptLoop(2, loop_name="L", workflow_id="loop-wf"):
            pass
        for _ in FlowceptLightweightLoop([1, 2], loop_name="W"):
            pass
        FlowceptTask(activity_id="explicit", workflow_id="task-wf", used={"a": 1}).end()
        packed = pack(run, list(run.items))
    expanded = decode_batch(encode_batch([packed]))
    counts: dict = {}
    count_by_workflow([packed], counts)
    assert counts == Counter(m.get("workflow_id") for m in expanded)
    assert {"kw-wf", "positional-wf", "decorated-wf", "light-wf", "loop-wf", "task-wf"} < counts.keys()
    assert counts["run-wf"] >= 8


@pytest.fixture(params=["memory", "redis"])
def mq_section(request) -> dict:
    """The in-process MQ, and Redis (a networked MQ: the producer sends packed batches; see redis_port)."""
    if request.param == "memory":
        return {"type": "memory"}
    port = request.getfixturevalue("redis_port")
    return {"type": "redis", "host": "127.0.0.1", "port": port, "channel": f"streams-{uuid.uuid4().hex[:10]}"}


def test_a_nested_run_publishing_for_the_outer_workflow_reports_no_loss(mq_section, tmp_path, monkeypatch):
    """The nested run's producer publishes messages of the outer run's workflow (a FlowceptTask, a call given
    workflow_id=...): the DocumentInserter finds every workflow complete, and each end marker's workflow_counts
    says how many messages of which workflow the producer sent."""
    use_settings(
        tmp_path,
        monkeypatch,
        {
            "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
            "mq": {**mq_section, "insertion_buffer_time_secs": 0.1},
            "db_buffer": {"insertion_buffer_time_secs": 0.1},
            "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}},
        },
    )
    close_stores()
    inserter = DocumentInserter(get_settings())
    inserter.start(threaded=True, daemon=True)
    try:
        with Flowcept(workflow_id="outer-wf", start_persistence=False) as outer:
            outer._wait_started()
            producers = [outer._run.producer_id]
            assert outer._run.packed is (mq_section["type"] == "redis")
            step(0)
            with Flowcept(workflow_id="inner-wf", start_persistence=False) as inner:
                inner._wait_started()
                producers.append(inner._run.producer_id)
                for i in range(3):
                    step(i)
                step(9, workflow_id="outer-wf")
                FlowceptTask(activity_id="for-outer", workflow_id="outer-wf", used={"a": 1}).end()
            step(1)
        for producer in producers:
            assert inserter.wait_for_producer(producer, 30), producer
    finally:
        inserter.stop_consumption(20)
    tracker = inserter.tracker
    assert tracker.missing == {}
    assert tracker.counted[producers[1]]["outer-wf"] == 2
    assert [sum(tracker.counted[p].values()) for p in producers] == [tracker.ended[p][1] for p in producers]
    assert tracker.announced == {wf: tracker.arrived[wf] for wf in ("outer-wf", "inner-wf")}
    close_stores()


def test_counting_never_raises_on_a_batch_it_cannot_read():
    broken = {
        "type": "flowcept_packed",
        "v": 1,
        "run": {"workflow_id": "w"},
        "count": 3,
        "templates": {"0": {"kind": "no-such-kind"}},
        "records": [0, 1, 2],
    }
    counts: dict = {}
    count_by_workflow([broken, "not a message", {"type": "task", "workflow_id": "w"}], counts)
    assert counts == {"w": 4, None: 1}
