"""The ``instrumentation`` interceptor: routes decorated calls, FlowceptTask and loops into a run."""

from __future__ import annotations

from typing import Any

from flowcept_core.capture.context import pop_run, propagate_context_to_threads, push_run

__all__ = ["InstrumentationInterceptor"]


class InstrumentationInterceptor:
    """Makes a run the target of this process's decorators while started."""

    kind = "instrumentation"

    def __init__(self, settings: Any):
        self.settings = settings
        self._run: Any = None

    def start(self, run: Any) -> None:
        propagate_context_to_threads()
        self._run = run
        push_run(run)

    def stop(self) -> None:
        if self._run is not None:
            pop_run(self._run)
            self._run = None
