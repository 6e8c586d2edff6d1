"""The ``memory`` MQ backend: in-process publish/subscribe between threads of one process.

A subscription without a group receives every batch published after it subscribed, in publish order. Subscriptions
sharing a group name split the messages; what a member received but did not ack goes back to the group when it
closes. Messages are handed over as the same dict objects (no encoding): consumers must treat them as read-only.

Queues are bounded (``mq.queue_max_messages``): a publisher waits while a queue that someone reads is full, so a
producer faster than its consumers is slowed to their pace (a consumer thread publishing into its own queue never
waits). A group queue nobody has joined keeps only the newest messages once it waited a while, and says so: in one
process, nothing else could ever read them.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from flowcept_core.logger import get_logger
from flowcept_core.mq import MQClosedError
from flowcept_core.runtime import RUNTIME

__all__ = ["MemoryMQ", "MemorySubscription", "MQClosedError", "DEFAULT_QUEUE_MAX"]

DEFAULT_QUEUE_MAX = 20_000
_NO_READER_WAIT_SECS = 2.0
_STUCK_READER_SECS = 60.0  # how long a publisher waits for a reader to join a full group queue nobody reads


class _Queue:
    """A bounded FIFO of messages with a condition variable (shared by the members of a group, or private)."""

    def __init__(self, name: str, max_items: int = DEFAULT_QUEUE_MAX) -> None:
        self.name = name
        self.items: collections.deque = collections.deque()
        self.cond = threading.Condition()
        self.max_items = max_items
        self.readers = 0  # subscriptions reading this queue
        self.reader_threads: set[int] = set()  # threads that received from it (never made to wait on it)
        self.dropped = 0

    def put_many(self, messages: list[dict], front: bool = False) -> None:
        with self.cond:
            if front:
                self.items.extendleft(reversed(messages))
            else:
                if len(self.items) >= self.max_items and threading.get_ident() not in self.reader_threads:
                    self._wait_for_room()
                self.items.extend(messages)
            self.cond.notify_all()

    def _wait_for_room(self) -> None:
        """Called with the condition held and the queue full: wait while a reader drains it."""
        no_reader_since = None
        give_up = time.monotonic() + _STUCK_READER_SECS
        while len(self.items) >= self.max_items:
            if self.readers:
                no_reader_since = None
                if time.monotonic() > give_up:  # a reader that stopped reading must not hang the application
                    get_logger().warning(f"in-process MQ: {self.name} has been full for {_STUCK_READER_SECS:.0f} s; "
                                         "its reader is not keeping up, publishing past mq.queue_max_messages")
                    return
                self.cond.wait(0.5)
                continue
            now = time.monotonic()
            no_reader_since = no_reader_since or now
            if now - no_reader_since < _NO_READER_WAIT_SECS:
                self.cond.wait(0.1)
                continue
            drop = len(self.items) - self.max_items // 2
            for _ in range(drop):
                self.items.popleft()
            self.dropped += drop
            if self.dropped == drop:
                get_logger().warning(
                    f"in-process MQ: nothing in this process reads {self.name} (no DocumentInserter or consumer "
                    f"started here); its oldest messages are dropped beyond mq.queue_max_messages="
                    f"{self.max_items}. Start persistence in this process, or use a networked MQ (mq.type) to "
                    "consume from another process")
            return

    def take_all(self, timeout: float) -> list[dict]:
        with self.cond:
            self.reader_threads.add(threading.get_ident())
            if not self.items and timeout > 0:
                self.cond.wait(timeout)
            out = list(self.items)
            self.items.clear()
            self.cond.notify_all()  # publishers waiting for room
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

    def group(self, channel: str, name: str, max_items: int = DEFAULT_QUEUE_MAX) -> _Queue:
        with self.lock:
            q = self.groups.get((channel, name))
            if q is None:
                q = self.groups[(channel, name)] = _Queue(f"group {name!r} of channel {channel!r}", max_items)
                self.queues[channel] = [*self.targets(channel), q]
            return q


_broker_lock = threading.Lock()


def _broker() -> _Broker:
    """The process's broker: RUNTIME.broker, created with the first in-process channel (a reset drops it)."""
    broker = RUNTIME.broker
    if broker is None:
        with _broker_lock:
            broker = RUNTIME.broker
            if broker is None:
                broker = RUNTIME.broker = _Broker()
    return broker


class MemorySubscription:
    """One consumer's view: a private queue, or a member's share of a group queue."""

    def __init__(self, channel: str, group: str | None, max_items: int = DEFAULT_QUEUE_MAX):
        self.channel = channel
        self.group = group
        if group:
            self._q = _broker().group(channel, group, max_items)
        else:
            self._q = _Queue(f"a subscription of channel {channel!r}", max_items)
            _broker().add(channel, self._q)
        with self._q.cond:
            self._q.readers += 1
        self._unacked: list[dict] = []
        self._closed = False

    def receive(self, timeout: float) -> list[dict]:
        if self._closed:
            return []
        got = self._q.take_all(timeout)
        if self.group:
            self._unacked.extend(got)
        return got

    def wake(self) -> None:
        """Make a receive() that is waiting return now (the consumer is stopping)."""
        with self._q.cond:
            self._q.cond.notify_all()

    def ack(self) -> None:
        self._unacked = []

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._q.cond:
            self._q.readers -= 1
            self._q.reader_threads.discard(threading.get_ident())
            self._q.cond.notify_all()
        if self.group:
            if self._unacked:  # back to the group, first in line
                self._q.put_many(self._unacked, front=True)
                self._unacked = []
        else:
            _broker().remove(self.channel, self._q)


class MemoryMQ:
    """In-process MQ on one channel (``mq.channel``)."""

    name = "memory"
    in_process = True  # producers hand over message dicts as they are (no packing, no encoding)

    def __init__(self, settings: Any = None, channel: str | None = None):
        if channel is None:
            channel = settings.get("mq.channel", "interception") if settings is not None else "interception"
        self.channel = channel
        self.max_items = DEFAULT_QUEUE_MAX
        if settings is not None:
            self.max_items = max(int(settings.get("mq.queue_max_messages") or DEFAULT_QUEUE_MAX), 1)
        self._closed = False

    def publish(self, messages: list[dict]) -> None:
        if self._closed:
            raise MQClosedError(f"memory MQ on channel {self.channel!r} is closed")
        for q in _broker().targets(self.channel):
            q.put_many(messages)

    def ensure_group(self, name: str) -> None:
        _broker().group(self.channel, name, self.max_items)

    def only_group(self, name: str) -> bool:
        """True when group name's queue is the only one receiving what is published on this channel."""
        broker = _broker()
        targets = broker.targets(self.channel)
        return len(targets) == 1 and targets[0] is broker.groups.get((self.channel, name))

    def subscribe(self, group: str | None = None) -> MemorySubscription:
        return MemorySubscription(self.channel, group, self.max_items)

    def liveness_test(self) -> bool:
        return True

    def close(self, timeout: float | None = None) -> int:
        self._closed = True
        return 0
