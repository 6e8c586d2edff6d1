"""The workflow record of a run: built when the run starts (its system fields by the start-up thread), finished at
stop. A mixin of flowcept_core.controller.Flowcept."""

from __future__ import annotations

from time import time

from flowcept_core.capture.context import error_text
from flowcept_core.constants import ERROR, FINISHED, RUNNING
from flowcept_core.logger import get_logger

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any

    from flowcept_core.buffer import Run
    from flowcept_core.settings import Settings

__all__ = ["WorkflowRecord"]


class WorkflowRecord:
    """The workflow message's building and its end (status, ended_at, stderr)."""

    _workflow_msg: dict | None
    _run: Any
    _settings: Any
    _error: str | None

    def _workflow_message(self, settings: Settings, run: Run, started_at: float | None = None) -> dict:
        from flowcept_core.sysinfo import workflow_system_fields

        msg: dict[str, Any] = {"type": "workflow", "workflow_id": self.current_workflow_id,
                               "campaign_id": self.campaign_id, "started_at": started_at or time(),
                               "status": RUNNING}
        for key, value in (("name", self.workflow_name), ("subtype", self.workflow_subtype),
                           ("used", self.workflow_args), ("parent_workflow_id", self.parent_workflow_id),
                           ("agent_id", self.agent_id), ("agent_name", self.agent_name),
                           ("description", self.workflow_description)):
            if value is not None:
                msg[key] = value
        msg["utc_timestamp"] = msg["started_at"]
        msg["interceptor_ids"] = [f"{getattr(i, 'kind', type(i).__name__)}_{self.bundle_exec_id}"
                                  for i in self._interceptors]
        msg["conf"] = {"settings_path": settings.source}
        msg["flowcept_settings"] = settings.redacted()
        from flowcept_core import __version__

        msg["flowcept_version"] = __version__
        msg.update(workflow_system_fields(settings.section("sys_metadata"), settings.get("extra_metadata"), run.limits))
        # machine_info is part of the workflow schema: on unless telemetry_capture.machine_info is false
        if settings.section("telemetry_capture").get("machine_info", True) is not False:
            from flowcept_core.telemetry import TelemetryConfig, machine_info

            msg["machine_info"] = machine_info(run.telemetry_cfg or TelemetryConfig())
        return msg

    def _emit_workflow_start(self, settings: Settings, run: Run) -> None:
        try:
            self._workflow_msg = self._workflow_message(settings, run)
            run.track(self._workflow_msg)
            run.emit(self._workflow_msg)
        except Exception as e:
            get_logger().error(f"could not build the workflow message: {error_text(e)}")

    def _workflow_end(self) -> dict | None:
        """Mark the retained workflow message finished; return the end message for the MQ."""
        if self._workflow_msg is None:
            return None
        status = ERROR if self._error else FINISHED
        end = {"ended_at": time(), "status": status}
        if self._error:
            end["stderr"] = self._error
        self._run.update_message(self._workflow_msg, end)
        return {"type": "workflow", "workflow_id": self.current_workflow_id, **end}

    def save_workflow(self, interceptor: str | None = None, interceptor_instance: Any = None) -> None:
        """Emit this workflow's metadata message now (start() does it when save_workflow=True)."""
        if self._run is None:
            raise RuntimeError("save_workflow() needs a started Flowcept; call start() first")
        self._emit_workflow_start(self._settings, self._run)

    # buffer --------------------------------------------------------------------------------
