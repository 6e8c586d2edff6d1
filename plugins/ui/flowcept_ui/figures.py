"""The workflow page's figures computed from a workflow's rows: counts by status and activity, duration statistics
per activity (on every task), a timeline (Gantt) of at most a few thousand bars chosen exactly per time bucket and
lane, and the errors with their messages; the telemetry and trend series come from ``flowcept_ui.series``.

``Figures`` is a part of ``flowcept_ui.analysis.Columns``. The per-task work runs in C loops (``map``, ``zip``,
``sorted``, ``Counter``) wherever it can.
"""

from __future__ import annotations

import bisect
import operator
from collections import Counter
from collections.abc import Callable
from typing import Any

from flowcept_core.plugin import Status
from flowcept_ui.series import Series

__all__ = ["Figures", "TIMELINE_MAX", "TIMELINE_BUCKETS", "ERRORS_MAX"]

_ERROR, _UNKNOWN = Status.ERROR.value, Status.UNKNOWN.value

TIMELINE_MAX = 400  # a workflow with at most this many timed tasks shows every bar
TIMELINE_BUCKETS = 1200  # otherwise: time buckets shared among the lanes (activities); per lane and bucket the bars
# with the earliest start, the latest end and the first error are kept (so every drawn pixel column is covered)
ERRORS_MAX = 50


def _numbers(values: list) -> list:
    """values with everything but int and float (bool, None, str, ...) as None; values itself when all are."""
    kinds = set(map(type, values))
    if kinds <= {float, int}:
        return values
    return [v if type(v) is float or type(v) is int else None for v in values]


def _duration_stats(durations: list[float]) -> dict:
    """Statistics of durations, which are sorted."""
    if not durations:
        return {"min": None, "mean": None, "median": None, "max": None, "total": 0.0}
    n = len(durations)
    mid = durations[n // 2] if n % 2 else (durations[n // 2 - 1] + durations[n // 2]) / 2
    total = sum(durations)
    return {"min": durations[0], "mean": total / n, "median": mid, "max": durations[-1], "total": total}


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


class Figures(Series):
    """The figures of the rows (see ``flowcept_ui.analysis.Columns``)."""

    ids: list
    acts: list
    statuses: list
    starts: list
    parents: list
    stderrs: list

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
        in_order = None not in starts and all(map(operator.le, starts, starts[1:]))
        order = list(timed) if in_order else sorted(timed, key=starts.__getitem__)
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
