"""The default pipeline is bounded: producers wait for delivery past mq.max_pending_messages, in-process queues hold
at most mq.queue_max_messages, and the messages kept for get_buffer()/the buffer file live in a spool file, not in
memory. What a run captured is the same whichever way it went."""

from __future__ import annotations

import os
import stat
import threading
import time

import orjson
import pytest

from flowcept import Flowcept, flowcept_task
from flowcept_core import retained as retained_module
from flowcept_core.builtins import memory_mq
from flowcept_core.builtins.memory_mq import MemoryMQ
from tests._util import tasks, use_settings


@flowcept_task
def inc(x):
    return x + 1


def _stop_flusher(fc: Flowcept) -> object:
    """The run with its flusher stopped: the test drives backpressure by hand."""
    fc._wait_started()
    run = fc._run
    run._stop.set()
    run._thread.join()
    return run


# producer buffer -----------------------------------------------------------------------------------------------
def test_past_the_bound_the_caller_delivers_and_the_buffer_stays_bounded(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"mq": {"max_pending_messages": 100}})
    with Flowcept() as fc:
        run = _stop_flusher(fc)
        run._regulate(run.max_entries + 1)  # what the flusher does when it finds the backlog over the bound
        assert run.extend != run.items.extend
        longest = 0
        for i in range(5000):
            inc(i)
            longest = max(longest, len(run.items))
        assert longest <= run.max_entries + 11  # never more than the bound and the record just added
        assert run.retained_count >= 5000 - 100  # the calls themselves delivered
        msgs = fc.get_buffer()
    assert sorted(t["used"]["x"] for t in tasks(msgs)) == list(range(5000))


def test_the_fast_path_comes_back_once_the_backlog_halved(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"mq": {"max_pending_messages": 100}})
    with Flowcept() as fc:
        run = _stop_flusher(fc)
        run._regulate(run.max_entries + 1)
        for i in range(300):
            inc(i)
        assert run.extend != run.items.extend
        run._regulate(len(run.items))  # producers helped since the last poll: stays
        assert run.extend != run.items.extend
        run.drain()
        run._regulate(len(run.items))  # a quiet poll with a small backlog: the fast path is back
        assert run.extend == run.items.extend
        assert len(fc.get_buffer()) == 301  # the workflow message and every task


def test_a_flowcept_running_long_engages_backpressure_by_itself(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"mq": {"max_pending_messages": 50}})
    with Flowcept() as fc:
        fc._wait_started()
        deadline = time.monotonic() + 20
        i = 0
        while fc._run._helped == 0 and time.monotonic() < deadline:
            for _ in range(2000):
                inc(i)
                i += 1
        assert fc._run._helped >= 1, "capture never had to wait with more than 50 messages pending"
    assert len(tasks(Flowcept.read_buffer_file())) == i


# in-process MQ -------------------------------------------------------------------------------------------------
def test_a_full_queue_makes_the_publisher_wait_for_its_reader():
    mq = MemoryMQ(channel=f"bounded-{time.monotonic_ns()}")
    mq.max_items = 100
    sub = mq.subscribe(group="g")
    sizes, got = [], []
    stop = threading.Event()

    def reader():
        while not stop.is_set() or sub._q.items:
            time.sleep(0.01)  # a slow consumer
            sizes.append(len(sub._q.items))
            got.extend(sub.receive(0))
            sub.ack()

    t = threading.Thread(target=reader)
    t.start()
    for i in range(100):
        mq.publish([{"i": i * 10 + j} for j in range(10)])
    stop.set()
    t.join(10)
    assert [m["i"] for m in got] == list(range(1000))
    assert max(sizes) <= 100 + 10  # the bound, plus the one batch let in when there was room
    sub.close()


def test_a_reader_publishing_into_its_own_queue_does_not_wait():
    mq = MemoryMQ(channel=f"self-{time.monotonic_ns()}")
    mq.max_items = 5
    sub = mq.subscribe()
    sub.receive(0)  # this thread reads the queue now
    t0 = time.monotonic()
    for i in range(20):
        mq.publish([{"i": i}])
    assert time.monotonic() - t0 < 1
    assert len(sub.receive(0)) == 20
    sub.close()


def test_a_group_nobody_reads_keeps_its_newest_messages_and_says_so(monkeypatch, caplog):
    monkeypatch.setattr(memory_mq, "_NO_READER_WAIT_SECS", 0.2)
    mq = MemoryMQ(channel=f"orphan-{time.monotonic_ns()}")
    mq.max_items = 10
    mq.ensure_group("nobody")
    with caplog.at_level("WARNING", logger="flowcept"):
        for i in range(30):
            mq.publish([{"i": i}])
    assert any("nothing in this process reads" in m for m in caplog.messages)
    sub = mq.subscribe(group="nobody")
    kept = [m["i"] for m in sub.receive(0)]
    assert kept == list(range(30))[-len(kept):] and len(kept) <= 10 + 1
    sub.close()


# what is kept for get_buffer and the buffer file -----------------------------------------------------------------
@pytest.fixture
def small_memory(monkeypatch):
    monkeypatch.setattr(retained_module, "_MEMORY_BYTES", 4096)  # spool after a few messages
    monkeypatch.setattr(retained_module, "_KEEP_BYTES", 0)  # none kept unencoded (as records or as built)


