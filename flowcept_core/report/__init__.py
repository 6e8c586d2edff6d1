"""Reports on captured provenance: the Markdown provenance card and the PDF provenance report.

Entry point: :func:`generate_report` (also ``Flowcept.generate_report`` and ``flowcept report``). Input is streamed:
a buffer file is read a block at a time and gathered into per-activity statistics (flowcept_core.report.collect),
so a million-task file reports without being loaded whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["generate_report", "REPORT_FORMATS", "DEFAULT_OUTPUT"]

# report type -> the one format it supports ("workflow_card" is upstream's other name for the card)
REPORT_FORMATS: dict[str, str] = {
    "provenance_card": "markdown",
    "workflow_card": "markdown",
    "provenance_report": "pdf",
}
DEFAULT_OUTPUT: dict[str, str] = {"markdown": "WORKFLOW_CARD.md", "pdf": "PROVENANCE_REPORT.pdf"}


def _check(
    report_type: str, format: str, input_jsonl_path: Any, records: Any, workflow_id: Any, campaign_id: Any
) -> str:
    """Validate the arguments; returns the input mode ("jsonl", "records" or "db"); raises ValueError."""
    if report_type not in REPORT_FORMATS:
        raise ValueError(f"report_type={report_type!r} is not supported; choose one of {list(REPORT_FORMATS)}")
    wanted = REPORT_FORMATS[report_type]
    if format != wanted:
        raise ValueError(f"report_type={report_type!r} supports only format={wanted!r}, got format={format!r}")
    given = [
        name for name, value in (("input_jsonl_path", input_jsonl_path), ("records", records)) if value is not None
    ]
    if len(given) > 1:
        raise ValueError(
            f"give one input: {' and '.join(given)} were both given (input_jsonl_path, records, or "
            "workflow_id/campaign_id for the database)"
        )
    if given:
        if records is not None and not isinstance(records, (list, tuple)):
            raise ValueError(f"records must be a list of dicts, got {type(records).__name__}")
        return "jsonl" if given[0] == "input_jsonl_path" else "records"
    if workflow_id is None and campaign_id is None:
        raise ValueError("no input: give input_jsonl_path, records, or workflow_id/campaign_id to read the database")
    if workflow_id is not None and campaign_id is not None:
        raise ValueError(
            f"database mode takes workflow_id or campaign_id, not both (got {workflow_id!r} and {campaign_id!r})"
        )
    return "db"


def generate_report(
    report_type: str = "provenance_card",
    format: str = "markdown",
    print_markdown: bool = False,
    output_path: str | None = None,
    input_jsonl_path: str | None = None,
    records: list[dict[str, Any]] | None = None,
    workflow_id: str | None = None,
    campaign_id: str | None = None,
) -> dict[str, Any]:
    """Called by users (``Flowcept.generate_report``) and ``flowcept report``; writes the report, returns metadata.

    Input: exactly one of ``input_jsonl_path`` (a buffer file, streamed), ``records`` (messages in memory) or, for
    the database, ``workflow_id`` / ``campaign_id`` (with a file or records, these filter the messages).
    Returns ``{"report_type", "format", "input_mode", "output" (= "output_path"), "skipped_lines" (malformed JSONL
    lines, skipped and logged), "workflows", "activities", "tasks", "objects", "messages"}`` plus ``"markdown"`` (the
    card's text) or ``"plots"`` (the PDF's plot titles). Default output: WORKFLOW_CARD.md / PROVENANCE_REPORT.pdf.
    Raises ValueError for a bad type/format pair or input mode,
    FileNotFoundError for a missing JSONL file, ModuleNotFoundError (with the install hint) for print_markdown
    without rich or a PDF without matplotlib, LookupError when the database has nothing for the ids.

    Example::

        Flowcept.generate_report(input_jsonl_path="flowcept_buffer.jsonl", print_markdown=True)
    """
    mode = _check(report_type, format, input_jsonl_path, records, workflow_id, campaign_id)
    console = _rich_console() if print_markdown else None
    if print_markdown and format != "markdown":
        raise ValueError(f"print_markdown=True needs format='markdown', got format={format!r}")
    if format == "pdf":
        from flowcept_core.report.pdf import _figure_class

        _figure_class()  # say that matplotlib is missing before reading a large input
    from flowcept_core.report.collect import RunCollector

    blocks: Iterable[Iterable[dict]]
    skipped = [0]  # malformed lines of a JSONL input, skipped
    if mode == "jsonl":
        from flowcept_core.report.source import iter_jsonl_blocks

        blocks = iter_jsonl_blocks(str(input_jsonl_path), "reading buffer file", skipped, share_snapshots=True)
    elif mode == "records":
        blocks = [records or []]
    else:
        from flowcept_core.report.source import iter_db

        blocks = [iter_db(workflow_id, campaign_id)]
    flt_wf, flt_camp = (workflow_id, campaign_id) if mode != "db" else (None, None)
    run = RunCollector(flt_wf, flt_camp)
    for block in blocks:
        run.add_block(block)
    run.finish()
    from flowcept_core.report.markdown import render_card

    card = render_card(run)
    path = os.path.abspath(output_path or DEFAULT_OUTPUT[format])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    result: dict[str, Any] = {
        "report_type": report_type,
        "format": format,
        "input_mode": mode,
        "output": path,
        "output_path": path,
        "skipped_lines": skipped[0],
        "workflows": len(run.workflows),
        "messages": run.messages,
        "tasks": sum(w.tasks for w in run.workflows.values()),
        "activities": sum(len(w.activities) for w in run.workflows.values()),
        "objects": sum(w.objects for w in run.workflows.values()),
    }
    if skipped[0]:
        from flowcept_core.logger import get_logger

        get_logger().warning(f"report: {skipped[0]} malformed line(s) of {input_jsonl_path} skipped")
    if format == "markdown":
        result["markdown"] = card
        with open(path, "w", encoding="utf-8") as f:
            f.write(card)
        if console is not None:
            from rich.markdown import Markdown

            console.print(Markdown(card))
    else:
        from flowcept_core.report.pdf import render_pdf

        result["plots"] = render_pdf(run, card, path)
    return result


def _rich_console() -> Any:
    try:
        from rich.console import Console
    except ImportError:
        raise ModuleNotFoundError(
            "print_markdown=True needs rich; install it with: pip install flowcept[report] (or pip install rich)"
        ) from None
    return Console()
