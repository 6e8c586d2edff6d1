"""MQ errors shared by every backend, and opening the backend named by ``mq.type`` through the registry."""

from __future__ import annotations

from typing import Any

__all__ = ["open_mq", "MQError", "MQConnectionError", "MQClosedError"]


class MQError(RuntimeError):
    """Base class of MQ backend errors."""


class MQConnectionError(MQError):
    """The broker cannot be reached or refuses the credentials; the message names the settings keys involved."""


class MQClosedError(MQError):
    """publish() on a backend that was closed."""


def open_mq(settings: Any, channel: str | None = None) -> Any:
    """A connected MQBackend for settings (``mq.type``), or a specific error naming the key and the choices."""
    from flowcept_core.registry import get_registry

    name = settings.get("mq.type") or "memory"
    spec = get_registry().resolve("mq_backend", name)
    backend = spec.factory(settings, channel)
    if not isinstance(getattr(backend, "in_process", None), bool):  # the one place this is checked
        from flowcept_core.registry import PluginError

        cls = type(backend)
        backend.close(0)
        raise PluginError(f"mq.type={name!r}: {cls.__module__}.{cls.__qualname__} does not declare in_process "
                          f"(got {getattr(backend, 'in_process', None)!r}); every MQ backend sets in_process: bool "
                          "(see flowcept_core.plugin.MQBackend)")
    return backend
