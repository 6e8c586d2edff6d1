"""Message builders: schema-valid task and workflow message dicts from keyword fields.

Used by interceptors (through the Emitter or flowcept_core.plugin) so that what an adapter captures has the fields
every consumer, store and query expects: ``type``, the id, ``workflow_id``, a valid ``status``, ``utc_timestamp``.

Example::

    task_message(workflow_id="wf1", activity_id="train", used={"lr": 0.1}, status="FINISHED",
                 started_at=t0, ended_at=t1)
"""

from __future__ import annotations

from time import time

from flowcept_core.constants import FINISHED, STATUSES
from flowcept_core.schema import TASK_FIELDS, WORKFLOW_FIELDS

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["task_message", "workflow_message"]

_TASK_FIELDS = frozenset(TASK_FIELDS)
_WORKFLOW_FIELDS = frozenset(WORKFLOW_FIELDS)
_DICT_FIELDS = ("used", "generated", "custom_metadata")


def _check(kind: str, fields: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(k for k in fields if k not in allowed)
    if unknown:
        raise ValueError(f"{kind} message fields {unknown} are not in the {kind} schema; put custom values under "
                         f"custom_metadata, or use one of {sorted(allowed)}")
    status = fields.get("status")
    if status is not None and str(status) not in STATUSES:
        raise ValueError(f"{kind} message status={status!r} is not allowed; choose one of {list(STATUSES)}")
    for name in _DICT_FIELDS:
        value = fields.get(name)
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"{kind} message field {name}={value!r} must be a dict")
    for name in ("started_at", "ended_at", "submitted_at", "registered_at"):
        value = fields.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{kind} message field {name}={value!r} must be a number of seconds since the epoch")


def task_message(*, workflow_id: str, activity_id: str, task_id: str | None = None, status: str = FINISHED,
                 **fields: Any) -> dict[str, Any]:
    """A task message dict: ``type`` "task", a fresh task_id unless given, ``utc_timestamp`` now unless given.

    Raises ValueError naming any field outside the task schema, a status outside Status, or a mistyped field.
    """
    if not workflow_id or not isinstance(workflow_id, str):
        raise ValueError(f"task message workflow_id={workflow_id!r} must be a non-empty string")
    if not activity_id or not isinstance(activity_id, str):
        raise ValueError(f"task message activity_id={activity_id!r} must be a non-empty string")
    fields["status"] = str(status)
    _check("task", fields, _TASK_FIELDS)
    if task_id is None:
        from flowcept_core.ids import new_id

        task_id = new_id()
    msg = {"type": "task", "task_id": task_id, "workflow_id": workflow_id, "activity_id": activity_id}
    msg.update((k, v) for k, v in fields.items() if v is not None)
    msg.setdefault("utc_timestamp", msg.get("ended_at") or msg.get("started_at") or time())
    return msg


def workflow_message(*, workflow_id: str, **fields: Any) -> dict[str, Any]:
    """A workflow message dict: ``type`` "workflow" with the given schema fields (merged by workflow_id in stores).

    Raises ValueError naming any field outside the workflow schema or a status outside Status.
    """
    if not workflow_id or not isinstance(workflow_id, str):
        raise ValueError(f"workflow message workflow_id={workflow_id!r} must be a non-empty string")
    if "status" in fields and fields["status"] is not None:
        fields["status"] = str(fields["status"])
    _check("workflow", fields, _WORKFLOW_FIELDS)
    msg = {"type": "workflow", "workflow_id": workflow_id}
    msg.update((k, v) for k, v in fields.items() if v is not None)
    return msg
