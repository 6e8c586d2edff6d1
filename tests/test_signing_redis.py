"""On a real Redis stream: signed batches (mq.signing_key), forged and unsigned ones dead-lettered; undecodable and
newer-version entries dead-lettered and acknowledged; the plain wire format read with redis + msgpack alone."""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgpack

from flowcept import Flowcept, flowcept_task
from flowcept_core.consumers.document_inserter import DocumentInserter
from flowcept_core.query import DBAPI
from flowcept_core.settings import get_settings
from flowcept_core.stores import close_stores
from flowcept_core.wire import WIRE_VERSION, WireCodec, encode_batch
from tests._util import use_settings


def _settings(tmp_path, monkeypatch, port: int, **mq: Any):
    channel = f"sign-{uuid.uuid4().hex[:8]}"
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {"type": "redis", "host": "127.0.0.1", "port": port, "channel": channel, "stop_timeout_secs": 20,
               "insertion_buffer_time_secs": 0.1, **mq},
        "db_buffer": {"insertion_buffer_time_secs": 0.1},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})
    close_stores()
    return get_settings()


def _client(port: int):
    import redis

    return redis.Redis(host="127.0.0.1", port=port)


@flowcept_task
def double(x):
    return 2 * x


def _end(producer: str) -> dict:
    return {"type": "flowcept_control", "info": "end_of_stream", "producer_id": producer, "message_count": 0}


def _inject_and_wait(settings, port: int, payloads: list[bytes]) -> DocumentInserter:
    """Start an inserter, XADD payloads straight into the stream, then a good end marker; wait until it is stored."""
    from flowcept_core.mq import open_mq

    inserter = DocumentInserter(settings)
    inserter.start(threaded=True, daemon=True)
    client = _client(port)
    for payload in payloads:
        client.xadd(settings.get("mq.channel"), {b"b": payload})
    mq = open_mq(settings)
    mq.publish([_end("injector")])
    mq.close(10)
    assert inserter.wait_for_producer("injector", 30)
    return inserter


def test_forged_and_unsigned_batches_are_dead_lettered_and_the_stored_task_is_unchanged(tmp_path, monkeypatch,
                                                                                      redis_port):
    settings = _settings(tmp_path, monkeypatch, redis_port, signing_key="the right key")
    with Flowcept(workflow_name="signed") as fc:
        double(21)
    (task,) = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})
    assert task["generated"] == {"arg_0": 42}
    forged = {**task, "generated": {"arg_0": "overwritten"}, "status": "ERROR"}
    forged.pop("_id", None)
    inserter = _inject_and_wait(settings, redis_port, [
        encode_batch([forged], WireCodec(b"a guessed key")),  # signed with another key
        encode_batch([forged]),  # unsigned envelope
        msgpack.packb([forged]),  # version 1: no signature at all
    ])
    try:
        assert inserter.is_running
    finally:
        inserter.stop_consumption(20)
    db = DBAPI(settings)
    (again,) = db.task_query({"task_id": task["task_id"]})
    assert again["generated"] == {"arg_0": 42} and again["status"] == "FINISHED"
    letters = db.dead_letters()
    assert sorted(d["reason"].split(" ")[0] for d in letters) == ["forged", "unsigned", "unsigned"]
    assert all(d["source"] == "wire" and isinstance(d["raw"], bytes) for d in letters)
    pending = _client(redis_port).xpending(settings.get("mq.channel"), "flowcept_persistence")
    assert pending["pending"] == 0  # acknowledged: never delivered again


def test_undecodable_and_newer_version_entries_are_dead_lettered_and_good_ones_stored(tmp_path, monkeypatch,
                                                                                     redis_port):
    settings = _settings(tmp_path, monkeypatch, redis_port)
    newer = msgpack.packb({"flowcept_wire": WIRE_VERSION + 1, "format": "packed", "body": b"\x90"})
    good = encode_batch([{"type": "task", "task_id": f"ok-{i}", "used": {"i": i}} for i in range(5)]
                        + [{"type": "task", "task_id": "poison", "used": 5}])
    inserter = _inject_and_wait(settings, redis_port, [b"\xc1 not msgpack", good, newer])
    inserter.stop_consumption(20)
    db = DBAPI(settings)
    assert sorted(t["task_id"] for t in db.task_query({})) == [f"ok-{i}" for i in range(5)]
    letters = {d["raw"] if isinstance(d["raw"], bytes) else d["raw"]["task_id"]: d["reason"]
               for d in db.dead_letters()}
    assert "undecodable" in letters[b"\xc1 not msgpack"]
    assert f"version {WIRE_VERSION + 1}" in letters[newer] and f"versions 1 to {WIRE_VERSION}" in letters[newer]
    assert letters["poison"] == "used=5 must be a dict (name -> value) or null"
    pending = _client(redis_port).xpending(settings.get("mq.channel"), "flowcept_persistence")
    assert pending["pending"] == 0  # every entry acknowledged: no poison entry comes back


def test_plain_wire_format_is_read_with_redis_and_msgpack_alone(tmp_path, monkeypatch, redis_port):
    settings = _settings(tmp_path, monkeypatch, redis_port, wire_format="plain")
    with Flowcept(workflow_name="plain") as fc:
        for i in range(30):
            double(i)
    deadline = time.time() + 10
    while len(Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})) < 30 and time.time() < deadline:
        time.sleep(0.1)
    messages = []
    for _, fields in _client(redis_port).xrange(settings.get("mq.channel")):
        envelope = msgpack.unpackb(fields[b"b"])
        assert envelope["flowcept_wire"] == WIRE_VERSION and envelope["format"] == "plain"
        messages.extend(msgpack.unpackb(envelope["body"]))
    assert not [m for m in messages if m.get("type") == "flowcept_packed"]
    tasks = sorted((m for m in messages if m.get("type") == "task"), key=lambda m: m["used"]["x"])
    assert [(m["used"]["x"], m["generated"]["arg_0"]) for m in tasks] == [(i, 2 * i) for i in range(30)]
    assert all(m["workflow_id"] == fc.current_workflow_id and m["activity_id"] == "double" for m in tasks)


def test_a_custom_consumer_with_the_key_never_sees_a_forged_batch(tmp_path, monkeypatch, redis_port):
    from flowcept.flowceptor.consumers.base_consumer import BaseConsumer
    from flowcept_core.mq import open_mq

    settings = _settings(tmp_path, monkeypatch, redis_port, signing_key="shared")
    got: list[dict] = []

    class Collector(BaseConsumer):
        def message_handler(self, msg_obj: dict) -> bool:
            got.append(msg_obj)
            return msg_obj.get("task_id") != "last"

    consumer = Collector(settings).start(daemon=True)
    _client(redis_port).xadd(settings.get("mq.channel"), {
        b"b": encode_batch([{"type": "task", "task_id": "forged"}], WireCodec(b"not shared"))})
    mq = open_mq(settings)
    mq.publish([{"type": "task", "task_id": "real"}, {"type": "task", "task_id": "last"}])
    mq.close(10)
    consumer._main_thread.join(20)
    assert [m["task_id"] for m in got] == ["real", "last"]
