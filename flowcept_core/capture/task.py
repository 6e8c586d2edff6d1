"""FlowceptTask: a task built explicitly, as a context manager or with end()/send().

Rules: passing any of generated, ended_at, stdout, stderr or status at construction ends the task at once
(status FINISHED unless given). end() records end time, outputs, status and end telemetry, then publishes;
send() publishes a task that was not ended, with ended_at = started_at. A task publishes at most once.
Inside ``with FlowceptTask(...)``, decorated calls see this task as their parent. An exception leaving the block
ends the task with status ERROR and the exception in stderr, and propagates.
With no active Flowcept, every method is a no-op and the block just runs.
"""

from __future__ import annotations

from time import time
from typing import Any

from flowcept_core.capture.context import PARENT, STATE, current_parent_id, error_text
from flowcept_core.constants import FINISHED
from flowcept_core.ids import COUNTER, format_id
from flowcept_core.logger import get_logger
from flowcept_core.schema import Status

__all__ = ["FlowceptTask"]


def _status(value: Any) -> str:
    if value is None:
        return FINISHED
    if isinstance(value, Status):
        return value.value
    if isinstance(value, str) and value in Status.__members__:
        return value
    raise ValueError(f"status={value!r} is not a Status; use one of {list(Status.__members__)}")


_TEL_PENDING = object()  # telemetry wanted, but the sampler had no reading yet when the task ended


class _Parts:
    """Joins a FlowceptTask's scalar fields with its used/generated when the buffer is drained."""

    width = 4  # flat record: (_PARTS, msg, used, generated)

    @staticmethod
    def materialize(rec: list, run: Any) -> dict:
        _, msg, used, generated = rec
        if msg.get("telemetry_at_start") is _TEL_PENDING:  # ended before the first reading: it takes that one
            tel = run.telemetry
            if tel is not None:
                msg["telemetry_at_start"] = msg["telemetry_at_end"] = tel.snapshot
            else:
                del msg["telemetry_at_start"]
        if type(msg["task_id"]) is int:  # taken from the counter at creation, formatted off the hot path
            msg["task_id"] = format_id(msg["task_id"])
        if used is not None:
            msg["used"] = used
        if generated is not None:
            msg["generated"] = generated
        return run._clean(msg)


_PARTS = _Parts()


