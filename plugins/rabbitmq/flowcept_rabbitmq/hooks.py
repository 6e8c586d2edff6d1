"""Hook implementations of flowcept-rabbitmq (entry point ``rabbitmq`` in group ``flowcept``).

Listing plugins imports only this module: pika and the backend are imported when a user picks ``mq.type: rabbitmq``.
"""

from __future__ import annotations

from typing import Any

from flowcept_core.hookspecs import MQBackendSpec, hookimpl

__all__ = ["flowcept_mq_backends", "rabbitmq_factory", "SETTINGS_MODEL"]

# The mq.* keys this backend reads, with their types.
SETTINGS_MODEL = {
    "host": str,
    "port": int,
    "uri": str,
    "username": str,
    "password": str,
    "vhost": str,
    "channel": str,
    "group_id": str,
    "buffer_size": int,
}


def rabbitmq_factory(settings: Any, channel: str | None = None) -> Any:
    """Build a connected RabbitMQBackend; called when ``mq.type`` is ``rabbitmq``.

    Raises ImportError with an install hint when pika is missing, MQConnectionError when the broker is unreachable.
    """
    try:
        import pika  # noqa: F401  (checked here so the hint names the missing piece)
    except ImportError as e:
        raise ImportError(
            f"the rabbitmq MQ backend needs the pika client library ({e}); "
            "install it with: pip install flowcept[rabbitmq]"
        ) from e
    from flowcept_rabbitmq.backend import RabbitMQBackend

    return RabbitMQBackend(settings, channel)


@hookimpl
def flowcept_mq_backends() -> list[MQBackendSpec]:
    """The ``rabbitmq`` backend: a durable fanout exchange per channel, durable queues for groups."""
    return [
        MQBackendSpec(
            "rabbitmq",
            rabbitmq_factory,
            SETTINGS_MODEL,
            "RabbitMQ (pika): durable fanout exchange per channel, acked durable group queues",
        )
    ]
