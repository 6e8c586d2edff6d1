"""A workflow's tasks as columns, and what the workflow page shows computed from them.

``Columns`` keeps, per task, only what the page needs (id, activity, status, start, end, parent, error message,
telemetry reference, numeric generated values), one row per task in the order the tasks were read; new or changed
tasks are added without reading the others again (the live view). ``Columns.figures(resolve)`` computes counts by
status and activity, duration statistics per activity (on every task), a timeline (Gantt) of at most a few thousand
bars chosen exactly per time bucket and lane, and the errors with their messages (``flowcept_ui.figures``), CPU /
memory / GPU over time from the telemetry of tasks evenly chosen in start order (each distinct snapshot resolved
once) and metric trends (a numeric generated value an activity produces again and again, e.g. loss per epoch;
``flowcept_ui.series``). The per-task work runs in C loops (``map``, ``zip``, ``sorted``, ``Counter``) wherever it
can.

``analyze(tasks)`` is the one-call form over a list of task documents.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

from flowcept_core.plugin import Status
from flowcept_ui.figures import ERRORS_MAX, TIMELINE_BUCKETS, TIMELINE_MAX, Figures
from flowcept_ui.series import _ABSENT, SERIES_MAX

__all__ = [
    "analyze",
    "Columns",
    "TASK_FIELDS",
    "TIMELINE_MAX",
    "TIMELINE_BUCKETS",
    "SERIES_MAX",
    "ERRORS_MAX",
    "FINAL_STATUSES",
]

FINAL_STATUSES = frozenset({Status.FINISHED.value, Status.ERROR.value})  # a task in one is not read again

# the fields the analysis reads (a store that projects sends less)
TASK_FIELDS = [
    "task_id",
    "activity_id",
    "status",
    "started_at",
    "ended_at",
    "parent_task_id",
    "stderr",
    "generated",
    "telemetry_at_end",
]
_NUM = (int, float)


class Columns(Figures):
    """One row per task: the fields the workflow page needs, nothing else (a 100k-task workflow holds a few MB).

    ``tel_ref(value)``: the reference a store left in place of a telemetry snapshot (None: the value is the
    snapshot itself, or no telemetry); those are resolved by ``figures(resolve)`` for the few tasks drawn.
    """

    def __init__(self, tel_ref: Callable[[Any], Any] | None = None):
        self.tel_ref = tel_ref
        self.ids: list = []
        self.acts: list = []
        self.statuses: list = []
        self.starts: list = []
        self.ends: list = []
        self.parents: list = []
        self.tels: list = []  # telemetry_at_end (a snapshot, a reference, _ABSENT)
        self.gens: list = []  # generated (its numeric values make the trends)
        self.stderrs: list = []
        self._row: dict[Any, int] = {}  # task id -> row, built when first needed
        self.keys: set = set()  # the store keys read (LMDB), to read only new ones later
        self.last_chunk = -1  # the last index chunk read (LMDB): new keys are listed there or after
        self.id_sorted = -1  # the number of rows when the caller knew them in id order (LMDB's first read)
        self.generation = ""  # names this set of rows (the live view asks for rows after a position in it)
        self.revision = 0  # how many times rows already held changed (a task finished, failed, ...)
        self.changed: dict[int, int] = {}  # row -> the revision in which it last changed
        self._orders: dict = {}

    def __len__(self) -> int:
        return len(self.ids)

    def copy(self) -> Columns:
        """The rows as they are now (list copies: a few ms for 100k), to compute figures from while rows are added."""
        other = Columns(self.tel_ref)
        for name in ("ids", "acts", "statuses", "starts", "ends", "parents", "tels", "gens", "stderrs"):
            setattr(other, name, getattr(self, name)[:])
        other.generation, other.id_sorted, other.revision = self.generation, self.id_sorted, self.revision
        return other

    @property
    def row(self) -> dict[Any, int]:
        """Task id -> row."""
        if len(self._row) != len(self.ids):
            self._row = {tid: i for i, tid in enumerate(self.ids)}
        return self._row

    def unfinished(self) -> list:
        """Task ids of the rows whose status is not final (they may change: read them again with new tasks)."""
        return (
            [self.ids[i] for i, s in enumerate(self.statuses) if s not in FINAL_STATUSES]
            if not set(self.statuses) <= FINAL_STATUSES
            else []
        )

    def add(self, docs: list[dict], unique: bool = False) -> int:
        """Add the tasks (a task already held is replaced); returns how many rows were appended. unique: the
        caller knows the documents are new here and their ids distinct (skips checking)."""
        if not docs:
            return 0
        get = dict.get
        ids = list(map(get, docs, repeat("task_id")))
        if unique or ((not self.ids or self.row.keys().isdisjoint(ids)) and len(set(ids)) == len(ids)):
            self.ids += ids
            self.acts += map(get, docs, repeat("activity_id"))
            self.statuses += map(get, docs, repeat("status"))
            self.starts += map(get, docs, repeat("started_at"))
            self.ends += map(get, docs, repeat("ended_at"))
            self._optional(docs)
            return len(ids)
        appended, changed = 0, False
        for doc in docs:
            tid = doc.get("task_id")
            i = self.row.get(tid)
            if i is not None and (
                doc.get("status") != self.statuses[i]
                or doc.get("ended_at") != self.ends[i]
                or doc.get("stderr") != self.stderrs[i]
            ):
                self.changed[i] = self.revision + 1
                changed = True
            if i is None:
                i = self.row[tid] = len(self.ids)
                for col in (
                    self.ids,
                    self.acts,
                    self.statuses,
                    self.starts,
                    self.ends,
                    self.parents,
                    self.tels,
                    self.gens,
                    self.stderrs,
                ):
                    col.append(None)
                appended += 1
            self.ids[i] = tid
            self.acts[i], self.statuses[i] = doc.get("activity_id"), doc.get("status")
            self.starts[i], self.ends[i] = doc.get("started_at"), doc.get("ended_at")
            self.parents[i], self.tels[i] = doc.get("parent_task_id"), doc.get("telemetry_at_end", _ABSENT)
            self.gens[i], self.stderrs[i] = doc.get("generated"), doc.get("stderr")
        self.revision += changed
        return appended

    def _optional(self, docs: list[dict]) -> None:
        get = dict.get
        self.parents += map(get, docs, repeat("parent_task_id"))
        self.tels += map(get, docs, repeat("telemetry_at_end"), repeat(_ABSENT))
        self.gens += map(get, docs, repeat("generated"))
        self.stderrs += map(get, docs, repeat("stderr"))

    def changed_since(self, revision: int) -> list[int]:
        """Rows already held that changed after revision (in row order)."""
        return sorted(i for i, r in self.changed.items() if r > revision) if revision < self.revision else []

    def rows_since(self, seq: int, most: int) -> range:
        """Rows appended after the first seq (the live view's new tasks), at most ``most``."""
        return range(max(0, seq), min(len(self.ids), max(0, seq) + most))

    def id_order(self) -> list[int] | range:
        """Rows in task id order (kept until rows are appended)."""
        n = len(self.ids)
        kept = self._orders.get("id")
        if kept is None or kept[0] != n:
            ids = self.ids
            if self.id_sorted == n:
                rows = range(n)
            elif set(map(type, ids)) == {str}:
                rows = range(n) if all(map(operator.lt, ids, ids[1:])) else sorted(range(n), key=ids.__getitem__)
            else:
                rows = sorted(range(n), key=lambda i: ids[i] if isinstance(ids[i], str) else "")
            kept = self._orders["id"] = (n, rows)
        return kept[1]

    def start_order(self, rows: Any, direction: int) -> list[int]:
        """rows sorted by start as the stores sort (no start first; ties in id order), descending for -1; the
        result for all rows (id_order()) is kept until rows are appended."""
        n = len(self.ids)
        whole = rows is self.id_order()
        kept = self._orders.get(direction) if whole else None
        if kept is not None and kept[0] == n:
            return kept[1]
        starts = self.starts
        out = sorted(
            rows, key=lambda i: (1, starts[i]) if type(starts[i]) in _NUM else (-1, 0), reverse=direction == -1
        )
        if whole:
            self._orders[direction] = (n, out)
        return out


def analyze(tasks: Iterable[dict], resolve: Callable[[list], dict] | None = None) -> dict:
    """The workflow page's figures for these tasks (any order); JSON-ready."""
    cols = Columns()
    cols.add(list(tasks))
    return cols.figures(resolve)


def _id_key(row: tuple) -> str:
    return row[0] if isinstance(row[0], str) else ""
