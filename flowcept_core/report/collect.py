"""One pass over a run's messages gathering what a report shows, in memory proportional to activities, not tasks.

:class:`RunCollector` is fed a block of messages at a time (``add_block``): tasks are grouped by (workflow, activity)
in one loop, then each group is gathered column by column with C-level builtins. Per task it keeps a few floats in
typed arrays (start, end, duration) for the statistics and plots; values, ids and messages are summarised.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, groupby, repeat
from operator import sub
from typing import Any

from flowcept_core.report.usage import add_samples, add_usage
from flowcept_core.telemetry.summary import summary_of

__all__ = ["RunCollector", "WorkflowStats", "ActivityStats", "FieldStats"]

TERMINAL = frozenset({"FINISHED", "ERROR", "CANCELLED", "KILLED"})
MAX_ERRORS = 20  # error messages kept per workflow (all are counted)
MAX_SERIES = 200_000  # points kept per metric series; beyond, every other point is dropped (the shape stays)
_RECENT_IDS = 50_000  # task_id -> activity kept to resolve parents that come after their children
_NUM = frozenset({int, float})  # bool is neither: a flag is not a number here
_NOT_EXAMPLES = _NUM | {type(None)}


@dataclass(slots=True)
class FieldStats:
    """One used/generated field of an activity: how often it was seen, its value types, numeric range, example."""

    count: int = 0
    types: set = field(default_factory=set)  # the Python types seen (names: type_names())
    low: float | None = None
    high: float | None = None
    example: str | None = None

    def type_names(self) -> list[str]:
        return sorted(t.__name__ for t in self.types)

    def add_column(self, values: list) -> None:
        """Called per block with the field's values of an activity's tasks (by RunCollector); NaN is not a bound."""
        self.count += len(values)
        kinds = set(map(type, values))
        self.types |= kinds
        if kinds <= _NUM:
            nums = values
        elif kinds & _NUM:
            nums = [v for v in values if type(v) is int or type(v) is float]
        else:
            nums = ()
        if nums:
            lo, hi = min(nums), max(nums)
            if lo != lo or hi != hi:  # a leading NaN decides min/max: leave NaN out
                nums = [v for v in nums if v == v]
                lo, hi = (min(nums), max(nums)) if nums else (None, None)
            if lo is not None:
                if self.low is None:
                    self.low, self.high = lo, hi
                else:
                    self.low, self.high = min(self.low, lo), max(self.high, hi)
        if self.example is None and not kinds <= _NOT_EXAMPLES:
            value = next(v for v in values if type(v) not in _NOT_EXAMPLES)
            text = value if type(value) is str else repr(value)
            self.example = text if len(text) <= 40 else text[:37] + "..."


@dataclass(slots=True)
class ActivityStats:
    """Tasks of one activity_id: counts by status, durations, start/end times, fields, resource use."""

    name: str
    order: int
    count: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    durations: array = field(default_factory=lambda: array("d"))
    starts: array = field(default_factory=lambda: array("d"))
    ends: array = field(default_factory=lambda: array("d"))
    used: dict[str, FieldStats] = field(default_factory=dict)
    generated: dict[str, FieldStats] = field(default_factory=dict)
    children: dict[str, int] = field(default_factory=dict)  # child activity -> number of child tasks
    parents: set[str] = field(default_factory=set)
    with_telemetry: int = 0
    cpu_time: float = 0.0
    cpu_percent: array = field(default_factory=lambda: array("d"))
    peak_rss: float | None = None
    rss_growth: float = 0.0
    io_read: float | None = None  # None: no task of the activity recorded it
    io_write: float | None = None
    net_sent: float | None = None
    net_recv: float | None = None
    gpu_max_mem_percent: float | None = None
    series: dict[str, tuple[array, array]] = field(default_factory=dict)  # generated metric -> (ended_at, value)


@dataclass(slots=True)
class WorkflowStats:
    """One workflow: its own message (if seen) and its activities in order of first appearance."""

    workflow_id: str
    info: dict = field(default_factory=dict)
    activities: dict[str, ActivityStats] = field(default_factory=dict)
    tasks: int = 0
    first_start: float | None = None
    last_end: float | None = None
    hosts: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (activity, task_id, message)
    error_count: int = 0
    samples: dict[float, tuple[float | None, float | None]] = field(default_factory=dict)  # time -> (cpu%, mem%)
    gpu_samples: dict[float, float] = field(default_factory=dict)  # time -> highest GPU memory %
    objects: int = 0


class RunCollector:
    """Fed every message of a run or campaign (``add_block``); groups them by workflow. Called by generate_report."""

    def __init__(self, workflow_id: str | None = None, campaign_id: str | None = None) -> None:
        self.workflow_id = workflow_id
        self.campaign_id = campaign_id
        self.workflows: dict[str, WorkflowStats] = {}
        self.campaigns: set[str] = set()
        self.messages = 0
        self._running: dict[str, dict] = {}  # task_id -> start message waiting for its end message
        self._recent: dict[Any, str] = {}
        self._pending_children: dict[Any, dict[str, int]] = {}  # parent task_id -> {child activity: tasks}
        self._last_key: tuple = (None, None)
        self._acts: dict[tuple, tuple[WorkflowStats, ActivityStats]] = {}  # (workflow_id, activity_id) -> stats
        self._filtered = workflow_id is not None or campaign_id is not None
        self._last_summary: dict = {}
        self._last_snaps: tuple = (None, None)

    def _workflow(self, wid: str | None) -> WorkflowStats:
        key = wid or "(no workflow id)"
        stats = self.workflows.get(key)
        if stats is None:
            stats = self.workflows[key] = WorkflowStats(key)
        return stats

    def _wanted(self, msg: dict) -> bool:
        if self.workflow_id is not None and msg.get("workflow_id") != self.workflow_id:
            return False
        return self.campaign_id is None or msg.get("campaign_id") == self.campaign_id

    def add(self, msg: dict) -> None:
        """One message (``add_block`` is the cheaper call for many)."""
        self.add_block((msg,))

    def add_block(self, msgs: Any) -> None:
        """Called per block of messages, in file order; ignores messages of other workflows/campaigns when filtered.

        A task's start message (not ended, not terminal) waits for its end message and is merged with it."""
        groups: dict[tuple, list[dict]] = {}
        errors: list[tuple[tuple, dict]] = []  # in input order
        running, campaigns, filtered = self._running, self.campaigns, self._filtered
        last_campaign = None
        seen = 0
        for msg in msgs:
            if type(msg) is not dict or (filtered and not self._wanted(msg)):
                continue
            seen += 1
            get = msg.get
            campaign = get("campaign_id")
            if campaign and campaign != last_campaign:
                campaigns.add(campaign)
                last_campaign = campaign
            kind = get("type", "task")
            if kind == "task":
                tid = get("task_id")
                if tid is not None:
                    status = get("status")
                    if status not in TERMINAL and status is not None and get("ended_at") is None:
                        running[tid] = msg  # a start message: wait for its end
                        continue
                    if running:
                        start = running.pop(tid, None)
                        if start is not None:
                            msg = {**start, **msg}
                key = (msg.get("workflow_id"), msg.get("activity_id"))
                group = groups.get(key)
                if group is None:
                    groups[key] = [msg]
                else:
                    group.append(msg)
                if "stderr" in msg or msg.get("status") == "ERROR":
                    errors.append((key, msg))
            elif kind == "workflow":
                self._workflow(get("workflow_id")).info.update({k: v for k, v in msg.items() if v is not None})
            elif kind == "object":
                self._workflow(get("workflow_id")).objects += 1
        self.messages += seen
        self._count_groups(groups, errors)

    def _count_groups(self, groups: dict[tuple, list[dict]], errors: list[tuple[tuple, dict]]) -> None:
        for key, group in groups.items():
            self._count(key, group)
        for key, m in errors:
            self._error(*self._acts[key], m, m.get("status") or "UNKNOWN")

    def finish(self) -> RunCollector:
        """Called after the last message; counts tasks that never ended as RUNNING. Returns self."""
        running, self._running = self._running, {}
        groups: dict[tuple, list[dict]] = {}
        for msg in running.values():
            groups.setdefault((msg.get("workflow_id"), msg.get("activity_id")), []).append(msg)
        self._count_groups(groups, [(k, m) for k, ms in groups.items() for m in ms if "stderr" in m])
        return self

    def _activity(self, wid: Any, name: Any) -> tuple[WorkflowStats, ActivityStats]:
        wf = self._workflow(wid)
        key = str(name or "(unnamed)")
        act = wf.activities.get(key)
        if act is None:
            act = wf.activities[key] = ActivityStats(key, len(wf.activities))
        self._acts[(wid, name)] = (wf, act)
        return wf, act

    def _count(self, key: tuple, msgs: list[dict]) -> None:
        """The tasks of one (workflow, activity) in a block, gathered column by column."""
        found = self._acts.get(key)
        wf, act = found if found is not None else self._activity(*key)
        wf.tasks += len(msgs)
        act.count += len(msgs)
        statuses = [m.get("status") or "UNKNOWN" for m in msgs]
        counts = act.statuses
        for status, n in Counter(statuses).items():
            counts[status] = counts.get(status, 0) + n
        t1s = self._times(wf, act, msgs)
        hosts = {m.get("hostname") for m in msgs}
        if not hosts <= wf.hosts:
            wf.hosts.update(filter(None, hosts))
        users = {m.get("login_name") or m.get("user") for m in msgs}
        if not users <= wf.users:
            wf.users.update(filter(None, users))
        used = [u for m in msgs if type(u := m.get("used")) is dict]
        if used:
            _add_columns(act.used, used)
        generated = [(g, t1) for m, t1 in zip(msgs, t1s, strict=True) if type(g := m.get("generated")) is dict]
        if generated:
            _add_columns(act.generated, [g for g, _ in generated])
            _add_series(act.series, generated)
        self._nesting(wf, act, msgs)
        telemetry = [
            m for m in msgs if "telemetry_at_end" in m or "telemetry_summary" in m or "telemetry_at_start" in m
        ]
        if telemetry:
            self._telemetry(wf, act, telemetry)

    @staticmethod
    def _times(wf: WorkflowStats, act: ActivityStats, msgs: list[dict]) -> list:
        """Durations, starts and ends of tasks with both times; the workflow's first start and last end. Returns the
        ended_at column."""
        t0s, t1s = [m.get("started_at") for m in msgs], [m.get("ended_at") for m in msgs]
        starts, ends = t0s, t1s
        if not (set(map(type, t0s)) <= _NUM and set(map(type, t1s)) <= _NUM):
            both = [(a, b) for a, b in zip(t0s, t1s, strict=True) if type(a) in _NUM and type(b) in _NUM]
            starts, ends = [a for a, _ in both], [b for _, b in both]
            t0s, t1s = [t for t in t0s if type(t) in _NUM], [t for t in t1s if type(t) in _NUM]
        act.starts.extend(starts)
        act.ends.extend(ends)
        act.durations.extend(map(sub, ends, starts))
        if t0s and (wf.first_start is None or min(t0s) < wf.first_start):
            wf.first_start = min(t0s)
        if t1s and (wf.last_end is None or max(t1s) > wf.last_end):
            wf.last_end = max(t1s)
        return [m.get("ended_at") for m in msgs] if ends is not t1s else t1s

    @staticmethod
    def _error(wf: WorkflowStats, act: ActivityStats, msg: dict, status: str) -> None:
        text = msg.get("stderr") or msg.get("exception")
        if status != "ERROR" and not text:
            return
        wf.error_count += 1
        if len(wf.errors) < MAX_ERRORS:
            lines = str(text or "(no message)").strip().splitlines() or ["(no message)"]
            wf.errors.append((act.name, str(msg.get("task_id")), lines[-1][:300]))

    def _nesting(self, wf: WorkflowStats, act: ActivityStats, msgs: list[dict]) -> None:
        """Parent/child activities: a parent seen before its children is found among recent ids; children seen
        before their parent wait in _pending_children until it comes (as decorated calls write them)."""
        tids = [t for m in msgs if (t := m.get("task_id")) is not None and t.__hash__ is not None]
        pending, recent = self._pending_children, self._recent
        if pending:
            for tid in pending.keys() & set(tids):
                for child, n in pending.pop(tid).items():
                    act.children[child] = act.children.get(child, 0) + n
                    child_act = wf.activities.get(child)
                    if child_act is not None:
                        child_act.parents.add(act.name)
        if len(recent) + len(tids) > _RECENT_IDS:
            recent.clear()
        recent.update(zip(tids, repeat(act.name)))
        parents = [p for m in msgs if (p := m.get("parent_task_id")) is not None and p.__hash__ is not None]
        for parent, n in Counter(parents).items():
            parent_name = recent.get(parent)
            if parent_name is not None and parent_name in wf.activities:
                pa = wf.activities[parent_name]
                pa.children[act.name] = pa.children.get(act.name, 0) + n
                act.parents.add(parent_name)
            else:
                waiting = pending.setdefault(parent, {})
                waiting[act.name] = waiting.get(act.name, 0) + n

    def _summary(self, msg: dict) -> tuple[dict, bool]:
        """The task's telemetry summary and whether its snapshots were seen already (tasks sharing the sampler's
        snapshots share everything the report reads from them but the duration, which it takes elsewhere)."""
        stored = msg.get("telemetry_summary")
        if isinstance(stored, dict):
            return stored, False
        start, end = msg.get("telemetry_at_start"), msg.get("telemetry_at_end")
        if start is self._last_snaps[0] and end is self._last_snaps[1] and start is not None and end is not None:
            return self._last_summary, True  # snapshots shared by the reader (share_snapshots)
        self._last_snaps = (start, end)
        key = (
            start.get("timestamp") if type(start) is dict else None,
            end.get("timestamp") if type(end) is dict else None,
        )
        if key[0] is not None and key[1] is not None and key == self._last_key:
            return self._last_summary, True
        summary = summary_of(msg) or {}
        self._last_key, self._last_summary = key, summary
        return summary, False

    def _telemetry(self, wf: WorkflowStats, act: ActivityStats, msgs: list[dict]) -> None:
        """Tasks with telemetry: runs of tasks sharing one summary (the sampler's snapshots) are added at once; tasks
        in a row that hold the very same snapshot objects (shared by the reader) are looked at once."""
        summary, times = None, 0
        pairs = list(
            zip(
                map(id, [m.get("telemetry_at_start") for m in msgs]),
                map(id, [m.get("telemetry_at_end") for m in msgs]),
                strict=True,
            )
        )
        for _, same in groupby(range(len(msgs)), key=pairs.__getitem__):
            run = list(same)
            if len(run) > 1 and "telemetry_summary" in msgs[run[0]]:  # summaries of their own: one task at a time
                steps = [(msgs[i], 1) for i in run]
            else:
                steps = [(msgs[run[0]], len(run))]
            for msg, n in steps:
                current, repeated = self._summary(msg)
                if repeated and current is summary:
                    times += n
                    continue
                if summary is not None:
                    add_usage(act, summary, times)
                summary, times = current, n
                add_samples(wf, msg)
        if summary is not None:
            add_usage(act, summary, times)


