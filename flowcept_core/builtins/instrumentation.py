"""The ``instrumentation`` interceptor: routes decorated calls, FlowceptTask and loops into a run."""

from __future__ import annotations

from flowcept_core.capture.context import pop_run, propagate_context_to_threads, push_run
from flowcept_core.interceptor_base import Interceptor

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["InstrumentationInterceptor"]


class InstrumentationInterceptor(Interceptor):
    """Makes the run behind the emitter the target of this process's decorators while started.

    Built-in, so it may reach the run itself (``emitter.run``); plugin interceptors use the Emitter methods only.
    """

    kind = "instrumentation"

    def __init__(self, settings: Any = None, **options: Any):
        super().__init__(settings, **options)
        self._run: Any = None

    def _start(self) -> None:
        propagate_context_to_threads()
        self._run = getattr(self.emitter, "run", self.emitter)
        push_run(self._run)

    def _stop(self) -> None:
        if self._run is not None:
            pop_run(self._run)
            self._run = None
