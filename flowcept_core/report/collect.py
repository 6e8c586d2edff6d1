"""One pass over a run's messages gathering what a report shows, in memory proportional to activities, not tasks.

:class:`RunCollector` is fed message by message (``add``) and then read by the renderers. Per task it keeps a few
floats in typed arrays (start, end, duration) for the statistics and plots; values, ids and messages are summarised.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

from flowcept_core.telemetry.summary import summary_of

__all__ = ["RunCollector", "WorkflowStats", "ActivityStats", "FieldStats"]

TERMINAL = frozenset({"FINISHED", "ERROR", "CANCELLED", "KILLED"})
MAX_ERRORS = 20  # error messages kept per workflow (all are counted)
MAX_SERIES = 200_000  # points kept per metric series; beyond, every other point is dropped (the shape stays)
_RECENT_IDS = 50_000  # task_id -> activity kept to resolve parents that come after their children


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

    def add(self, value: Any) -> None:
        """Called once per task that has the field (by RunCollector._fields)."""
        self.count += 1
        t = type(value)
        self.types.add(t)
        if t is int or t is float:
            if self.low is None:
                if value == value:
                    self.low = self.high = value
            elif value < self.low:
                self.low = value
            elif value > self.high:
                self.high = value
        elif self.example is None and value is not None:
            text = value if t is str else repr(value)
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
    """Fed every message of a run or campaign (``add``); groups them by workflow. Called by generate_report."""

    def __init__(self, workflow_id: str | None = None, campaign_id: str | None = None) -> None:
        self.workflow_id = workflow_id
        self.campaign_id = campaign_id
        self.workflows: dict[str, WorkflowStats] = {}
        self.campaigns: set[str] = set()
        self.messages = 0
        self._running: dict[str, dict] = {}  # task_id -> start message waiting for its end message
        self._recent: dict[str, str] = {}
        self._pending_children: dict[str, list[str]] = {}  # parent task_id -> child activities seen before it
        self._last_key: tuple = (None, None)
        self._acts: dict[tuple, tuple[WorkflowStats, ActivityStats]] = {}  # (workflow_id, activity_id) -> stats
        self._filtered = workflow_id is not None or campaign_id is not None
        self._last_summary: dict = {}

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
        """Called once per message, in file order; ignores messages of other workflows/campaigns when filtered."""
        if type(msg) is not dict or (self._filtered and not self._wanted(msg)):
            return
        self.messages += 1
        kind = msg.get("type", "task")
        campaign = msg.get("campaign_id")
        if campaign:
            self.campaigns.add(campaign)
        if kind == "task":
            tid = msg.get("task_id")
            if tid is not None:
                status = msg.get("status")
                if status not in TERMINAL and status is not None and msg.get("ended_at") is None:
                    self._running[tid] = msg  # a start message: wait for its end
                    return
                if self._running:
                    start = self._running.pop(tid, None)
                    if start is not None:
                        msg = {**start, **msg}
            self._count(msg)
        elif kind == "workflow":
            self._workflow(msg.get("workflow_id")).info.update({k: v for k, v in msg.items() if v is not None})
        elif kind == "object":
            self._workflow(msg.get("workflow_id")).objects += 1

    def finish(self) -> RunCollector:
        """Called after the last message; counts tasks that never ended as RUNNING. Returns self."""
        running, self._running = self._running, {}
        for msg in running.values():
            self._count(msg)
        return self

    def _activity(self, wid: Any, name: Any) -> tuple[WorkflowStats, ActivityStats]:
        wf = self._workflow(wid)
        key = str(name or "(unnamed)")
        act = wf.activities.get(key)
        if act is None:
            act = wf.activities[key] = ActivityStats(key, len(wf.activities))
        self._acts[(wid, name)] = (wf, act)
        return wf, act

    def _count(self, msg: dict) -> None:
        wid, name = msg.get("workflow_id"), msg.get("activity_id")
        found = self._acts.get((wid, name))
        wf, act = found if found is not None else self._activity(wid, name)
        wf.tasks += 1
        act.count += 1
        status = msg.get("status") or "UNKNOWN"
        statuses = act.statuses
        statuses[status] = statuses.get(status, 0) + 1
        t0, t1 = msg.get("started_at"), msg.get("ended_at")
        k0, k1 = type(t0), type(t1)
        has0, has1 = k0 is float or k0 is int, k1 is float or k1 is int
        if has0 and has1:
            act.durations.append(t1 - t0)
            act.starts.append(t0)
            act.ends.append(t1)
        if has0 and (wf.first_start is None or t0 < wf.first_start):
            wf.first_start = t0
        if has1 and (wf.last_end is None or t1 > wf.last_end):
            wf.last_end = t1
        host = msg.get("hostname")
        if host and host not in wf.hosts:
            wf.hosts.add(host)
        user = msg.get("login_name") or msg.get("user")
        if user and user not in wf.users:
            wf.users.add(user)
        self._fields(act, msg, t1)
        if "parent_task_id" in msg or self._pending_children:
            self._nesting(wf, act, msg)
        else:  # no nesting to resolve now: remember the task for children that may name it later
            recent = self._recent
            if len(recent) >= _RECENT_IDS:
                recent.clear()
            recent[msg.get("task_id")] = act.name
        if status == "ERROR" or "stderr" in msg:
            self._error(wf, act, msg, status)
        if "telemetry_at_end" in msg or "telemetry_summary" in msg or "telemetry_at_start" in msg:
            self._telemetry(wf, act, msg)

    @staticmethod
    def _error(wf: WorkflowStats, act: ActivityStats, msg: dict, status: str) -> None:
        text = msg.get("stderr") or msg.get("exception")
        if status != "ERROR" and not text:
            return
        wf.error_count += 1
        if len(wf.errors) < MAX_ERRORS:
            lines = str(text or "(no message)").strip().splitlines() or ["(no message)"]
            wf.errors.append((act.name, str(msg.get("task_id")), lines[-1][:300]))

    def _summary(self, msg: dict) -> tuple[dict, bool]:
        """The task's telemetry summary and whether its snapshots were seen already (tasks sharing the sampler's
        snapshots share everything the report reads from them but the duration, which it takes elsewhere)."""
        stored = msg.get("telemetry_summary")
        if isinstance(stored, dict):
            return stored, False
        start, end = msg.get("telemetry_at_start"), msg.get("telemetry_at_end")
        key = (start.get("timestamp") if type(start) is dict else None,
               end.get("timestamp") if type(end) is dict else None)
        if key[0] is not None and key[1] is not None and key == self._last_key:
            return self._last_summary, True
        summary = summary_of(msg) or {}
        self._last_key, self._last_summary = key, summary
        return summary, False

    @staticmethod
    def _fields(act: ActivityStats, msg: dict, t1: Any) -> None:
        used = msg.get("used")
        if type(used) is dict:
            _add_fields(act.used, used)
        generated = msg.get("generated")
        if type(generated) is dict:
            _add_fields(act.generated, generated)
            if type(t1) is float or type(t1) is int:
                series = act.series
                for k, v in generated.items():
                    t = type(v)
                    if t is float or t is int:
                        pair = series.get(k)
                        if pair is None:
                            pair = series[k] = (array("d"), array("d"))
                        pair[0].append(t1)
                        pair[1].append(v)
                        if len(pair[0]) > MAX_SERIES:
                            series[k] = (pair[0][::2], pair[1][::2])

    def _nesting(self, wf: WorkflowStats, act: ActivityStats, msg: dict) -> None:
        tid, parent = msg.get("task_id"), msg.get("parent_task_id")
        if tid is not None:
            for child in self._pending_children.pop(tid, ()):
                act.children[child] = act.children.get(child, 0) + 1
                wf.activities[child].parents.add(act.name)
            if len(self._recent) >= _RECENT_IDS:
                self._recent.clear()
            self._recent[tid] = act.name
        if parent is not None:
            parent_act = self._recent.get(parent)
            if parent_act is not None and parent_act in wf.activities:
                pa = wf.activities[parent_act]
                pa.children[act.name] = pa.children.get(act.name, 0) + 1
                act.parents.add(parent_act)
            else:
                self._pending_children.setdefault(parent, []).append(act.name)

    def _telemetry(self, wf: WorkflowStats, act: ActivityStats, msg: dict) -> None:
        summary, repeated = self._summary(msg)
        act.with_telemetry += 1
        cpu, mem = summary.get("cpu") or {}, summary.get("memory") or {}
        act.cpu_time += cpu.get("time_s") or 0.0
        if "percent" in cpu:
            act.cpu_percent.append(cpu["percent"])
        rss = mem.get("rss_bytes")
        if rss is not None and (act.peak_rss is None or rss > act.peak_rss):
            act.peak_rss = rss
        act.rss_growth += max(mem.get("rss_delta_bytes") or 0.0, 0.0)
        io, net = summary.get("io") or {}, summary.get("network") or {}
        if io:
            act.io_read = (act.io_read or 0.0) + (io.get("read_bytes") or 0.0)
            act.io_write = (act.io_write or 0.0) + (io.get("write_bytes") or 0.0)
        if net:
            act.net_sent = (act.net_sent or 0.0) + (net.get("bytes_sent") or 0.0)
            act.net_recv = (act.net_recv or 0.0) + (net.get("bytes_recv") or 0.0)
        gpu_pct = [g["memory_percent"] for g in (summary.get("gpu") or {}).values() if "memory_percent" in g]
        if gpu_pct:
            act.gpu_max_mem_percent = max(gpu_pct + [act.gpu_max_mem_percent or 0.0])
        if repeated:
            return
        for snap in (msg.get("telemetry_at_start"), msg.get("telemetry_at_end")):
            if isinstance(snap, dict) and isinstance(snap.get("timestamp"), (int, float)):
                ts = snap["timestamp"]
                if ts not in wf.samples:
                    cpu_pct = (snap.get("cpu") or {}).get("percent_all")
                    mem_pct = ((snap.get("memory") or {}).get("virtual") or {}).get("percent")
                    wf.samples[ts] = (cpu_pct, mem_pct)
                    gpus = [g.get("used") / g["total"] * 100 for g in (snap.get("gpu") or {}).values()
                            if isinstance(g, dict) and g.get("total") and isinstance(g.get("used"), (int, float))]
                    if gpus:
                        wf.gpu_samples[ts] = max(gpus)


def _add_fields(target: dict[str, FieldStats], values: dict) -> None:
    """Called per task for its used and its generated dict; the first 50 fields of an activity are kept."""
    for k, v in values.items():
        fs = target.get(k)
        if fs is None:
            if len(target) >= 50:
                continue
            fs = target[k] = FieldStats()
        fs.add(v)
