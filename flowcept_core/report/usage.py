"""Resource figures of a report from task telemetry: per-activity usage from telemetry summaries and the machine's
readings over time from the snapshots. Called by RunCollector (flowcept_core.report.collect)."""

from __future__ import annotations

from itertools import repeat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowcept_core.report.collect import ActivityStats, WorkflowStats

__all__ = ["add_usage", "add_samples"]


def add_usage(act: ActivityStats, summary: dict, times: int) -> None:
    """Adds one telemetry summary shared by ``times`` tasks to the activity's resource figures."""
    act.with_telemetry += times
    cpu, mem = summary.get("cpu") or {}, summary.get("memory") or {}
    act.cpu_time += (cpu.get("time_s") or 0.0) * times
    if "percent" in cpu:
        act.cpu_percent.extend(repeat(cpu["percent"], times))
    rss = mem.get("rss_bytes")
    if rss is not None and (act.peak_rss is None or rss > act.peak_rss):
        act.peak_rss = rss
    act.rss_growth += max(mem.get("rss_delta_bytes") or 0.0, 0.0) * times
    io, net = summary.get("io") or {}, summary.get("network") or {}
    if io:
        act.io_read = (act.io_read or 0.0) + (io.get("read_bytes") or 0.0) * times
        act.io_write = (act.io_write or 0.0) + (io.get("write_bytes") or 0.0) * times
    if net:
        act.net_sent = (act.net_sent or 0.0) + (net.get("bytes_sent") or 0.0) * times
        act.net_recv = (act.net_recv or 0.0) + (net.get("bytes_recv") or 0.0) * times
    gpu_pct = [g["memory_percent"] for g in (summary.get("gpu") or {}).values() if "memory_percent" in g]
    if gpu_pct:
        act.gpu_max_mem_percent = max(gpu_pct + [act.gpu_max_mem_percent or 0.0])


def add_samples(wf: WorkflowStats, msg: dict) -> None:
    """The machine's CPU/memory (and GPU memory) readings of a task's snapshots, one per snapshot time."""
    for snap in (msg.get("telemetry_at_start"), msg.get("telemetry_at_end")):
        if isinstance(snap, dict) and isinstance(snap.get("timestamp"), (int, float)):
            ts = snap["timestamp"]
            if ts not in wf.samples:
                cpu_pct = (snap.get("cpu") or {}).get("percent_all")
                mem_pct = ((snap.get("memory") or {}).get("virtual") or {}).get("percent")
                wf.samples[ts] = (cpu_pct, mem_pct)
                gpus = [
                    g.get("used") / g["total"] * 100
                    for g in (snap.get("gpu") or {}).values()
                    if isinstance(g, dict) and g.get("total") and isinstance(g.get("used"), (int, float))
                ]
                if gpus:
                    wf.gpu_samples[ts] = max(gpus)
