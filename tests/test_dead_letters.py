"""The DocumentInserter never dies on a message: what it cannot store is dead-lettered, everything else is stored.

In-process MQ and the LMDB store (the zero-configuration default); the networked MQs are in test_dead_letters_redis.
"""

from __future__ import annotations

import os
import uuid

import pytest

from flowcept_core.builtins.memory_mq import MemoryMQ
from flowcept_core.consumers.document_inserter import DocumentInserter
from flowcept_core.deadletter import dead_letter, message_problem
from flowcept_core.query import DBAPI
from flowcept_core.settings import get_settings
from flowcept_core.stores import close_stores
from tests._util import use_settings


@pytest.fixture
def settings(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {"type": "memory", "channel": f"dl-{os.getpid()}-{uuid.uuid4().hex[:6]}"},
        "db_buffer": {"insertion_buffer_time_secs": 0.1, "buffer_size": 50},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})
    close_stores()
    yield get_settings()
    close_stores()


def _end(producer: str, count: int = 0) -> dict:
    return {"type": "flowcept_control", "info": "end_of_stream", "producer_id": producer, "workflow_id": "wf",
            "message_count": count}


def _task(i: int, **extra) -> dict:
    return {"type": "task", "task_id": f"good-{i}", "workflow_id": "wf", "used": {"i": i}, "started_at": 1.0,
            **extra}


BAD = [  # (entry, a word its dead letter's reason names)
    ({"type": "task", "task_id": ["a", "list"], "probe": 1}, "task_id"),
    ({"type": "task", "task_id": {"a": "dict"}, "probe": 2}, "task_id"),
    ({"type": "task", "task_id": 1.5, "probe": 3}, "task_id"),
    ({"type": "task", "task_id": True, "probe": 4}, "task_id"),
    ({"type": ["task"], "task_id": "typed-list", "probe": 5}, "type"),
    ({"type": "flowcept_control", "info": "end_of_stream", "producer_id": "p-bad", "message_count": "many",
      "probe": 6}, "message_count"),
    ({"type": "task", "workflow_id": "wf", "probe": 7}, "task_id"),
    ({"type": "task", "task_id": "used-five", "used": 5, "probe": 8}, "used"),
    ({"type": "task", "task_id": "when", "started_at": "yesterday", "probe": 9}, "started_at"),
    ({"type": "workflow", "workflow_id": 42, "probe": 10}, "workflow_id"),
]
NOT_DICTS = [["probe", 11], "probe 12", None, 13]


def _run(settings, batches: list[list]) -> DocumentInserter:
    inserter = DocumentInserter(settings)
    inserter.start(threaded=True, daemon=True)
    mq = MemoryMQ(settings)
    for batch in batches:
        mq.publish(batch)
    return inserter


def test_every_malformed_entry_is_dead_lettered_and_the_rest_of_its_batch_is_stored(settings):
    batch = [_task(i) for i in range(10)]
    for k, (entry, _) in enumerate(BAD + [(x, None) for x in NOT_DICTS]):
        batch.insert(2 * k % len(batch), entry)
    inserter = _run(settings, [batch, [_task(i) for i in range(10, 20)] + [_end("p1", 20)]])
    try:
        assert inserter.wait_for_producer("p1", 20)
        assert inserter.is_running  # it did not die on any of them
    finally:
        inserter.stop_consumption(20)
    db = DBAPI(settings)
    assert sorted(t["task_id"] for t in db.task_query({})) == sorted(f"good-{i}" for i in range(20))
    assert db.workflow_query({}) == []
    letters = db.dead_letters()
    assert len(letters) == len(BAD) + len(NOT_DICTS) == inserter.dead_lettered
    from flowcept import Flowcept

    assert sorted(d["dead_letter_id"] for d in Flowcept.db.query(collection="dead_letters")) == sorted(
        d["dead_letter_id"] for d in letters)
    by_probe = {d["raw"]["probe"]: d for d in letters if isinstance(d["raw"], dict)}
    for entry, word in BAD:
        letter = by_probe[entry["probe"]]
        assert word in letter["reason"], letter["reason"]
        assert letter["source"] == "message"
        assert letter["raw"]["type"] == entry["type"] if isinstance(entry["type"], str) else True
    kinds = sorted(d["reason"] for d in letters if not isinstance(d["raw"], dict))
    assert len(kinds) == len(NOT_DICTS) and all("must be a dict" in r for r in kinds)


