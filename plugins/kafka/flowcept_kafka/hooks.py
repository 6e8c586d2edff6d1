"""Hooks of flowcept-kafka (entry point ``kafka``): the spec only; the registry imports the backend when chosen."""

from __future__ import annotations

from flowcept_core.plugin import Key, MQBackendSpec, SettingsSection, hookimpl

__all__ = ["flowcept_mq_backends", "SETTINGS"]

# mq.* keys only this backend reads: partitions of a topic it creates (1 keeps every producer's order)
SETTINGS = SettingsSection("mq", {"partitions": Key(int, 1, minimum=1)}, closed=False)


@hookimpl
def flowcept_mq_backends() -> list[MQBackendSpec]:
    """Called when the registry collects MQ backends; returns the ``kafka`` spec."""
    return [MQBackendSpec("kafka", "flowcept_kafka.backend:KafkaMQ", SETTINGS,
                          "Kafka topics (confluent-kafka): committed-offset consumer groups, one message per batch",
                          requires=("confluent_kafka",), extra="kafka")]
