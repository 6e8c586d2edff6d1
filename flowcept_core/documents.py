"""The document model shared by every store: which field identifies a document, and how two messages merge.

A task's start and end messages (or a workflow's) arrive separately, possibly twice, possibly out of order; each
store applies merge_documents() so that every store ends up with the same document for the same message stream.
"""

from __future__ import annotations

from typing import Any

from flowcept_core.constants import AGENT, ERROR, FINISHED, OBJECT, TASK, TERMINAL_STATUSES, WORKFLOW

__all__ = ["COLLECTIONS", "ID_FIELDS", "collection_of", "merge_documents", "TERMINAL_STATUSES"]

# dead_letters: what the DocumentInserter received but could not store (flowcept_core.deadletter)
COLLECTIONS = ("tasks", "workflows", "objects", "agents", "dead_letters")
ID_FIELDS = {"tasks": "task_id", "workflows": "workflow_id", "objects": "object_id", "agents": "agent_id",
             "dead_letters": "dead_letter_id"}
_TYPE_TO_COLLECTION = {TASK: "tasks", WORKFLOW: "workflows", OBJECT: "objects", AGENT: "agents"}
# Fields whose dict values are merged key by key instead of replaced.
_MERGED_DICTS = frozenset({"used", "generated", "custom_metadata", "telemetry_at_start", "telemetry_at_end",
                           "machine_info", "flowcept_settings", "conf", "code_repository", "extra_metadata"})
# Timestamps where the earliest (start-like) or latest (end-like) value wins, whatever the arrival order.
_EARLIEST = frozenset({"started_at", "submitted_at", "registered_at", "utc_timestamp"})
_LATEST = frozenset({"ended_at"})


def collection_of(msg: dict) -> str | None:
    """The collection a message belongs to, from its type ("task" -> "tasks"); None for control messages and for
    a type that names no collection (including one that is not a string)."""
    kind = msg.get("type")
    return _TYPE_TO_COLLECTION.get(kind) if isinstance(kind, str) else None


def merge_documents(old: dict | None, new: dict) -> dict:
    """The document after new arrives on top of old (a new dict; neither argument is changed).

    Rules: fields missing from new are kept; dict fields like used/generated merge key by key; start timestamps
    keep the earliest value, ended_at the latest; a terminal status (FINISHED/ERROR) is not replaced by a
    non-terminal one (a late RUNNING message cannot reopen a finished task), and ERROR beats FINISHED;
    anything else: the newer value wins. Applying the same message twice changes nothing.
    """
    if not old:
        return dict(new)
    out = dict(old)
    for k, v in new.items():
        if v is None:
            continue
        cur = out.get(k)
        if cur is None:
            out[k] = v
        elif k in _MERGED_DICTS and isinstance(cur, dict) and isinstance(v, dict):
            out[k] = {**cur, **v}
        elif k in _EARLIEST and _is_num(cur) and _is_num(v):
            out[k] = min(cur, v)
        elif k in _LATEST and _is_num(cur) and _is_num(v):
            out[k] = max(cur, v)
        elif k == "status":
            out[k] = _merge_status(cur, v)
        else:
            out[k] = v
    return out


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _merge_status(cur: Any, new: Any) -> Any:
    if cur in TERMINAL_STATUSES and new not in TERMINAL_STATUSES:
        return cur
    if cur == ERROR and new == FINISHED:
        return cur
    return new
