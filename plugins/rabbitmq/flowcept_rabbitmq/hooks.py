"""Hooks of flowcept-rabbitmq (entry point ``rabbitmq``): the spec only; the registry imports the backend when
chosen."""

from __future__ import annotations

from flowcept_core.plugin import Key, MQBackendSpec, SettingsSection, hookimpl

__all__ = ["flowcept_mq_backends", "SETTINGS"]

# mq.* keys only this backend reads
SETTINGS = SettingsSection("mq", {"vhost": Key((str, type(None)), "/")}, closed=False)


@hookimpl
def flowcept_mq_backends() -> list[MQBackendSpec]:
    """Called when the registry collects MQ backends; returns the ``rabbitmq`` spec."""
    return [MQBackendSpec("rabbitmq", "flowcept_rabbitmq.backend:RabbitMQBackend", SETTINGS,
                          "RabbitMQ (pika): durable fanout exchange per channel, acked durable group queues",
                          requires=("pika",), extra="rabbitmq")]
