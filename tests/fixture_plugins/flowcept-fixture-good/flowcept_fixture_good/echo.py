"""The ``echo`` MQ backend (the memory MQ on channels of its own) and the fixture interceptor."""

from __future__ import annotations

import threading
from typing import Any

from flowcept_core.builtins.memory_mq import MemoryMQ

__all__ = ["EchoMQ", "FixtureInterceptor", "CHANNEL_PREFIX"]

CHANNEL_PREFIX = "echo:"


class EchoMQ(MemoryMQ):
    """In-process MQ whose channels are disjoint from the memory MQ's (a memory subscriber never sees them).

    ``EchoMQ.published`` counts messages published through any instance, so tests can tell it was really used.
    """

    name = "echo"
    published = 0
    _count_lock = threading.Lock()

    def __init__(self, settings: Any = None, channel: str | None = None):
        super().__init__(settings, channel)
        self.channel = CHANNEL_PREFIX + self.channel

    def publish(self, messages: list[dict]) -> None:
        super().publish(messages)
        with EchoMQ._count_lock:
            EchoMQ.published += len(messages)


class FixtureInterceptor:
    """Emits ``{"type": "fixture", "hello": "world"}`` into the run when started."""

    kind = "fixture_interceptor"

    def __init__(self, settings: Any = None):
        self.settings = settings
        self.started = False

    def start(self, run: Any) -> None:
        self.started = True
        run.emit({"type": "fixture", "hello": "world"})

    def stop(self) -> None:
        self.started = False


class FixtureConsumer:
    """A custom consumer registered through the entry point: keeps the task ids it received (class-level)."""

    seen: list = []

    def __new__(cls, settings):
        from flowcept_core.consumers.base import BaseConsumer

        class _Counter(BaseConsumer):
            def message_handler(self, msg_obj):
                if msg_obj.get("type") == "task":
                    FixtureConsumer.seen.append(msg_obj["task_id"])
                return True

        return _Counter(settings)
