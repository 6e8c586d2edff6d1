"""The shapes of the API's pages and rows: a page of items, a workflow row and a task row (from a task document or
from a workflow's kept columns)."""

from __future__ import annotations

from typing import Any


def _paged(items: list, total: int | None, limit: int, offset: int, more: bool | None = None) -> dict:
    """A page: items, total (None when not counted), limit, offset and next_offset (None on the last page)."""
    if total is not None:
        more = offset + len(items) < total
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + len(items) if more else None,
    }


_WORKFLOW_ROW = (
    "workflow_id",
    "name",
    "campaign_id",
    "user",
    "status",
    "started_at",
    "ended_at",
    "utc_timestamp",
    "parent_workflow_id",
    "hostname",
)
_TASK_ROW = (
    "task_id",
    "activity_id",
    "status",
    "started_at",
    "ended_at",
    "parent_task_id",
    "workflow_id",
    "hostname",
    "stderr",
)


def _workflow_row(doc: dict, task_count: int) -> dict:
    row = {k: doc.get(k) for k in _WORKFLOW_ROW}
    row["task_count"] = task_count
    return row


def _column_row(cols: Any, i: int) -> dict:
    """A task row (as _task_row) from the kept columns."""
    start, end = cols.starts[i], cols.ends[i]
    return {
        "task_id": cols.ids[i],
        "activity_id": cols.acts[i],
        "status": cols.statuses[i],
        "started_at": start,
        "ended_at": end,
        "parent_task_id": cols.parents[i],
        "stderr": cols.stderrs[i],
        "duration": end - start if type(start) in (int, float) and type(end) in (int, float) else None,
    }


def _task_row(doc: dict) -> dict:
    row = {k: doc.get(k) for k in _TASK_ROW}
    start, end = row["started_at"], row["ended_at"]
    row["duration"] = end - start if isinstance(start, (int, float)) and isinstance(end, (int, float)) else None
    return row
