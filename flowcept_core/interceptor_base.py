"""The Interceptor base class (re-exported by flowcept_core.interfaces, where plugins get it): apart from the
Protocols so that the built-in instrumentation, started by every run, does not import typing."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from flowcept_core.interfaces import Emitter

__all__ = ["Interceptor"]


class Interceptor:
    """Base class of interceptors: the base owns idempotence, the subclass writes ``_start`` and ``_stop``.

    ``kind`` is the interceptor's name. ``start(emitter)`` is called by Flowcept.start(); a second call is a no-op.
    ``stop()`` is called by Flowcept.stop(): it must undo every patch and emit what was captured; a second call,
    or a call before start, is a no-op. Keyword arguments given to ``Flowcept(...)`` that the spec names in
    ``kwargs`` arrive in ``__init__``.

    Example::

        class MyInterceptor(Interceptor):
            kind = "my_adapter"

            def _start(self):
                mylib.add_listener(self._on_event)

            def _stop(self):
                mylib.remove_listener(self._on_event)

            def _on_event(self, event):
                self.emitter.emit_task(activity_id=event.name, used=event.args, status="FINISHED")
    """

    kind: ClassVar[str] = ""

    def __init__(self, settings: Any = None, **options: Any):
        self.settings = settings
        self.options = options
        self._emitter: Emitter | None = None

    @property
    def emitter(self) -> Emitter:
        """The emitter while started; RuntimeError otherwise (an event arriving after stop is a plugin bug)."""
        if self._emitter is None:
            raise RuntimeError(f"interceptor {self.kind!r} is not started")
        return self._emitter

    @property
    def started(self) -> bool:
        return self._emitter is not None

    def start(self, emitter: Emitter) -> None:
        """Begin observing; a second call is a no-op. When _start raises, the interceptor stays stopped."""
        if self._emitter is not None:
            return
        self._emitter = emitter
        try:
            self._start()
        except BaseException:
            self._emitter = None
            raise

    def stop(self) -> None:
        """Undo every patch and emit what was captured; a no-op when not started."""
        if self._emitter is None:
            return
        try:
            self._stop()
        finally:
            self._emitter = None

    def _start(self) -> None:
        """Subclass: register hooks/listeners/patches on the observed library."""

    def _stop(self) -> None:
        """Subclass: remove them and emit anything still pending (self.emitter is still usable here)."""
