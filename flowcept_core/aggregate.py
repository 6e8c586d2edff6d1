"""Grouped aggregations (count, sum, avg, min, max) evaluated in Python over documents, as DBAPI.query offers them.

``aggregation=[("avg", "generated.loss"), ("max", "used.epochs")]`` with ``projection=["activity_id"]`` as the
group-by fields gives one row per group: ``{"activity_id": ..., "avg_generated_loss": ..., "max_used_epochs": ...}``
(like MongoDB's $group; rows sorted and limited afterwards). count takes any field name (or "*").
"""

from __future__ import annotations

from typing import Any

from flowcept_core.filters import MISSING, FilterError, get_path, project, sort_documents

__all__ = ["aggregate", "AGGREGATIONS", "result_field"]

AGGREGATIONS = ("count", "sum", "avg", "min", "max")


def result_field(op: str, field: str) -> str:
    return f"{op}_{field.replace('.', '_')}" if field not in ("*", "") else op


def _check(aggregation: Any) -> list[tuple[str, str]]:
    if isinstance(aggregation, tuple) and len(aggregation) == 2 and isinstance(aggregation[0], str):
        aggregation = [aggregation]
    if not isinstance(aggregation, (list, tuple)) or not aggregation:
        raise FilterError(f"aggregation={aggregation!r} must be a list of (operation, field) pairs, "
                          f"operation one of {list(AGGREGATIONS)}")
    out = []
    for item in aggregation:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise FilterError(f"aggregation entry {item!r} must be an (operation, field) pair of strings")
        op, field = item
        if op not in AGGREGATIONS:
            raise FilterError(f"unknown aggregation {op!r}; allowed: {list(AGGREGATIONS)}")
        out.append((op, field))
    return out


def _group_key(doc: dict, fields: list[str]) -> tuple:
    return tuple(_hashable(get_path(doc, f)) for f in fields)


def _hashable(v: Any) -> Any:
    if isinstance(v, (dict, list)):
        return repr(v)
    return None if v is MISSING else v


def aggregate(docs: list[dict], aggregation: Any, group_by: Any = None, sort: Any = None, limit: int = 0) -> list:
    """Rows of aggregated values per group (group_by: a list of fields, a projection dict, or None for one row)."""
    ops = _check(aggregation)
    if isinstance(group_by, dict):
        group_by = [k for k, v in group_by.items() if v and k != "_id"]
    fields = list(group_by or [])
    groups: dict[tuple, dict] = {}
    for doc in docs:
        key = _group_key(doc, fields)
        acc = groups.get(key)
        if acc is None:
            acc = groups[key] = {"_first": doc, "_stats": [[0, 0.0, None, None] for _ in ops]}
        for stats, (op, field) in zip(acc["_stats"], ops, strict=True):
            value = 1 if op == "count" and field in ("*", "") else get_path(doc, field)
            if op == "count":
                if field in ("*", "") or _is_value(value):
                    stats[0] += 1
                continue
            if not _is_number(value):
                continue
            stats[0] += 1
            stats[1] += value
            stats[2] = value if stats[2] is None or value < stats[2] else stats[2]
            stats[3] = value if stats[3] is None or value > stats[3] else stats[3]
    rows = []
    for acc in groups.values():
        row = project(acc["_first"], fields) if fields else {}
        for stats, (op, field) in zip(acc["_stats"], ops, strict=True):
            n, total, lo, hi = stats
            row[result_field(op, field)] = {"count": n, "sum": total if n else 0, "avg": total / n if n else None,
                                            "min": lo, "max": hi}[op]
        rows.append(row)
    rows = sort_documents(rows, sort)
    return rows[:limit] if limit else rows


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_value(v: Any) -> bool:
    return v is not None and v is not MISSING
