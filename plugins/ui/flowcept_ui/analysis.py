"""A workflow's tasks as columns, and what the workflow page shows computed from them.

``Columns`` keeps, per task, only what the page needs (id, activity, status, start, end, parent, error message,
telemetry reference, numeric generated values), one row per task in the order the tasks were read; new or changed
tasks are added without reading the others again (the live view). ``Columns.figures(resolve)`` computes counts by
status and activity, duration statistics per activity (on every task), a timeline (Gantt) of at most a few thousand
bars chosen exactly per time bucket and lane, CPU / memory / GPU over time from the telemetry of tasks evenly chosen
in start order (each distinct snapshot resolved once), the errors with their messages and metric trends (a numeric
generated value an activity produces again and again, e.g. loss per epoch). The per-task work runs in C loops
(``map``, ``zip``, ``sorted``, ``Counter``) wherever it can.

``analyze(tasks)`` is the one-call form over a list of task documents.
"""

from __future__ import annotations

import bisect
import operator
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import chain, compress, repeat
from typing import Any

from flowcept_core.plugin import Status

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

_ERROR, _UNKNOWN = Status.ERROR.value, Status.UNKNOWN.value
FINAL_STATUSES = frozenset({Status.FINISHED.value, Status.ERROR.value})  # a task in one is not read again

TIMELINE_MAX = 400  # a workflow with at most this many timed tasks shows every bar
TIMELINE_BUCKETS = 1200  # otherwise: time buckets shared among the lanes (activities); per lane and bucket the bars
# with the earliest start, the latest end and the first error are kept (so every drawn pixel column is covered)
SERIES_MAX = 300  # points per telemetry or metric series
ERRORS_MAX = 50
TRENDS_MAX = 8
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
_ABSENT = object()
_NUM = (int, float)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _every(items: list, most: int) -> list:
    """At most ``most`` items, evenly spaced, first and last kept."""
    n = len(items)
    if n <= most:
        return items
    step = (n - 1) / (most - 1)
    return [items[round(i * step)] for i in range(most)]


def _numbers(values: list) -> list:
    """values with everything but int and float (bool, None, str, ...) as None; values itself when all are."""
    kinds = set(map(type, values))
    if kinds <= {float, int}:
        return values
    return [v if type(v) is float or type(v) is int else None for v in values]


def _gpu_percent(tel: dict) -> float | None:
    gpu = tel.get("gpu")
    if isinstance(gpu, dict):
        values = []
        for dev in gpu.values() if not _number(gpu.get("used")) else [gpu]:
            if isinstance(dev, dict):
                for key in ("gpu_utilization", "utilization", "used"):
                    v = dev.get(key)
                    if isinstance(v, dict):
                        v = v.get("gpu")
                    if _number(v):
                        values.append(float(v))
                        break
        return sum(values) / len(values) if values else None
    return None


def telemetry_point(tel: Any, ended_at: Any) -> list | None:
    """[timestamp, cpu %, memory %, GPU %] of a telemetry snapshot (None when it has none of them)."""
    if not isinstance(tel, dict):
        return None
    when = tel.get("timestamp", ended_at)
    if not _number(when):
        return None
    cpu = tel.get("cpu") if isinstance(tel.get("cpu"), dict) else {}
    mem = tel.get("memory") if isinstance(tel.get("memory"), dict) else {}
    virtual = mem.get("virtual") if isinstance(mem.get("virtual"), dict) else {}
    cpu_pct, mem_pct = cpu.get("percent_all"), virtual.get("percent")
    point = [when, cpu_pct if _number(cpu_pct) else None, mem_pct if _number(mem_pct) else None, _gpu_percent(tel)]
    return point if any(v is not None for v in point[1:]) else None


