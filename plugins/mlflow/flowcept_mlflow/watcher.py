"""TrackingWatcher: a thread that notices commits to the tracking database and sends what they changed.

Noticing a commit costs one ``PRAGMA data_version`` on a connection held open (SQLite changes the number whenever
another connection commits) and one ``stat`` of the file (to see it replaced), every ``watch_interval_sec``; nothing
else runs while MLflow is idle. On a change, TrackingDB reads only the rows added since the marks, and run_updates
turns them into task messages.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from flowcept_mlflow.config import MlflowConfig
from flowcept_mlflow.runs import run_updates
from flowcept_mlflow.state import CaptureState
from flowcept_mlflow.tracking_db import OPEN_STATUSES, TrackingDB

__all__ = ["TrackingWatcher"]

_JOIN_TIMEOUT = 30.0
# Runs are updated in place (a status set after the run ended, a rename, a deletion): seeing that means reading the
# whole runs table (about 20 ms per 10,000 runs), done at most this often while MLflow commits, and at start and stop.
RUNS_CHECK_SECS = 1.0


class TrackingWatcher:
    """Watches config.db_path from start() to stop(). ``emit(fields)`` sends one task (Emitter.emit_task);
    ``ids()`` returns the (workflow_id, campaign_id) a newly seen run belongs to."""

    def __init__(self, config: MlflowConfig, emit: Callable[..., Any], ids: Callable[[], tuple[str, str | None]]):
        self.config = config
        self._emit = emit
        self._ids = ids
        self._db = TrackingDB(config.db_path)
        self.state = CaptureState(config.state_path, config.db_path)
        self._open: set[str] = set()
        self._version: int | None = None
        self._skip_existing = False
        self._last_error: str | None = None
        self._runs_checked = -RUNS_CHECK_SECS  # when the runs table was last compared with what was sent
        self._runs_due: float | None = None  # a change came before that comparison was due: compare then
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load what earlier runs captured, then watch in a daemon thread (its first read comes at once)."""
        self.state.load()
        self._skip_existing = not self.config.capture_existing_runs and not self.state.loaded
        self._open = {run_id for run_id, rec in self.state.runs.items() if rec[2] in OPEN_STATUSES}
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="flowcept-mlflow-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, read what was committed up to now, save the state, close the database."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(_JOIN_TIMEOUT)
            if thread.is_alive():
                from flowcept_core.plugin import get_logger

                get_logger().error(f"mlflow interceptor: the watcher of {self.config.db_path} did not stop within "
                                   f"{_JOIN_TIMEOUT:.0f} s; its state is not saved")
                return
        self.poll(force=True)
        if self.state.inode is not None:  # a database was read (no state file beside one that never existed)
            self.state.save()
        self._db.close()

    def _loop(self) -> None:
        self.poll(force=True)
        while not self._stop.wait(self.config.interval):
            self.poll()

    def poll(self, force: bool = False) -> bool:
        """Read and send what changed when the database changed (or when force); True when it read. Never raises:
        an error is logged (once while it repeats) and the connection is opened again at the next poll."""
        db = self._db
        try:
            if not db.is_open or db.replaced():
                if not db.open():
                    return False  # no database yet: MLflow creates it on first use
                self.state.database_changed(db.inode)
                force = True
            version = db.data_version()
            now = time.monotonic()
            if version == self._version and not force and (self._runs_due is None or now < self._runs_due):
                return False
            self._version = version
            if not db.ready():
                return False  # tables not created yet; creating them is a commit, so the next poll reads again
            check_runs = force or now - self._runs_checked >= RUNS_CHECK_SECS
            self._runs_due = None if check_runs else self._runs_checked + RUNS_CHECK_SECS
            self._scan(db, check_runs)
            if check_runs:
                self._runs_checked = now
            self._last_error = None
            return True
        except (sqlite3.Error, OSError) as e:
            self._report(f"mlflow interceptor could not read {self.config.db_path}: {type(e).__name__}: {e}")
        except Exception as e:  # never let the watcher die: the user's training goes on either way
            self._report(f"mlflow interceptor failed while reading {self.config.db_path}: {type(e).__name__}: {e}")
        db.close()
        self._version = None
        self._runs_due = None
        return False

    def _scan(self, db: TrackingDB, check_runs: bool) -> None:
        state = self.state
        if state.marks and any(state.marks.get(t, 0) > m for t, m in db.max_marks().items()):
            state.marks = {}  # rows the marks point past are gone: another database at the same path
        if self._skip_existing:
            state.marks = db.max_marks()
            self._skip_existing = False
            return
        changes = db.read_changes(state.marks, sorted(self._open), self.config.params, self.config.metrics,
                                  self.config.metric_history, state.runs if check_runs else None)
        self._open.intersection_update(changes.runs)  # an open run no longer in the database is not read again
        workflow_id, campaign_id = self._ids()
        for run_id, fields, record in run_updates(changes, state, workflow_id, campaign_id):
            try:
                self._emit(**fields)
            except Exception as e:
                self._report(f"mlflow interceptor could not record run {run_id}: {type(e).__name__}: {e}")
                continue
            state.runs[run_id] = record
            if record[2] in OPEN_STATUSES:
                self._open.add(run_id)
            else:
                self._open.discard(run_id)
        state.marks = changes.marks

    def _report(self, text: str) -> None:
        if text != self._last_error:
            from flowcept_core.plugin import get_logger

            get_logger().error(text)
            self._last_error = text
