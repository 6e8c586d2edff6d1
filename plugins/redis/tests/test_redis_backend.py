"""Behaviour of the redis backend beyond the shared contract: connection errors, malformed entries, publishing
semantics, group redelivery after a crash, and plugin registration."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from flowcept_redis.subscription import PAYLOAD_FIELD, RELEASED_CONSUMER

from flowcept_core.mq import MQClosedError, MQConnectionError, MQError
from flowcept_core.registry import PluginRegistry
from flowcept_core.wire import decode_batch


def redis_factory(settings: Any, channel: str | None = None) -> Any:
    """The factory the registry hands out for mq.type redis (a fresh registry: imports happen at the call)."""
    return PluginRegistry(env={}).resolve("mq_backend", "redis").factory(settings, channel)


def _collect(sub: Any, expected: int, timeout: float = 10.0) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        got.extend(sub.receive(0.2))
    return got


# connecting ------------------------------------------------------------------------------------------------
def test_refused_port_raises_mq_connection_error_naming_host_and_port_quickly(redis_settings: Any) -> None:
    t0 = time.monotonic()
    with pytest.raises(MQConnectionError) as err:
        redis_factory(redis_settings(host="127.0.0.1", port=1), "x")
    assert time.monotonic() - t0 < 6
    assert "mq.host='127.0.0.1'" in str(err.value) and "mq.port=1" in str(err.value)
    assert "connection refused" in str(err.value)


def test_unknown_host_raises_mq_connection_error_naming_host_and_port_quickly(redis_settings: Any) -> None:
    t0 = time.monotonic()
    with pytest.raises(MQConnectionError) as err:
        redis_factory(redis_settings(host="nohost.invalid", port=1234), "x")
    assert time.monotonic() - t0 < 11  # name resolution may take its own bounded time before the 5 s connect
    assert "mq.host='nohost.invalid'" in str(err.value) and "mq.port=1234" in str(err.value)


def test_wrong_credentials_name_username_and_password_keys_without_printing_the_password(
    redis_settings: Any,
) -> None:
    with pytest.raises(MQConnectionError) as err:
        redis_factory(redis_settings(username="nosuchuser", password="s3cret-pw"), "x")
    text = str(err.value)
    assert "mq.username='nosuchuser'" in text and "mq.password" in text
    assert "s3cret-pw" not in text


def test_wrong_credentials_in_uri_are_reported_with_the_password_masked(redis_server: Any, redis_settings: Any) -> None:
    host, port = redis_server
    uri = f"redis://nosuchuser:s3cret-pw@{host}:{port}/0"
    with pytest.raises(MQConnectionError) as err:
        redis_factory(redis_settings(uri=uri, host="ignored", port=1), "x")
    text = str(err.value)
    assert "mq.uri=" in text and "nosuchuser:***@" in text and "s3cret-pw" not in text


def test_uri_wins_over_host_and_port(redis_server: Any, redis_settings: Any, channel: str) -> None:
    host, port = redis_server
    mq = redis_factory(redis_settings(uri=f"redis://{host}:{port}/0", host="nohost.invalid", port=1), channel)
    assert mq.liveness_test() is True
    assert mq.close(5) == 0


def test_liveness_test_answers_false_without_raising_when_the_server_is_gone(start_redis: Any, channel: str) -> None:
    server = start_redis()
    mq = redis_factory(server.settings(), channel)
    assert mq.liveness_test() is True
    server.stop()
    assert mq.liveness_test() is False
    assert mq.close(0) == 0


def test_batches_published_during_a_short_outage_are_delivered_when_the_server_returns(
    start_redis: Any, channel: str
) -> None:
    server = start_redis()
    mq = redis_factory(server.settings(), channel)
    server.stop()
    mq.publish([{"type": "task", "task_id": "during-1"}])
    mq.publish([{"type": "task", "task_id": "during-2"}])
    time.sleep(0.5)  # the sender is retrying now
    server.start()
    assert mq.close(15) == 0
    ids = [m["task_id"] for _, f in server.client().xrange(channel) for m in decode_batch(f[PAYLOAD_FIELD])]
    assert ids == ["during-1", "during-2"]


def test_close_with_the_server_down_returns_the_undelivered_count_within_the_timeout(
    start_redis: Any, channel: str
) -> None:
    server = start_redis()
    mq = redis_factory(server.settings(), channel)
    server.stop()
    mq.publish([{"type": "task", "task_id": f"x{i}"} for i in range(7)])
    t0 = time.monotonic()
    assert mq.close(1) == 7
    assert time.monotonic() - t0 < 8


# publishing ------------------------------------------------------------------------------------------------
def test_each_publish_is_one_stream_entry_without_maxlen(redis_settings: Any, raw_client: Any, channel: str) -> None:
    mq = redis_factory(redis_settings(), channel)
    for i in range(5):
        mq.publish([{"type": "task", "task_id": f"{i}-{j}"} for j in range(100)])
    assert mq.close(10) == 0
    entries = raw_client.xrange(channel)
    assert len(entries) == 5
    assert [len(decode_batch(fields[PAYLOAD_FIELD])) for _, fields in entries] == [100] * 5


def test_publish_after_close_raises_mq_closed_error(redis_settings: Any, channel: str) -> None:
    mq = redis_factory(redis_settings(), channel)
    assert mq.close(5) == 0
    assert mq.close(5) == 0  # idempotent
    with pytest.raises(MQClosedError):
        mq.publish([{"type": "task", "task_id": "late"}])


def test_batches_the_server_refuses_are_counted_by_close_and_the_next_publish_raises_mq_error(
    redis_settings: Any, raw_client: Any, channel: str
) -> None:
    raw_client.set(channel, "not a stream")  # XADD on it answers WRONGTYPE
    mq = redis_factory(redis_settings(), channel)
    mq.publish([{"type": "task", "task_id": "a"}, {"type": "task", "task_id": "b"}])  # refused in the background
    deadline = time.monotonic() + 5
    while mq._refused is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(MQError, match="WRONGTYPE"):
        mq.publish([{"type": "task", "task_id": "c"}])  # sent at once after a refusal, so the caller sees it
    assert mq.close(5) == 2  # a and b; c was reported to its caller by the exception
    raw_client.delete(channel)


# malformed entries -----------------------------------------------------------------------------------------
def test_malformed_entry_on_the_wire_is_logged_and_skipped_and_the_next_batch_arrives(
    redis_settings: Any, raw_client: Any, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    mq = redis_factory(redis_settings(), channel)
    sub = mq.subscribe()
    raw_client.xadd(channel, {PAYLOAD_FIELD: b"\xc1 not msgpack"})
    raw_client.xadd(channel, {b"other": b"field"})
    mq.publish([{"type": "task", "task_id": "good"}])
    with caplog.at_level(logging.ERROR, logger="flowcept"):
        got = _collect(sub, 1)
    sub.close()
    mq.close(5)
    assert [m["task_id"] for m in got] == ["good"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len([e for e in errors if "malformed" in e]) == 2


def test_malformed_entry_in_a_group_is_acked_so_it_never_comes_back(
    redis_settings: Any, raw_client: Any, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    mq = redis_factory(redis_settings(), channel)
    mq.ensure_group("g")
    raw_client.xadd(channel, {PAYLOAD_FIELD: b"\x93\x01\x02\x03"})  # a msgpack list of ints, not of dicts
    mq.publish([{"type": "task", "task_id": "good"}])
    sub = mq.subscribe(group="g")
    with caplog.at_level(logging.ERROR, logger="flowcept"):
        got = _collect(sub, 1)
    sub.ack()
    sub.close()
    mq.close(5)
    assert [m["task_id"] for m in got] == ["good"]
    assert raw_client.xpending(channel, "g")["pending"] == 0
    assert any("malformed" in r.getMessage() for r in caplog.records)


# groups ----------------------------------------------------------------------------------------------------
def test_closing_a_member_releases_its_unacked_entries_and_leaves_the_group(
    redis_settings: Any, raw_client: Any, channel: str
) -> None:
    mq = redis_factory(redis_settings(), channel)
    mq.ensure_group("g")
    mq.publish([{"type": "task", "task_id": "r1"}])
    mq.publish([{"type": "task", "task_id": "r2"}])
    sub = mq.subscribe(group="g")
    assert len(_collect(sub, 2)) == 2
    sub.close()
    consumers = {c["name"]: c["pending"] for c in raw_client.xinfo_consumers(channel, "g")}
    assert consumers == {RELEASED_CONSUMER.encode(): 2}
    mq.close(5)


def test_entries_of_a_crashed_member_go_to_another_member_after_redelivery_secs(
    redis_settings: Any, channel: str
) -> None:
    mq = redis_factory(redis_settings(redelivery_secs=1), channel)
    mq.ensure_group("g")
    mq.publish([{"type": "task", "task_id": f"c{i}"} for i in range(10)])
    crashed = mq.subscribe(group="g")
    assert len(_collect(crashed, 10)) == 10
    crashed._closed = True  # dies without close(): its entries stay pending under its name
    time.sleep(1.2)
    survivor = mq.subscribe(group="g")
    got = _collect(survivor, 10)
    survivor.ack()
    survivor.close()
    crashed._client.close()
    mq.close(5)
    assert sorted(m["task_id"] for m in got) == sorted(f"c{i}" for i in range(10))


def test_group_position_survives_a_new_backend_instance(redis_settings: Any, channel: str) -> None:
    group = f"dur-{uuid.uuid4().hex[:6]}"
    first = redis_factory(redis_settings(), channel)
    first.ensure_group(group)
    first.publish([{"type": "task", "task_id": "a"}])
    sub = first.subscribe(group=group)
    assert [m["task_id"] for m in _collect(sub, 1)] == ["a"]
    sub.ack()
    sub.close()
    first.publish([{"type": "task", "task_id": "b"}])
    first.close(5)
    second = redis_factory(redis_settings(), channel)  # a "restarted" consumer process
    sub2 = second.subscribe(group=group)
    assert [m["task_id"] for m in _collect(sub2, 1)] == ["b"]
    assert sub2.receive(0.3) == []
    sub2.close()
    second.close(5)


# plugin ----------------------------------------------------------------------------------------------------
def test_registry_lists_redis_without_importing_the_redis_library() -> None:
    code = (
        "import sys; from flowcept_core.registry import PluginRegistry; "
        "names = PluginRegistry(env={}).names('mq_backend'); "
        "assert 'redis' in names, names; assert 'redis' not in sys.modules, 'redis imported'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_factory_without_redis_installed_raises_import_error_with_install_hint(
    redis_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # "import redis" now fails like a missing library
    with pytest.raises(ImportError, match=r"pip install (-e \S+/plugins/redis|\"flowcept\[redis\]\")"):
        redis_factory(redis_settings(), "x")
