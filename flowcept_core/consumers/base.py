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
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from flowcept_core.logger import get_logger
from flowcept_core.settings import get_settings
from flowcept_core.wire import rejections, wire_codec

__all__ = ["BaseConsumer"]

_RECEIVE_WAIT_SECS = 0.1
_RESTART_SECS = (0.1, 0.5, 1.0, 2.0, 5.0)  # backoff between resumptions of a failing consumer loop


class BaseConsumer(ABC):
    """Subclass and implement message_handler(msg_obj) -> bool (False stops consumption)."""

    def __init__(self, settings: Any = None, mq: Any = None):
        self._settings = settings
        self._mq = mq
        self._subscription: Any = None
        self._main_thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self.restarts = 0  # times the consumer loop failed and was resumed (see _supervised)
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
        self._subscription = self._subscribe()

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
        (the subscription logs and skips them). A failure while receiving (a broker error) is logged and listening
        resumes with a fresh subscription (see _supervised)."""
        try:
            with rejections(wire_codec(self._settings or get_settings())):
                self._supervised(self._listen)
        finally:
            self._close_quietly(self._subscription)
            self._stop_event.set()

    def _subscribe(self) -> Any:
        """A new subscription for this consumer (at start, and again after its loop failed)."""
        return self._mq.subscribe()

    def _supervised(self, loop: Callable[[Any], None]) -> None:
        """Run loop(subscription) until it returns. When it raises, log it, close that subscription (what it received
        and did not acknowledge is delivered again) and resume with a fresh one, backing off while it keeps failing;
        ``restarts`` counts the resumptions. Called on the consumer's thread."""
        failures = 0
        while True:
            sub = self._subscription
            started = time.monotonic()
            try:
                loop(sub)
                return
            except Exception as e:
                self.restarts += 1
                self.logger.exception(f"{type(self).__name__}: its loop failed ({type(e).__name__}: {e}); resuming "
                                      f"with a fresh subscription (restart {self.restarts})")
            self._close_quietly(sub)
            failures = failures + 1 if time.monotonic() - started < 60 else 1
            while True:
                self._stop_event.wait(_RESTART_SECS[min(failures - 1, len(_RESTART_SECS) - 1)])
                try:
                    self._subscription = self._subscribe()
                    break
                except Exception as e:
                    failures += 1
                    self.logger.error(f"{type(self).__name__}: subscribing again failed ({type(e).__name__}: {e})")
                    if self._stop_event.is_set():
                        return

    def _close_quietly(self, sub: Any) -> None:
        try:
            sub.close()
        except Exception as e:
            self.logger.warning(f"{type(self).__name__}: closing a failed subscription: {type(e).__name__}: {e}")

    def _listen(self, sub: Any) -> None:
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
