"""RunEmitter: the Emitter an interceptor gets from Flowcept.start() (see flowcept_core.interfaces.Emitter)."""

from __future__ import annotations

from flowcept_core.messages import task_message, workflow_message

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RunEmitter"]


class RunEmitter:
    """Feeds a Run: messages go through the same buffer, MQ and store as decorated calls.

    Built by the controller once per start(); ``run`` is for built-in interceptors only.
    """

    __slots__ = ("run", "_controller")

    def __init__(self, run: Any, controller: Any = None):
        self.run = run
        self._controller = controller

    @property
    def workflow_id(self) -> str:
        return self.run.workflow_id

    @property
    def campaign_id(self) -> str | None:
        return self.run.campaign_id

    def emit(self, message: dict) -> None:
        self.run.emit(message)

    def emit_task(self, **fields: Any) -> dict:
        fields.setdefault("workflow_id", self.run.workflow_id)
        if self.run.campaign_id is not None:
            fields.setdefault("campaign_id", self.run.campaign_id)
        msg = task_message(**fields)
        self.run.emit(msg)
        return msg

    def emit_workflow(self, **fields: Any) -> dict:
        fields.setdefault("workflow_id", self.run.workflow_id)
        msg = workflow_message(**fields)
        self.run.emit(msg)
        return msg

    def add_workflow_fields(self, **fields: Any) -> None:
        """Sent as a partial workflow message that stores merge by workflow_id; once the workflow message exists,
        also applied to its retained copy (get_buffer, the buffer file)."""
        msg = workflow_message(workflow_id=self.run.workflow_id, **fields)
        wf = getattr(self._controller, "_workflow_msg", None)
        if wf is not None:
            self.run.update_message(wf, {k: v for k, v in msg.items() if k != "type"})
        self.run.emit(msg)
