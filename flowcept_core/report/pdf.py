"""The provenance report as a PDF: the card's tables as text pages, then plots drawn with matplotlib.

Plots per workflow: task timeline (one row per activity), duration per activity (box plot), machine CPU and memory
over time, GPU memory over time (when recorded) and the trend of each numeric output that repeats across tasks
(e.g. a loss). Called by generate_report; matplotlib is imported here only (``pip install flowcept[report]``).
"""

from __future__ import annotations

import textwrap
from typing import Any

from flowcept_core.report.collect import ActivityStats, RunCollector, WorkflowStats

__all__ = ["render_pdf", "plot_titles"]

_MAX_TIMELINE_BARS = 2_000  # per activity; beyond, a row shows how many of its tasks run over time
_MAX_POINTS = 5_000  # per line plot; beyond, an evenly spread sample
_LINES_PER_PAGE = 70


def _figure_class() -> Any:
    """Called before a PDF is read (to fail early) and by render_pdf; returns matplotlib's Figure class. Figures are
    made without pyplot (no backend selection, no figure manager): they are only saved into the PDF."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ModuleNotFoundError(
            "the PDF report needs matplotlib; install it with: pip install flowcept[report]"
        ) from None
    return Figure


def plot_titles(wf: WorkflowStats) -> list[str]:
    """Called by render_pdf (and tests); returns the titles of the plots a workflow gets, in page order."""
    titles = ["Task timeline", "Task duration per activity"]
    if wf.samples:
        titles.append("Machine CPU and memory over time")
    if wf.gpu_samples:
        titles.append("GPU memory over time")
    for act in wf.activities.values():
        for key, (xs, ys) in act.series.items():
            if len(xs) >= 3 and min(ys) != max(ys):
                titles.append(f"Trend of {act.name}.{key}")
    return titles


def render_pdf(run: RunCollector, markdown: str, path: str) -> list[str]:
    """Called by generate_report; writes the PDF at path and returns the titles of the plots drawn."""
    figure = _figure_class()
    from matplotlib.backends.backend_pdf import PdfPages

    drawn: list[str] = []
    with PdfPages(path) as pdf:
        _text_pages(figure, pdf, markdown)
        for wf in run.workflows.values():
            label = wf.info.get("name") or wf.workflow_id
            origin = wf.first_start or 0.0
            names = max((len(a) for a in wf.activities), default=0)
            for title in plot_titles(wf):
                fig = figure(figsize=(11, 6.5))
                ax = fig.add_subplot()
                _draw(ax, wf, title, origin)
                ax.set_title(f"{title} ({label})")
                # margins from the longest activity name instead of a layout pass over every text on the figure
                rows = title in ("Task timeline", "Task duration per activity")
                fig.subplots_adjust(
                    left=min(0.45, 0.03 + 0.0078 * names) if rows else 0.08, right=0.97, top=0.93, bottom=0.1
                )
                pdf.savefig(fig)
                drawn.append(title)
        info = pdf.infodict()
        info["Title"] = "Flowcept provenance report"
    return drawn


def _text_pages(figure: Any, pdf: Any, markdown: str) -> None:
    lines: list[str] = []
    for raw in markdown.splitlines():
        lines += textwrap.wrap(raw, 130, subsequent_indent="    ") or [""]
    for start in range(0, max(len(lines), 1), _LINES_PER_PAGE):
        fig = figure(figsize=(11, 8.5))
        fig.text(
            0.03, 0.97, "\n".join(lines[start : start + _LINES_PER_PAGE]), family="monospace", fontsize=6.5, va="top"
        )
        pdf.savefig(fig)


_BUSY_CMAP = "flowcept_busy"


def _running(act: ActivityStats, origin: float, span: float, bins: int = 1500) -> Any:
    """The mean number of the activity's tasks running in each of ``bins`` slices of [origin, origin + span]: the
    busy time up to t, sum(min(t - start, duration)) over started tasks, from sorted starts and ends and their prefix
    sums, differenced per slice (every task counts, however short)."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import LinearSegmentedColormap

    if _BUSY_CMAP not in colormaps:
        colormaps.register(LinearSegmentedColormap.from_list(_BUSY_CMAP, ["white", "C0"]))
    starts = np.sort(np.frombuffer(act.starts, dtype=np.float64) - origin)
    ends = np.sort(np.frombuffer(act.ends, dtype=np.float64) - origin)
    edges = np.linspace(0.0, span, bins + 1)

    def busy(sorted_times: Any) -> Any:
        k = np.searchsorted(sorted_times, edges, side="right")
        prefix = np.concatenate(([0.0], np.cumsum(sorted_times)))
        return k * edges - prefix[k]

    return np.maximum(np.diff(busy(starts) - busy(ends)) / (span / bins), 0.0)


