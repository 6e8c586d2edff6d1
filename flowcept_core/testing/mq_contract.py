"""MQBackendContract: what every MQ backend must do, as a pytest class to subclass.

Provide a ``make_backend`` fixture returning ``factory(channel: str) -> MQBackend`` bound to a real broker.
Every test uses a fresh random channel, so runs never see each other's messages.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

__all__ = ["MQBackendContract"]


def _collect(sub: Any, expected: int, timeout: float = 15.0, ack: bool = True) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        got.extend(sub.receive(0.2))
    if ack:
        sub.ack()
    return got


def _ids(msgs: list[dict]) -> list[str]:
    return [m["task_id"] for m in msgs]


def _batch(prefix: str, n: int) -> list[dict]:
    return [{"type": "task", "task_id": f"{prefix}{i}", "used": {"i": i}} for i in range(n)]


class MQBackendContract:
    """Subclass in a plugin's tests, set ``backend_name`` (the mq.type covered) and define ``make_backend``."""

    backend_name: str = ""

    @pytest.fixture
    def make_backend(self) -> Any:  # pragma: no cover - must be overridden
        raise NotImplementedError("define a make_backend fixture returning factory(channel) -> MQBackend")

    @pytest.fixture
    def channel(self) -> str:
        return f"contract-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def backend(self, make_backend: Any, channel: str) -> Any:
        b = make_backend(channel)
        yield b
        b.close(5)

    def test_name_is_a_nonempty_string(self, backend: Any) -> None:
        assert isinstance(backend.name, str) and backend.name

    def test_in_process_is_declared_as_a_bool(self, backend: Any) -> None:
        assert isinstance(backend.in_process, bool)

    def test_liveness_test_answers_true_for_a_running_broker(self, backend: Any) -> None:
        assert backend.liveness_test() is True

    def test_published_batch_arrives_whole_and_in_order(self, backend: Any) -> None:
        sub = backend.subscribe()
        msgs = [{"type": "task", "task_id": f"t{i}", "used": {"x": i}} for i in range(120)]
        backend.publish(msgs[:50])
        backend.publish(msgs[50:])
        got = _collect(sub, len(msgs))
        sub.close()
        assert [m["task_id"] for m in got] == [m["task_id"] for m in msgs]
        assert got == msgs

    def test_values_survive_the_trip(self, backend: Any) -> None:
        sub = backend.subscribe()
        msg = {"type": "task", "task_id": "u1", "used": {"text": "naïve ☃ 数据", "f": 1.5, "neg": -3, "none": None,
                                                           "nested": {"a": [1, 2, {"b": True}]}, "big": 2**62},
               "data": b"\x00\x01raw", "tags": ["a", "b"]}
        backend.publish([msg])
        got = _collect(sub, 1)
        sub.close()
        assert got == [msg]

    def test_every_subscriber_receives_every_message(self, backend: Any) -> None:
        subs = [backend.subscribe(), backend.subscribe()]
        msgs = [{"type": "task", "task_id": f"s{i}"} for i in range(30)]
        backend.publish(msgs)
        for sub in subs:
            assert [m["task_id"] for m in _collect(sub, 30)] == [m["task_id"] for m in msgs]
            sub.close()

    def test_concurrent_producers_lose_nothing_and_keep_their_order(self, backend: Any, make_backend: Any,
                                                                   channel: str) -> None:
        sub = backend.subscribe()
        producers = [make_backend(channel) for _ in range(4)]

        def produce(pid: int, b: Any) -> None:
            for start in range(0, 500, 25):
                b.publish([{"type": "task", "task_id": f"p{pid}-{i}", "seq": i, "pid": pid}
                           for i in range(start, start + 25)])

        threads = [threading.Thread(target=produce, args=(i, b)) for i, b in enumerate(producers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = _collect(sub, 2000, timeout=30)
        sub.close()
        for b in producers:
            assert b.close(10) == 0
        assert len(got) == 2000
        assert len({m["task_id"] for m in got}) == 2000
        for pid in range(4):
            seqs = [m["seq"] for m in got if m["pid"] == pid]
            assert seqs == sorted(seqs)

    def test_large_batch_arrives_complete(self, backend: Any) -> None:
        sub = backend.subscribe()
        msgs = [{"type": "task", "task_id": f"l{i}", "used": {"x": i, "s": "y" * 100}} for i in range(10_000)]
        backend.publish(msgs)
        got = _collect(sub, len(msgs), timeout=60)
        sub.close()
        assert len(got) == len(msgs) and got[-1]["task_id"] == "l9999"

    def test_receive_returns_empty_after_waiting_when_nothing_is_published(self, backend: Any) -> None:
        sub = backend.subscribe()
        t0 = time.monotonic()
        assert sub.receive(0.3) == []
        assert time.monotonic() - t0 < 5
        sub.close()

    def test_receive_with_zero_timeout_returns_at_once(self, backend: Any) -> None:
        sub = backend.subscribe()
        t0 = time.monotonic()
        assert sub.receive(0) == []
        assert time.monotonic() - t0 < 2
        sub.close()

    def test_closed_subscription_is_idempotent(self, backend: Any) -> None:
        sub = backend.subscribe()
        sub.close()
        sub.close()

    def test_close_reports_nothing_undelivered_after_a_normal_run(self, make_backend: Any, channel: str) -> None:
        b = make_backend(channel)
        sub = b.subscribe()
        b.publish([{"type": "task", "task_id": "c1"}])
        assert _collect(sub, 1)[0]["task_id"] == "c1"
        sub.close()
        assert b.close(5) == 0

    # durable groups ------------------------------------------------------------------------------------------
    def test_group_created_before_publishing_gets_everything_when_its_consumer_starts_late(self, backend: Any) -> None:
        group = f"late-{uuid.uuid4().hex[:8]}"
        backend.ensure_group(group)
        msgs = _batch("late", 50)
        backend.publish(msgs[:25])
        backend.publish(msgs[25:])
        sub = backend.subscribe(group=group)
        got = _collect(sub, 50)
        sub.close()
        assert _ids(got) == _ids(msgs)

    def test_group_members_share_the_messages_without_duplicates(self, backend: Any) -> None:
        group = f"share-{uuid.uuid4().hex[:8]}"
        backend.ensure_group(group)
        a, b = backend.subscribe(group=group), backend.subscribe(group=group)
        msgs = _batch("share", 200)
        for i in range(0, 200, 10):
            backend.publish(msgs[i:i + 10])
        got: list[dict] = []
        deadline = time.monotonic() + 30
        while len(got) < 200 and time.monotonic() < deadline:
            for sub in (a, b):
                got.extend(sub.receive(0.1))
                sub.ack()
        a.close()
        b.close()
        assert sorted(_ids(got)) == sorted(_ids(msgs))

    def test_unacked_messages_are_redelivered_to_the_group_and_acked_ones_are_not(self, backend: Any) -> None:
        group = f"redo-{uuid.uuid4().hex[:8]}"
        backend.ensure_group(group)
        msgs = _batch("redo", 20)
        backend.publish(msgs)
        first = backend.subscribe(group=group)
        got = _collect(first, 20, ack=False)
        assert _ids(got) == _ids(msgs)
        first.close()  # a consumer that stops (or restarts) before acking
        second = backend.subscribe(group=group)
        again = _collect(second, 20)  # acks
        second.close()
        assert sorted(_ids(again)) == sorted(_ids(msgs))
        third = backend.subscribe(group=group)
        more = _batch("after", 3)
        backend.publish(more)
        rest = _collect(third, 3, timeout=10)
        third.close()
        assert _ids(rest) == _ids(more)

    def test_ensure_group_is_idempotent(self, backend: Any) -> None:
        group = f"idem-{uuid.uuid4().hex[:8]}"
        backend.ensure_group(group)
        msgs = _batch("idem", 5)
        backend.publish(msgs)
        backend.ensure_group(group)  # again, with messages waiting: must neither reset nor duplicate the group
        sub = backend.subscribe(group=group)
        got = _collect(sub, 5)
        extra = sub.receive(0.5)
        sub.close()
        assert _ids(got) == _ids(msgs) and extra == []
