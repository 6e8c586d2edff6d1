"""W3C PROV-JSON for stored workflows and tasks (``flowcept export --format prov``).

Mapping: a workflow is a ``prov:Activity`` of type ``flowcept:Workflow``; each task is a ``prov:Activity`` (times,
status, activity_id) that ``wasInformedBy`` its parent task (or its workflow); each used/generated field is a
``prov:Entity`` (value in ``prov:value``) linked by ``used`` / ``wasGeneratedBy``; the user or host is a
``prov:Agent`` the workflow ``wasAssociatedWith``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["to_prov"]

_MAX_VALUE = 200  # characters of a value kept in prov:value (longer values are cut and marked)


def _time(ts: Any) -> str | None:
    if not isinstance(ts, (int, float)):
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float)):
        return v
    text = v if isinstance(v, str) else repr(v)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def to_prov(workflows: list[dict], tasks: list[dict]) -> dict:
    """Called by the export command; returns one PROV-JSON document for the workflows and tasks given."""
    doc: dict[str, Any] = {
        "prefix": {"flowcept": "https://flowcept.org/ns#"},
        "activity": {},
        "entity": {},
        "agent": {},
        "used": {},
        "wasGeneratedBy": {},
        "wasInformedBy": {},
        "wasAssociatedWith": {},
    }
    n = 0

    def rel(kind: str, body: dict) -> None:
        nonlocal n
        n += 1
        doc[kind][f"_:r{n}"] = body

    for w in workflows:
        wid = f"flowcept:workflow/{w.get('workflow_id')}"
        doc["activity"][wid] = {
            k: v
            for k, v in {
                "prov:type": "flowcept:Workflow",
                "prov:label": w.get("name"),
                "prov:startTime": _time(w.get("started_at")),
                "prov:endTime": _time(w.get("ended_at")),
                "flowcept:campaign_id": w.get("campaign_id"),
            }.items()
            if v is not None
        }
        who = w.get("user") or w.get("login_name") or (w.get("machine_info") or {}).get("hostname")
        if who:
            agent = f"flowcept:agent/{who}"
            doc["agent"][agent] = {"prov:label": who}
            rel("wasAssociatedWith", {"prov:activity": wid, "prov:agent": agent})
    for t in tasks:
        tid = f"flowcept:task/{t.get('task_id')}"
        doc["activity"][tid] = {
            k: v
            for k, v in {
                "prov:type": "flowcept:Task",
                "prov:label": t.get("activity_id"),
                "flowcept:status": t.get("status"),
                "prov:startTime": _time(t.get("started_at")),
                "prov:endTime": _time(t.get("ended_at")),
            }.items()
            if v is not None
        }
        informant = (
            f"flowcept:task/{t['parent_task_id']}"
            if t.get("parent_task_id")
            else f"flowcept:workflow/{t.get('workflow_id')}"
            if t.get("workflow_id")
            else None
        )
        if informant:
            rel("wasInformedBy", {"prov:informed": tid, "prov:informant": informant})
        for field, kind, link in (("used", "used", "prov:entity"), ("generated", "wasGeneratedBy", "prov:entity")):
            values = t.get(field)
            if not isinstance(values, dict):
                continue
            for key, v in values.items():
                eid = f"{tid}/{'in' if field == 'used' else 'out'}/{key}"
                doc["entity"][eid] = {"prov:label": key, "prov:value": _value(v)}
                rel(kind, {"prov:activity": tid, link: eid})
    return {k: v for k, v in doc.items() if v}
