"""Per-task telemetry summaries and critical-task tags, computed off the caller's path.

:func:`attach_telemetry` is called by the message builder (drain time, or on the consumer for packed batches) for
each task that carries telemetry. :func:`summarize` is pure: it reads two snapshots (upstream's layout) and the
task's times, so reports call it too, at read time, for documents stored without a summary.

Summary layout (keys present only when the readings allow them)::

    {"duration_s": 1.5,
     "cpu": {"user_s": 1.2, "system_s": 0.1, "time_s": 1.3, "percent": 86.7, "system_percent": 41.0},
     "memory": {"rss_bytes": 5.2e8, "rss_delta_bytes": 1.1e8, "used_delta_bytes": 1.3e8, "percent": 63.1},
     "io": {"read_bytes": 0, "write_bytes": 40960}, "network": {"bytes_sent": 512, "bytes_recv": 2048},
     "gpu": {"gpu_0": {"used_bytes": 3.1e10, "used_delta_bytes": 2.0e9, "memory_percent": 22.0,
                       "activity": 97, "power_w": 512.0, "temperature": 61}}}
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any


__all__ = ["summarize", "critical_tags", "attach_telemetry", "summary_of"]

_MIB = 1 << 20


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _delta(a: Any, b: Any, *path: str) -> float | None:
    x, y = _num(_get(a, *path)), _num(_get(b, *path))
    return y - x if x is not None and y is not None else None


def _put(out: dict, key: str, value: Any) -> None:
    if value is not None:
        out[key] = round(value, 6) if isinstance(value, float) else value


def summarize(start: dict | None, end: dict | None, started_at: float | None, ended_at: float | None,
              cpu_times: tuple[float, float] | None = None) -> dict:
    """Called once per finished task (or by reports at read time); returns its telemetry summary.

    ``start``/``end`` are the telemetry_at_start/telemetry_at_end snapshots (either may be None); ``cpu_times`` is
    the (user, system) seconds this process spent during the task when it was read per call. Never raises on odd
    snapshots: what cannot be computed is left out. The part that depends on the snapshots alone is computed once
    per snapshot pair (many tasks share the sampler's snapshots) and shared by the summaries that use it.
    """
    out: dict[str, Any] = {}
    duration = ended_at - started_at if isinstance(started_at, (int, float)) and isinstance(ended_at, (int, float)) \
        else None
    _put(out, "duration_s", duration)
    shared = _snapshot_part(start, end)
    cpu: dict[str, Any] = {}
    if cpu_times is not None:
        user, system = cpu_times
    else:
        user, system = shared.get("_user"), shared.get("_system")
    if user is not None and system is not None:
        used = max(user + system, 0.0)
        _put(cpu, "user_s", max(user, 0.0))
        _put(cpu, "system_s", max(system, 0.0))
        _put(cpu, "time_s", used)
        if duration:
            _put(cpu, "percent", used / duration * 100.0)
    if "_system_percent" in shared:
        cpu["system_percent"] = shared["_system_percent"]
    if cpu:
        out["cpu"] = cpu
    for key in ("memory", "io", "network", "gpu"):
        if key in shared:
            out[key] = shared[key]
    return out


_last_pair: tuple = (None, None, {})  # (start, end, their part); replaced whole, so threads read it safely


def _snapshot_part(start: dict | None, end: dict | None) -> dict:
    """Called by summarize; returns what the two snapshots alone give, cached for the last pair seen: the same
    objects, or (decoded from a file, where each task has its own copies) the same reading timestamps."""
    last_pair = _last_pair
    if last_pair[0] is start and last_pair[1] is end:
        return last_pair[2]
    key = (_stamp(start), _stamp(end))
    if key[0] is not None and key[1] is not None:
        if last_pair[0] == key:
            return last_pair[2]
        part = _compute_snapshot_part(start, end)
        globals()["_last_pair"] = (key, None, part)
        return part
    part = _compute_snapshot_part(start, end)
    globals()["_last_pair"] = (start, end, part)
    return part


def _stamp(snapshot: Any) -> Any:
    return snapshot.get("timestamp") if type(snapshot) is dict else None


def _compute_snapshot_part(start: dict | None, end: dict | None) -> dict:
    out: dict[str, Any] = {}
    last = end if end is not None else start
    _put(out, "_user", _delta(start, end, "process", "cpu_times", "user"))
    _put(out, "_system", _delta(start, end, "process", "cpu_times", "system"))
    _put(out, "_system_percent", _num(_get(last, "cpu", "percent_all")))
    mem: dict[str, Any] = {}
    _put(mem, "rss_bytes", _num(_get(last, "process", "memory", "rss")))
    _put(mem, "rss_delta_bytes", _delta(start, end, "process", "memory", "rss"))
    _put(mem, "used_delta_bytes", _delta(start, end, "memory", "virtual", "used"))
    _put(mem, "percent", _num(_get(last, "memory", "virtual", "percent")))
    if mem:
        out["memory"] = mem
    io: dict[str, Any] = {}
    _put(io, "read_bytes", _delta(start, end, "disk", "io_sum", "read_bytes"))
    _put(io, "write_bytes", _delta(start, end, "disk", "io_sum", "write_bytes"))
    if io:
        out["io"] = io
    net: dict[str, Any] = {}
    _put(net, "bytes_sent", _delta(start, end, "network", "netio_sum", "bytes_sent"))
    _put(net, "bytes_recv", _delta(start, end, "network", "netio_sum", "bytes_recv"))
    if net:
        out["network"] = net
    gpus = _gpu_summary(start, end)
    if gpus:
        out["gpu"] = gpus
    return out


def _gpu_summary(start: dict | None, end: dict | None) -> dict:
    last = end if end is not None else start
    out = {}
    for name, dev in (_get(last, "gpu") or {}).items():
        if not isinstance(dev, dict):
            continue
        g: dict[str, Any] = {}
        used, total = _num(dev.get("used")), _num(dev.get("total"))
        _put(g, "used_bytes", used)
        _put(g, "used_delta_bytes", _delta(start, end, "gpu", name, "used"))
        if used is not None and total:
            _put(g, "memory_percent", used / total * 100.0)
        activity = dev.get("activity")
        _put(g, "activity", _num(activity) if not isinstance(activity, dict) else _num(activity.get("gfx_activity")))
        power = dev.get("power")
        watts = _num(power) / 1000.0 if _num(power) is not None else _num(_get(power, "current_socket_power"))
        _put(g, "power_w", watts)
        _put(g, "temperature", _num(dev.get("temperature")))
        if g:
            out[name] = g
    return out


def critical_tags(summary: dict, thresholds: dict[str, float]) -> list[str]:
    """Called after :func:`summarize` when ``telemetry_capture.critical_tags`` is set; returns the tags
    (``critical:<threshold name>``) of every threshold the summary goes above, in the thresholds' order."""
    cpu, mem = summary.get("cpu") or {}, summary.get("memory") or {}
    growth = mem.get("rss_delta_bytes", mem.get("used_delta_bytes"))
    gpu_pct = [g["memory_percent"] for g in (summary.get("gpu") or {}).values() if "memory_percent" in g]
    values = {
        "cpu_percent": cpu.get("percent"),
        "system_cpu_percent": cpu.get("system_percent"),
        "memory_percent": mem.get("percent"),
        "memory_growth_mb": growth / _MIB if growth is not None else None,
        "duration_s": summary.get("duration_s"),
        "gpu_memory_percent": max(gpu_pct) if gpu_pct else None,
    }
    return [f"critical:{name}" for name, limit in thresholds.items()
            if values.get(name) is not None and values[name] > limit]


def attach_telemetry(msg: dict, tel0: Any, tel1: Any, t0: float | None, t1: float | None, run: Any) -> None:
    """Called by the message builder for a task with telemetry; sets telemetry_at_start/_end (last, as stores
    expect), ``telemetry_summary`` and any critical tags on ``msg``. Returns nothing; never raises.

    ``tel0``/``tel1`` are snapshots (dicts) or per-call readings ``(snapshot, user_s, system_s)`` (a list once it
    crossed a networked MQ). A task whose start and end share one sampled snapshot gets no stored summary: the
    snapshots differ in nothing (reports still summarise it at read time, see :func:`summary_of`).
    """
    cpu = None
    if tel0 is not None and type(tel0) is not dict:
        if tel1 is not None and type(tel1) is not dict:
            cpu = (tel1[1] - tel0[1], tel1[2] - tel0[2])
            tel1 = tel1[0]
        tel0 = tel0[0]
    elif tel1 is not None and type(tel1) is not dict:
        tel1 = tel1[0]
    if cpu is not None and (tel0 is None or tel1 is None):  # read before the sampler's first snapshot, or none runs
        known = tel1 or tel0 or getattr(getattr(run, "telemetry", None), "snapshot", None) or _fallback_snapshot()
        tel0, tel1 = tel0 or known, tel1 or known
    cfg = getattr(run, "telemetry_cfg", None)
    if cpu is not None or tel0 is not tel1:
        try:
            if cfg is None or cfg.task_summary:
                summary = summarize(tel0, tel1, t0, t1, cpu)
                msg["telemetry_summary"] = summary
                thresholds = cfg.critical_tags if cfg is not None else None
                if thresholds:
                    extra = critical_tags(summary, thresholds)
                    if extra:
                        msg["tags"] = [*(msg.get("tags") or ()), *extra]  # a new list: the user's stays as is
        except Exception:  # a summary must never cost the message
            pass
    if tel0 is not None:
        msg["telemetry_at_start"] = tel0
    if tel1 is not None:
        msg["telemetry_at_end"] = tel1


_fallback: list = [float("-inf"), None]  # [monotonic time of the reading, snapshot]


def _fallback_snapshot() -> dict | None:
    """Called at message build time for a per-call reading taken without a sampler snapshot; returns a CPU and
    memory snapshot taken at most once a second (telemetry_capture off, or the sampler not started yet)."""
    import time

    now = time.monotonic()
    if now - _fallback[0] >= 1.0:
        from flowcept_core.telemetry.capture import capture_telemetry
        from flowcept_core.telemetry.config import TelemetryConfig

        _fallback[1] = capture_telemetry(TelemetryConfig(cpu=True, mem=True))
        _fallback[0] = now
    return _fallback[1]


def summary_of(doc: dict) -> dict | None:
    """Called by reports per task document; returns its stored ``telemetry_summary`` or one computed from its
    snapshots, or None for a task without telemetry."""
    stored = doc.get("telemetry_summary")
    if isinstance(stored, dict):
        return stored
    start, end = doc.get("telemetry_at_start"), doc.get("telemetry_at_end")
    if not isinstance(start, dict) and not isinstance(end, dict):
        return None
    return summarize(start if isinstance(start, dict) else None, end if isinstance(end, dict) else None,
                     doc.get("started_at"), doc.get("ended_at"))
