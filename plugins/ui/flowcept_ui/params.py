"""Query-string parameters of the JSON API, checked: every bad value is an ApiError naming it and what is allowed."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping

__all__ = [
    "ApiError",
    "NotFoundError",
    "page",
    "integer",
    "time_value",
    "sort_spec",
    "text",
    "TASK_SORT_FIELDS",
    "WORKFLOW_SORT_FIELDS",
    "MAX_LIMIT",
    "time_range",
]

MAX_LIMIT = 1000
TASK_SORT_FIELDS = ("task_id", "started_at", "ended_at", "activity_id", "status")
WORKFLOW_SORT_FIELDS = ("started_at", "utc_timestamp", "name", "workflow_id", "ended_at")


class ApiError(Exception):
    """A request the API refuses; ``status`` is the HTTP status sent with ``{"error": {"status", "message"}}``."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class NotFoundError(ApiError):
    """No workflow, task or campaign with the requested id."""

    status = 404


def text(params: Mapping[str, str], name: str) -> str | None:
    """The parameter's value with surrounding blanks removed, or None when absent or empty."""
    value = params.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def integer(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """The integer parameter (lo..hi), default when absent."""
    raw = text(params, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"{name}={raw!r} is not an integer; allowed: {lo}..{hi}") from None
    if not lo <= value <= hi:
        raise ApiError(f"{name}={value} is out of range; allowed: {lo}..{hi}")
    return value


def page(params: Mapping[str, str], default_limit: int = 50) -> tuple[int, int]:
    """(limit, offset) from ``limit`` (1..MAX_LIMIT) and ``offset`` (>= 0)."""
    return (integer(params, "limit", default_limit, 1, MAX_LIMIT), integer(params, "offset", 0, 0, 10**9))


def time_value(params: Mapping[str, str], name: str) -> float | None:
    """A time as Unix seconds (``1733300000.5``) or ISO 8601 (``2026-12-04T07:00:00Z``; UTC when no zone)."""
    raw = text(params, name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = _dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            f"{name}={raw!r} is not a time; give Unix seconds (1733300000) or ISO 8601 (2026-12-04T07:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return when.timestamp()


def sort_spec(params: Mapping[str, str], allowed: tuple[str, ...], default: str) -> list[tuple[str, int]]:
    """``sort=field`` ascending or ``sort=-field`` descending, field one of allowed."""
    raw = text(params, "sort") or default
    field, direction = (raw[1:], -1) if raw.startswith("-") else (raw.lstrip("+"), 1)
    if field not in allowed:
        raise ApiError(f"sort={raw!r} is not allowed; use one of {list(allowed)} (prefix '-' for descending)")
    return [(field, direction)]


def time_range(params: Mapping[str, str], field: str, since: str, until: str) -> dict | None:
    """A filter condition {"$gte": since, "$lte": until} on field from two time parameters, or None."""
    lo, hi = time_value(params, since), time_value(params, until)
    cond = {}
    if lo is not None:
        cond["$gte"] = lo
    if hi is not None:
        cond["$lte"] = hi
    return cond or None
