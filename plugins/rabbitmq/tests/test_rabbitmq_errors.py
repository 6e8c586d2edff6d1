"""Failures the rabbitmq backend must report clearly: unreachable broker, refused login, malformed payloads."""

from __future__ import annotations

import logging
import time
import uuid

import msgpack
import pytest

from flowcept_core.logger import get_logger
from flowcept_core.mq import MQClosedError, MQConnectionError
from flowcept_core.registry import get_registry
from flowcept_core.settings import Settings


def _factory():
    return get_registry().resolve("mq_backend", "rabbitmq").factory


def _unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_port_raises_mq_connection_error_naming_host_and_port_quickly():
    port = _unused_port()
    t0 = time.monotonic()
    with pytest.raises(MQConnectionError) as info:
        _factory()(Settings({"mq": {"host": "127.0.0.1", "port": port}}), "ch")
    assert time.monotonic() - t0 < 6
    assert "mq.host='127.0.0.1'" in str(info.value) and f"mq.port={port}" in str(info.value)
    assert "connection refused" in str(info.value)


def test_unknown_host_raises_mq_connection_error_naming_host_and_port_quickly():
    t0 = time.monotonic()
    with pytest.raises(MQConnectionError) as info:
        _factory()(Settings({"mq": {"host": "nohost.invalid", "port": 1234}}), "ch")
    assert time.monotonic() - t0 < 12  # name resolution plus the 5 s connect bound
    assert "mq.host='nohost.invalid' mq.port=1234" in str(info.value)


def test_wrong_password_names_username_and_password_keys_without_printing_the_password(rabbitmq_server):
    secret = "wrong-secret-" + uuid.uuid4().hex[:6]
    t0 = time.monotonic()
    with pytest.raises(MQConnectionError) as info:
        _factory()(rabbitmq_server.settings(username="guest", password=secret), "ch")
    assert time.monotonic() - t0 < 6
    text = str(info.value)
    assert "mq.username='guest'" in text and "mq.password" in text
    assert secret not in text and secret not in repr(info.value)


def test_wrong_password_in_uri_is_reported_without_the_password(rabbitmq_server):
    secret = "uri-secret-" + uuid.uuid4().hex[:6]
    uri = f"amqp://guest:{secret}@{rabbitmq_server.host}:{rabbitmq_server.port}/%2F"
    with pytest.raises(MQConnectionError) as info:
        _factory()(Settings({"mq": {"uri": uri, "host": "ignored", "port": 1}}), "ch")
    text = str(info.value)
    assert "mq.uri=" in text and "mq.username" in text and secret not in text


def test_uri_wins_over_host_and_port(rabbitmq_server):
    uri = f"amqp://guest:guest@{rabbitmq_server.host}:{rabbitmq_server.port}/%2F"
    mq = _factory()(Settings({"mq": {"uri": uri, "host": "nohost.invalid", "port": 1}}), f"uri-{uuid.uuid4().hex[:8]}")
    try:
        assert mq.liveness_test() is True
    finally:
        mq.close(5)


def test_publish_after_close_raises_mq_closed_error_and_close_is_idempotent(rabbitmq_server):
    mq = _factory()(rabbitmq_server.settings(), f"closed-{uuid.uuid4().hex[:8]}")
    assert mq.close(5) == 0
    assert mq.close(5) == 0
    assert mq.liveness_test() is False
    with pytest.raises(MQClosedError):
        mq.publish([{"type": "task", "task_id": "x"}])


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def error_log():
    handler = _Records()
    logger = get_logger()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def _inject_raw(server, exchange: str, bodies: list[bytes]) -> None:
    """Publish bytes straight onto the exchange with pika, bypassing flowcept's encoder."""
    import pika

    conn = pika.BlockingConnection(
        pika.ConnectionParameters(
            host=server.host, port=server.port, credentials=pika.PlainCredentials(server.username, server.password)
        )
    )
    try:
        ch = conn.channel()
        for body in bodies:
            ch.basic_publish(exchange=exchange, routing_key="", body=body)
    finally:
        conn.close()


def _collect(sub, n: int, timeout: float = 10.0) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got.extend(sub.receive(0.2))
    return got


@pytest.mark.parametrize("group", [None, "malformed"])
def test_malformed_payload_is_logged_and_skipped_and_the_next_good_batch_arrives(rabbitmq_server, error_log, group):
    channel = f"bad-{uuid.uuid4().hex[:8]}"
    mq = _factory()(rabbitmq_server.settings(), channel)
    try:
        if group:
            mq.ensure_group(group)
        sub = mq.subscribe(group=group)
        _inject_raw(rabbitmq_server, channel, [b"\xc1 not msgpack", msgpack.packb(42), msgpack.packb(["not a dict"])])
        good = [{"type": "task", "task_id": "good-1"}, {"type": "task", "task_id": "good-2"}]
        mq.publish(good)
        got = _collect(sub, 2)
        sub.ack()
        sub.close()
        assert got == good
        assert len([m for m in error_log if "malformed" in m]) == 3, error_log
        if group:  # the bad batches were discarded, not left to block or come back to the group
            again = mq.subscribe(group=group)
            assert _collect(again, 1, timeout=1.0) == []
            again.close()
    finally:
        mq.close(5)
