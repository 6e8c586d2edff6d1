"""ExampleInterceptor: turns each Pipeline step into a task message while started."""

from __future__ import annotations

from typing import Any

from flowcept_core.plugin import Interceptor
from flowcept_example import pipeline as library
from flowcept_example.hooks import SETTINGS

__all__ = ["ExampleInterceptor"]


class ExampleInterceptor(Interceptor):
    """Listens to every Pipeline (or only ``pipeline=`` given to Flowcept) between start and stop.

    The base class makes start/stop idempotent; this class only registers and removes its listener.
    """

    kind = "example"

    def __init__(self, settings: Any = None, pipeline: Any = None):
        super().__init__(settings)
        self.only = pipeline
        self.config = SETTINGS.values(settings)  # adapters.example.*, defaults filled in

    def _start(self) -> None:
        library.listeners.append(self._on_step)
        self.emitter.add_workflow_fields(custom_metadata={"example": {"capture_inputs": self.config["capture_inputs"]}})

    def _stop(self) -> None:
        library.listeners.remove(self._on_step)  # every step already emitted: nothing is pending

    def _on_step(self, event: library.StepEvent) -> None:
        if self.only is not None and event.pipeline is not self.only:
            return
        try:
            self.emitter.emit_task(
                activity_id=event.name,
                used=dict(event.inputs) if self.config["capture_inputs"] else None,
                generated={"output": event.output} if event.output is not None else None,
                started_at=event.started,
                ended_at=event.ended,
                status="FINISHED",
                subtype="example_step",
            )
        except Exception as e:  # never break the user's pipeline because capture failed
            from flowcept_core.plugin import get_logger

            get_logger().error(f"example interceptor could not record step {event.name!r}: {e}")