def test_kept_messages_go_to_a_private_spool_beside_the_buffer_file(tmp_path, monkeypatch, small_memory):
    use_settings(tmp_path, monkeypatch)
    with Flowcept(workflow_name="spooled") as fc:
        for i in range(2000):
            inc(i)
        fc._run.drain()
        spool = fc._run.retained.spool_path
        assert spool is not None and os.path.dirname(spool) == str(tmp_path)
        assert stat.S_IMODE(os.stat(spool).st_mode) == 0o600
        assert len(fc._run.retained._buf) < 4096 + 2048  # memory holds the tail only
        during = fc.get_buffer()
    after = fc.get_buffer()
    from_file = Flowcept.read_buffer_file()
    assert not os.path.exists(spool)  # it became the buffer file
    assert [m["type"] for m in from_file[:1]] == ["workflow"]
    assert from_file[0]["status"] == "FINISHED" and from_file[0]["name"] == "spooled"
    assert [t["used"]["x"] for t in tasks(from_file)] == list(range(2000))
    assert after == from_file
    assert [t["task_id"] for t in tasks(during)] == [t["task_id"] for t in tasks(from_file)]
    assert during[0]["status"] == "RUNNING"


def test_dump_buffer_overwrites_and_never_duplicates(tmp_path, monkeypatch, small_memory):
    use_settings(tmp_path, monkeypatch)
    out = tmp_path / "copy.jsonl"
    with Flowcept() as fc:
        for i in range(500):
            inc(i)
        fc.dump_buffer(str(out))
        fc.dump_buffer(str(out))
        first = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        for i in range(500, 700):
            inc(i)
        fc.dump_buffer(str(out))
        second = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [t["used"]["x"] for t in tasks(first)] == list(range(500))
    assert [t["used"]["x"] for t in tasks(second)] == list(range(700))
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_a_workflow_message_outgrowing_its_room_is_written_whole(tmp_path, monkeypatch, small_memory):
    use_settings(tmp_path, monkeypatch)
    fc = Flowcept(workflow_name="long-error")
    with pytest.raises(RuntimeError), fc:
        for i in range(300):
            inc(i)
        fc._run.drain()
        raise RuntimeError("x" * 5000)  # its stderr does not fit the padding left at start
    msgs = Flowcept.read_buffer_file()
    (wf,) = [m for m in msgs if m["type"] == "workflow"]
    assert wf["status"] == "ERROR" and "x" * 5000 in wf["stderr"]
    assert [t["used"]["x"] for t in tasks(msgs)] == list(range(300))
    assert fc.get_buffer() == msgs


def test_offline_without_a_buffer_file_keeps_a_temporary_spool_and_removes_it(tmp_path, monkeypatch, small_memory):
    use_settings(tmp_path, monkeypatch, {"project": {"dump_buffer": {"enabled": False}}})
    with Flowcept() as fc:
        for i in range(1000):
            inc(i)
        fc._run.drain()
        spool = fc._run.retained.spool_path
        assert spool is not None and not spool.startswith(str(tmp_path))
        assert len(tasks(fc.get_buffer())) == 1000
    assert not os.path.exists("flowcept_buffer.jsonl")
    run = fc._run
    fc._run = None
    del run
    import gc

    gc.collect()
    assert not os.path.exists(spool)


def test_online_without_dumping_get_buffer_returns_what_is_not_delivered_yet(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
                                         "mq": {"type": "memory"}, "databases": {"lmdb": {"enabled": False}}})
    with Flowcept() as fc:
        run = _stop_flusher(fc)
        run.drain()
        for i in range(5):
            inc(i)
        pending = fc.get_buffer()
        assert [t["used"]["x"] for t in tasks(pending)] == list(range(5))
        assert len(run.items) == 5 * 11  # still pending: get_buffer did not take them


def test_tasks_called_before_the_first_telemetry_reading_get_it(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"telemetry_capture": {"cpu": True, "mem": True}})
    with Flowcept() as fc:
        inc(1)  # right after start(): the start-up thread may not have taken the first reading yet
    (t,) = tasks(fc.get_buffer())
    assert "cpu" in t["telemetry_at_start"] and "cpu" in t["telemetry_at_end"]


def test_a_pinned_message_changed_before_or_after_it_was_kept_reads_back_changed():
    from flowcept_core.retained import Retained

    kept = Retained()
    wf = {"type": "workflow", "status": "RUNNING"}
    kept.pin(wf)
    kept.replace(wf, {**wf, "status": "FINISHED"})  # not added yet
    kept.add([{"type": "task", "i": 1}, wf, {"type": "task", "i": 2}])
    assert [m.get("status") for m in kept.messages()] == [None, "FINISHED", None]
    kept.replace(wf, {**wf, "status": "ERROR", "stderr": "boom"})  # in place, within its room
    assert kept.messages()[1] == {"type": "workflow", "status": "ERROR", "stderr": "boom"}
    assert wf == {"type": "workflow", "status": "RUNNING"}  # the original is never mutated