def _add_columns(target: dict[str, FieldStats], dicts: list[dict]) -> None:
    """Called per block with an activity's used (or generated) dicts; the first 50 fields of an activity are kept."""
    keys = list(dicts[0])
    if sum(map(len, dicts)) == len(keys) * len(dicts):  # every dict may have the first one's keys: check as we go
        try:
            columns = [(k, [d[k] for d in dicts]) for k in keys]
        except KeyError:
            columns = None
    else:
        columns = None
    if columns is None:
        columns = [(k, [d[k] for d in dicts if k in d]) for k in dict.fromkeys(chain.from_iterable(dicts))]
    for k, column in columns:
        fs = target.get(k)
        if fs is None:
            if len(target) >= 50:
                continue
            fs = target[k] = FieldStats()
        fs.add_column(column)


def _add_series(series: dict[str, tuple[array, array]], pairs: list[tuple[dict, Any]]) -> None:
    """Numeric outputs against their task's end time, per output name (tasks without an end time are left out)."""
    timed = [(g, t) for g, t in pairs if type(t) is float or type(t) is int]
    if not timed:
        return
    ends = [t for _, t in timed]
    for k in dict.fromkeys(chain.from_iterable(g for g, _ in timed)):
        values = [g.get(k) for g, _ in timed]
        if set(map(type, values)) <= _NUM:
            xs, ys = ends, values
        else:
            points = [(t, v) for t, v in zip(ends, values, strict=True) if type(v) is float or type(v) is int]
            if not points:
                continue
            xs, ys = [t for t, _ in points], [v for _, v in points]
        pair = series.get(k)
        if pair is None:
            pair = series[k] = (array("d"), array("d"))
        pair[0].extend(xs)
        pair[1].extend(ys)
        while len(pair[0]) > MAX_SERIES:
            pair = series[k] = (pair[0][::2], pair[1][::2])
