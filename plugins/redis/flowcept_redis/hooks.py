"""Hook implementations of flowcept-redis (entry point ``redis`` in group ``flowcept``).

Listing plugins imports only this module: redis and the backend are imported by the factory, when a user selects
``mq.type: redis``.
"""

from __future__ import annotations

from typing import Any

from flowcept_core.hookspecs import MQBackendSpec, hookimpl

__all__ = ["flowcept_mq_backends", "redis_factory", "SETTINGS_MODEL"]

# mq.* keys the backend reads, with their types (mq.uri wins over host/port/username/password when set).
SETTINGS_MODEL: dict[str, type] = {
    "host": str,
    "port": int,
    "uri": str,
    "username": str,
    "password": str,
    "channel": str,
    "group_id": str,
    "buffer_size": int,
    "redelivery_secs": float,
}


def redis_factory(settings: Any, channel: str | None = None) -> Any:
    """Build a connected RedisMQ; called when ``mq.type`` is ``redis``. Raises ImportError with an install hint
    when the redis client library is missing, MQConnectionError when the server cannot be reached."""
    try:
        import redis  # noqa: F401  (only to fail early with an install hint)
    except ImportError as e:
        raise ImportError(
            f"mq.type 'redis' needs the redis client library ({e}); install it with: pip install flowcept[redis]"
        ) from e
    from flowcept_redis.backend import RedisMQ

    return RedisMQ(settings, channel)


@hookimpl
def flowcept_mq_backends() -> list[MQBackendSpec]:
    """The ``redis`` MQ backend spec (called by the registry when it collects backends)."""
    return [
        MQBackendSpec(
            "redis",
            redis_factory,
            SETTINGS_MODEL,
            "Redis Streams: one stream entry per batch, durable consumer groups with acknowledged delivery",
        )
    ]
