"""A consumer group lost with the server's data (a restart without persistence, a deleted stream) is recreated at the
start of the stream, by readers and by producers, never at its end; nothing written afterwards is skipped."""

from __future__ import annotations

import time
from typing import Any

from flowcept_core.registry import PluginRegistry


def _mq(settings: Any, channel: str) -> Any:
    return PluginRegistry(env={}).resolve("mq_backend", "redis").factory(settings, channel)


def _collect(sub: Any, expected: int, timeout: float = 10.0) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        got.extend(sub.receive(0.2))
        sub.ack()
    return got


def test_a_reader_whose_group_vanished_recreates_it_at_the_start_and_reads_what_was_written_since(
        redis_settings: Any, raw_client: Any, channel: str) -> None:
    mq = _mq(redis_settings(), channel)
    sub = mq.subscribe(group="g")
    try:
        mq.publish([{"type": "task", "task_id": "before"}])
        assert [m["task_id"] for m in _collect(sub, 1)] == ["before"]
        raw_client.delete(channel)  # what a restart without persistence leaves: no stream, no group
        writer = _mq(redis_settings(), channel)
        writer.publish([{"type": "task", "task_id": f"after-{i}"} for i in range(3)])
        writer.publish([{"type": "task", "task_id": "after-3"}])
        assert writer.close(10) == 0  # on the server before the reader looks again
        got = _collect(sub, 4)
        assert sorted(m["task_id"] for m in got) == ["after-0", "after-1", "after-2", "after-3"]
        assert raw_client.xinfo_groups(channel)[0]["name"] == b"g"
    finally:
        sub.close()
        mq.close(5)


def test_a_producer_that_reconnects_recreates_its_groups_so_a_later_reader_misses_nothing(
        start_redis: Any, channel: str) -> None:
    server = start_redis()  # its own server: every connection to it is killed below
    raw_client = server.client()
    mq = _mq(server.settings(), channel)
    redis_settings = server.settings
    try:
        mq.ensure_group("g")
        raw_client.delete(channel)
        raw_client.client_kill_filter(_type="normal", skipme=True)  # every other connection: as after a restart
        mq.publish([{"type": "task", "task_id": "written-before-any-reader"}])
        assert mq.close(10) == 0
        reader = _mq(redis_settings(), channel)
        reader.ensure_group("g")  # a DocumentInserter starting now: the group exists, its position is kept
        sub = reader.subscribe(group="g")
        try:
            assert [m["task_id"] for m in _collect(sub, 1)] == ["written-before-any-reader"]
        finally:
            sub.close()
            reader.close(5)
    finally:
        mq.close(5)
        raw_client.close()

