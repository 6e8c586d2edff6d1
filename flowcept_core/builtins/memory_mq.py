"""The ``memory`` MQ backend: in-process publish/subscribe between threads of one process.

A subscription without a group receives every batch published after it subscribed, in publish order. Subscriptions
sharing a group name split the messages; what a member received but did not ack goes back to the group when it
closes. Messages are handed over as the same dict objects (no encoding): consumers must treat them as read-only.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from flowcept_core.mq import MQClosedError

__all__ = ["MemoryMQ", "MemorySubscription", "MQClosedError"]


class _Queue:
    """A FIFO of messages with a condition variable (shared by the members of a group, or private)."""

    def __init__(self) -> None:
        self.items: collections.deque = collections.deque()
        self.cond = threading.Condition()

    def put_many(self, messages: list[dict], front: bool = False) -> None:
        with self.cond:
            if front:
                self.items.extendleft(reversed(messages))
            else:
                self.items.extend(messages)
            self.cond.notify_all()

    def take_all(self, timeout: float) -> list[dict]:
        with self.cond:
            if not self.items and timeout > 0:
                self.cond.wait(timeout)
            out = list(self.items)
            self.items.clear()
            return out


class _Broker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queues: dict[str, list[_Queue]] = {}  # channel -> queues that receive each published batch
        self.groups: dict[tuple[str, str], _Queue] = {}

    def targets(self, channel: str) -> list[_Queue]:
        return self.queues.get(channel, [])

    def add(self, channel: str, q: _Queue) -> None:
        with self.lock:  # copy-on-write: publishers iterate a stable list without the lock
            self.queues[channel] = [*self.targets(channel), q]

    def remove(self, channel: str, q: _Queue) -> None:
        with self.lock:
            self.queues[channel] = [x for x in self.targets(channel) if x is not q]

    def group(self, channel: str, name: str) -> _Queue:
        with self.lock:
            q = self.groups.get((channel, name))
            if q is None:
                q = self.groups[(channel, name)] = _Queue()
                self.queues[channel] = [*self.targets(channel), q]
            return q


_BROKER = _Broker()


class MemorySubscription:
    """One consumer's view: a private queue, or a member's share of a group queue."""

    def __init__(self, channel: str, group: str | None):
        self.channel = channel
        self.group = group
        self._q = _BROKER.group(channel, group) if group else _Queue()
        if not group:
            _BROKER.add(channel, self._q)
        self._unacked: list[dict] = []
        self._closed = False

    def receive(self, timeout: float) -> list[dict]:
        if self._closed:
            return []
        got = self._q.take_all(timeout)
        if self.group:
            self._unacked.extend(got)
        return got

    def ack(self) -> None:
        self._unacked = []

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.group:
            if self._unacked:  # back to the group, first in line
                self._q.put_many(self._unacked, front=True)
                self._unacked = []
        else:
            _BROKER.remove(self.channel, self._q)


class MemoryMQ:
    """In-process MQ on one channel (``mq.channel``)."""

    name = "memory"
    in_process = True  # producers hand over message dicts as they are (no packing, no encoding)

    def __init__(self, settings: Any = None, channel: str | None = None):
        if channel is None:
            channel = settings.get("mq.channel", "interception") if settings is not None else "interception"
        self.channel = channel
        self._closed = False

    def publish(self, messages: list[dict]) -> None:
        if self._closed:
            raise MQClosedError(f"memory MQ on channel {self.channel!r} is closed")
        for q in _BROKER.targets(self.channel):
            q.put_many(messages)

    def ensure_group(self, name: str) -> None:
        _BROKER.group(self.channel, name)

    def subscribe(self, group: str | None = None) -> MemorySubscription:
        return MemorySubscription(self.channel, group)

    def liveness_test(self) -> bool:
        return True

    def close(self, timeout: float | None = None) -> int:
        self._closed = True
        return 0
