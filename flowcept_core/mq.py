"""Opening the MQ backend named by ``mq.type`` through the plugin registry."""

from __future__ import annotations

from typing import Any

from flowcept_core.registry import get_registry

__all__ = ["open_mq"]


def open_mq(settings: Any, channel: str | None = None) -> Any:
    """A connected MQBackend for settings (``mq.type``), or a specific error naming the key and the choices."""
    name = settings.get("mq.type") or "memory"
    spec = get_registry().resolve("mq_backend", name)
    return spec.factory(settings, channel)
