"""BaseConsumer: subscribe to the MQ, listen, hand each message to message_handler, stop when it returns False.

Example::

    class Printer(BaseConsumer):
        def message_handler(self, msg_obj: dict) -> bool:
            print(msg_obj.get("type"), msg_obj.get("task_id"))
            return True

    Printer().start(daemon=True)
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from flowcept_core.logger import get_logger
from flowcept_core.settings import get_settings
from flowcept_core.wire import rejections, wire_codec

__all__ = ["BaseConsumer"]

_RECEIVE_WAIT_SECS = 0.1


class BaseConsumer(ABC):
    """Subclass and implement message_handler(msg_obj) -> bool (False stops consumption)."""

    def __init__(self, settings: Any = None, mq: Any = None):
        self._settings = settings
        self._mq = mq
        self._subscription: Any = None
        self._main_thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self.logger = get_logger()

    @abstractmethod
    def message_handler(self, msg_obj: dict) -> bool:
        """Handle one message; return False to stop consuming. Called on the consumer's thread."""

    def _open(self) -> None:
        if self._mq is None:
            from flowcept_core.mq import open_mq

            self._settings = self._settings or get_settings()
            self._mq = open_mq(self._settings)
            from flowcept_core.health import warn_if_unreachable

            warn_if_unreachable(self._settings, f"consumer {type(self).__name__}")
        self._subscription = self._mq.subscribe()

    def start(self, target: Callable | None = None, args: tuple = (), threaded: bool = True,
              daemon: bool = False) -> BaseConsumer:
        """Subscribe now (messages published after start() returns are received), then listen.

        threaded=True runs target (default: default_thread_target) on a thread; False blocks until it returns.
        """
        self._stop_event.clear()
        self._open()
        fn = target or self.default_thread_target
        if threaded:
            as_daemon = daemon
            if not daemon:  # keeps the process alive, and Ctrl+C / SIGTERM end it without a shutdown traceback
                from flowcept_core.interrupts import keep_alive

                as_daemon = keep_alive(self)
            self._main_thread = threading.Thread(target=fn, args=args, daemon=as_daemon,
                                                 name=f"flowcept-consumer-{type(self).__name__}")
            self._main_thread.start()
        else:
            fn(*args)
        return self

    def default_thread_target(self) -> None:
        """Receive batches until stopped or message_handler returns False; acknowledge after handling.

        With ``mq.signing_key`` set, unsigned and forged batches are refused before they reach message_handler
        (the subscription logs and skips them)."""
        with rejections(wire_codec(self._settings or get_settings())):
            self._listen()

    def _listen(self) -> None:
        sub = self._subscription
        try:
            while not self._stop_event.is_set():
                msgs = sub.receive(_RECEIVE_WAIT_SECS)
                if not msgs:
                    continue
                keep = self._dispatch(msgs)
                sub.ack()
                if not keep:
                    return
            msgs = sub.receive(0)  # asked to stop: handle what has already arrived
            if msgs:
                self._dispatch(msgs)
                sub.ack()
        finally:
            sub.close()
            self._stop_event.set()

    def _dispatch(self, msgs: list) -> bool:
        for msg in msgs:
            if not isinstance(msg, dict):
                self.logger.error(f"{type(self).__name__}: skipped a malformed message of type {type(msg).__name__}")
                continue
            try:
                if self.message_handler(msg) is False:
                    return False
            except Exception as e:  # a failing handler must not kill the consumer
                self.logger.error(f"{type(self).__name__}.message_handler failed: {type(e).__name__}: {e}")
        return True

    def stop_consumption(self, timeout: float | None = 5.0) -> None:
        """Stop listening and wait for the consumer thread (idempotent)."""
        self._stop_event.set()
        wake = getattr(getattr(self, "_subscription", None), "wake", None)
        if wake is not None:  # a receive() waiting for messages returns now, not at its timeout
            wake()
        t = self._main_thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    stop = stop_consumption

    @property
    def is_running(self) -> bool:
        return self._main_thread is not None and self._main_thread.is_alive()