def test_a_document_the_store_refuses_is_isolated_and_only_it_is_dead_lettered(settings):
    batch = [_task(i) for i in range(1000)]
    batch[637] = _task(637, used={"obj": object()})  # the LMDB store cannot encode it
    inserter = _run(settings, [batch + [_end("p2", 1000)]])
    try:
        assert inserter.wait_for_producer("p2", 30)
    finally:
        inserter.stop_consumption(20)
    db = DBAPI(settings)
    ids = {t["task_id"] for t in db.task_query({})}
    assert len(ids) == 999 and "good-637" not in ids
    (letter,) = db.dead_letters()
    assert letter["source"] == "store" and letter["task_id"] == "good-637"
    assert "refused" in letter["reason"] and "cannot be stored" in letter["reason"]
    assert letter["raw"]["used"]["obj"].startswith("object_instance_id_")  # the entry, made storable
    assert db.dead_letters({"task_id": "good-637"}) == [letter]


class _FailingOnce:
    """A real in-process subscription whose first receive() raises, like a broker client failing mid-read."""

    def __init__(self, sub):
        self._sub = sub
        self.failed = False

    def receive(self, timeout):
        got = self._sub.receive(timeout)
        if got and not self.failed:
            self.failed = True
            raise RuntimeError("the connection broke mid-read")
        return got

    def __getattr__(self, name):
        return getattr(self._sub, name)


class _FaultyMQ(MemoryMQ):
    faulted = False

    def subscribe(self, group=None):
        sub = super().subscribe(group)
        if self.faulted:
            return sub
        self.faulted = True
        return _FailingOnce(sub)


def test_a_failing_consumer_loop_resumes_and_what_it_held_is_delivered_again(settings):
    inserter = DocumentInserter(settings, mq=_FaultyMQ(settings))
    inserter.start(threaded=True, daemon=True)
    MemoryMQ(settings).publish([_task(i) for i in range(30)] + [_end("p3", 30)])
    try:
        assert inserter.wait_for_producer("p3", 30)
        assert inserter.restarts == 1 and inserter.is_running
    finally:
        inserter.stop_consumption(20)
    assert len(DBAPI(settings).task_query({})) == 30


def test_message_problem_names_the_field_the_value_and_what_is_allowed():
    assert message_problem("tasks", _task(1), "task_id") is None
    why = message_problem("tasks", {"type": "task", "task_id": "x", "ended_at": [1]}, "task_id")
    assert why == "ended_at=[1] must be a number (seconds since the epoch) or null"
    assert "'many'" in message_problem(None, BAD[5][0], None)
    assert message_problem(None, {"type": "flowcept_control", "info": "other"}, None) is None


def test_the_same_poison_entry_delivered_twice_makes_one_dead_letter():
    entry = {"type": "task", "task_id": ["x"]}
    assert dead_letter("why", entry)["dead_letter_id"] == dead_letter("why", dict(entry))["dead_letter_id"]
    assert dead_letter("why", entry)["dead_letter_id"] != dead_letter("why", {"type": "task", "task_id": ["y"]})[
        "dead_letter_id"]
    big = dead_letter("undecodable", b"\xc1" * (2 << 20), source="wire")
    assert big["raw_truncated"] == 2 << 20 and len(big["raw"]) == 1 << 20


def test_on_mongodb_a_refused_document_is_found_by_halving_and_dead_lettered(tmp_path, monkeypatch, mongo_uri):
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {"type": "memory", "channel": f"dl-mongo-{uuid.uuid4().hex[:6]}"},
        "db_buffer": {"insertion_buffer_time_secs": 0.1},
        "databases": {"lmdb": {"enabled": False},
                      "mongodb": {"enabled": True, "uri": mongo_uri, "db": f"dl_{uuid.uuid4().hex[:8]}"}}})
    close_stores()
    settings = get_settings()
    batch = [_task(i) for i in range(200)]
    batch[77] = _task(77, used={"big": 2**63 + 5})  # msgpack takes it, BSON does not: only halving finds it
    inserter = _run(settings, [batch + [_end("p4", 200)]])
    try:
        assert inserter.wait_for_producer("p4", 60)
    finally:
        inserter.stop_consumption(20)
    db = DBAPI(settings)
    assert len(db.task_query({})) == 199 and db.task_query({"task_id": "good-77"}) == []
    (letter,) = db.dead_letters()
    assert letter["task_id"] == "good-77" and letter["source"] == "store"
    assert str(2**63 + 5) in str(letter["raw"]["used"]["big"])
    close_stores()


def test_a_custom_consumer_whose_receive_fails_resumes_and_gets_every_message(settings):
    from flowcept.flowceptor.consumers.base_consumer import BaseConsumer

    got: list[str] = []

    class Collector(BaseConsumer):
        def _subscribe(self):
            return self._mq.subscribe(group="collectors")  # a group: what a failed read held is delivered again

        def message_handler(self, msg_obj: dict) -> bool:
            got.append(msg_obj["task_id"])
            return msg_obj["task_id"] != "good-9"

    consumer = Collector(settings, mq=_FaultyMQ(settings)).start(daemon=True)
    MemoryMQ(settings).publish([_task(i) for i in range(10)])
    consumer._main_thread.join(20)
    assert not consumer.is_running and consumer.restarts == 1
    assert got == [f"good-{i}" for i in range(10)]
