"""One pass over a workflow's tasks: what the workflow page shows.

``analyze(tasks)`` returns counts by status and activity, duration statistics per activity, a timeline (Gantt) of up
to TIMELINE_MAX tasks, CPU / memory / GPU over time from the tasks' telemetry, the errors with their messages and
metric trends (a numeric generated value an activity produces again and again, e.g. loss per epoch).
"""

from __future__ import annotations

from typing import Any

from flowcept_core.plugin import Status

__all__ = ["analyze", "TASK_FIELDS", "TIMELINE_MAX", "SERIES_MAX", "ERRORS_MAX"]

_ERROR, _UNKNOWN = Status.ERROR.value, Status.UNKNOWN.value

TIMELINE_MAX = 400  # bars in the Gantt (evenly chosen among the tasks, in start order)
SERIES_MAX = 300  # points per telemetry or metric series
ERRORS_MAX = 50
TRENDS_MAX = 8
# the fields the analysis reads (a store that projects sends less)
TASK_FIELDS = ["task_id", "activity_id", "status", "started_at", "ended_at", "parent_task_id", "stderr", "generated",
               "used", "telemetry_at_end"]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _every(items: list, most: int) -> list:
    """At most ``most`` items, evenly spaced, first and last kept."""
    n = len(items)
    if n <= most:
        return items
    step = (n - 1) / (most - 1)
    return [items[round(i * step)] for i in range(most)]


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


def _telemetry_point(task: dict) -> list | None:
    tel = task.get("telemetry_at_end")
    if not isinstance(tel, dict):
        return None
    when = tel.get("timestamp", task.get("ended_at"))
    if not _number(when):
        return None
    cpu = tel.get("cpu") if isinstance(tel.get("cpu"), dict) else {}
    mem = tel.get("memory") if isinstance(tel.get("memory"), dict) else {}
    virtual = mem.get("virtual") if isinstance(mem.get("virtual"), dict) else {}
    cpu_pct, mem_pct = cpu.get("percent_all"), virtual.get("percent")
    point = [when, cpu_pct if _number(cpu_pct) else None, mem_pct if _number(mem_pct) else None,
             _gpu_percent(tel)]
    return point if any(v is not None for v in point[1:]) else None


def _duration_stats(durations: list[float]) -> dict:
    if not durations:
        return {"min": None, "mean": None, "median": None, "max": None, "total": 0.0}
    durations.sort()
    n = len(durations)
    mid = durations[n // 2] if n % 2 else (durations[n // 2 - 1] + durations[n // 2]) / 2
    total = sum(durations)
    return {"min": durations[0], "mean": total / n, "median": mid, "max": durations[-1], "total": total}


def _trends(points: dict[tuple[str, str], list]) -> list[dict]:
    """Series of numeric generated values an activity produced at least twice, in start order (x: 1, 2, ...);
    at most SERIES_MAX points each, evenly chosen."""
    out = []
    for (activity, name), values in points.items():
        if len(values) < 2:
            continue
        values.sort(key=_first)
        n = len(values)
        picks = range(n) if n <= SERIES_MAX else [round(i * (n - 1) / (SERIES_MAX - 1)) for i in range(SERIES_MAX)]
        out.append({"activity_id": activity, "name": name, "x": "occurrence", "count": n,
                    "points": [[i + 1, values[i][1]] for i in picks]})
    out.sort(key=lambda t: (-t["count"], t["activity_id"], t["name"]))
    return out[:TRENDS_MAX]


def _first(pair: tuple) -> Any:
    return pair[0]


def analyze(tasks: list[dict]) -> dict:
    """The workflow page's figures for these tasks (any order); JSON-ready."""
    by_status: dict[str, int] = {}
    activities: dict[str, dict] = {}
    durations: dict[str, list[float]] = {}
    timed: list[tuple[float, dict]] = []
    errors: list[dict] = []
    metric: dict[tuple[str, str], list] = {}
    with_telemetry = 0
    first = last = None
    index: list[tuple] = []  # (task_id, activity_id, started_at) of every task: the task list's pages (data.py)
    number = (int, float)
    for t in tasks:
        status = t.get("status") or _UNKNOWN
        activity = t.get("activity_id") or "(none)"
        by_status[status] = by_status.get(status, 0) + 1
        act = activities.get(activity)
        if act is None:
            act = activities[activity] = {"activity_id": activity, "count": 0, "by_status": {}}
            durations[activity] = []
        act["count"] += 1
        counts = act["by_status"]
        counts[status] = counts.get(status, 0) + 1
        start, end = t.get("started_at"), t.get("ended_at")
        index.append((t.get("task_id"), t.get("activity_id"), start))
        if type(start) in number:
            timed.append((start, t))
            if type(end) in number and end >= start:
                durations[activity].append(end - start)
        if type(end) in number and (last is None or end > last):
            last = end
        if status == _ERROR and len(errors) < ERRORS_MAX:
            errors.append({"task_id": t.get("task_id"), "activity_id": activity, "started_at": start,
                           "message": t.get("stderr") or "(no message recorded)"})
        if "telemetry_at_end" in t:
            with_telemetry += 1
        generated = t.get("generated")
        if type(generated) is dict:
            order = start if type(start) in number else len(timed)
            for name, value in generated.items():
                if type(value) in number:
                    key = (activity, name)
                    series = metric.get(key)
                    if series is None:
                        series = metric[key] = []
                    series.append((order, value))
    for activity, act in activities.items():
        act["duration"] = _duration_stats(durations[activity])
    timed.sort(key=_first)
    first = timed[0][0] if timed else None
    bars = [{"task_id": t.get("task_id"), "activity_id": t.get("activity_id") or "(none)",
             "status": t.get("status"), "started_at": s,
             "ended_at": t.get("ended_at") if _number(t.get("ended_at")) else None,
             "parent_task_id": t.get("parent_task_id")} for s, t in _every(timed, TIMELINE_MAX)]
    # telemetry over time: the samples of tasks evenly chosen in start order (one point per distinct sample)
    telemetry = [p for p in map(_telemetry_point, (t for _, t in _every(timed, SERIES_MAX * 4))) if p is not None]
    telemetry.sort(key=_first)
    telemetry = [pt for i, pt in enumerate(telemetry) if i == 0 or pt[0] != telemetry[i - 1][0]]
    return {
        "task_count": len(tasks),
        "by_status": dict(sorted(by_status.items())),
        "activities": sorted(activities.values(), key=lambda a: (-a["count"], a["activity_id"])),
        "first_started_at": first,
        "last_ended_at": last,
        "timeline": {"shown": len(bars), "of": len(timed), "bars": bars},
        "telemetry": {"fields": ["timestamp", "cpu_percent", "memory_percent", "gpu_percent"],
                      "points": _every(telemetry, SERIES_MAX), "of": with_telemetry},  # of: tasks with telemetry
        "errors": errors,
        "error_count": by_status.get(_ERROR, 0),
        "trends": _trends(metric),
        "_index": sorted(index, key=_id_key),  # not sent: which tasks, in id order, with what never changes
    }


def _id_key(row: tuple) -> str:
    return row[0] if isinstance(row[0], str) else ""
