"""DocumentInserter with upstream's constructor, for code written against upstream (imported as
``flowcept.flowceptor.consumers.document_inserter.DocumentInserter``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowcept_core.consumers.document_inserter import DocumentInserter as _CoreInserter

__all__ = ["DocumentInserter"]


class DocumentInserter(_CoreInserter):
    """The DocumentInserter with upstream's constructor: ``DocumentInserter(check_safe_stops=True,
    bundle_exec_id=None)``; start() defaults to a daemon thread and stop(bundle_exec_id=None) stops it, as upstream's
    do. Stores and MQ come from the settings."""

    def __init__(self, check_safe_stops: bool = True, bundle_exec_id: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.check_safe_stops = check_safe_stops
        self.bundle_exec_id = bundle_exec_id

    def start(self, target: Callable | None = None, args: tuple = (), threaded: bool = True,
              daemon: bool = True) -> DocumentInserter:
        super().start(target, args, threaded, daemon)
        return self

    def stop(self, bundle_exec_id: Any = None) -> None:  # type: ignore[override]
        """Stop consuming after storing what has arrived."""
        self.stop_consumption()
