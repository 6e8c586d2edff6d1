"""The series the workflow page draws from a workflow's tasks: CPU / memory / GPU over time and metric trends.

``Series`` is a part of ``flowcept_ui.analysis.Columns``: its methods read the rows' telemetry and generated values.
Telemetry comes from tasks evenly chosen in start order (each distinct snapshot resolved once); a trend is a numeric
generated value an activity produces again and again (e.g. loss per epoch).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from itertools import chain, repeat
from typing import Any

__all__ = ["Series", "telemetry_point", "SERIES_MAX", "TRENDS_MAX"]

SERIES_MAX = 300  # points per telemetry or metric series
TRENDS_MAX = 8
_ABSENT = object()  # a task with no telemetry_at_end field


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


def _first(pair: tuple) -> Any:
    return pair[0]


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


class Series:
    """Telemetry and trend series of the rows (see ``flowcept_ui.analysis.Columns``)."""

    tel_ref: Callable[[Any], Any] | None
    ends: list
    tels: list
    gens: list

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
