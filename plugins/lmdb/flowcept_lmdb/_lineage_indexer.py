"""The background catch-up of the LMDB store's lineage value index (flowcept_lmdb._lineage): :class:`Indexer`, a
daemon thread of each open store that indexes pending tasks in steps while no task is being written, and the
per-process registry of indexers and catch-up locks that flowcept_lmdb._lineage's write and query paths share.

The settings (IDLE_S, BACKGROUND_STEP, BACKGROUND_MAX_STEP, BACKGROUND_HOLD_S, BACKGROUND_MAX_HOLD_S) stay in
flowcept_lmdb._lineage, whose module docstring describes the whole scheme, and are read from there when used (the
methods import it: flowcept_lmdb._lineage imports this module, and module-level imports form no cycle).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

__all__ = ["Indexer"]

_listeners: dict[int, tuple[Indexer, ...]] = {}  # id(lineage sub-databases of an environment) -> its indexers
_listeners_lock = threading.Lock()
_locks: dict[int, threading.Lock] = {}  # id(lineage sub-databases) -> the lock of catch-ups in this process


def _catch_up_lock(lineage: dict[str, Any]) -> threading.Lock:
    lock = _locks.get(id(lineage))
    if lock is None:
        with _listeners_lock:
            lock = _locks.setdefault(id(lineage), threading.Lock())
    return lock


class Indexer:
    """Brings a store's value index up to date in a daemon thread while no task is being written.

    ``start()`` / ``stop()`` are called by the store (open / close). ``written()`` is called for each upsert of
    tasks in this process (from note_written): it marks the time and wakes the thread, which waits until IDLE_S
    seconds passed without a write, then catches up in steps (sized so that a step's write transaction takes about
    BACKGROUND_HOLD_S, more as the idle period goes on), yielding after each and giving up at the next write (it
    comes back after the next idle period). Errors are not raised: the query path catches up whatever is left.
    ``steps`` counts the steps done and ``idle`` is set while nothing is left to index (for tests and benchmarks).
    """

    def __init__(self, store: Any, idle_s: float | None = None, step: int | None = None) -> None:
        from flowcept_lmdb import _lineage  # its settings are read when used (tests and benchmarks change them)

        self._store = store
        self.idle_s = _lineage.IDLE_S if idle_s is None else idle_s
        self.step = _lineage.BACKGROUND_STEP if step is None else step
        self.max_step = max(self.step, _lineage.BACKGROUND_MAX_STEP)
        self._wake = threading.Event()
        self._stopping = False
        self._last_write = time.monotonic()
        self._writes = 0
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._key: int | None = None
        self.steps = 0
        self.idle = threading.Event()  # set while the thread waits with nothing left to index (for tests)

    def start(self) -> None:
        lineage = self._store._env().lineage
        self._key = id(lineage)
        with _listeners_lock:
            _listeners[self._key] = (*_listeners.get(self._key, ()), self)

    def _spawn(self) -> None:
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="flowcept-lmdb-lineage", daemon=True)
        self._thread.start()

    def written(self) -> None:
        self._last_write = time.monotonic()
        self._writes += 1
        self.idle.clear()
        if self._pid != os.getpid() and not self._stopping:  # the first write here (or after fork): no thread yet
            self._spawn()
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread (it finishes the step it is in: tens of ms); idempotent."""
        self._stopping = True
        self._wake.set()
        if self._key is not None:
            with _listeners_lock:
                left = tuple(i for i in _listeners.get(self._key, ()) if i is not self)
                if left:
                    _listeners[self._key] = left
                else:
                    _listeners.pop(self._key, None)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._wake.wait()
                self._wake.clear()
                while not self._stopping:  # until no write for idle_s seconds
                    quiet = time.monotonic() - self._last_write
                    if quiet >= self.idle_s:
                        break
                    self._wake.wait(self.idle_s - quiet)
                    self._wake.clear()
                if not self._stopping:
                    self._catch_up()
        except Exception:  # the store closed under the thread, or failed: the query path catches up instead
            return

    def _catch_up(self) -> None:
        from flowcept_lmdb import _lineage

        store = self._store
        behind = _lineage._behind_of(store)
        # written() is called inside the writer's transaction: a write noted just now may not be committed yet
        while not store._read(behind):
            if self._stopping or time.monotonic() - self._last_write > self.idle_s + _lineage._COMMIT_S:
                self.idle.set()
                return
            time.sleep(0.02)
        lock = _catch_up_lock(store._env().lineage)
        step = self.step
        held: list[float] = []
        while not self._stopping:
            writes = self._writes
            if not lock.acquire(blocking=False):
                return  # a query is catching up
            try:
                more = _lineage.catch_up_step(store, step, held)
            finally:
                lock.release()
            self.steps += 1
            if not more:
                self.idle.set()
                return
            if self._writes != writes:
                self._wake.set()  # written meanwhile: wait for the next idle period
                return
            time.sleep(0)  # give way to the threads that capture and store
            quiet = time.monotonic() - self._last_write
            hold_s = _lineage.BACKGROUND_HOLD_S
            target = min(hold_s * (1 + quiet / 2), max(_lineage.BACKGROUND_MAX_HOLD_S, hold_s))
            if held and held[-1] < target / 2:  # larger steps write fewer index pages per task
                step = min(step * 2, self.max_step)
            elif held and held[-1] > target * 2:
                step = max(step // 2, min(self.step, 100))