def _draw(ax: Any, wf: WorkflowStats, title: str, origin: float) -> None:
    acts = list(wf.activities.values())
    if title == "Task timeline":
        span = max((max(a.ends) - origin for a in acts if a.ends), default=0.0) or 1.0
        # too many bars to tell apart: the row shows how many tasks ran, on average, in each slice of the run
        dense = {
            row: _running(act, origin, span) for row, act in enumerate(acts) if len(act.starts) > _MAX_TIMELINE_BARS
        }
        top = max([1.0, *(float(r.max()) for r in dense.values())])  # one scale: 1 = a task always running
        for row, act in enumerate(acts):
            if row in dense:
                ax.imshow(
                    dense[row][None, :],
                    aspect="auto",
                    cmap=_BUSY_CMAP,
                    vmin=0,
                    vmax=top,
                    extent=(0.0, span, row + 0.4, row - 0.4),
                    interpolation="nearest",
                )
            else:  # a Gantt chart: one bar per task
                bars = [(t0 - origin, max(t1 - t0, 1e-9)) for t0, t1 in zip(act.starts, act.ends, strict=True)]
                ax.broken_barh(bars, (row - 0.4, 0.8), rasterized=True)
        ax.set_xlim(0.0, span)
        ax.set_ylim(len(acts) - 0.5, -0.5)
        ax.set_yticks(range(len(acts)), [a.name for a in acts])
        ax.set_xlabel("seconds since the first task started (a row of many tasks: darker = more of them running)")
    elif title == "Task duration per activity":
        data = [list(a.durations) or [0.0] for a in acts]
        ax.boxplot(
            data,
            orientation="horizontal",
            showfliers=False,
            patch_artist=True,
            boxprops={"facecolor": "C0"},
            medianprops={"color": "black"},
        )
        ax.set_yticks(range(1, len(acts) + 1), [a.name for a in acts])
        ax.set_xlabel("task duration (s)")
    elif title == "Machine CPU and memory over time":
        times = sorted(wf.samples)
        cpu = [(t - origin, wf.samples[t][0]) for t in times if isinstance(wf.samples[t][0], (int, float))]
        mem = [(t - origin, wf.samples[t][1]) for t in times if isinstance(wf.samples[t][1], (int, float))]
        if cpu:
            ax.plot(*zip(*cpu, strict=True), label="CPU %", marker="o")
        if mem:
            ax.plot(*zip(*mem, strict=True), label="memory %", marker="o")
        ax.set_ylabel("percent")
        ax.set_xlabel("seconds since the first task started")
        ax.legend()
    elif title == "GPU memory over time":
        times = sorted(wf.gpu_samples)
        ax.plot([t - origin for t in times], [wf.gpu_samples[t] for t in times], marker="o", label="GPU memory %")
        ax.set_ylabel("percent (highest GPU)")
        ax.legend()
    elif title.startswith("Trend of "):
        name, _, key = title[len("Trend of ") :].rpartition(".")
        xs, ys = wf.activities[name].series[key]
        step = max(1, len(xs) // _MAX_POINTS)
        ax.plot([x - origin for x in xs[::step]], list(ys[::step]), marker="o" if len(xs) < 500 else None)
        ax.set_ylabel(key)
        ax.set_xlabel("task end, seconds since the first task started")
