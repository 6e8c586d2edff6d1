"""Appending large blocks to a file on a background thread.

Copying bytes into new page-cache pages is kernel time the encoding thread would otherwise wait for: on virtual
machines that hand freed memory back to their host, 2-3 ns a byte (seconds for the ~1.4 GB buffer file of a
1M-task run with telemetry). An Appender takes whole blocks (one ``write`` each, the GIL released for all of it)
and writes them in order on its own thread while the caller encodes the next; at most ``depth`` blocks wait, so
memory stays bounded and a caller faster than the disk is held back.

A failed write (a full disk) is raised by the next ``append`` or ``sync``; blocks after a failed one are dropped.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Any

__all__ = ["Appender"]


class Appender:
    """Writes appended blocks to fd, in order, on one daemon thread (started with the first block)."""

    def __init__(self, fd: int, depth: int = 2):
        self.fd = fd
        self._depth = depth
        self._blocks: deque = deque()
        self._cond = threading.Condition(threading.Lock())
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def append(self, block: Any) -> None:
        """Queue block (bytes-like, not changed afterwards) to be written after those queued before it."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._cond:
            self._raise_error()
            while len(self._blocks) >= self._depth:
                self._cond.wait()
                self._raise_error()
            self._blocks.append(block)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="flowcept-buffer-writer", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def sync(self) -> None:
        """Wait until every queued block is written (raises the write error, if one happened)."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._cond:
            while self._blocks:
                self._cond.wait()
            self._raise_error()

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread is not here, and its lock may have been held at the fork. What
        was queued is the parent's to write; this process starts afresh."""
        self._blocks = deque()
        self._cond = threading.Condition(threading.Lock())
        self._error, self._thread, self._pid = None, None, os.getpid()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        cond, blocks = self._cond, self._blocks
        while True:
            with cond:
                while not blocks:
                    cond.wait()
                block = blocks[0]
            try:
                _write_all(self.fd, block)
            except OSError as e:
                with cond:
                    self._error = e
                    blocks.clear()
                    cond.notify_all()
                continue
            with cond:
                if blocks and blocks[0] is block:
                    blocks.popleft()
                cond.notify_all()


def _write_all(fd: int, block: Any) -> None:
    view = memoryview(block)
    while view:  # a short write (a signal, a nearly full disk): the rest
        view = view[os.write(fd, view) :]
    view.release()
