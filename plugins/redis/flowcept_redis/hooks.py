"""Hooks of flowcept-redis (entry point ``redis``): the spec only; the registry imports the backend when chosen."""

from __future__ import annotations

from flowcept_core.plugin import Key, MQBackendSpec, SettingsSection, hookimpl

__all__ = ["flowcept_mq_backends", "SETTINGS"]

# mq.* keys only this backend reads (mq.uri/host/port/username/password/channel are the core's mq keys)
SETTINGS = SettingsSection("mq", {"redelivery_secs": Key((int, float), 30, minimum=0)}, closed=False)


@hookimpl
def flowcept_mq_backends() -> list[MQBackendSpec]:
    """Called when the registry collects MQ backends; returns the ``redis`` spec."""
    return [MQBackendSpec("redis", "flowcept_redis.backend:RedisMQ", SETTINGS,
                          "Redis Streams: one stream entry per batch, durable consumer groups, acknowledged delivery",
                          requires=("redis",), extra="redis")]
