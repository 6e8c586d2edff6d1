"""Kafka-specific behaviour of the kafka MQ backend: connection errors, credentials, malformed payloads, positions."""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from flowcept_core.mq import MQClosedError, MQConnectionError
from flowcept_core.registry import PluginRegistry
from flowcept_core.settings import Settings
from flowcept_core.wire import encode_batch


def _factory():
    return PluginRegistry(env={}).resolve("mq_backend", "kafka").factory


def _collect(sub, expected, timeout=30.0):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        got.extend(sub.receive(0.2))
    return got


@pytest.fixture
def channel():
    return f"kafka-test-{uuid.uuid4().hex[:12]}"


def test_listing_plugins_does_not_import_confluent_kafka():
    import subprocess
    import sys

    code = (
        "import sys; from flowcept_core.registry import PluginRegistry; "
        "assert 'kafka' in PluginRegistry(env={}).names('mq_backend'); "
        "print('confluent_kafka' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_unreachable_host_and_port_raise_mq_connection_error_naming_them_quickly():
    settings = Settings({"mq": {"type": "kafka", "host": "127.0.0.1", "port": 1}})
    t0 = time.monotonic()
    with pytest.raises(MQConnectionError) as info:
        _factory()(settings, "never-created")
    assert time.monotonic() - t0 < 8
    text = str(info.value)
    assert "mq.host='127.0.0.1'" in text and "mq.port=1" in text and "connection refused" in text


def test_unknown_host_names_the_host_setting():
    settings = Settings({"mq": {"type": "kafka", "host": "nohost.invalid", "port": 1234}})
    with pytest.raises(MQConnectionError, match=r"mq\.host='nohost\.invalid' mq\.port=1234"):
        _factory()(settings, "never-created")


def test_uri_wins_over_host_and_port_and_is_named_in_the_error():
    settings = Settings({"mq": {"type": "kafka", "host": "127.0.0.1", "port": 19092, "uri": "kafka://127.0.0.1:2"}})
    with pytest.raises(MQConnectionError, match=r"mq\.uri='kafka://127\.0\.0\.1:2'"):
        _factory()(settings, "never-created")


def test_wrong_credentials_name_username_and_password_without_printing_the_password(kafka_auth_server):
    host, port = kafka_auth_server
    secret = f"pw-{uuid.uuid4().hex}"
    settings = Settings({"mq": {"type": "kafka", "host": host, "port": port, "username": "alice", "password": secret}})
    t0 = time.monotonic()
    with pytest.raises(MQConnectionError) as info:
        _factory()(settings, "never-created")
    assert time.monotonic() - t0 < 8
    text = str(info.value)
    assert "mq.username='alice'" in text and "mq.password" in text
    assert secret not in text


def test_malformed_payload_on_the_wire_is_logged_skipped_and_the_next_batch_arrives(kafka_settings, channel, caplog):
    from confluent_kafka import Producer

    backend = _factory()(kafka_settings(), channel)
    group = f"malformed-{uuid.uuid4().hex[:8]}"
    private, member = backend.subscribe(), backend.subscribe(group=group)
    raw = Producer({"bootstrap.servers": backend.config.bootstrap_servers})
    raw.produce(channel, value=b"\xc1 this is not msgpack")
    raw.produce(channel, value=encode_batch([{"not": "a list"}, 3]))
    assert raw.flush(10) == 0
    good = [{"type": "task", "task_id": f"g{i}"} for i in range(5)]
    backend.publish(good)
    with caplog.at_level(logging.ERROR):
        assert [m["task_id"] for m in _collect(private, 5)] == [m["task_id"] for m in good]
        assert [m["task_id"] for m in _collect(member, 5)] == [m["task_id"] for m in good]
    member.ack()
    malformed = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(malformed) >= 2 and all(channel in r.getMessage() for r in malformed)
    member.close()
    # the group's position moved past the malformed messages: a restarted member gets only new messages
    again = backend.subscribe(group=group)
    backend.publish([{"type": "task", "task_id": "after"}])
    assert [m["task_id"] for m in _collect(again, 1)] == ["after"]
    again.close()
    private.close()
    assert backend.close(10) == 0


def test_a_new_group_does_not_replay_messages_published_before_it_was_created(kafka_settings, channel):
    backend = _factory()(kafka_settings(), channel)
    old = [{"type": "task", "task_id": f"old{i}"} for i in range(30)]
    for i in range(0, 30, 3):  # several broker batches, so the tail of the topic is a multi-record batch
        backend.publish(old[i : i + 3])
    backend.close(10)
    backend = _factory()(kafka_settings(), channel)
    group = f"fresh-{uuid.uuid4().hex[:8]}"
    backend.ensure_group(group)
    backend.publish([{"type": "task", "task_id": "new"}])
    sub = backend.subscribe(group=group)
    got = _collect(sub, 1, timeout=30)
    time.sleep(0.5)
    got.extend(sub.receive(0.5))
    sub.close()
    assert [m["task_id"] for m in got] == ["new"]
    backend.close(5)


def test_private_subscription_never_sees_messages_published_before_subscribe(kafka_settings, channel):
    backend = _factory()(kafka_settings(), channel)
    for i in range(10):
        backend.publish([{"type": "task", "task_id": f"before{i}-{j}"} for j in range(4)])
    backend.close(10)  # all acknowledged: they are in the topic before subscribe()
    backend = _factory()(kafka_settings(), channel)
    sub = backend.subscribe()
    backend.publish([{"type": "task", "task_id": "after"}])
    got = _collect(sub, 1)
    got.extend(sub.receive(0.5))
    sub.close()
    assert [m["task_id"] for m in got] == ["after"]
    backend.close(5)


def test_publish_after_close_raises_mq_closed_error_and_close_is_idempotent(kafka_settings, channel):
    backend = _factory()(kafka_settings(), channel)
    backend.publish([{"type": "task", "task_id": "x"}])
    assert backend.close(10) == 0
    assert backend.close(10) == 0
    with pytest.raises(MQClosedError, match=channel):
        backend.publish([{"type": "task", "task_id": "y"}])
    assert backend.liveness_test() is False


def test_topic_is_created_with_the_configured_number_of_partitions(kafka_settings, channel):
    backend = _factory()(kafka_settings(partitions=3), channel)
    assert backend._partitions == [0, 1, 2]
    sub = backend.subscribe()
    backend.publish([{"type": "task", "task_id": "p"}])
    assert [m["task_id"] for m in _collect(sub, 1)] == ["p"]
    sub.close()
    backend.close(5)
