"""StreamTracker: every producer of a run is done when each one that started has sent its end marker."""

from __future__ import annotations

import threading
import time

from flowcept import BaseConsumer, Flowcept, flowcept_task
from flowcept_core.consumers.streams import StreamTracker
from tests._util import use_settings


def test_tracker_waits_for_every_started_producer():
    t = StreamTracker()
    assert not t.done("wf")
    for p in ("p1", "p2"):
        t.observe({"type": "flowcept_control", "info": "start_of_stream", "producer_id": p, "workflow_id": "wf"})
    assert t.observe({"type": "task", "task_id": "x"}) is False
    t.observe({"type": "flowcept_control", "info": "end_of_stream", "producer_id": "p1", "workflow_id": "wf",
               "message_count": 3})
    assert not t.done("wf")
    t.observe({"type": "flowcept_control", "info": "end_of_stream", "producer_id": "p2", "workflow_id": "wf",
               "message_count": 5})
    assert t.done("wf") and not t.done("other")
    assert t.producers("wf") == {"p1": 3, "p2": 5}


def test_consumer_knows_when_threads_producing_one_workflow_are_all_done(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch, {"project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
                                         "mq": {"type": "memory", "insertion_buffer_time_secs": 0.1}})

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
    return {"type": "flowcept_control", "info": "end_of_stream", "producer_id": producer, "workflow_id": workflow_id,
            "message_count": count}


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
