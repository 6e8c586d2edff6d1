"""Hook implementations of flowcept-kafka (entry point ``kafka`` in group ``flowcept``).

Listing plugins imports only this module: confluent-kafka and the backend are imported inside the factory.
"""

from __future__ import annotations

from typing import Any

from flowcept_core.hookspecs import MQBackendSpec, hookimpl

__all__ = ["flowcept_mq_backends", "kafka_factory", "SETTINGS_MODEL"]

# The mq.* keys the kafka backend reads (mq.buffer_size is read by the flusher, which sizes each published batch).
SETTINGS_MODEL: dict[str, type] = {
    "host": str,
    "port": int,
    "uri": str,
    "username": str,
    "password": str,
    "channel": str,
    "group_id": str,
    "buffer_size": int,
    "partitions": int,
}


def kafka_factory(settings: Any, channel: str | None = None) -> Any:
    """Called by the registry when ``mq.type`` is ``kafka``; returns a connected KafkaMQ.

    Raises ImportError with an install hint when confluent-kafka is missing, MQConnectionError when the broker is
    unreachable or refuses the credentials.
    """
    try:
        import confluent_kafka  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"the kafka MQ backend needs the confluent-kafka library ({e}); "
            "install it with: pip install flowcept[kafka]"
        ) from e
    from flowcept_kafka.backend import KafkaMQ

    return KafkaMQ(settings, channel)


@hookimpl
def flowcept_mq_backends() -> list[MQBackendSpec]:
    """Called when the registry loads plugins; returns the ``kafka`` MQ backend spec."""
    return [
        MQBackendSpec(
            "kafka",
            kafka_factory,
            SETTINGS_MODEL,
            "Kafka topics (confluent-kafka): committed-offset consumer groups, one broker message per batch",
        )
    ]
