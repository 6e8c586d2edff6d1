"""The provenance report as a PDF: the card's tables as text pages, then plots drawn with matplotlib.

Plots per workflow: task timeline (one row per activity), duration per activity (box plot), machine CPU and memory
over time, GPU memory over time (when recorded) and the trend of each numeric output that repeats across tasks
(e.g. a loss). Called by generate_report; matplotlib is imported here only (``pip install flowcept[report]``).
"""

from __future__ import annotations

import textwrap
from typing import Any

from flowcept_core.report.collect import RunCollector, WorkflowStats

__all__ = ["render_pdf", "plot_titles"]

_MAX_TIMELINE_BARS = 5_000  # per activity; beyond, an evenly spread sample (bars narrower than a pixel overlap)
_MAX_POINTS = 5_000  # per line plot; beyond, an evenly spread sample
_LINES_PER_PAGE = 70


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ModuleNotFoundError("the PDF report needs matplotlib; install it with: pip install flowcept[report]"
                                  ) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


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
    plt = _pyplot()
    from matplotlib.backends.backend_pdf import PdfPages

    drawn: list[str] = []
    with PdfPages(path) as pdf:
        _text_pages(plt, pdf, markdown)
        for wf in run.workflows.values():
            label = wf.info.get("name") or wf.workflow_id
            origin = wf.first_start or 0.0
            for title in plot_titles(wf):
                fig, ax = plt.subplots(figsize=(11, 6.5))
                _draw(ax, wf, title, origin)
                ax.set_title(f"{title} ({label})")
                fig.tight_layout()
                pdf.savefig(fig)
                plt.close(fig)
                drawn.append(title)
        info = pdf.infodict()
        info["Title"] = "Flowcept provenance report"
    return drawn


def _text_pages(plt: Any, pdf: Any, markdown: str) -> None:
    lines: list[str] = []
    for raw in markdown.splitlines():
        lines += textwrap.wrap(raw, 130, subsequent_indent="    ") or [""]
    for start in range(0, max(len(lines), 1), _LINES_PER_PAGE):
        fig = plt.figure(figsize=(11, 8.5))
        fig.text(0.03, 0.97, "\n".join(lines[start:start + _LINES_PER_PAGE]), family="monospace", fontsize=6.5,
                 va="top")
        pdf.savefig(fig)
        plt.close(fig)


def _draw(ax: Any, wf: WorkflowStats, title: str, origin: float) -> None:
    acts = list(wf.activities.values())
    if title == "Task timeline":
        for row, act in enumerate(acts):
            n = len(act.starts)
            step = max(1, n // _MAX_TIMELINE_BARS)
            bars = [(act.starts[i] - origin, max(act.ends[i] - act.starts[i], 1e-9)) for i in range(0, n, step)]
            ax.broken_barh(bars, (row - 0.4, 0.8), rasterized=True)  # an image: thousands of bars stay fast
        ax.set_yticks(range(len(acts)), [a.name for a in acts])
        ax.set_xlabel("seconds since the first task started")
    elif title == "Task duration per activity":
        data = [list(a.durations) or [0.0] for a in acts]
        ax.boxplot(data, orientation="horizontal", showfliers=False, patch_artist=True,
                   boxprops={"facecolor": "C0"}, medianprops={"color": "black"})
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
        name, _, key = title[len("Trend of "):].rpartition(".")
        xs, ys = wf.activities[name].series[key]
        step = max(1, len(xs) // _MAX_POINTS)
        ax.plot([x - origin for x in xs[::step]], list(ys[::step]), marker="o" if len(xs) < 500 else None)
        ax.set_ylabel(key)
        ax.set_xlabel("task end, seconds since the first task started")
