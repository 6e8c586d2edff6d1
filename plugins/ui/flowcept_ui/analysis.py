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
from itertools import chain, repeat
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
        self.last_chunk = -1  # the last index chunk read (LMDB): new keys are listed there or after
        self.id_sorted = -1  # the number of rows when the caller knew them in id order (LMDB's first read)
        self.generation = ""  # names this set of rows (the live view asks for rows after a position in it)
        self._orders: dict = {}

    def __len__(self) -> int:
        return len(self.ids)

    def copy(self) -> Columns:
        """The rows as they are now (list copies: a few ms for 100k), to compute figures from while rows are added."""
        other = Columns(self.tel_ref)
        for name in ("ids", "acts", "statuses", "starts", "ends", "parents", "tels", "gens", "stderrs"):
            setattr(other, name, getattr(self, name)[:])
        other.generation, other.id_sorted = self.generation, self.id_sorted
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

    def _optional(self, docs: list[dict]) -> None:
        get = dict.get
        self.parents += map(get, docs, repeat("parent_task_id"))
        self.tels += map(get, docs, repeat("telemetry_at_end"), repeat(_ABSENT))
        self.gens += map(get, docs, repeat("generated"))
        self.stderrs += map(get, docs, repeat("stderr"))

    # -- figures -----------------------------------------------------------------------------------------------------

    def figures(self, resolve: Callable[[list], dict] | None = None) -> dict:
        """The workflow page's figures (JSON-ready).

        resolve(references) -> {reference: snapshot}: the snapshots of the telemetry references drawn."""
        n = len(self.ids)
        acts = self.acts if all(self.acts) else [a or "(none)" for a in self.acts]
        statuses = self.statuses if all(self.statuses) else [s or _UNKNOWN for s in self.statuses]
        starts, ends = _numbers(self.starts), _numbers(self.ends)
        # rows with a start, in start order (ties in row order); then per activity: all its rows in that order,
        # those with no start last
        timed = range(n) if None not in starts else [i for i in range(n) if starts[i] is not None]
        order = list(timed) if all(map(operator.le, starts, starts[1:])) else sorted(timed, key=starts.__getitem__)
        if len(order) < n:
            have = set(order)
            everything = order + [i for i in range(n) if i not in have]
        else:
            everything = order
        groups = _groups(acts, everything)
        # durations: end - start where both are numbers and end >= start
        if None not in starts and None not in ends:
            durs: list = list(map(operator.sub, ends, starts))
        else:
            durs = [e - s if s is not None and e is not None else None for s, e in zip(starts, ends, strict=True)]
        activities = []
        by_status: Counter = Counter()
        for act, rows in groups.items():
            chosen = map(durs.__getitem__, rows)
            ds = sorted(d for d in chosen if d is not None) if None in durs else sorted(chosen)
            ds = ds[bisect.bisect_left(ds, 0) :]
            sts = list(map(statuses.__getitem__, rows))
            by = {st: sts.count(st) for st in set(sts)}
            by_status.update(by)
            activities.append(
                {
                    "activity_id": act,
                    "count": len(rows),
                    "by_status": dict(sorted(by.items())),
                    "duration": _duration_stats(ds),
                }
            )
        activities.sort(key=lambda a: (-a["count"], str(a["activity_id"])))
        numeric_ends = [e for e in ends if e is not None] if None in ends else ends
        last = max(numeric_ends) if numeric_ends else None
        first = starts[order[0]] if order else None
        errors = self._errors(acts, statuses, starts)
        return {
            "task_count": n,
            "by_status": dict(sorted(by_status.items())),
            "activities": activities,
            "first_started_at": first,
            "last_ended_at": last,
            "timeline": self._timeline(order, groups, statuses, starts, ends),
            "telemetry": self._telemetry(order, resolve),
            "errors": errors,
            "error_count": by_status.get(_ERROR, 0),
            "trends": self._trends(groups),
            "seq": n,
        }

    def light_figures(self, previous: dict) -> dict:
        """previous (figures of fewer rows) with the counts by status and activity, errors and bounds of all rows;
        durations, timeline, telemetry and trends are previous' (an activity new since then gets its durations),
        and "stale" says so."""
        n = len(self.ids)
        acts = self.acts if all(self.acts) else [a or "(none)" for a in self.acts]
        statuses = self.statuses if all(self.statuses) else [s or _UNKNOWN for s in self.statuses]
        starts, ends = _numbers(self.starts), _numbers(self.ends)
        pairs = Counter(zip(acts, statuses, strict=True))
        by_act: dict[Any, dict] = {}
        by_status: Counter = Counter()
        for (act, status), c in pairs.items():
            by_act.setdefault(act, {})[status] = c
            by_status[status] += c
        before = {a["activity_id"]: a["duration"] for a in previous["activities"]}
        activities = []
        for act, by in by_act.items():
            duration = before.get(act)
            if duration is None:
                ds = [
                    e - s
                    for a, s, e in zip(acts, starts, ends, strict=True)
                    if a == act and s is not None and e is not None and e >= s
                ]
                duration = _duration_stats(sorted(ds))
            activities.append(
                {
                    "activity_id": act,
                    "count": sum(by.values()),
                    "by_status": dict(sorted(by.items())),
                    "duration": duration,
                }
            )
        activities.sort(key=lambda a: (-a["count"], str(a["activity_id"])))
        timed = [s for s in starts if s is not None] if None in starts else starts
        numeric_ends = [e for e in ends if e is not None] if None in ends else ends
        return {
            **previous,
            "task_count": n,
            "by_status": dict(sorted(by_status.items())),
            "activities": activities,
            "first_started_at": min(timed) if timed else None,
            "last_ended_at": max(numeric_ends) if numeric_ends else None,
            "errors": self._errors(acts, statuses, starts),
            "error_count": by_status.get(_ERROR, 0),
            "seq": n,
            "stale": True,
        }

    def _errors(self, acts: list, statuses: list, starts: list) -> list[dict]:
        """The first ERRORS_MAX errors in start order (no start last)."""
        failed, at = [], -1
        while True:
            try:
                at = statuses.index(_ERROR, at + 1)
            except ValueError:
                break
            failed.append(at)
        failed.sort(key=lambda i: (starts[i] is None, starts[i] or 0.0, i))
        return [
            {
                "task_id": self.ids[i],
                "activity_id": acts[i],
                "started_at": self.starts[i],
                "message": self.stderrs[i] or "(no message recorded)",
            }
            for i in failed[:ERRORS_MAX]
        ]

    def _timeline(self, order: list, groups: dict[Any, list[int]], statuses: list, starts: list, ends: list) -> dict:
        """Every bar when there are at most TIMELINE_MAX, else per lane (activity) and time bucket the bars with the
        earliest start, the latest end and the first error; bars in start order."""
        if len(order) <= TIMELINE_MAX:
            rows = order
        else:
            t0, t1 = starts[order[0]], starts[order[-1]]
            per_lane = max(8, TIMELINE_BUCKETS // len(groups))
            width = (t1 - t0) / per_lane
            edges = [t0 + j * width for j in range(1, per_lane)] if width > 0 else []
            picked: set[int] = set()
            for lane in groups.values():
                ss = list(map(starts.__getitem__, lane))  # ascending, no start last
                k = len(ss) - ss.count(None)
                if not k:
                    continue
                lane, ss = lane[:k], ss[:k]
                bounds = [0, *(bisect.bisect_left(ss, e, 0, k) for e in edges), k]
                es = list(map(ends.__getitem__, lane))
                if None in es:
                    es = [e if e is not None else float("-inf") for e in es]
                sts = list(map(statuses.__getitem__, lane))
                failed = _ERROR in sts
                for lo, hi in zip(bounds, bounds[1:], strict=False):
                    if lo == hi:
                        continue
                    picked.add(lane[lo])  # the earliest start
                    seg = es[lo:hi]
                    latest = max(seg)
                    if latest != float("-inf"):
                        picked.add(lane[lo + seg.index(latest)])
                    if failed and _ERROR in sts[lo:hi]:
                        picked.add(lane[sts.index(_ERROR, lo, hi)])
            rows = sorted(picked, key=lambda i: (starts[i], i))
        acts = self.acts
        bars = [
            {
                "task_id": self.ids[i],
                "activity_id": acts[i] or "(none)",
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

    def _trends(self, groups: dict[Any, list[int]]) -> list[dict]:
        """Series of numeric generated values an activity produced at least twice, in start order (tasks with no
        start last; x: 1, 2, ...); at most SERIES_MAX points each, evenly chosen."""
        if not any(self.gens):
            return []
        gens = self.gens
        plain = set(map(type, gens)) <= {dict, type(None)}
        out = []
        for act, rows in groups.items():
            chosen = map(gens.__getitem__, rows)
            dicts = list(filter(None, chosen)) if plain else [g for g in chosen if type(g) is dict and g]
            for name, seen in _key_counts(dicts).items():
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


def _groups(acts: list, rows: list[int]) -> dict[Any, list[int]]:
    """{activity: its rows, in the order of rows}, activities in order of first appearance in acts; rows holds
    every row once."""
    code = {a: i for i, a in enumerate(dict.fromkeys(acts))}
    if len(code) == 1:
        return {next(iter(code)): rows}
    codes = list(map(code.__getitem__, acts))
    sizes = Counter(codes) if len(code) > 16 else {i: codes.count(i) for i in code.values()}
    by_code = sorted(rows, key=codes.__getitem__)  # stable: each activity's rows keep their order
    out, at = {}, 0
    for act, i in code.items():
        out[act] = by_code[at : at + sizes[i]]
        at += sizes[i]
    return out


def _key_counts(dicts: list[dict]) -> dict:
    """How many of dicts hold each key; when a few dicts show every key (the usual case: an activity's outputs have
    the same names), counted by lookups in C instead of walking every dict."""
    sample = dicts[:: max(1, len(dicts) // 64)]
    names = dict.fromkeys(chain.from_iterable(sample))
    counts = {}
    for name in names:
        values = list(map(dict.get, dicts, repeat(name), repeat(_ABSENT)))
        counts[name] = len(values) - values.count(_ABSENT)
    if sum(counts.values()) == sum(map(len, dicts)):
        return counts
    return dict(Counter(chain.from_iterable(dicts)))


def analyze(tasks: Iterable[dict], resolve: Callable[[list], dict] | None = None) -> dict:
    """The workflow page's figures for these tasks (any order); JSON-ready."""
    cols = Columns()
    cols.add(list(tasks))
    return cols.figures(resolve)


def _id_key(row: tuple) -> str:
    return row[0] if isinstance(row[0], str) else ""
