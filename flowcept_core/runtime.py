"""The process-wide state of flowcept, in one object: ``RUNTIME``.

What a process shares between its Flowcept instances, consumers and queries lives here and nowhere else:

- ``settings``: the Settings that ``get_settings()`` returns (None until first loaded);
- ``registry``: the PluginRegistry that ``get_registry()`` returns (None until first built);
- ``stores``: the open stores by configuration (``flowcept_core.stores.open_store``);
- ``inserters``: the shared DocumentInserter per configuration, with its reference count;
- ``broker``: the in-process MQ's broker (created with the first in-process channel);
- ``started``: the started Flowcept instances (stopped at exit); ``interceptors`` lists what they started;
- ``current_workflow_id``: the workflow of the Flowcept most recently started in this process;
- ``warned``: settings warnings already issued once.

Every other part receives settings as an argument. ``reset_runtime()`` forgets it all (tests), closing open stores.
Importing this module is free of I/O and of any import beyond the standard library's core.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Runtime", "RUNTIME", "reset_runtime"]


class Runtime:
    """Holds the process-wide state listed in this module's docstring. Containers are cleared in place on reset,
    so modules may keep a reference to them."""

    __slots__ = ("settings", "registry", "stores", "inserters", "broker", "started", "current_workflow_id", "warned")

    def __init__(self) -> None:
        self.settings: Any = None
        self.registry: Any = None
        self.stores: dict[tuple, Any] = {}
        self.inserters: dict[tuple, list] = {}  # key -> [inserter, references]
        self.broker: Any = None
        self.started: set = set()  # strong refs: a started Flowcept nobody holds must still be stopped at exit
        self.current_workflow_id: str | None = None
        self.warned: set[str] = set()

    @property
    def interceptors(self) -> list[Any]:
        """The interceptors the started Flowcept instances started, in start order per instance."""
        return [i for fc in list(self.started) for i in getattr(fc, "_interceptors", ())]

    def reset(self, settings: Any = None) -> None:
        """Forget the process state: settings (or install ``settings``) and registry reload on next use, open stores
        are closed, the in-process broker drops its channels, the current workflow id and issued warnings are
        forgotten. Started Flowcept instances and running inserters are left alone (their owners stop them)."""
        from flowcept_core.stores import close_stores

        close_stores()
        self.settings = settings
        self.registry = None
        self.broker = None
        self.current_workflow_id = None
        self.warned.clear()

    def __repr__(self) -> str:
        return (
            f"Runtime(settings={getattr(self.settings, 'source', None)!r}, registry={self.registry is not None}, "
            f"stores={len(self.stores)}, inserters={len(self.inserters)}, broker={self.broker is not None}, "
            f"started={len(self.started)}, current_workflow_id={self.current_workflow_id!r})"
        )


RUNTIME = Runtime()


def reset_runtime(settings: Any = None) -> None:
    """``RUNTIME.reset(settings)``: called around every test."""
    RUNTIME.reset(settings)
