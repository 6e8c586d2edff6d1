"""Keeping a process alive for its consumers, and ending it quietly on Ctrl+C or SIGTERM.

A consumer started with ``daemon=False`` (a BaseConsumer, or the DocumentInserter of a persistence-only Flowcept)
keeps the process running after the main code ends. Python would join such a thread inside ``threading._shutdown``,
where Ctrl+C or SIGTERM prints "Exception ignored in: <module 'threading'>" and a traceback. Instead the thread
runs as a daemon and ``keep_alive()`` registers it here: when the main code ends, ``_wait_for_consumers`` (a
threading exit hook, run first in the interpreter's shutdown) waits for it. Ctrl+C or SIGTERM while waiting stops
every running Flowcept (delivering what was captured, as at a normal exit) and every waiting consumer (each stores
what it received), then the process ends: Ctrl+C with status 0 as after the program's end, SIGTERM with 143.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

__all__ = ["keep_alive"]

_waiting: list[Any] = []  # consumers whose thread keeps the process alive
_lock = threading.Lock()
_registered = False
_STOP_TIMEOUT_SECS = 30.0


def keep_alive(consumer: Any) -> bool:
    """Called by BaseConsumer.start(daemon=False) before it creates its thread: the process will wait for the
    consumer at exit as it would for a non-daemon thread, and a signal during that wait ends it cleanly.

    Returns True when the thread may be a daemon (the wait is registered), False when this interpreter lacks the
    exit hook or is already shutting down, and the thread must be a plain non-daemon thread.
    """
    global _registered
    if getattr(threading, "_SHUTTING_DOWN", False):  # the exit hook may have run already
        return False
    with _lock:
        if not _registered:
            register = getattr(threading, "_register_atexit", None)
            if register is None:
                return False
            try:
                register(_wait_for_consumers)
            except RuntimeError:  # the interpreter is already shutting down: a plain non-daemon thread then
                return False
            _registered = True
        _waiting[:] = [c for c in _waiting if c._main_thread is None or c._main_thread.is_alive()]
        _waiting.append(consumer)
        return True


def _alive() -> list[Any]:
    with _lock:
        return [c for c in _waiting if c._main_thread is not None and c._main_thread.is_alive()]


def _wait_for_consumers() -> None:
    """Threading exit hook: block until every kept-alive consumer ends; on a signal, stop everything quietly."""
    try:
        while True:
            alive = _alive()
            if not alive:
                return
            alive[0]._main_thread.join(0.2)
    except KeyboardInterrupt:
        _stop_all()
    except SystemExit as e:
        _stop_all()
        _exit_now(e.code)


def _stop_all() -> None:
    """Deliver what was captured and stored what was received; a second signal meanwhile ends the wait early."""
    try:
        controller = sys.modules.get("flowcept_core.controller")
        if controller is not None:
            controller._stop_forgotten()
        for consumer in _alive():
            consumer.stop_consumption(_STOP_TIMEOUT_SECS)
    except (KeyboardInterrupt, SystemExit):
        pass


def _exit_now(code: Any) -> None:
    """End with the signal's status (what the default SIGTERM action would give, after delivering)."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code if isinstance(code, int) else 1)
