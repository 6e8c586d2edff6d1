"""TrackingDB: read-only access to an MLflow SQLite tracking database, reading only what changed.

MLflow's tables only grow by inserts for ``runs``, ``params``, ``metrics`` and new ``tags`` (a run's status, end
time and an overwritten tag are updated in place). So the watcher keeps, per table, the largest SQLite rowid it has
read (``marks``) and asks for rows above it. Runs still RUNNING or SCHEDULED are read again on every change, so
their status, end time and overwritten tags are seen; a run that already ended is read again when its status, end
time, lifecycle stage or name differs from what was sent (a tag overwritten in place on an ended run is the one
change not seen). Every query is parameterized; one read transaction gives a consistent snapshot of all tables.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.request import pathname2url

from flowcept_mlflow.config import NameFilter

__all__ = ["TrackingDB", "RunRow", "Changes", "MARK_TABLES", "OPEN_STATUSES"]

MARK_TABLES = ("runs", "params", "tags", "metrics")
_NEEDED = frozenset({*MARK_TABLES, "experiments", "latest_metrics"})
OPEN_STATUSES = frozenset({"RUNNING", "SCHEDULED"})
_CHUNK = 500  # ids per IN (...) list: below SQLite's smallest variable limit (999)

_RUN_COLUMNS = ("SELECT r.run_uuid, r.name, r.user_id, r.status, r.start_time, r.end_time, r.lifecycle_stage, "
                "r.artifact_uri, r.experiment_id, e.name FROM runs r LEFT JOIN experiments e "
                "ON e.experiment_id = r.experiment_id WHERE r.run_uuid IN ")


@dataclass(frozen=True)
class RunRow:
    """One row of ``runs`` with its experiment's name; times are MLflow's milliseconds since the epoch."""

    run_id: str
    name: str | None
    user_id: str | None
    status: str | None
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str | None
    artifact_uri: str | None
    experiment_id: Any
    experiment_name: str | None


@dataclass
class Changes:
    """What one read found: every touched run, the full tags of each, its new params and its changed metrics (latest
    value as a number, or the history as a list of {step, timestamp, value} when asked), and the new marks."""

    runs: dict[str, RunRow] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)


def _metric_value(value: Any, is_nan: Any) -> float:
    return float("nan") if is_nan else float(value)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _in_list(n: int) -> str:
    """``(?,?,...)`` with n placeholders: only the count is formatted into SQL, never a value."""
    return "(" + ",".join("?" * n) + ")"


class TrackingDB:
    """A read-only connection to the tracking database at path, held open between reads (not thread-safe: one
    watcher thread uses it)."""

    def __init__(self, path: str):
        self.path = path
        self.inode: int | None = None
        self._conn: sqlite3.Connection | None = None
        self._ready = False

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def open(self) -> bool:
        """Open the database read-only; False when the file does not exist (yet)."""
        self.close()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        uri = f"file:{pathname2url(self.path)}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
        self.inode = st.st_ino
        self._ready = False
        return True

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def replaced(self) -> bool:
        """True when the file at path is gone or is another file than the one open (deleted and created again)."""
        try:
            return os.stat(self.path).st_ino != self.inode
        except FileNotFoundError:
            return True

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: changes whenever another connection commits to the database."""
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def ready(self) -> bool:
        """True once MLflow has created its tables (an empty or new file has none)."""
        if not self._ready:
            names = {row[0] for row in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN " + _in_list(len(_NEEDED)),
                tuple(sorted(_NEEDED)))}
            self._ready = names >= _NEEDED
        return self._ready

    def max_marks(self) -> dict[str, int]:
        """The largest rowid of each marked table now (a start that skips the runs already there)."""
        return {table: self._conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}").fetchone()[0]
                for table in MARK_TABLES}  # table names are this module's constants

    def read_changes(self, marks: dict[str, int], open_runs: Iterable[str], params: NameFilter,
                     metrics: NameFilter, history: bool, sent: dict[str, list] | None = None) -> Changes:
        """Everything added above marks, plus the open runs again, in one consistent snapshot.

        sent: when given, ``{run_id: RunRecord}`` of the runs already sent; every run whose status, end time,
        lifecycle stage or name differs from its record is read again too (runs are updated in place: a finished
        run set to FAILED, deleted, renamed or resumed). That reads the whole runs table, so the watcher asks for it
        at most about once a second.
        """
        conn = self._conn
        out = Changes(marks=dict(marks))
        conn.execute("BEGIN")
        try:
            touched: dict[str, None] = dict.fromkeys(self._changed_in_place(marks, sent) if sent else ())
            for (run_id,) in self._rows_above("runs", "run_uuid", out.marks):
                touched[run_id] = None
            touched.update(dict.fromkeys(open_runs))
            for run_id, key, value in self._rows_above("params", "run_uuid, key, value", out.marks):
                touched[run_id] = None
                if params.keeps(key):
                    out.params.setdefault(run_id, {})[key] = value
            for (run_id,) in self._rows_above("tags", "run_uuid", out.marks):
                touched[run_id] = None
            changed_metrics: dict[str, set[str]] = {}
            for run_id, key in self._rows_above("metrics", "run_uuid, key", out.marks):
                touched[run_id] = None
                if metrics.keeps(key):
                    changed_metrics.setdefault(run_id, set()).add(key)
            self._read_runs(list(touched), out)
            for run_id, keys in changed_metrics.items():
                out.metrics[run_id] = self._read_metrics(run_id, sorted(keys), history)
        finally:
            conn.execute("COMMIT")
        return out

    def _rows_above(self, table: str, columns: str, marks: dict[str, int]) -> Iterator[tuple]:
        """The rows of table added after marks[table] (columns, without the rowid); advances marks[table] to the
        largest rowid read. table and columns are this module's constants, the mark a parameter."""
        mark = marks.get(table, 0)
        for rowid, *row in self._conn.execute(f"SELECT rowid, {columns} FROM {table} WHERE rowid > ?", (mark,)):
            mark = max(mark, rowid)
            yield row
        marks[table] = mark

    def _changed_in_place(self, marks: dict[str, int], sent: dict[str, list]) -> Iterator[str]:
        """Runs already sent whose status, end time, lifecycle stage or name now differ from their record."""
        for run_id, *now in self._conn.execute("SELECT run_uuid, status, end_time, lifecycle_stage, name FROM runs "
                                               "WHERE rowid <= ?", (marks.get("runs", 0),)):
            record = sent.get(run_id)
            if record is not None and [record[2], record[3], *record[5:7]] != now:
                yield run_id

    def _read_runs(self, run_ids: list[str], out: Changes) -> None:
        conn = self._conn
        for chunk in _chunks(run_ids):
            for row in conn.execute(_RUN_COLUMNS + _in_list(len(chunk)), chunk):
                out.runs[row[0]] = RunRow(*row)
            for run_id, key, value in conn.execute(
                    "SELECT run_uuid, key, value FROM tags WHERE run_uuid IN " + _in_list(len(chunk)), chunk):
                out.tags.setdefault(run_id, {})[key] = value

    def _read_metrics(self, run_id: str, keys: list[str], history: bool) -> dict[str, Any]:
        """The latest value of each key (MLflow's own latest_metrics: highest step, then newest), or its history in
        step order."""
        got: dict[str, Any] = {}
        for chunk in _chunks(keys):
            where = "WHERE run_uuid = ? AND key IN " + _in_list(len(chunk))
            if history:
                rows = self._conn.execute("SELECT key, value, is_nan, step, timestamp FROM metrics " + where
                                          + " ORDER BY step, timestamp, rowid", (run_id, *chunk))
                for key, value, is_nan, step, ts in rows:
                    got.setdefault(key, []).append({"step": step, "timestamp": ts / 1000.0,
                                                    "value": _metric_value(value, is_nan)})
            else:
                rows = self._conn.execute("SELECT key, value, is_nan FROM latest_metrics " + where, (run_id, *chunk))
                for key, value, is_nan in rows:
                    got[key] = _metric_value(value, is_nan)
        return got
