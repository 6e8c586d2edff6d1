"""The provenance card in Markdown: GitHub-flavoured tables that also read well rendered by rich in a terminal."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

from flowcept_core.report.collect import ActivityStats, RunCollector, WorkflowStats

__all__ = ["render_card", "fmt_seconds", "fmt_bytes"]


def fmt_seconds(s: float | None) -> str:
    """Called for every duration shown; returns it with a unit that keeps 3 significant figures (``1.23 ms``)."""
    if s is None:
        return "-"
    a = abs(s)
    if a == 0:
        return "0 s"
    for limit, div, unit in ((1e-3, 1e-6, "us"), (1.0, 1e-3, "ms"), (120.0, 1.0, "s"), (7200.0, 60.0, "min")):
        if a < limit:
            return f"{s / div:.3g} {unit}"
    return f"{s / 3600:.3g} h"


def fmt_bytes(b: float | None) -> str:
    """Called for memory and IO figures; returns a binary-prefixed size (``512 MiB``)."""
    if b is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(b) < 1024 or unit == "TiB":
            return f"{b:.3g} {unit}" if unit != "B" else f"{b:.0f} B"
        b /= 1024
    return "-"


def _when(ts: Any) -> str:
    if not isinstance(ts, (int, float)):
        return str(ts) if ts else "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def render_card(run: RunCollector, title: str | None = None) -> str:
    """Called by generate_report; returns the whole card. A campaign (several workflows) gets a section each."""
    workflows = list(run.workflows.values())
    lines: list[str] = []
    if len(workflows) == 1:
        wf = workflows[0]
        lines.append(f"# Provenance card: {title or wf.info.get('name') or wf.workflow_id}")
        lines.append("")
        lines += _workflow(wf, 2)
    else:
        campaign = next(iter(run.campaigns)) if len(run.campaigns) == 1 else None
        lines.append(f"# Provenance card: {title or ('campaign ' + campaign if campaign else 'campaign')}")
        lines.append("")
        total = sum(w.tasks for w in workflows)
        lines += _table(["Campaign", "Workflows", "Tasks"], [[campaign or "-", len(workflows), total]])
        for wf in workflows:
            lines.append(f"## Workflow {wf.info.get('name') or wf.workflow_id}")
            lines.append("")
            lines += _workflow(wf, 3)
    if not workflows:
        lines.append("No workflow or task messages were found in the input.")
    return "\n".join(lines).rstrip() + "\n"


def _status(wf: WorkflowStats) -> str:
    statuses: dict[str, int] = {}
    for act in wf.activities.values():
        for k, n in act.statuses.items():
            statuses[k] = statuses.get(k, 0) + n
    overall = wf.info.get("status") or (
        "ERROR" if statuses.get("ERROR") else "RUNNING" if statuses.get("RUNNING") else "FINISHED" if wf.tasks else "-"
    )
    detail = ", ".join(f"{n} {k.lower()}" for k, n in sorted(statuses.items(), key=lambda kv: -kv[1]))
    return f"{overall} ({detail})" if detail else str(overall)


def _workflow(wf: WorkflowStats, level: int) -> list[str]:
    h = "#" * level
    info = wf.info
    start = info.get("started_at") or info.get("utc_timestamp") or wf.first_start
    end = info.get("ended_at") or wf.last_end
    duration = end - start if isinstance(start, (int, float)) and isinstance(end, (int, float)) else None
    machine = info.get("machine_info") if isinstance(info.get("machine_info"), dict) else {}
    hosts = sorted(wf.hosts | ({machine.get("hostname")} if machine.get("hostname") else set()))
    users = sorted(wf.users | ({info["user"]} if info.get("user") else set()))
    rows = [
        ["Name", info.get("name") or "-"],
        ["Workflow ID", wf.workflow_id],
        ["Campaign ID", info.get("campaign_id") or "-"],
        ["User", ", ".join(users) or "-"],
        ["Host", ", ".join(hosts[:5]) + (f" (+{len(hosts) - 5})" if len(hosts) > 5 else "") or "-"],
        ["Started", _when(start)],
        ["Ended", _when(end)],
        ["Duration", fmt_seconds(duration)],
        ["Status", _status(wf)],
        ["Tasks", f"{wf.tasks} in {len(wf.activities)} activities"],
    ]
    if info.get("parent_workflow_id"):
        rows.append(["Parent workflow", info["parent_workflow_id"]])
    if wf.objects:
        rows.append(["Objects", wf.objects])
    out = [f"{h} Workflow summary", ""] + _table(["Field", "Value"], rows)
    if isinstance(info.get("used"), dict) and info["used"]:
        args = ", ".join(f"`{k}`={_short(v)}" for k, v in list(info["used"].items())[:12])
        out += [f"Workflow arguments: {args}", ""]
    out += _structure(wf, h)
    out += _fields(wf, h)
    out += _resources(wf, h)
    out += _errors(wf, h)
    return out


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _statuses(act: ActivityStats) -> str:
    """Called per activity row; returns e.g. ``7 ok, 1 error`` (FINISHED shown as ok, others lower-cased)."""
    parts = [
        f"{n} {'ok' if k == 'FINISHED' else k.lower()}"
        for k, n in sorted(act.statuses.items(), key=lambda kv: (kv[0] != "FINISHED", -kv[1]))
    ]
    return ", ".join(parts)


def _structure(wf: WorkflowStats, h: str) -> list[str]:
    rows = []
    for act in wf.activities.values():
        d = sorted(act.durations)
        rows.append(
            [
                act.order + 1,
                f"`{act.name}`",
                act.count,
                _statuses(act),
                fmt_seconds(statistics.fmean(d)) if d else "-",
                fmt_seconds(_pct(d, 0.5)),
                fmt_seconds(_pct(d, 0.95)),
                fmt_seconds(d[0] if d else None),
                fmt_seconds(d[-1] if d else None),
                fmt_seconds(sum(d)) if d else "-",
            ]
        )
    out = [
        f"{h}# Run structure",
        "",
        "Activities in order of first appearance; task durations from started_at/ended_at.",
        "",
    ]
    out += _table(["#", "Activity", "Tasks", "Status", "Mean", "Median", "p95", "Min", "Max", "Total"], rows)
    tree = _tree(wf)
    if tree:
        out += [f"{h}# Nesting", "", "```"] + tree + ["```", ""]
    return out


def _pct(sorted_values: Any, q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _tree(wf: WorkflowStats) -> list[str]:
    acts = wf.activities
    if not any(a.children for a in acts.values()):
        return []
    lines: list[str] = []

    def walk(act: ActivityStats, depth: int, seen: frozenset, calls: int | None = None) -> None:
        under = f", {calls} under this parent" if calls is not None and calls != act.count else ""
        lines.append(f"{'  ' * depth}{'└─ ' if depth else ''}{act.name} ({_n(act.count, 'task')}{under})")
        for child, n in sorted(act.children.items(), key=lambda kv: acts[kv[0]].order if kv[0] in acts else 0):
            if child in acts and child not in seen and len(lines) < 200:
                walk(acts[child], depth + 1, seen | {child}, n)

    for act in acts.values():
        if not act.parents:
            walk(act, 0, frozenset({act.name}))
    return lines


def _fields(wf: WorkflowStats, h: str) -> list[str]:
    out = [f"{h}# Inputs and outputs", ""]
    any_rows = False
    for act in wf.activities.values():
        rows = []
        for direction, fields in (("in", act.used), ("out", act.generated)):
            for name, fs in fields.items():
                if fs.low is not None:
                    shown = f"{fs.low:.4g} .. {fs.high:.4g}" if fs.low != fs.high else f"{fs.low:.4g}"
                else:
                    shown = fs.example or "-"
                rows.append([direction, f"`{name}`", f"{fs.count}/{act.count}", ", ".join(fs.type_names()), shown])
        if rows:
            any_rows = True
            out += [f"**{act.name}**", ""] + _table(["", "Field", "Seen", "Types", "Range or example"], rows)
    if not any_rows:
        out += ["No task recorded inputs or outputs.", ""]
    return out


def _resources(wf: WorkflowStats, h: str) -> list[str]:
    rows = []
    for act in wf.activities.values():
        if not act.with_telemetry:
            continue
        pct = act.cpu_percent
        rows.append(
            [
                f"`{act.name}`",
                act.with_telemetry,
                fmt_seconds(act.cpu_time) if act.cpu_time else "-",
                f"{statistics.fmean(pct):.1f}/{max(pct):.1f}" if pct else "-",
                fmt_bytes(act.peak_rss),
                fmt_bytes(act.rss_growth) if act.rss_growth else "-",
                f"{fmt_bytes(act.io_read)}/{fmt_bytes(act.io_write)}" if act.io_read is not None else "-",
                f"{fmt_bytes(act.net_sent)}/{fmt_bytes(act.net_recv)}" if act.net_sent is not None else "-",
                f"{act.gpu_max_mem_percent:.1f}%" if act.gpu_max_mem_percent is not None else "-",
            ]
        )
    out = [f"{h}# Resource usage", ""]
    if not rows:
        return out + ["No telemetry was recorded (see telemetry_capture in settings.yaml).", ""]
    out += _table(
        [
            "Activity",
            "Tasks",
            "CPU time",
            "CPU % mean/max",
            "Peak RSS",
            "RSS growth",
            "Disk read/write",
            "Net sent/recv",
            "GPU mem max",
        ],
        rows,
    )
    samples = [v for v in wf.samples.values()]
    cpu = [c for c, _ in samples if isinstance(c, (int, float))]
    mem = [m for _, m in samples if isinstance(m, (int, float))]
    if cpu or mem:
        out += [
            f"Machine over the run ({len(samples)} samples): CPU "
            + (f"mean {statistics.fmean(cpu):.1f}%, max {max(cpu):.1f}%" if cpu else "-")
            + "; memory "
            + (f"mean {statistics.fmean(mem):.1f}%, max {max(mem):.1f}%" if mem else "-"),
            "",
        ]
    return out


def _errors(wf: WorkflowStats, h: str) -> list[str]:
    out = [f"{h}# Errors", ""]
    if not wf.error_count:
        return out + ["No task failed.", ""]
    by_act: dict[str, int] = {}
    for act in wf.activities.values():
        if act.statuses.get("ERROR"):
            by_act[act.name] = act.statuses["ERROR"]
    first = f"; the first {len(wf.errors)}:" if wf.error_count > len(wf.errors) else ":"
    out += [f"{_n(wf.error_count, 'task')} failed{first}", ""]
    out += _table(["Activity", "Task", "Message"], [[f"`{a}`", f"`{t}`", m] for a, t, m in wf.errors])
    if by_act:
        out += ["Failures per activity: " + ", ".join(f"`{a}` {n}" for a, n in by_act.items()), ""]
    return out