class FlowceptTask:
    """A task whose fields you set yourself. See the module docstring for the end/send rules."""

    # used/generated live outside _msg until publication: a dict of scalars only is not tracked by the garbage
    # collector, so thousands of pending tasks cost it nothing (see _Parts)
    __slots__ = ("_msg", "_used", "_run", "_ended", "_token", "_tel")

    def __init__(self, task_id: str | None = None, workflow_id: str | None = None, campaign_id: str | None = None,
                 activity_id: str | None = None, agent_id: str | None = None, source_agent_id: str | None = None,
                 parent_task_id: str | None = None, used: dict | None = None, data: Any = None,
                 subtype: str | None = None, hostname: str | None = None, tags: list[str] | None = None,
                 adapter_id: str | None = None, custom_metadata: dict | None = None, generated: dict | None = None,
                 started_at: float | None = None, ended_at: float | None = None, stdout: str | None = None,
                 stderr: str | None = None, status: Status | None = None, capture_telemetry: bool | None = None):
        run = STATE.run
        self._run = run
        self._token = None
        if run is None:
            self._msg = self._used = None
            self._ended = True
            return
        self._ended = False
        msg = {"type": "task", "task_id": task_id or next(COUNTER), "workflow_id": workflow_id or run.workflow_id,
               "campaign_id": campaign_id or run.campaign_id, "activity_id": activity_id,
               "started_at": started_at or time(), "hostname": hostname or run.hostname}
        if activity_id is None:
            del msg["activity_id"]
        if type(task_id) is int:  # a caller's int id stays apart from the counter's ints (formatted at drain)
            msg["task_id"] = str(task_id)
        self._used = used
        parent = parent_task_id or (current_parent_id() if PARENT.get() is not None else None)
        if parent is not None:
            msg["parent_task_id"] = parent
        # the rarely given fields, checked once together
        if agent_id is not None or source_agent_id is not None or data is not None or subtype is not None or \
                tags is not None or adapter_id is not None or custom_metadata is not None:
            for key, value in (("agent_id", agent_id), ("source_agent_id", source_agent_id), ("data", data),
                               ("subtype", subtype), ("adapter_id", adapter_id),
                               ("custom_metadata", custom_metadata)):
                if value is not None:
                    msg[key] = str(value) if key.endswith("agent_id") else value
            if tags is not None:
                msg["tags"] = [tags] if isinstance(tags, str) else list(tags)
        # capture_telemetry=False: no telemetry for this task; None or True: the run's sampler, when telemetry is on
        self._tel = capture_telemetry is not False
        tel = run.telemetry if self._tel else None
        if tel is not None:
            msg["telemetry_at_start"] = tel.snapshot
        self._msg = msg
        if generated is not None or ended_at is not None or stdout is not None or stderr is not None or \
                status is not None:
            self.end(generated=generated, ended_at=ended_at, stdout=stdout, stderr=stderr, status=status)

    def __enter__(self) -> FlowceptTask:
        if self._msg is not None:
            self._token = PARENT.set(self._msg["task_id"])  # an int is formatted where it is read
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> bool:
        if self._token is not None:
            try:
                PARENT.reset(self._token)
            except ValueError:  # exited in another context (e.g. a different asyncio task)
                PARENT.set(None)
            self._token = None
        if not self._ended:
            if exc_val is not None:
                self.end(status=Status.ERROR, stderr=error_text(exc_val))
            else:
                self.end()
        return False

    def end(self, generated: dict | None = None, ended_at: float | None = None, stdout: str | None = None,
            stderr: str | None = None, data: Any = None, custom_metadata: dict | None = None,
            status: Status | None = None) -> None:
        """Finish the task: end time, outputs, status (FINISHED by default), end telemetry; then publish it."""
        if self._ended:
            if self._msg is not None:
                get_logger().warning(f"FlowceptTask {self.get_id()} was already ended or sent; "
                                     "end() ignored")
            return
        msg = self._msg
        msg["ended_at"] = ended_at or time()
        msg["status"] = FINISHED if status is None else _status(status)
        if stdout is not None:
            msg["stdout"] = stdout
        if stderr is not None:
            msg["stderr"] = stderr
        if data is not None:
            msg["data"] = data
        if custom_metadata is not None:
            msg["custom_metadata"] = {**msg.get("custom_metadata", {}), **custom_metadata}
        if self._tel:
            tel = self._run.telemetry
            if tel is not None:
                msg["telemetry_at_end"] = tel.snapshot
                msg.setdefault("telemetry_at_start", msg["telemetry_at_end"])  # started before the first reading
            elif self._run.telemetry_cfg is None or self._run.telemetry_cfg.enabled:
                msg["telemetry_at_start"] = _TEL_PENDING
        self._ended = True
        self._run.extend((_PARTS, msg, self._used, generated))

    def send(self) -> None:
        """Publish the task as it is, if it was not ended: ended_at = started_at, no status or outputs added."""
        if self._ended:
            return
        msg = self._msg
        msg["ended_at"] = msg["started_at"]
        self._ended = True
        self._run.extend((_PARTS, msg, self._used, None))

    def get_id(self) -> str | None:
        if self._msg is None:
            return None
        tid = self._msg["task_id"]
        return format_id(tid) if type(tid) is int else tid

    def get_workflow_id(self) -> str | None:
        return self._msg["workflow_id"] if self._msg is not None else None

    def get_campaign_id(self) -> str | None:
        return self._msg.get("campaign_id") if self._msg is not None else None

    def get_agent_id(self) -> str | None:
        return self._msg.get("agent_id") if self._msg is not None else None

    @property
    def _task(self) -> Any:
        """A TaskObject copy of the current fields (read-only view; for fields not exposed by the API)."""
        from flowcept_core.schema import TaskObject

        if self._msg is None:
            return None
        fields = {**self._msg, "task_id": self.get_id()}
        if self._used is not None:
            fields["used"] = self._used
        return TaskObject.from_dict(fields)
