"""Message schema: Status, TaskObject, WorkflowObject, with to_dict/from_dict.

Messages travel as plain dicts (``type`` = "task" | "workflow" | ...); these classes are the typed view of them.
``to_dict()`` omits fields that are None, so a message carries only what was captured.
"""

from __future__ import annotations

from enum import StrEnum

from flowcept_core import constants

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any, ClassVar

__all__ = ["Status", "TaskObject", "WorkflowObject", "TASK_FIELDS", "WORKFLOW_FIELDS"]


class Status(StrEnum):
    """Execution status of a task or workflow. A str subclass, so it serializes as its name."""

    SUBMITTED = constants.SUBMITTED
    WAITING = constants.WAITING
    RUNNING = constants.RUNNING
    FINISHED = constants.FINISHED
    ERROR = constants.ERROR
    UNKNOWN = constants.UNKNOWN

    def __str__(self) -> str:
        return self.value

    @staticmethod
    def get_finished_statuses() -> list[Status]:
        return [Status.FINISHED, Status.ERROR]


TASK_FIELDS: tuple[str, ...] = (
    "task_id", "workflow_id", "workflow_name", "campaign_id", "activity_id", "subtype", "group_id",
    "parent_task_id", "agent_id", "source_agent_id", "adapter_id", "used", "generated", "data", "custom_metadata",
    "tags", "dependencies", "dependents", "status", "stdout", "stderr", "submitted_at", "started_at", "ended_at",
    "registered_at", "utc_timestamp", "telemetry_at_start", "telemetry_at_end", "hostname", "node_name",
    "login_name", "user", "public_ip", "private_ip", "address", "environment_id", "mq_host",
)

WORKFLOW_FIELDS: tuple[str, ...] = (
    "workflow_id", "parent_workflow_id", "campaign_id", "name", "subtype", "used", "generated", "status",
    "stderr", "started_at", "ended_at", "utc_timestamp", "user", "agent_id", "adapter_id", "interceptor_ids",
    "machine_info", "conf", "flowcept_settings", "flowcept_version", "code_repository", "custom_metadata",
    "environment_id", "sys_name", "node_name", "hostname", "public_ip", "private_ip", "extra_metadata",
)


class _Record:
    """Shared to_dict/from_dict/serialize for the two record types."""

    _fields: ClassVar[tuple[str, ...]] = ()
    type: ClassVar[str] = ""

    def __init__(self, **kwargs: Any):
        for name in self._fields:
            setattr(self, name, None)
        self._extra: dict[str, Any] = {}
        for k, v in kwargs.items():
            if k in self._fields:
                setattr(self, k, v)
            elif k != "type":
                self._extra[k] = v

    def to_dict(self) -> dict[str, Any]:
        """The message dict: every non-None field, unknown fields kept, and ``type``."""
        out = {name: getattr(self, name) for name in self._fields if getattr(self, name) is not None}
        status = out.get("status")
        if isinstance(status, Status):
            out["status"] = status.value
        out.update(self._extra)
        out["type"] = self.type
        return out

    @classmethod
    def _from(cls, d: dict[str, Any]):
        obj = cls(**{k: v for k, v in d.items() if isinstance(k, str)})
        if isinstance(obj.status, str) and obj.status in Status.__members__:
            obj.status = Status(obj.status)
        return obj

    def serialize(self) -> bytes:
        """JSON bytes of to_dict()."""
        import orjson

        return orjson.dumps(self.to_dict(), default=str)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"

    __str__ = __repr__


class TaskObject(_Record):
    """One provenance task: what ran (activity_id), with what (used), producing what (generated), when, where."""

    _fields = TASK_FIELDS
    type = "task"

    @staticmethod
    def from_dict(task_obj_dict: dict[str, Any]) -> TaskObject:
        """Build a TaskObject from a message dict (unknown keys are kept and returned by to_dict)."""
        return TaskObject._from(task_obj_dict)

    @staticmethod
    def task_id_field() -> str:
        return "task_id"

    @staticmethod
    def workflow_id_field() -> str:
        return "workflow_id"

    @staticmethod
    def get_time_field_names() -> list[str]:
        return ["started_at", "ended_at", "submitted_at", "registered_at", "utc_timestamp"]

    @staticmethod
    def get_dict_field_names() -> list[str]:
        return ["used", "generated", "custom_metadata", "telemetry_at_start", "telemetry_at_end"]

    @staticmethod
    def enrich_task_dict(task_dict: dict) -> dict:
        """Fill host fields (hostname, node_name, login_name) that a message lacks; never overwrites."""
        from flowcept_core.sysinfo import host_fields

        for k, v in host_fields().items():
            task_dict.setdefault(k, v)
        return task_dict

    def enrich(self, adapter_key: str | None = None) -> None:
        if adapter_key and self.adapter_id is None:
            self.adapter_id = adapter_key
        d = TaskObject.enrich_task_dict({})
        for k, v in d.items():
            if getattr(self, k, None) is None:
                setattr(self, k, v)


class WorkflowObject(_Record):
    """One workflow run: identity, arguments (used), results (generated), system context."""

    _fields = WORKFLOW_FIELDS
    type = "workflow"

    def __init__(self, workflow_id: str | None = None, name: str | None = None, used: dict | None = None,
                 generated: dict | None = None, **kwargs: Any):
        super().__init__(workflow_id=workflow_id, name=name, used=used, generated=generated, **kwargs)

    @staticmethod
    def from_dict(dict_obj: dict[str, Any]) -> WorkflowObject:
        return WorkflowObject._from(dict_obj)

    def to_dict(self) -> dict[str, Any]:
        """The message dict (see _Record.to_dict), with the secrets of the ``flowcept_settings`` snapshot masked
        (MQ and database passwords, API keys, credentials in URIs), whoever filled it."""
        out = super().to_dict()
        snapshot = out.get("flowcept_settings")
        if isinstance(snapshot, dict):
            from flowcept_core.settings import Settings

            out["flowcept_settings"] = Settings(snapshot).redacted()
        return out

    def workflow_is_finished(self) -> bool:
        """True when the workflow ended, successfully (FINISHED) or not (ERROR)."""
        return self.status in (Status.FINISHED, Status.ERROR)

    @staticmethod
    def deserialize(serialized_data: bytes | str) -> WorkflowObject:
        import orjson

        return WorkflowObject.from_dict(orjson.loads(serialized_data))

    @staticmethod
    def workflow_id_field() -> str:
        return "workflow_id"

    def enrich(self, adapter_key: str | None = None) -> None:
        """Fill what the record lacks: adapter_id (from adapter_key) and flowcept_version."""
        if adapter_key and self.adapter_id is None:
            self.adapter_id = adapter_key
        if self.flowcept_version is None:
            from flowcept_core import __version__

            self.flowcept_version = __version__
