"""The ``memory`` MQ backend: in-process publish/subscribe between threads of one process.

Every subscription of a channel receives every batch published after it subscribed, in publish order. Messages are
handed over as the same dict objects (no encoding): consumers must treat them as read-only.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

__all__ = ["MemoryMQ", "MemorySubscription", "MQClosedError"]


class MQClosedError(RuntimeError):
    """publish() on a backend that was closed."""


class _Broker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.channels: dict[str, list[MemorySubscription]] = {}

    def subscribers(self, channel: str) -> list[MemorySubscription]:
        return self.channels.get(channel, [])


_BROKER = _Broker()


class MemorySubscription:
    """A queue of batches for one subscriber."""

    def __init__(self, channel: str):
        self.channel = channel
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False

    def _put(self, batch: list[dict]) -> None:
        if not self._closed:
            self._q.put(batch)

    def receive(self, timeout: float) -> list[dict]:
        try:
            first = self._q.get(timeout=timeout) if timeout > 0 else self._q.get_nowait()
        except queue.Empty:
            return []
        out = list(first)
        while True:  # take whatever else is already queued, without waiting
            try:
                out.extend(self._q.get_nowait())
            except queue.Empty:
                return out

    def ack(self) -> None:
        """Nothing to acknowledge: in-process delivery cannot be redelivered."""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _BROKER.lock:
            subs = _BROKER.channels.get(self.channel, [])
            if self in subs:
                # copy-on-write so publishers iterate a stable list without the lock
                _BROKER.channels[self.channel] = [s for s in subs if s is not self]


class MemoryMQ:
    """In-process MQ on one channel (``mq.channel``)."""

    name = "memory"

    def __init__(self, settings: Any = None, channel: str | None = None):
        if channel is None:
            channel = settings.get("mq.channel", "interception") if settings is not None else "interception"
        self.channel = channel
        self._closed = False

    def publish(self, messages: list[dict]) -> None:
        if self._closed:
            raise MQClosedError(f"memory MQ on channel {self.channel!r} is closed")
        for sub in _BROKER.subscribers(self.channel):
            sub._put(messages)

    def subscribe(self) -> MemorySubscription:
        sub = MemorySubscription(self.channel)
        with _BROKER.lock:
            _BROKER.channels[self.channel] = [*_BROKER.subscribers(self.channel), sub]
        return sub

    def liveness_test(self) -> bool:
        return True

    def close(self, timeout: float | None = None) -> int:
        self._closed = True
        return 0