def _duration_stats(durations: list[float]) -> dict:
    """Statistics of durations, which are sorted."""
    if not durations:
        return {"min": None, "mean": None, "median": None, "max": None, "total": 0.0}
    n = len(durations)
    mid = durations[n // 2] if n % 2 else (durations[n // 2 - 1] + durations[n // 2]) / 2
    total = sum(durations)
    return {"min": durations[0], "mean": total / n, "median": mid, "max": durations[-1], "total": total}


def _first(pair: tuple) -> Any:
    return pair[0]


class Columns:
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
        self.generation = ""  # names this set of rows (the live view asks for rows after a position in it)
        self._orders: dict = {}

    def __len__(self) -> int:
        return len(self.ids)

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

    def add(self, docs: list[dict]) -> int:
        """Add the tasks (a task already held is replaced); returns how many rows were appended."""
        if not docs:
            return 0
        get = dict.get
        ids = list(map(get, docs, repeat("task_id")))
        fresh = not self.ids or self.row.keys().isdisjoint(ids)
        if fresh and len(set(ids)) == len(ids):
            self.ids += ids
            self.acts += map(get, docs, repeat("activity_id"))
            self.statuses += map(get, docs, repeat("status"))
            self.starts += map(get, docs, repeat("started_at"))
            self.ends += map(get, docs, repeat("ended_at"))
            self.parents += map(get, docs, repeat("parent_task_id"))
            self.tels += map(get, docs, repeat("telemetry_at_end"), repeat(_ABSENT))
            self.gens += map(get, docs, repeat("generated"))
            self.stderrs += map(get, docs, repeat("stderr"))
            return len(ids)
        appended = 0
        for doc in docs:
            tid = doc.get("task_id")
            i = self.row.get(tid)
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
        return appended

    # -- figures -----------------------------------------------------------------------------------------------------

    def figures(self, resolve: Callable[[list], dict] | None = None) -> dict:
        """The workflow page's figures (JSON-ready).

        resolve(references) -> {reference: snapshot}: the snapshots of the telemetry references drawn."""
        n = len(self.ids)
        acts = self.acts if all(self.acts) else [a or "(none)" for a in self.acts]
        statuses = self.statuses if all(self.statuses) else [s or _UNKNOWN for s in self.statuses]
        starts, ends = _numbers(self.starts), _numbers(self.ends)
        pairs = Counter(zip(acts, statuses, strict=True))
        by_status: Counter = Counter()
        counts: Counter = Counter()
        for (act, status), c in pairs.items():
            by_status[status] += c
            counts[act] += c
        # durations: end - start where both are numbers and end >= start
        if None not in starts and None not in ends:
            durs: list = list(map(operator.sub, ends, starts))
        else:
            durs = [e - s if s is not None and e is not None else None for s, e in zip(starts, ends, strict=True)]
        activities = []
        for act, count in counts.items():
            chosen = durs if len(counts) == 1 else compress(durs, map(operator.eq, acts, repeat(act)))
            ds = sorted(d for d in chosen if d is not None) if None in durs else sorted(chosen)
            ds = ds[bisect.bisect_left(ds, 0) :]
            by = {s: c for (a, s), c in pairs.items() if a == act}
            activities.append(
                {
                    "activity_id": act,
                    "count": count,
                    "by_status": dict(sorted(by.items())),
                    "duration": _duration_stats(ds),
                }
            )
        activities.sort(key=lambda a: (-a["count"], str(a["activity_id"])))
        # rows with a start, in start order (ties in row order)
        timed = range(n) if None not in starts else [i for i in range(n) if starts[i] is not None]
        order = sorted(timed, key=starts.__getitem__)
        numeric_ends = [e for e in ends if e is not None] if None in ends else ends
        last = max(numeric_ends) if numeric_ends else None
        first = starts[order[0]] if order else None
        errors = []
        at = -1
        while len(errors) < ERRORS_MAX:
            try:
                at = statuses.index(_ERROR, at + 1)
            except ValueError:
                break
            errors.append(
                {
                    "task_id": self.ids[at],
                    "activity_id": acts[at],
                    "started_at": self.starts[at],
                    "message": self.stderrs[at] or "(no message recorded)",
                }
            )
        return {
            "task_count": n,
            "by_status": dict(sorted(by_status.items())),
            "activities": activities,
            "first_started_at": first,
            "last_ended_at": last,
            "timeline": self._timeline(order, acts, statuses, starts, ends),
            "telemetry": self._telemetry(order, resolve),
            "errors": errors,
            "error_count": by_status.get(_ERROR, 0),
            "trends": self._trends(acts, order),
            "seq": n,
        }

    def _timeline(self, order: list, acts: list, statuses: list, starts: list, ends: list) -> dict:
        """Every bar when there are at most TIMELINE_MAX, else per lane and time bucket the bars with the earliest
        start, the latest end and the first error (in start order)."""
        if len(order) <= TIMELINE_MAX:
            rows = order
        else:
            t0, t1 = starts[order[0]], starts[order[-1]]
            lanes = {a: k for k, a in enumerate(dict.fromkeys(acts))}
            per_lane = max(8, TIMELINE_BUCKETS // len(lanes))
            scale = (per_lane - 1) / (t1 - t0) if t1 > t0 else 0.0
            lane_of = map(lanes.__getitem__, map(acts.__getitem__, order))
            bucket_of = map(
                int, map(operator.mul, map(operator.sub, map(starts.__getitem__, order), repeat(t0)), repeat(scale))
            )
            keys = list(map(operator.add, map(operator.mul, lane_of, repeat(per_lane)), bucket_of))
            # per (lane, bucket): the earliest start (the first in start order), the latest end, the first error
            picked = set(dict(zip(reversed(keys), reversed(order), strict=True)).values())
            key_of = dict(zip(order, keys, strict=True))
            by_end = sorted(
                order if None not in ends else [i for i in order if ends[i] is not None], key=ends.__getitem__
            )
            picked.update(dict(zip(map(key_of.__getitem__, by_end), by_end, strict=True)).values())
            failed = [i for i in order if statuses[i] == _ERROR] if _ERROR in statuses else []
            failed.reverse()
            picked.update(dict(zip(map(key_of.__getitem__, failed), failed, strict=True)).values())
            rows = sorted(picked, key=lambda i: (starts[i], i))
        bars = [
            {
                "task_id": self.ids[i],
                "activity_id": acts[i],
                "status": self.statuses[i],
                "started_at": starts[i],
                "ended_at": ends[i],
                "parent_task_id": self.parents[i],
            }
            for i in rows
        ]
        return {"shown": len(bars), "of": len(order), "bars": bars}

    def _telemetry(self, order: list, resolve: Callable[[list], dict] | None) -> dict:
        """CPU / memory / GPU of tasks evenly chosen in start order; one point per distinct sample."""
        rows = _every(order, SERIES_MAX * 4)
        tels = [self.tels[i] for i in rows]
        refs = {}
        if self.tel_ref is not None:
            refs = {i: r for i, t in zip(rows, tels, strict=True) if (r := self.tel_ref(t)) is not None}
        snaps = resolve(list(set(refs.values()))) if refs and resolve is not None else {}
        points = []
        for i, t in zip(rows, tels, strict=True):
            if i in refs:
                t = snaps.get(refs[i])
            p = telemetry_point(t, self.ends[i])
            if p is not None:
                points.append(p)
        points.sort(key=_first)
        points = [pt for k, pt in enumerate(points) if k == 0 or pt[0] != points[k - 1][0]]
        with_telemetry = len(self.tels) - self.tels.count(_ABSENT)
        return {
            "fields": ["timestamp", "cpu_percent", "memory_percent", "gpu_percent"],
            "points": _every(points, SERIES_MAX),
            "of": with_telemetry,
        }  # of: tasks with telemetry

    def _trends(self, acts: list, order: list) -> list[dict]:
        """Series of numeric generated values an activity produced at least twice, in start order (tasks with no
        start last; x: 1, 2, ...); at most SERIES_MAX points each, evenly chosen."""
        if not any(self.gens):
            return []
        if len(order) < len(self.ids):
            timed = set(order)
            order = order + [i for i in range(len(self.ids)) if i not in timed]
        gens = list(map(self.gens.__getitem__, order))
        acts_o = list(map(acts.__getitem__, order))
        single = len(set(acts_o)) == 1
        plain = set(map(type, gens)) <= {dict, type(None)}
        out = []
        for act in dict.fromkeys(acts_o):
            chosen = gens if single else compress(gens, map(operator.eq, acts_o, repeat(act)))
            dicts = list(filter(None, chosen)) if plain else [g for g in chosen if type(g) is dict and g]
            for name, seen in Counter(chain.from_iterable(dicts)).items():
                if seen < 2:
                    continue
                values = (
                    list(map(dict.get, dicts, repeat(name)))
                    if seen == len(dicts)
                    else [g[name] for g in dicts if name in g]
                )
                kinds = set(map(type, values))
                if not kinds <= {float, int}:
                    values = [v for v in values if type(v) is float or type(v) is int]
                n = len(values)
                if n < 2:
                    continue
                picks = (
                    range(n) if n <= SERIES_MAX else [round(k * (n - 1) / (SERIES_MAX - 1)) for k in range(SERIES_MAX)]
                )
                out.append(
                    {
                        "activity_id": act,
                        "name": name,
                        "x": "occurrence",
                        "count": n,
                        "points": [[k + 1, values[k]] for k in picks],
                    }
                )
        out.sort(key=lambda t: (-t["count"], str(t["activity_id"]), str(t["name"])))
        return out[:TRENDS_MAX]

    def rows_since(self, seq: int, most: int) -> range:
        """Rows appended after the first seq (the live view's new tasks), at most ``most``."""
        return range(max(0, seq), min(len(self.ids), max(0, seq) + most))

    def id_order(self) -> list[int] | range:
        """Rows in task id order (kept until rows are appended)."""
        n = len(self.ids)
        kept = self._orders.get("id")
        if kept is None or kept[0] != n:
            ids = self.ids
            if set(map(type, ids)) == {str}:
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
